// Shared test plumbing: databases (PGlite, or a fresh PostgreSQL database when
// DATABASE_URL is set), Temporal environments and a worker on the prebuilt bundle.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AppDeps } from '../api/deps.js';
import { CHANNELS } from '../domain/types.js';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import postgres from 'postgres';
import { inject } from 'vitest';
import { createErasureActivities } from '../activities/erasure.js';
import { createEventActivities } from '../activities/events.js';
import { createActivities } from '../activities/index.js';
import type { ActivityDeps } from '../activities/index.js';
import type { ChannelSender } from '../activities/channels/types.js';
import { createInappSender } from '../activities/channels/inapp.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { openDatabase, type Database } from '../db/client.js';
import { registerSearchAttributes } from '../worker/index.js';
import type { Channel } from '../domain/types.js';

import { quietSdkLogs } from '../worker/index.js';
import { DEV_SERVER_DYNAMIC_CONFIG, dynamicConfigArgs, freePort } from '../worker/dev-server.js';
import { loadConfig } from '../config.js';
import { encryptionKeys, startTocsin, type Running } from '../runtime/index.js';
import type { Logger } from '../telemetry/log.js';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec, encryptedDataConverter, formatEncryptionKeys, parseEncryptionKeys } from '../usecases/payload-codec.js';

/**
 * The suites' payload codec: every test client and worker encrypts as production does (a fixed
 * key, so a failing test's histories can be read back with TEST_ENCRYPTION_KEYS).
 */
export const TEST_ENCRYPTION_KEYS = `test-1:${Buffer.alloc(32, 7).toString('base64')}`;
export const testCodec = new EncryptionCodec(parseEncryptionKeys(TEST_ENCRYPTION_KEYS));
export const testDataConverter = encryptedDataConverter(testCodec);

/** A payload from a history the suites' workers wrote (encrypted), as the value it holds. */
export async function decodePayload<T = any>(payload: Payload): Promise<T> {
  const [plain] = await testCodec.decode([payload]);
  return defaultPayloadConverter.fromPayload<T>(plain);
}

/** Keeps the SDK's core logs to warnings, so test output stays readable. */
export const quietTemporalLogs = quietSdkLogs;

/**
 * WEBHOOK_ALLOWED_HOSTS for the suites: the fake receivers (test/fakes) listen on 127.0.0.1,
 * which the webhook address guard refuses unless it is allowed.
 */
export const LOCAL_RECEIVERS = ['127.0.0.1'];

/** The PostgreSQL server named by DATABASE_URL (CI sets it), if any. */
export const postgresUrl = process.env.DATABASE_URL;

/**
 * A migrated, empty database of the given kind. For PostgreSQL a new database is created
 * on the server and dropped when closed, so suites never share state.
 */
export async function openTestDatabase(kind: 'pglite' | 'postgres' = 'pglite'): Promise<Database & { url?: string }> {
  if (kind === 'pglite') {
    const db = await openDatabase({});
    await db.migrate();
    return db;
  }
  if (!postgresUrl) throw new Error('DATABASE_URL is not set');
  const name = `tocsin_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  const db = await openDatabase({ url: url.toString(), max: 5 });
  await db.migrate();
  return {
    ...db,
    url: url.toString(),
    close: async () => {
      await db.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export const testDatabaseKinds: Array<'pglite' | 'postgres'> = postgresUrl ? ['pglite', 'postgres'] : ['pglite'];

export async function timeSkippingEnv() {
  quietTemporalLogs();
  const create = () =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: inject('temporalTestServerPath') } },
      client: { dataConverter: testDataConverter },
    });
  // The SDK waits only ~5 s for the JVM to answer (not configurable); on a loaded machine (the
  // suite beside a benchmark) a start can miss that, so a missed start is tried again, up to 8
  // times. Any other failure is the test's.
  let env;
  for (let attempt = 1; ; attempt++) {
    try {
      env = await create();
      break;
    } catch (err) {
      if (attempt >= 8 || !/did not start within/.test(String((err as Error)?.message))) throw err;
    }
  }
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

/**
 * The real Temporal cluster this run's end-to-end suites use (`TOCSIN_CLUSTER=1 npm test`; the
 * global setup starts it), or undefined: each suite starts its own dev server.
 */
export function testCluster(): { address: string; namespace: string; dataDir: string; uiUrl: string } | undefined {
  return inject('temporalCluster');
}

export function localEnv() {
  quietTemporalLogs();
  const cluster = testCluster();
  // On the cluster: its namespace, shared by every suite (each works on task queues of its own).
  if (cluster) return TestWorkflowEnvironment.createFromExistingServer({ address: cluster.address, namespace: cluster.namespace, client: { dataConverter: testDataConverter } });
  return TestWorkflowEnvironment.createLocal({
    client: { dataConverter: testDataConverter },
    server: {
      executable: { type: 'existing-path', path: inject('temporalCliPath') },
      searchAttributes: undefined,
      // The settings `npm start`'s dev server runs with (priority lanes, fairness), on task
      // queues of one partition: priority and fairness order each partition's backlog, so with
      // several a run on a lightly loaded partition may go ahead of a more urgent one elsewhere,
      // and the ordering tests would measure the partitions' luck instead.
      extraArgs: dynamicConfigArgs({
        ...DEV_SERVER_DYNAMIC_CONFIG,
        'matching.numTaskqueueReadPartitions': 1,
        'matching.numTaskqueueWritePartitions': 1,
      }),
    },
  });
}

export function uniqueQueue(prefix = 'test') {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A Worker on the prebuilt workflow bundle with activities over `db` and the given senders. */
export async function testWorker(
  env: TestWorkflowEnvironment,
  db: Database,
  taskQueue: string,
  senders?: Partial<Record<Channel, ChannelSender>>,
  /** Further activity dependencies (escalation's Slack and pager clients). */
  extra: Partial<Omit<ActivityDeps, 'db' | 'senders'>> = {},
  /** Another workflow bundle (one with the tracing interceptors), interceptors and sinks. */
  worker: { bundlePath?: string } & Pick<WorkerOptions, 'interceptors' | 'sinks'> = {},
) {
  const { bundlePath, ...options } = worker;
  return Worker.create({
    ...options,
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    dataConverter: testDataConverter,
    workflowBundle: { codePath: bundlePath ?? inject('workflowBundlePath') },
    activities: {
      ...createActivities({
        db: db.db,
        senders: senders ?? { inapp: createInappSender(db.db), webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) },
        ...extra,
      }),
      ...createErasureActivities({ db: db.db, connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue }),
      ...createEventActivities({ db: db.db, temporal: { client: env.client, taskQueue } }),
    },
  });
}

/**
 * The whole stack as `npm start` boots it (embedded dev server, worker and API in this process),
 * on free ports, in `dataDir`, with the suite's prebuilt workflow bundle; `env` adds settings.
 */
export async function startTestStack(
  dataDir: string,
  env: Record<string, string> = {},
  /** `embedded`: its own dev server even under TOCSIN_CLUSTER=1 (a suite about that server itself). */
  opts: { logger?: Logger; embedded?: boolean } = {},
): Promise<Running> {
  const cluster = opts.embedded ? undefined : testCluster();
  if (cluster) return startClusterStack(cluster, dataDir, env, opts);
  // Ports are picked free, but between the pick and the dev server's bind another suite's
  // process may take one (the dev server also binds ports of its own choosing): it then exits
  // at once, and a second pick starts it. Any other failure is the test's.
  for (let attempt = 1; ; attempt++) {
    const config = loadConfig({
      DATA_DIR: dataDir,
      PORT: '0',
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOWED_HOSTS: LOCAL_RECEIVERS.join(','),
      ...env,
    });
    try {
      return await startTocsin(config, {
        api: true,
        worker: true,
        embeddedTemporal: true,
        temporalCliPath: inject('temporalCliPath'),
        workflowBundle: { codePath: inject('workflowBundlePath') },
        log: () => {},
        ...(opts.logger ? { logger: opts.logger } : {}),
      });
    } catch (err) {
      if (attempt >= 3 || !/dev server exited early/.test(String((err as Error)?.message))) throw err;
    }
  }
}

/**
 * The task queue a stack started by startTestStack on `dataDir` polls, given its TEMPORAL_TASK_QUEUE:
 * that name on its own dev server; on the shared cluster the name plus a hash of DATA_DIR.
 */
export function stackTaskQueue(dataDir: string, name = 'notifications'): string {
  if (!testCluster()) return name;
  return `${name}-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 10)}`;
}

/**
 * startTestStack on the run's Temporal cluster (TOCSIN_CLUSTER=1): the same in-process worker
 * and API, with TEMPORAL_ADDRESS set to the cluster's balancer. Every stack polls a task queue of
 * its own (the suite's name for it plus a hash of DATA_DIR: a restart on the same DATA_DIR finds
 * its runs again), so suites sharing the namespace never take each other's tasks; the payload keys are generated into DATA_DIR as `npm start` does
 * (TEMPORAL_ADDRESS requires them set, so they are read from there and passed on).
 */
async function startClusterStack(cluster: { address: string; namespace: string; uiUrl: string }, dataDir: string, env: Record<string, string>, opts: { logger?: Logger }): Promise<Running> {
  const base = { DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', WEBHOOK_ALLOWED_HOSTS: LOCAL_RECEIVERS.join(','), ...env };
  const keys = env.TOCSIN_ENCRYPTION_KEYS ?? formatEncryptionKeys(encryptionKeys(loadConfig({ ...base, TEMPORAL_ADDRESS: '' })).keys);
  const config = loadConfig({
    ...base,
    TOCSIN_ENCRYPTION_KEYS: keys,
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    // The cluster's Web UI, which the dashboard links runs to.
    TEMPORAL_UI_URL: env.TEMPORAL_UI_URL ?? cluster.uiUrl,
    TEMPORAL_TASK_QUEUE: stackTaskQueue(dataDir, env.TEMPORAL_TASK_QUEUE),
  });
  return startTocsin(config, {
    api: true,
    worker: true,
    embeddedTemporal: false,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    log: () => {},
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}

/**
 * The API's dependencies for tests that never reach Temporal: a client on a lazy connection to
 * nowhere (a start would fail with 503), every channel configured, a short retry policy.
 */
export function offlineAppDeps(db: Database['db'], connection: Connection, more: Partial<AppDeps> = {}): AppDeps {
  return {
    db,
    temporal: { client: new Client({ connection, dataConverter: testDataConverter }), taskQueue: 'unused', ping: async () => {} },
    adminToken: 'admin-secret',
    codec: { codec: testCodec, corsOrigins: [] },
    channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
    retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
    ...more,
  };
}

/** JSON requests to a running stack's API (`stack()` is read at each call: a test may restart it). */
export function stackRequests(stack: () => Running | undefined) {
  return async function request(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack()!.apiUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

/**
 * Where the Temporal server keeps a stack's state, for the scans that find no secret stored in
 * clear: the dev server's SQLite file under DATA_DIR, or on the cluster (TOCSIN_CLUSTER=1) the data
 * directory of the PostgreSQL it runs on. `files` are Temporal's state files found there (a scan
 * of a directory without them would prove nothing).
 */
export function temporalState(dataDir: string): { dir: string; files: string[] } {
  const cluster = testCluster();
  if (!cluster) return { dir: dataDir, files: filesHolding(dataDir, ['SQLite format 3']).filter((f) => f.endsWith('temporal.db')) };
  const dir = join(cluster.dataDir, 'cluster', 'postgres', 'data');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name));
      else files.push(join(d, entry.name));
    }
  };
  walk(join(dir, 'base'));
  return { dir, files };
}

/** The files under `dir` whose bytes hold any of `secrets` (a file removed while reading, a journal, is skipped). */
export function filesHolding(dir: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        let content: string;
        try {
          content = readFileSync(path).toString('latin1');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        if (secrets.some((s) => content.includes(s))) found.push(path);
      }
    }
  };
  walk(dir);
  return found;
}
