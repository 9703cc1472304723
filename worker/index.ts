// Builds the Temporal worker from config: activities from the factory, workflows bundled.
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { makeTelemetryFilterString, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps, type RecipientLinkOptions } from '../activities/index.js';
import { createErasureActivities } from '../activities/erasure.js';
import { createEventActivities } from '../activities/events.js';
import type { ChannelSender } from '../activities/channels/types.js';
import type { IntegrationProviders } from '../activities/providers.js';
import type { PagerClient } from '../activities/channels/pager.js';
import type { SlackClient } from '../activities/channels/slack.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Channel } from '../domain/types.js';
import { SA } from '../domain/workflow-ids.js';
import { activityLogContext, createLogger, temporalLevel, temporalLogger, type Logger } from '../telemetry/log.js';
import { versionedWorkerOptions } from './versioning.js';

export { NativeConnection };

let runtimeInstalled = false;
/**
 * Installs the Temporal SDK's runtime once per process: its logs (the SDK's own, its native
 * core's, and the workflows' and activities' `log`) through our logger, and, with
 * TEMPORAL_METRICS_PORT, its metrics (worker and connection: task latencies, slots, polls…)
 * served for Prometheus at http://HOST:TEMPORAL_METRICS_PORT/metrics by the SDK's core.
 */
export function installRuntime(logger: Logger, opts: { metricsAddress?: string } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = temporalLevel(logger.level as Parameters<typeof temporalLevel>[0]);
  try {
    Runtime.install({
      logger: temporalLogger(logger),
      telemetryOptions: {
        // The core's own lines reach us too, at warnings unless we log at debug or finer.
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: level === 'TRACE' || level === 'DEBUG' ? level : 'WARN' }) },
        ...(opts.metricsAddress ? { metrics: { prometheus: { bindAddress: opts.metricsAddress } } } : {}),
      },
    });
  } catch {
    // A runtime already exists (another caller installed one): keep it.
  }
}

/**
 * Keeps the Temporal SDK's logs to errors: the suites provoke activity failures and retries by
 * the hundred, and scripts that print their own output want none of the SDK's warnings.
 */
export function quietSdkLogs(): void {
  installRuntime(createLogger({ level: 'error' }));
}

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Modules the workflow bundle evaluates once per worker thread and shares between runs, instead of
 * once per run (the reusable V8 context's default): the CEL library the flow interpreter imports
 * registers hundreds of overloads at load, the largest share of starting any run of any workflow
 * (README: "Throughput and memory on the cluster"). It keeps no per-run state; the SDK freezes
 * its exports.
 */
export const PRELOADED_WORKFLOW_MODULES = ['@marcbachmann/cel-js'];

interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  db: Db;
  senders: Partial<Record<Channel, ChannelSender>>;
  /** Escalation's Slack and pager clients (see ActivityDeps). */
  slack?: SlackClient | null;
  pager?: PagerClient | null;
  /** Tenants' own providers (activities/providers.ts). */
  integrations?: IntegrationProviders | null;
  /** One-click unsubscribe links in emails (ActivityDeps.recipientLinks). */
  recipientLinks?: RecipientLinkOptions | null;
  /** Lifecycle webhooks' dispatcher (ActivityDeps.lifecycleWebhooks). */
  lifecycleWebhooks?: ActivityDeps['lifecycleWebhooks'];
  /** WEBHOOK_ALLOWED_HOSTS: what flows' fetch steps may reach although not public. */
  webhookAllowedHosts?: readonly string[];
  /** A prebuilt bundle (tests build it once); otherwise the workflows are bundled here. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  tuning?: WorkerTuning;
  /** Worker Deployment Versioning (worker/versioning.ts); unset: an unversioned worker. */
  version?: WorkerDeploymentVersion;
  /** Tracing interceptors and sink (telemetry/tracing.ts); a prebuilt bundle must hold the workflow interceptors already. */
  tracing?: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** The payload codec (usecases/payload-codec.ts): what this worker writes to Temporal is encrypted. */
  dataConverter?: WorkerOptions['dataConverter'];
}

type WorkerTuning = Pick<
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
    ...(deps.dataConverter ? { dataConverter: deps.dataConverter } : {}),
    activities: {
      ...createActivities({
        db: deps.db,
        senders: deps.senders,
        slack: deps.slack,
        pager: deps.pager,
        integrations: deps.integrations,
        recipientLinks: deps.recipientLinks,
        lifecycleWebhooks: deps.lifecycleWebhooks,
        webhookAllowedHosts: deps.webhookAllowedHosts,
      }),
      ...createErasureActivities({ db: deps.db, connection: deps.connection, namespace: deps.namespace, taskQueue: deps.taskQueue }),
      ...createEventActivities({
        db: deps.db,
        temporal: { client: new Client({ connection: deps.connection, namespace: deps.namespace, ...(deps.dataConverter ? { dataConverter: deps.dataConverter } : {}) }), taskQueue: deps.taskQueue },
      }),
    },
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath, bundlerOptions: { preloadModules: PRELOADED_WORKFLOW_MODULES } }),
    ...deps.tuning,
    ...workerInterceptors(deps.tracing, deps.workflowBundle !== undefined),
    ...versionedWorkerOptions(deps.version),
  });
}

/**
 * The worker's interceptors and sinks: activity ids on our own log lines always, and tracing's
 * when it is on.
 */
function workerInterceptors(tracing: Pick<WorkerOptions, 'interceptors' | 'sinks'> | undefined, prebuilt: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const traced = tracing ? tracingOptions(tracing, prebuilt) : {};
  return { ...traced, interceptors: { ...traced.interceptors, activity: [activityLogContext, ...(traced.interceptors?.activity ?? [])] } };
}

/** A worker's tracing options; with a prebuilt bundle the workflow modules are bundled in already. */
export function tracingOptions(tracing: Pick<WorkerOptions, 'interceptors' | 'sinks'>, prebuilt: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!prebuilt) return tracing;
  const { workflowModules: _bundled, ...interceptors } = tracing.interceptors ?? {};
  return { ...tracing, interceptors };
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
