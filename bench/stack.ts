// The system under test for `npm run bench`, in its own process so that its RSS and event
// loop are its own: Tocsin booted exactly as `npm start` boots it (startTocsin with the
// embedded dev server, PGlite or DATABASE_URL), plus the bare workflow's worker, created
// with the same tuning options the Tocsin worker was created with.
//
// Started by bench/run.ts with fork(); talks over IPC: sends `ready` once, answers `rss`,
// stops on `stop`, SIGTERM/SIGINT, or when the parent goes away.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../config.js';
import { ensureCli } from '../scripts/setup-temporal.mjs';
import { startTocsin, type Running } from '../runtime/index.js';
import { quietSdkLogs } from '../worker/index.js';
import { createBareActivities } from './bare-activities.js';
import { BARE_TASK_QUEUE, procMemory, TUNING_KEY, type StackMessage } from './protocol.js';

const send = (m: StackMessage) => process.send?.(m);

/** This process's child processes (the dev server), from /proc (Linux); [] elsewhere. */
function childPids(): number[] {
  try {
    return readdirSync(`/proc/${process.pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

async function main() {
  quietSdkLogs();
  // Record the options of every worker Tocsin creates, so the bare one gets the same tuning
  // whatever the Tocsin worker is given now or later.
  const created: WorkerOptions[] = [];
  const create = Worker.create.bind(Worker);
  Worker.create = (options: WorkerOptions) => {
    created.push(options);
    return create(options);
  };

  // The benchmark prints its own results: Tocsin's logs only from warnings up, unless asked.
  const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
  let running: Running | undefined;
  let bare: { worker: Worker; run: Promise<void>; connection: NativeConnection } | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (code: number) =>
    (stopping ??= (async () => {
      if (bare) {
        if (bare.worker.getState() === 'RUNNING') bare.worker.shutdown();
        await bare.run.catch(() => {});
        await bare.connection.close().catch(() => {});
      }
      await running?.stop();
      process.exit(code);
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));
  process.on('disconnect', () => void stop(0));
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void stop(0);
    if (m?.type === 'rss') {
      const children = childPids().flatMap((pid) => {
        const mem = procMemory(pid);
        return mem ? [{ pid, ...mem }] : [];
      });
      send({ type: 'rss', rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024, children });
    }
  });

  try {
    running = await startTocsin(config, { api: true, worker: true, embeddedTemporal: true, temporalCliPath: ensureCli(), log: () => {} });
    const tocsinOptions = created.find((o) => o.taskQueue === config.TEMPORAL_TASK_QUEUE);
    if (!tocsinOptions) throw new Error(`no worker was created for task queue ${config.TEMPORAL_TASK_QUEUE}`);
    const tuning = Object.fromEntries(Object.entries(tocsinOptions).filter(([k, v]) => TUNING_KEY.test(k) && v !== undefined));

    const connection = await NativeConnection.connect({ address: running.temporalAddress });
    const worker = await create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: BARE_TASK_QUEUE,
      workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
      // Same address guard and allow list (WEBHOOK_ALLOWED_HOSTS from bench/run.ts) as Tocsin's sender.
      activities: createBareActivities({ webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS }),
      // The same payload codec as Tocsin's worker, so the comparison includes its cost on both sides.
      dataConverter: running.dataConverter,
      ...tuning,
    });
    bare = { worker, connection, run: worker.run() };
    bare.run.catch((err) => {
      send({ type: 'error', message: `bare worker stopped: ${(err as Error).message}` });
      void stop(1);
    });
    send({
      type: 'ready',
      apiUrl: running.apiUrl!,
      temporalAddress: running.temporalAddress,
      adminToken: running.adminToken,
      database: running.database.kind,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      tuning,
      pids: childPids(),
    });
  } catch (err) {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
    await stop(1);
  }
}

await main();
