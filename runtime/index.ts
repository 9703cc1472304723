// Composition root: turns a Config into running pieces (database, Temporal, worker, API).
// `npm start`, `npm run api`, `npm run worker`, the end-to-end tests, the bench and the fuzz
// scripts all go through here. The worker side (worker/, @temporalio/worker, the dev server) is
// loaded only when asked for, so the API process never loads it (test/layers.test.ts checks).
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { apiConnectionOptions } from '../api/temporal.js';
import { channelReadiness } from '../activities/channels/readiness.js';
import type { Config } from '../config.js';
import type { DevServer } from '../worker/dev-server.js';
import { openDatabase, type Database } from '../db/client.js';
import { startEventSweep } from '../usecases/events.js';
import { rewrapWebhookSecrets, startWebhookNudges } from '../usecases/webhook-endpoints.js';
import type { RetrySettings } from '../domain/types.js';
import { ALLOW_LIST_HINT } from '../usecases/webhook-address.js';
import { rewrapIntegrationCredentials } from '../usecases/integrations.js';
import { rewrapTokenKeys } from '../usecases/recipient-tokens.js';
import { ensureRetentionSchedule } from '../usecases/erasure.js';
import { createLogger, type LogFormat, type Logger } from '../telemetry/log.js';
import { startTracing, type Tracing } from '../telemetry/tracing.js';
import { EncryptionCodec, encryptedDataConverter, formatEncryptionKeys, generateEncryptionKey, parseEncryptionKeys, type EncryptionKey } from '../usecases/payload-codec.js';
import type { DataConverter } from '@temporalio/common';

interface StartOptions {
  api?: boolean;
  worker?: boolean;
  /** Start the embedded dev server when TEMPORAL_ADDRESS is unset (npm start). */
  embeddedTemporal?: boolean;
  temporalCliPath?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Where the process's lines go; default: a logger from LOG_LEVEL and LOG_FORMAT. */
  logger?: Logger;
  /** Replaces the startup and shutdown lines only (scripts that print their own). */
  log?: (msg: string) => void;
  /** Traces; default: from OTEL_EXPORTER_OTLP_ENDPOINT (off when unset). */
  tracing?: Tracing;
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
  /** The payload codec's data converter: a Client needs it to read or start Tocsin's runs. */
  dataConverter: DataConverter;
  /** The codec itself (its keys), for the codec server and tests. */
  codec: EncryptionCodec;
  /** The embedded dev server's process id, while it runs. */
  devServerPid?: () => number | undefined;
  stop(): Promise<void>;
}

/**
 * The logger of an entry point, from config. Where a worker runs, startTocsin installs the
 * Temporal SDK's runtime with it (worker/index.ts installRuntime): the API never loads the SDK's
 * native runtime.
 */
export function initTelemetry(config: Config, opts: { format?: LogFormat } = {}): Logger {
  return createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT ?? opts.format ?? 'json' });
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

function senderOptions(config: Config) {
  return {
    emailFrom: config.EMAIL_FROM,
    resendApiKey: config.RESEND_API_KEY,
    resendBaseUrl: config.RESEND_BASE_URL,
    twilioAccountSid: config.TWILIO_ACCOUNT_SID,
    twilioAuthToken: config.TWILIO_AUTH_TOKEN,
    twilioFrom: config.TWILIO_FROM,
    twilioApiBaseUrl: config.TWILIO_API_BASE_URL,
    twilioWhatsappFrom: config.TWILIO_WHATSAPP_FROM,
    smtpUrl: config.SMTP_URL,
    vonageApiKey: config.VONAGE_API_KEY,
    vonageApiSecret: config.VONAGE_API_SECRET,
    vonageFrom: config.VONAGE_FROM,
    vonageBaseUrl: config.VONAGE_BASE_URL,
    fcmServiceAccount: config.FCM_SERVICE_ACCOUNT,
    fcmBaseUrl: config.FCM_BASE_URL,
    apnsKey: config.APNS_KEY,
    apnsKeyId: config.APNS_KEY_ID,
    apnsTeamId: config.APNS_TEAM_ID,
    apnsTopic: config.APNS_TOPIC,
    apnsBaseUrl: config.APNS_BASE_URL,
    vapidPublicKey: config.VAPID_PUBLIC_KEY,
    vapidPrivateKey: config.VAPID_PRIVATE_KEY,
    vapidSubject: config.VAPID_SUBJECT,
    webpushCa: config.WEBPUSH_CA,
    telegramBotToken: config.TELEGRAM_BOT_TOKEN,
    telegramApiUrl: config.TELEGRAM_API_URL,
    slackBotToken: config.SLACK_BOT_TOKEN,
    slackApiUrl: config.SLACK_API_URL,
    pagerEventsUrl: config.PAGERDUTY_EVENTS_URL,
    publicBaseUrl: config.publicBaseUrl,
    webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
  };
}

/** The API's address as a browser on this machine reaches it (a wildcard host means loopback). */
function browserBase(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * Origins that may call the codec endpoints from a browser: the Temporal Web UI's. A loopback UI
 * is reached as localhost or 127.0.0.1 alike, so both are allowed.
 */
export function codecCorsOrigins(uiUrl: string | undefined): string[] {
  if (!uiUrl) return [];
  const url = new URL(uiUrl);
  const origins = [url.origin];
  if (url.hostname === 'localhost' || url.hostname === '127.0.0.1') {
    for (const h of ['localhost', '127.0.0.1']) origins.push(`${url.protocol}//${h}${url.port ? `:${url.port}` : ''}`);
  }
  return [...new Set(origins)];
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

/**
 * The payload codec's keys: TOCSIN_ENCRYPTION_KEYS, or (without it) keys generated once into
 * DATA_DIR/encryption-keys (mode 0600) and read again at every start. With TEMPORAL_ADDRESS (an
 * existing cluster, API and workers perhaps on several machines) the variable is required: keys
 * generated per machine would leave each process unable to read the others' payloads.
 */
export function encryptionKeys(config: Config): { keys: EncryptionKey[]; file?: string } {
  if (config.TOCSIN_ENCRYPTION_KEYS) return { keys: config.TOCSIN_ENCRYPTION_KEYS };
  if (config.TEMPORAL_ADDRESS)
    throw new Error(
      'TOCSIN_ENCRYPTION_KEYS is required with TEMPORAL_ADDRESS: every API and worker process must encrypt Temporal payloads with the same keys. ' +
        'Set it to id:base64key, e.g. TOCSIN_ENCRYPTION_KEYS=k1:$(openssl rand -base64 32) (README: "Payloads at rest").',
    );
  const dir = resolve(config.DATA_DIR);
  const file = join(dir, 'encryption-keys');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(file)) {
    // Written aside, then linked into place: of two processes starting on one DATA_DIR (npm run
    // api and npm run worker) one key wins, and neither ever reads a half-written file.
    const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(aside, `${formatEncryptionKeys([generateEncryptionKey()])}\n`, { mode: 0o600 });
    try {
      linkSync(aside, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(aside);
    }
  }
  try {
    return { keys: parseEncryptionKeys(readFileSync(file, 'utf8').trim()), file };
  } catch (err) {
    throw new Error(`${file} (the generated TOCSIN_ENCRYPTION_KEYS) is unreadable: ${(err as Error).message}`);
  }
}

export async function startTocsin(config: Config, opts: StartOptions = {}): Promise<Running> {
  const logger = opts.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT ?? 'json' });
  const log = opts.log ?? ((m: string) => logger.info(m));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => logger.error({ err }, 'error while stopping'));
    stops.length = 0;
  };
  try {
    const keys = encryptionKeys(config).keys;
    const codec = new EncryptionCodec(keys);
    const dataConverter = encryptedDataConverter(codec);
    let devServer: DevServer | undefined;
    let temporalAddress = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
    if (!config.TEMPORAL_ADDRESS && opts.embeddedTemporal) {
      if (!opts.temporalCliPath) throw new Error('temporalCliPath is required for the embedded dev server');
      const { startDevServer } = await import('../worker/dev-server.js');
      devServer = await startDevServer({
        cliPath: opts.temporalCliPath,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        dbFile: join(resolve(config.DATA_DIR), 'temporal.db'),
        logFile: join(resolve(config.DATA_DIR), 'temporal.log'),
        // The Web UI shows payloads through our codec server (README: "Payloads at rest"); with
        // PORT=0 the API's port is not known yet, and the UI shows them encrypted.
        uiCodecEndpoint: opts.api && config.PORT !== 0 ? `${browserBase(config.HOST, config.PORT)}/codec` : undefined,
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
    }
    // Loaded only for a worker: the API process never loads the worker runtime, nor any provider SDK.
    const workerModules = opts.worker
      ? await Promise.all([
          import('../worker/index.js'),
          import('../worker/versioning.js'),
          import('../activities/channels/index.js'),
          import('../activities/channels/pager.js'),
          import('../activities/channels/slack.js'),
          import('../activities/providers.js'),
        ])
      : undefined;
    if (workerModules) {
      const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
      workerModules[0].installRuntime(logger, { metricsAddress: config.TEMPORAL_METRICS_PORT ? `${host}:${config.TEMPORAL_METRICS_PORT}` : undefined });
    }
    if (workerModules && !devServer) await workerModules[0].ensureSearchAttributes(temporalAddress, config.TEMPORAL_NAMESPACE);

    const tracing =
      opts.tracing ?? (await startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME }));
    if (tracing && !opts.tracing) stops.push(tracing.shutdown);

    const database = await openDatabase({ url: config.DATABASE_URL, dataDir: join(resolve(config.DATA_DIR), 'pglite') });
    stops.push(() => database.close());
    await database.migrate();
    // A new first key in TOCSIN_ENCRYPTION_KEYS: integrations' credentials move under it.
    const rotation = await rewrapIntegrationCredentials({ db: database.db, encryptionKeys: keys });
    if (rotation.rewrapped || rotation.unreadable)
      logger.warn(`integration credentials: ${rotation.rewrapped} re-sealed under key "${keys[0].id}"${rotation.unreadable ? `, ${rotation.unreadable} sealed under a key no longer listed` : ''}`);
    const webhookRotation = await rewrapWebhookSecrets({ db: database.db, encryptionKeys: keys });
    if (webhookRotation.rewrapped || webhookRotation.unreadable)
      logger.warn(`webhook endpoint secrets: ${webhookRotation.rewrapped} re-sealed under key "${keys[0].id}"${webhookRotation.unreadable ? `, ${webhookRotation.unreadable} sealed under a key no longer listed` : ''}`);
    const tokenRotation = await rewrapTokenKeys({ db: database.db, encryptionKeys: keys });
    if (tokenRotation.rewrapped || tokenRotation.unreadable)
      logger.warn(`recipient token secrets: ${tokenRotation.rewrapped} re-sealed under key "${keys[0].id}"${tokenRotation.unreadable ? `, ${tokenRotation.unreadable} sealed under a key no longer listed` : ''}`);

    // The first webhook the address guard refuses in this process tells the operator how to
    // allow a local receiver; later ones are only in the delivery's error.
    let hinted = false;
    const onWebhookBlocked = (reason: string) => {
      if (hinted) return;
      hinted = true;
      logger.warn(`${reason}\n  ${ALLOW_LIST_HINT}`);
    };
    const senderOpts = { ...senderOptions(config), onWebhookBlocked, db: database.db };
    let workerConnection: NativeConnection | undefined;
    if (workerModules) {
      const [{ NativeConnection, createWorker, workerTuning }, { deploymentVersion, setCurrentVersion }, { createSenders }, { createPagerClient }, { createSlackClient }, { createIntegrationProviders }] =
        workerModules;
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
        integrations: createIntegrationProviders(database.db, { keys, emailFrom: config.EMAIL_FROM, publicBaseUrl: config.publicBaseUrl, webpushCa: config.WEBPUSH_CA }),
        recipientLinks: { encryptionKeys: keys, publicBaseUrl: config.publicBaseUrl },
        lifecycleWebhooks: { encryptionKeys: keys, allowedHosts: config.WEBHOOK_ALLOWED_HOSTS },
        webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
        workflowBundle: opts.workflowBundle ?? (config.WORKFLOW_BUNDLE ? { codePath: resolve(config.WORKFLOW_BUNDLE) } : undefined),
        tuning: workerTuning(config),
        version,
        tracing: tracing?.worker,
        dataConverter,
      });
      const running = worker.run();
      running.catch((err) => logger.error({ err }, 'worker stopped'));
      stops.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => {});
      });
      const workerClient = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
      // Lifecycle webhooks: statements that write deliveries NOTIFY at commit; this wakes their endpoints' dispatchers.
      const stopNudges = await startWebhookNudges({
        db: database.db,
        listen: database.listen,
        temporal: { client: workerClient, taskQueue: config.TEMPORAL_TASK_QUEUE },
        onError: (err) => logger.warn({ err }, 'could not wake a webhook dispatcher (the next catch-up will)'),
      });
      stops.push(stopNudges);
      // Events the API evaluates at once leave no workflow: one left `accepted` by a process that
      // died meanwhile gets its workflow from this sweep (at start and every 5 minutes, events over a minute old).
      const stopSweep = startEventSweep({
        db: database.db,
        temporal: { client: workerClient, taskQueue: config.TEMPORAL_TASK_QUEUE },
        retry: retrySettings(config),
        onError: (err) => logger.warn({ err }, 'could not sweep accepted events (the next sweep will)'),
      });
      stops.push(async () => stopSweep());
      // The daily retention pass (RETENTION_DAYS) as a Temporal Schedule, kept by every worker.
      await ensureRetentionSchedule(workerClient, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        days: config.RETENTION_DAYS,
      });
      if (version && config.TEMPORAL_SET_CURRENT_VERSION) {
        await setCurrentVersion(connection, config.TEMPORAL_NAMESPACE, version);
        log(`worker version ${version.deploymentName}:${version.buildId} is current`);
      }
    }

    const admin = adminToken(config);
    let apiUrl: string | undefined;
    if (opts.api) {
      // Loaded only for an API: a worker process never loads the routes, OpenAPI or the dashboard.
      const [{ createApp }, { createInboxStreams }] = await Promise.all([import('../api/app.js'), import('../api/inbox-streams.js')]);
      // Sharing a process with the worker, the API starts workflows eagerly over the worker's
      // connection: the first workflow task runs here at once, without a trip through matching.
      const connection = workerConnection ?? Connection.lazy(apiConnectionOptions(temporalAddress));
      if (!workerConnection) stops.push(() => (connection as Connection).close());
      const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter, interceptors: { workflow: tracing?.clientInterceptors ?? [] } });
      // One LISTEN for the process, fanned out to the inbox's SSE streams.
      const inboxStreams = createInboxStreams({
        listen: database.listen,
        perTenant: config.SSE_MAX_STREAMS_PER_TENANT,
        perRecipient: config.SSE_MAX_STREAMS_PER_RECIPIENT,
      });
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
        codec: { codec, corsOrigins: codecCorsOrigins(config.TEMPORAL_UI_URL ?? devServer?.uiUrl) },
        encryptionKeys: keys,
        channels: channelReadiness(senderOpts),
        retry: retrySettings(config),
        webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
        rateLimit: { perSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST },
        criticalRatePerMinute: config.CRITICAL_RATE_PER_MINUTE,
        unauthenticated: { perSecond: config.UNAUTH_RATE_PER_SECOND, trustedProxyHops: config.TRUSTED_PROXY_HOPS },
        tenantGate: { concurrency: config.TENANT_MAX_CONCURRENT_REQUESTS, maxWaiting: 1000 },
        inboxStreams,
        corsOrigins: config.CORS_ORIGINS,
        broadcastBatches: config.BROADCAST_BATCHES,
        temporalUi: { url: config.TEMPORAL_UI_URL ?? devServer?.uiUrl, namespace: config.TEMPORAL_NAMESPACE },
        secrets: {
          slackSigningSecret: config.SLACK_SIGNING_SECRET,
          twilioAuthToken: config.TWILIO_AUTH_TOKEN,
          twilioFrom: config.TWILIO_FROM,
          twilioWhatsappFrom: config.TWILIO_WHATSAPP_FROM,
          resendWebhookSecret: config.RESEND_WEBHOOK_SECRET,
          publicBaseUrl: config.publicBaseUrl,
        },
      }, { logger });
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
      // Before the server closes (stops run last first): open streams end and free their slots.
      stops.push(() => inboxStreams.close());
      const { port } = server.address() as AddressInfo;
      apiUrl = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
    }
    return { apiUrl, uiUrl: config.TEMPORAL_UI_URL ?? devServer?.uiUrl, temporalAddress, adminToken: admin.token, database, dataConverter, codec, devServerPid: devServer?.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
