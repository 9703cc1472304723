import type { Db } from '../db/client.js';
import type { Channel, RetrySettings } from '../domain/types.js';
import type { PayloadCodec } from '@temporalio/common';
import type { TemporalDeps } from '../usecases/temporal.js';
import type { EncryptionKey } from '../usecases/payload-codec.js';
import type { InboxStreams } from './inbox-streams.js';

export interface AppDeps {
  db: Db;
  temporal: TemporalDeps & {
    /** Resolves when the Temporal service answers. */
    ping(): Promise<void>;
  };
  adminToken: string;
  /** The payload codec that /codec/decode and /codec/encode serve, and the browser origins (the Temporal UI's) allowed to call them. */
  codec?: { codec: PayloadCodec; corsOrigins: readonly string[] };
  /** TOCSIN_ENCRYPTION_KEYS: integrations' credentials are sealed with the first (unset: integrations answer 503). */
  encryptionKeys?: readonly EncryptionKey[];
  /** Which channels have their provider configured, for /readyz. */
  channels: Record<Channel, 'configured' | 'unconfigured'>;
  /** Retry settings pinned into each notification at acceptance. */
  retry: RetrySettings;
  /** Receipts and Slack interactivity verify with these (see api/routes/receipts.ts). */
  secrets?: {
    slackSigningSecret?: string;
    twilioAuthToken?: string;
    /** TWILIO_FROM and TWILIO_WHATSAPP_FROM: whose inbound STOPs concern every tenant without its own integration. */
    twilioFrom?: string;
    twilioWhatsappFrom?: string;
    resendWebhookSecret?: string;
    publicBaseUrl?: string;
  };
  now?: () => number;
  /** Broadcast paging and in-flight bound (see usecases/accept.ts); defaults suit 100,000 recipients. */
  broadcastTuning?: { pageSize: number; maxInFlight: number };
  /** Recipients read per page of an event's audience (usecases/events.ts); unset: 1,000. */
  eventPageSize?: number;
  /** BROADCAST_BATCHES: new broadcasts run broadcastBatchWorkflow (default) or broadcastWorkflow. */
  broadcastBatches?: boolean;
  /**
   * Incident runs continue as new past this many history events (tests set a small value);
   * unset: when the server suggests it.
   */
  incidentTuning?: { maxHistoryEvents?: number };
  /**
   * WEBHOOK_ALLOWED_HOSTS: webhook URLs with these literal addresses (or in these CIDRs) are
   * accepted although private or loopback. Unset: none.
   */
  webhookAllowedHosts?: readonly string[];
  /** The operator dashboard links runs into this Temporal Web UI (TEMPORAL_UI_URL or the dev server's). */
  temporalUi?: { url?: string; namespace: string };
  /** Per-tenant request rate of this API instance (api/rate-limit.ts); unset: 1000/s, bursts of 2000. */
  rateLimit?: { perSecond: number; burst: number };
  /** CRITICAL_RATE_PER_MINUTE: a tenant's critical sends per minute unless its own setting says otherwise (api/critical-rate.ts); unset: 60. */
  criticalRatePerMinute?: number;
  /**
   * UNAUTH_RATE_PER_SECOND answers per client address to requests without valid credentials, and
   * TRUSTED_PROXY_HOPS, the proxies whose X-Forwarded-For names the client (api/auth.ts); unset: 20/s, none.
   */
  unauthenticated?: { perSecond: number; trustedProxyHops: number };
  /** Per-tenant fair admission (TENANT_MAX_CONCURRENT_REQUESTS); defaults to 8 at once, 1,000 waiting. */
  tenantGate?: { concurrency: number; maxWaiting: number };
  /**
   * The inbox's SSE streams (api/inbox-streams.ts): capped per tenant and recipient, woken by
   * the database's notifications. Unset: default caps, and streams poll every second.
   */
  inboxStreams?: InboxStreams;
  /** CORS_ORIGINS: browser origins that may call /v1/me/* with a recipient token (unset: none). */
  corsOrigins?: readonly string[];
}

/** `recipientId` is set on /v1/me/* only, from the recipient token. */
export type Env = { Variables: { tenantId: string; recipientId: string } };
