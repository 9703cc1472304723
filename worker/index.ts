// Builds the Temporal worker from config: activities from the factory, workflows bundled.
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { ChannelSender } from '../activities/channels/types.js';
import type { PagerClient } from '../activities/channels/pager.js';
import type { SlackClient } from '../activities/channels/slack.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Channel } from '../domain/types.js';
import { SA } from '../domain/workflow-ids.js';

export { NativeConnection };

let loggingInstalled = false;
/** Keeps the Temporal SDK's own logs (bundler output, state changes) to warnings and errors. */
export function quietSdkLogs(): void {
  if (loggingInstalled) return;
  loggingInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // A runtime already exists (another caller installed one): keep it.
  }
}

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  db: Db;
  senders: Partial<Record<Channel, ChannelSender>>;
  /** Escalation's Slack and pager clients (see ActivityDeps). */
  slack?: SlackClient | null;
  pager?: PagerClient | null;
  /** A prebuilt bundle (tests build it once); otherwise the workflows are bundled here. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  tuning?: WorkerTuning;
  /** Worker Deployment Versioning (worker/versioning.ts); unset: an unversioned worker. */
  version?: WorkerDeploymentVersion;
}

export type WorkerTuning = Pick<
  WorkerOptions,
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxCachedWorkflows'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'maxConcurrentActivityTaskPolls'
>;

/** The worker's concurrency from config: pollers at half the task slots, as the SDK advises. */
export function workerTuning(config: Config): WorkerTuning {
  const workflowTasks = config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS;
  return {
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: workflowTasks,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentWorkflowTaskPolls: Math.max(2, Math.min(20, Math.floor(workflowTasks / 2))),
    maxConcurrentActivityTaskPolls: Math.max(2, Math.min(20, Math.floor(config.WORKER_MAX_CONCURRENT_ACTIVITIES / 10))),
  };
}

export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    activities: createActivities({ db: deps.db, senders: deps.senders, slack: deps.slack, pager: deps.pager }),
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath }),
    ...deps.tuning,
    // Each workflow type declares its behaviour (workflows/index.ts); runs begun before
    // versioning was turned on auto-upgrade.
    ...(deps.version ? { workerDeploymentOptions: { version: deps.version, useWorkerVersioning: true, defaultVersioningBehavior: 'AUTO_UPGRADE' as const } } : {}),
  });
}

/** Registers Tocsin's search attributes in a namespace, so the Temporal UI can filter by them. */
export async function registerSearchAttributes(conn: Connection, namespace: string): Promise<void> {
  let existing: Record<string, unknown> = {};
  try {
    existing = (await conn.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    // The time-skipping test server cannot list, only add.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
  }
  const missing = Object.values(SA).filter((k) => !(k.name in existing));
  if (missing.length === 0) return;
  await conn.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
  });
}

/** Registers our search attributes on an existing cluster (the dev server gets them as flags). */
export async function ensureSearchAttributes(address: string, namespace: string) {
  const conn = await Connection.connect({ address });
  try {
    await registerSearchAttributes(conn, namespace);
  } finally {
    await conn.close();
  }
}
