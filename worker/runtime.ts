// Composition root: turns a Config into running pieces (database, Temporal, worker, API).
// `npm start`, `npm run api`, `npm run worker` and the end-to-end tests all go through here.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type WorkerOptions } from '@temporalio/worker';
import { createApp } from '../api/app.js';
import { channelReadiness, createSenders } from '../activities/channels/index.js';
import { createPagerClient } from '../activities/channels/pager.js';
import { createSlackClient } from '../activities/channels/slack.js';
import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/client.js';
import type { RetrySettings } from '../domain/types.js';
import { ALLOW_LIST_HINT } from '../usecases/webhook-address.js';
import { startDevServer, type DevServer } from './dev-server.js';
import { createWorker, registerSearchAttributes, workerTuning } from './index.js';
import { deploymentVersion, setCurrentVersion } from './versioning.js';

export interface StartOptions {
  api?: boolean;
  worker?: boolean;
  /** Start the embedded dev server when TEMPORAL_ADDRESS is unset (npm start). */
  embeddedTemporal?: boolean;
  temporalCliPath?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
  log?: (msg: string) => void;
  /**
   * The embedded dev server keeps exiting (more than five restarts within a minute): called
   * once everything has stopped. Default: exit code 1 is set.
   */
  onFatal?: (err: Error) => void;
}

export interface Running {
  apiUrl?: string;
  uiUrl?: string;
  temporalAddress: string;
  adminToken: string;
  database: Database;
  /** The embedded dev server's process id, while it runs. */
  devServerPid?: () => number | undefined;
  stop(): Promise<void>;
}

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

export function retrySettings(config: Config): RetrySettings {
  return {
    initialIntervalSeconds: config.DELIVERY_INITIAL_INTERVAL_SECONDS,
    backoffCoefficient: config.DELIVERY_BACKOFF_COEFFICIENT,
    maximumIntervalSeconds: config.DELIVERY_MAX_INTERVAL_SECONDS,
    maximumAttempts: config.DELIVERY_MAX_ATTEMPTS,
    expirationSeconds: config.DELIVERY_EXPIRATION_SECONDS,
    ...(config.DELIVERY_RETRY_OVERRIDES ? { perChannel: config.DELIVERY_RETRY_OVERRIDES } : {}),
  };
}

export function senderOptions(config: Config) {
  return {
    emailFrom: config.EMAIL_FROM,
    resendApiKey: config.RESEND_API_KEY,
    resendBaseUrl: config.RESEND_BASE_URL,
    twilioAccountSid: config.TWILIO_ACCOUNT_SID,
    twilioAuthToken: config.TWILIO_AUTH_TOKEN,
    twilioFrom: config.TWILIO_FROM,
    twilioApiBaseUrl: config.TWILIO_API_BASE_URL,
    slackBotToken: config.SLACK_BOT_TOKEN,
    slackApiUrl: config.SLACK_API_URL,
    pagerEventsUrl: config.PAGERDUTY_EVENTS_URL,
    publicBaseUrl: config.publicBaseUrl,
    webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
  };
}

/**
 * The API's Temporal connection fails fast (a few short retries) so that a Temporal outage
 * answers 503 within seconds instead of holding the client's request.
 */
export function apiConnectionOptions(address: string) {
  return {
    address,
    connectTimeout: 2000,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3, maxIntervalMs: () => 500 }))],
  };
}

/** ADMIN_TOKEN, or one generated once and kept in DATA_DIR so it survives restarts. */
function adminToken(config: Config): { token: string; generated: boolean } {
  if (config.ADMIN_TOKEN) return { token: config.ADMIN_TOKEN, generated: false };
  const dir = resolve(config.DATA_DIR);
  const file = join(dir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), generated: true };
  mkdirSync(dir, { recursive: true });
  const token = `adm_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, generated: true };
}

/** Registers our search attributes on an existing cluster (the dev server gets them as flags). */
async function ensureSearchAttributes(address: string, namespace: string) {
  const conn = await Connection.connect({ address });
  try {
    await registerSearchAttributes(conn, namespace);
  } finally {
    await conn.close();
  }
}

export async function startTocsin(config: Config, opts: StartOptions = {}): Promise<Running> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => log(`error while stopping: ${(err as Error).message}`));
    stops.length = 0;
  };
  try {
    let devServer: DevServer | undefined;
    let temporalAddress = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
    if (!config.TEMPORAL_ADDRESS && opts.embeddedTemporal) {
      if (!opts.temporalCliPath) throw new Error('temporalCliPath is required for the embedded dev server');
      devServer = await startDevServer({
        cliPath: opts.temporalCliPath,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        dbFile: join(resolve(config.DATA_DIR), 'temporal.db'),
        logFile: join(resolve(config.DATA_DIR), 'temporal.log'),
        // Killed or crashed, it is started again on the same state file: the worker and the
        // API reconnect by themselves, and every run carries on (README: "Faults").
        onRestart: log,
        onGiveUp: (err) => {
          log(`${err.message} Stopping Tocsin.`);
          void stop().then(() => (opts.onFatal ? opts.onFatal(err) : void (process.exitCode = 1)));
        },
      });
      stops.push(devServer.stop);
      temporalAddress = devServer.address;
    } else if (opts.worker) {
      await ensureSearchAttributes(temporalAddress, config.TEMPORAL_NAMESPACE);
    }

    const database = openDatabase({ url: config.DATABASE_URL, dataDir: join(resolve(config.DATA_DIR), 'pglite') });
    stops.push(() => database.close());
    await database.migrate();

    // The first webhook the address guard refuses in this process tells the operator how to
    // allow a local receiver; later ones are only in the delivery's error.
    let hinted = false;
    const onWebhookBlocked = (reason: string) => {
      if (hinted) return;
      hinted = true;
      log(`${reason}\n  ${ALLOW_LIST_HINT}`);
    };
    const senderOpts = { ...senderOptions(config), onWebhookBlocked, db: database.db };
    let workerConnection: NativeConnection | undefined;
    if (opts.worker) {
      const connection = await NativeConnection.connect({ address: temporalAddress });
      workerConnection = connection;
      stops.push(() => connection.close());
      const version = deploymentVersion(config);
      const worker = await createWorker({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        db: database.db,
        senders: createSenders(senderOpts),
        slack: createSlackClient({ botToken: config.SLACK_BOT_TOKEN, apiUrl: config.SLACK_API_URL }),
        pager: createPagerClient({ eventsUrl: config.PAGERDUTY_EVENTS_URL }),
        workflowBundle: opts.workflowBundle,
        tuning: workerTuning(config),
        version,
      });
      const running = worker.run();
      running.catch((err) => log(`worker stopped: ${(err as Error).message}`));
      stops.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => {});
      });
      if (version && config.TEMPORAL_SET_CURRENT_VERSION) {
        await setCurrentVersion(connection, config.TEMPORAL_NAMESPACE, version);
        log(`worker version ${version.deploymentName}:${version.buildId} is current`);
      }
    }

    const admin = adminToken(config);
    let apiUrl: string | undefined;
    if (opts.api) {
      // Sharing a process with the worker, the API starts workflows eagerly over the worker's
      // connection: the first workflow task runs here at once, without a trip through matching.
      const connection = workerConnection ?? Connection.lazy(apiConnectionOptions(temporalAddress));
      if (!workerConnection) stops.push(() => (connection as Connection).close());
      const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
      const app = createApp({
        db: database.db,
        temporal: {
          client,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          eagerStart: workerConnection !== undefined,
          fairnessWeights: config.TENANT_FAIRNESS_WEIGHTS,
          ping: async () => void (await connection.workflowService.getSystemInfo({})),
        },
        adminToken: admin.token,
        channels: channelReadiness(senderOpts),
        retry: retrySettings(config),
        webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
        rateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
        tenantGate: { concurrency: config.TENANT_MAX_CONCURRENT_REQUESTS, maxWaiting: 1000 },
        broadcastBatches: config.BROADCAST_BATCHES,
        temporalUi: { url: config.TEMPORAL_UI_URL ?? devServer?.uiUrl, namespace: config.TEMPORAL_NAMESPACE },
        secrets: {
          slackSigningSecret: config.SLACK_SIGNING_SECRET,
          twilioAuthToken: config.TWILIO_AUTH_TOKEN,
          resendWebhookSecret: config.RESEND_WEBHOOK_SECRET,
          publicBaseUrl: config.publicBaseUrl,
        },
      });
      const server: ServerType = await new Promise((ok, fail) => {
        const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => ok(s));
        s.once('error', fail);
      });
      stops.push(
        () =>
          new Promise<void>((ok) => {
            server.close(() => ok());
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      );
      const { port } = server.address() as AddressInfo;
      apiUrl = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
    }
    return { apiUrl, uiUrl: devServer?.uiUrl, temporalAddress, adminToken: admin.token, database, devServerPid: devServer?.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
