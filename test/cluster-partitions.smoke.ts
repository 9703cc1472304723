// `npm run cluster` on a DATA_DIR whose Temporal ran with four partitions per task queue (as
// before temporal/dynamicconfig.yaml set one, and as Temporal does by default) and left tasks in
// the child partitions: the next start reads as many partitions as hold any, so none waits
// forever in a partition no one reads; once they are dispatched it goes back to one, and so does
// the start after. Part of `npm run test:cluster` (vitest.cluster.config.ts): the cluster's
// Temporal part and a worker in this process.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { DYNAMIC_CONFIG, startCluster, tempDataDir, withPartitions, type Cluster } from '../scripts/cluster-stack.js';
import { childPartitionTasks } from '../scripts/task-partitions.js';
import { quietSdkLogs } from '../worker/index.js';
import { until } from './until.js';

const QUEUE = 'partition-probe';
quietSdkLogs();
const RUNS = 16;

describe('npm run cluster after a cluster of four partitions per task queue', () => {
  const dataDir = tempDataDir('tocsin-cluster-partitions-');
  let cluster: Cluster | undefined;
  const logs: string[] = [];
  const start = async (dynamicConfig?: string) => {
    logs.length = 0;
    cluster = await startCluster({ dataDir, temporalOnly: true, ui: false, dynamicConfig, log: (m) => logs.push(m) });
    return cluster;
  };
  const stop = async () => {
    await cluster?.stop();
    cluster = undefined;
  };
  const waiting = async (c: Cluster) => {
    const url = new URL(c.databaseUrl);
    url.pathname = '/temporal';
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      return await childPartitionTasks(sql);
    } finally {
      await sql.end();
    }
  };

  afterAll(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('dispatches the tasks left in the child partitions, then reads one partition', async () => {
    // 1. Four partitions, written and read; runs started with no worker: their first workflow
    // tasks wait in the backlog, spread over the four.
    const four = join(dataDir, 'four-partitions.yaml');
    writeFileSync(four, withPartitions({ read: 4, write: 4 }));
    expect(readFileSync(four, 'utf8').match(/- value: 4$/gm)).toHaveLength(2);
    let c = await start(four);
    let connection = await Connection.connect({ address: c.address });
    let client = new Client({ connection, namespace: c.namespace });
    const handles = await Promise.all(Array.from({ length: RUNS }, (_, i) => client.workflow.start('partitionProbe', { taskQueue: QUEUE, workflowId: `probe-${i}`, args: [i] })));
    await connection.close();
    await stop();
    // RUNS tasks over four partitions: some in the three children (all at the root: 4^-16).
    c = await start();
    expect((await waiting(c)).waiting).toBeGreaterThan(0);
    // The nodes read as far as the last partition holding any (the count may include Temporal's
    // own queues' tasks, which its system workers take meanwhile, and repeats, below).
    const said = logs.map((l) => /^(\d+) tasks wait in task queue partitions of an earlier configuration: reading (\d+) partitions per task queue until they are dispatched$/.exec(l)).find(Boolean);
    expect(Number(said?.[1])).toBeGreaterThan(0);
    expect(Number(said?.[2])).toBeGreaterThan(1);
    expect(readFileSync(join(dataDir, 'cluster/dynamicconfig.yaml'), 'utf8')).toMatch(new RegExp(`numTaskqueueReadPartitions:\\n\\s+- value: ${said?.[2]}$`, 'm'));

    // 2. A worker on that start dispatches every run, from whichever partition it waited in. It
    // keeps polling, as a deployment's workers do: a partition may also hold repeats of tasks
    // already dispatched (a stopped node's history service sends again the tasks it had not yet
    // recorded as sent), and matching drops those only when a poller comes for them.
    const workerConnection = await NativeConnection.connect({ address: c.address });
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: c.namespace,
      taskQueue: QUEUE,
      workflowsPath: fileURLToPath(new URL('./workflows/partition-probe.ts', import.meta.url)),
    });
    connection = await Connection.connect({ address: c.address });
    client = new Client({ connection, namespace: c.namespace });
    try {
      await worker.runUntil(async () => {
        const results = await Promise.all(handles.map((h) => client.workflow.getHandle(h.workflowId).result()));
        expect(results).toEqual(handles.map((_, i) => i));
        // Once the partitions' ack levels are stored (Temporal does so about once a minute)
        // nothing waits there, and the cluster's copy of the file goes back to one partition.
        const drained = 'the tasks of the earlier partitions are dispatched: one partition per task queue';
        await until(async () => logs.includes(drained), Boolean, 180_000, 1000).catch((err: Error) => {
          throw new Error(`${err.message}; the cluster logged:\n${logs.join('\n')}`);
        });
      });
    } finally {
      await connection.close();
      await workerConnection.close();
    }
    expect(readFileSync(join(dataDir, 'cluster/dynamicconfig.yaml'), 'utf8')).toBe(readFileSync(DYNAMIC_CONFIG, 'utf8'));
    await stop();

    // 3. Nothing left: the next start reads one partition per task queue, compose's file as it is.
    c = await start();
    expect(await waiting(c)).toEqual({ waiting: 0, partitions: 1, queues: {} });
    expect(logs.some((l) => l.includes('tasks wait in task queue partitions'))).toBe(false);
  }, 600_000);
});
