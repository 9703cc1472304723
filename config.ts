// The one place that reads process.env. Entry points call loadConfig(); everything else
// receives the parsed Config.
import { z } from 'zod';
import { parseAllowList } from './usecases/webhook-address.js';
import { parseEncryptionKeys } from './usecases/payload-codec.js';
import { parseFairnessWeights } from './domain/priority.js';
import { LOG_LEVELS } from './telemetry/log.js';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const blankAsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
const seconds = (def: number) => z.coerce.number().positive().default(def);

const RetryOverride = z
  .object({
    initialIntervalSeconds: z.number().positive(),
    backoffCoefficient: z.number().min(1),
    maximumIntervalSeconds: z.number().positive(),
    maximumAttempts: z.number().int().min(1),
    expirationSeconds: z.number().positive(),
  })
  .partial()
  .strict();
const RetryOverrides = z.partialRecord(z.enum(['email', 'sms', 'slack', 'webhook', 'inapp', 'pager']), RetryOverride);

const ConfigSchema = z.object({
  // Logs (telemetry/log.ts): pino JSON lines, or pino-pretty; unset format: pretty under
  // `npm start` on a terminal, JSON otherwise. The level defaults to warn under vitest.
  LOG_LEVEL: z.preprocess(blankAsUnset, z.enum(LOG_LEVELS).default('info')),
  LOG_FORMAT: z.preprocess(blankAsUnset, z.enum(['json', 'pretty']).optional()),
  // The Temporal SDK's own Prometheus metrics (worker, connection), served on this port at
  // HOST:port/metrics by the SDK's core; unset: off.
  TEMPORAL_METRICS_PORT: z.preprocess(blankAsUnset, z.coerce.number().int().min(1).max(65535).optional()),
  // Traces (telemetry/tracing.ts) exported over OTLP/HTTP to <endpoint>/v1/traces; unset: off.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString,
  OTEL_SERVICE_NAME: z.string().default('tocsin'),
  PORT: port(3000),
  HOST: z.string().default('127.0.0.1'),
  DATA_DIR: z.string().default('./.data'),
  DATABASE_URL: optionalString,
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('notifications'),
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  /** Where operators open the Temporal Web UI (the dashboard links runs there); unset: the embedded dev server's. */
  TEMPORAL_UI_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  // Worker Deployment Versioning, on when a deployment name is set (README: Changing workflow code).
  TEMPORAL_DEPLOYMENT_NAME: optionalString,
  /** Unset: the package version and a hash of the workflow sources (worker/versioning.ts). */
  TEMPORAL_BUILD_ID: optionalString,
  /** Make this worker's version the deployment's current one once it polls. */
  TEMPORAL_SET_CURRENT_VERSION: z.stringbool().default(true),
  ADMIN_TOKEN: optionalString,
  // The payload codec's keys (usecases/payload-codec.ts): the first seals, all open. Unset: keys
  // generated into DATA_DIR, except with TEMPORAL_ADDRESS, where every process must share them.
  TOCSIN_ENCRYPTION_KEYS: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      return parseEncryptionKeys(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be comma-separated id:base64key (32-byte keys, the first encrypts): ${(err as Error).message}` });
      return z.NEVER;
    }
  }),
  EMAIL_FROM: z.string().default('Tocsin <notifications@localhost>'),
  RESEND_API_KEY: optionalString,
  RESEND_BASE_URL: optionalString,
  RESEND_WEBHOOK_SECRET: optionalString,
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_FROM: optionalString,
  TWILIO_API_BASE_URL: optionalString,
  /** The WhatsApp sender number on Twilio (`+14155238886` or `whatsapp:+14155238886`); with the Twilio account, enables `whatsapp`. */
  TWILIO_WHATSAPP_FROM: optionalString,
  /** Email over SMTP (nodemailer) when RESEND_API_KEY is unset: `smtp://user:pass@host:port` or `smtps://…`. */
  SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\/[^/]+/.test(v), 'must be smtp://user:pass@host:port or smtps://…'),
  /** SMS through Vonage when Twilio's SMS settings are unset. */
  VONAGE_API_KEY: optionalString,
  VONAGE_API_SECRET: optionalString,
  VONAGE_FROM: optionalString,
  VONAGE_BASE_URL: optionalString,
  /** Push through FCM HTTP v1: the service account's JSON, or a path to it. */
  FCM_SERVICE_ACCOUNT: optionalString,
  FCM_BASE_URL: optionalString,
  /** Push through APNs (HTTP/2, token auth): the p8 key (PEM or a path), its id, the team id and the app's bundle id. */
  APNS_KEY: optionalString,
  APNS_KEY_ID: optionalString,
  APNS_TEAM_ID: optionalString,
  APNS_TOPIC: optionalString,
  APNS_BASE_URL: optionalString,
  /** Web Push with VAPID: the application server's keys (base64url) and a mailto: or https: contact. */
  VAPID_PUBLIC_KEY: optionalString,
  VAPID_PRIVATE_KEY: optionalString,
  VAPID_SUBJECT: optionalString,
  /** Certificates (PEM, or a path to them) trusted for Web Push endpoints besides the system's. */
  WEBPUSH_CA: optionalString,
  TELEGRAM_BOT_TOKEN: optionalString,
  /** Replaces https://api.telegram.org (a local Bot API server, tests). */
  TELEGRAM_API_URL: optionalString,
  SLACK_BOT_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_API_URL: optionalString,
  PAGERDUTY_EVENTS_URL: z.string().default('https://events.pagerduty.com/v2/enqueue'),
  PUBLIC_BASE_URL: optionalString,
  /** Browser origins (comma-separated) that may call /v1/me/* with a recipient token. */
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((o) => o.trim()).filter(Boolean)),
  /** Notifications, deliveries, attempts, events and inbox items older than this are deleted daily. */
  RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Hosts, IPs and CIDRs that webhooks may reach although they are private or loopback. */
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const entries = (v ?? '').split(',').map((e) => e.trim()).filter(Boolean);
      try {
        parseAllowList(entries);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be comma-separated hosts, IPs or CIDRs: ${(err as Error).message}` });
        return z.NEVER;
      }
      return entries;
    }),
  // Per-tenant API request rate, per API instance (README: Rate limits).
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(1).default(1000),
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(2000),
  // Critical notifications (and new incidents) a tenant may send per minute, per API instance,
  // unless the tenant's own setting says otherwise (README: Limits).
  CRITICAL_RATE_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(60),
  // Answers per second per client address to /v1 requests without valid credentials, and the
  // reverse proxies in front of the API whose X-Forwarded-For names that address (README:
  // Authentication first).
  UNAUTH_RATE_PER_SECOND: z.coerce.number().int().min(1).default(20),
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  // Requests of one tenant an API instance works on at once; the rest wait their turn in the
  // tenant's own line (README: Priority and fairness).
  TENANT_MAX_CONCURRENT_REQUESTS: z.coerce.number().int().min(1).max(1000).default(8),
  // Inbox SSE streams an API instance holds open per tenant and per recipient; past either, 429.
  SSE_MAX_STREAMS_PER_TENANT: z.coerce.number().int().min(1).max(100_000).default(100),
  SSE_MAX_STREAMS_PER_RECIPIENT: z.coerce.number().int().min(1).max(1000).default(5),
  // Broadcasts the API starts deliver in batches (broadcastBatchWorkflow); false: one
  // notification workflow per recipient (broadcastWorkflow), as before.
  BROADCAST_BATCHES: z.stringbool().default(true),
  // Worker tuning (see README, "Worker settings"): deliveries are I/O-bound, so many activities
  // run at once; workflow tasks are short CPU work, so a few per core.
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(200),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).default(200),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).default(40),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(2000),
  // A prebuilt workflow bundle (`npm run bundle:workflows -- FILE`): the worker loads it instead
  // of bundling the workflows at start, which keeps webpack's memory out of the worker process.
  // Unset: bundled at start (`npm start`). It must come from the same code as the worker.
  WORKFLOW_BUNDLE: optionalString,
  // Delivery retry policy (Temporal activity retries), applied per channel.
  DELIVERY_INITIAL_INTERVAL_SECONDS: seconds(1),
  DELIVERY_BACKOFF_COEFFICIENT: z.coerce.number().min(1).default(2),
  DELIVERY_MAX_INTERVAL_SECONDS: seconds(300),
  DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(8),
  DELIVERY_EXPIRATION_SECONDS: seconds(3600),
  // Per-channel overrides, JSON: {"sms":{"maximumAttempts":3},"webhook":{"expirationSeconds":86400}}
  DELIVERY_RETRY_OVERRIDES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v?.trim()) return undefined;
      try {
        return RetryOverrides.parse(JSON.parse(v));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be JSON like {"sms":{"maximumAttempts":3}}: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  // Tenants whose sends get a larger (or smaller) share of the workers, JSON: {"acme":3}
  TENANT_FAIRNESS_WEIGHTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseFairnessWeights(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be JSON like {"acme":3}: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
});

export type Config = z.infer<typeof ConfigSchema> & { publicBaseUrl: string };

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.refine((c) => c.RATE_LIMIT_BURST >= c.RATE_LIMIT_PER_SECOND, {
    path: ['RATE_LIMIT_BURST'],
    message: 'must be at least RATE_LIMIT_PER_SECOND (the bucket holds at least one second of requests)',
  }).safeParse(env.VITEST && !env.LOG_LEVEL?.trim() ? { ...env, LOG_LEVEL: 'warn' } : env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid configuration:\n${lines}`);
  }
  const c = parsed.data;
  return { ...c, publicBaseUrl: c.PUBLIC_BASE_URL ?? `http://${c.HOST}:${c.PORT}` };
}
