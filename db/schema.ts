import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  foreignKey,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { Preferences, TemplateContent, EscalationStep } from '../domain/types.js';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const now = () => sql`now()`;

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  webhookSecret: text('webhook_secret').notNull(),
  /** Critical notifications this tenant may send per minute; null: CRITICAL_RATE_PER_MINUTE. */
  criticalRatePerMinute: integer('critical_rate_per_minute'),
  createdAt: ts('created_at').notNull().default(now()),
});

/** API keys are stored only as a SHA-256 hash; `prefix` identifies a key for revocation. */
export const apiKeys = pgTable(
  'api_keys',
  {
    prefix: text('prefix').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    hash: text('hash').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    revokedAt: ts('revoked_at'),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId)],
);

export const recipients = pgTable(
  'recipients',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    email: text('email'),
    phone: text('phone'),
    slack: text('slack'),
    webhookUrl: text('webhook_url'),
    pagerRoutingKey: text('pager_routing_key'),
    whatsapp: text('whatsapp'),
    telegramChatId: text('telegram_chat_id'),
    locale: text('locale').notNull().default('en'),
    timezone: text('timezone').notNull().default('UTC'),
    name: text('name'),
    preferences: jsonb('preferences').$type<Preferences>().notNull().default({}),
    /** Free attributes for segments (`recipient.attributes.plan == "pro"`). */
    attributes: jsonb('attributes').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

export const templates = pgTable(
  'templates',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    latestVersion: integer('latest_version').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] })],
);

export const templateVersions = pgTable(
  'template_versions',
  {
    tenantId: text('tenant_id').notNull(),
    key: text('key').notNull(),
    version: integer('version').notNull(),
    defaultLocale: text('default_locale').notNull(),
    content: jsonb('content').$type<TemplateContent>().notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key, t.version] })],
);

export const notifications = pgTable(
  'notifications',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    recipientId: text('recipient_id').notNull(),
    templateKey: text('template_key').notNull(),
    templateVersion: integer('template_version').notNull(),
    category: text('category'),
    priority: text('priority').notNull(),
    strategy: text('strategy').notNull(),
    channels: jsonb('channels').$type<string[]>().notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    status: text('status').notNull(),
    reason: text('reason'),
    sendAt: ts('send_at'),
    releaseAt: ts('release_at'),
    workflowId: text('workflow_id').notNull(),
    /** The broadcast this notification is one recipient of, if any. */
    broadcastId: text('broadcast_id'),
    /** The event (`POST /v1/events`) whose rule accepted it, if any. */
    eventId: text('event_id'),
    /** A flow's key and pinned version, when it was sent by flow rather than by template. */
    flowKey: text('flow_key'),
    flowVersion: integer('flow_version'),
    /** A flow's step states (`[{id,type,status,outcome?,startedAt?,endedAt?}]`), as its run records them. */
    steps: jsonb('steps').$type<Record<string, unknown>[]>(),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [
    index('notifications_event_idx').on(t.eventId),
    index('notifications_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('notifications_tenant_recipient_idx').on(t.tenantId, t.recipientId, t.createdAt),
    index('notifications_broadcast_idx').on(t.broadcastId, t.status),
    // The operator dashboard: notifications accepted in the last hour, over every tenant.
    index('notifications_created_idx').on(t.createdAt),
    // An event's signal to the flow runs waiting for it (db/flows.ts flowRunsWaiting): a person's
    // flow runs only, not every notification they ever had.
    index('notifications_flow_recipient_idx').on(t.tenantId, t.recipientId).where(sql`${t.flowKey} is not null`),
  ],
);

/** Status history of a notification, one row per transition. */
export const notificationEvents = pgTable(
  'notification_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    notificationId: text('notification_id')
      .notNull()
      .references(() => notifications.id, { onDelete: 'cascade' }),
    status: text('status').notNull(),
    reason: text('reason'),
    at: ts('at').notNull().default(now()),
  },
  (t) => [index('notification_events_notification_idx').on(t.notificationId)],
);

export const deliveries = pgTable(
  'deliveries',
  {
    id: text('id').primaryKey(),
    notificationId: text('notification_id')
      .notNull()
      .references(() => notifications.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    channel: text('channel').notNull(),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    provider: text('provider'),
    providerMessageId: text('provider_message_id'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    sentAt: ts('sent_at'),
    deliveredAt: ts('delivered_at'),
    /** Copied from the notification for analytics (null on rows older than migration 0009's backfill). */
    tenantId: text('tenant_id'),
    templateKey: text('template_key'),
    category: text('category'),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [
    index('deliveries_tenant_created_idx').on(t.tenantId, t.createdAt),
    uniqueIndex('deliveries_notification_channel_idx').on(t.notificationId, t.channel),
    index('deliveries_provider_message_idx').on(t.provider, t.providerMessageId),
    // The operator dashboard: deliveries by outcome over the last hour, the latest failures.
    index('deliveries_status_updated_idx').on(t.status, t.updatedAt),
  ],
);

/** Every attempt a delivery activity made, with its outcome. */
export const deliveryAttempts = pgTable(
  'delivery_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: text('delivery_id')
      .notNull()
      .references(() => deliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').notNull(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    at: ts('at').notNull().default(now()),
  },
  (t) => [uniqueIndex('delivery_attempts_unique_idx').on(t.deliveryId, t.attempt)],
);

export const inboxMessages = pgTable(
  'inbox_messages',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    recipientId: text('recipient_id').notNull(),
    notificationId: text('notification_id').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    category: text('category'),
    read: boolean('read').notNull().default(false),
    archived: boolean('archived').notNull().default(false),
    url: text('url'),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [
    uniqueIndex('inbox_notification_idx').on(t.notificationId),
    index('inbox_recipient_idx').on(t.tenantId, t.recipientId, t.seq),
  ],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    tenantId: text('tenant_id').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    resourceId: text('resource_id').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] })],
);

export const escalationPolicies = pgTable(
  'escalation_policies',
  {
    tenantId: text('tenant_id').notNull(),
    key: text('key').notNull(),
    steps: jsonb('steps').$type<EscalationStep[]>().notNull(),
    repeat: integer('repeat').notNull().default(0),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] })],
);

export const incidents = pgTable(
  'incidents',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    policyKey: text('policy_key').notNull(),
    summary: text('summary').notNull(),
    severity: text('severity').notNull(),
    dedupKey: text('dedup_key'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    status: text('status').notNull(),
    step: integer('step').notNull().default(0),
    cycle: integer('cycle').notNull().default(0),
    workflowId: text('workflow_id').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [index('incidents_tenant_dedup_idx').on(t.tenantId, t.dedupKey)],
);

export const incidentEvents = pgTable(
  'incident_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    incidentId: text('incident_id')
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    /** Workflow-assigned sequence number: retries of the recording activity never duplicate. */
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    channel: text('channel'),
    target: text('target'),
    by: text('by'),
    at: ts('at').notNull(),
  },
  (t) => [uniqueIndex('incident_events_seq_idx').on(t.incidentId, t.seq)],
);

/** Provider receipts already applied (webhook ids), so replays and duplicates change nothing. */
export const receipts = pgTable('receipts', {
  id: text('id').primaryKey(),
  deliveryId: text('delivery_id'),
  status: text('status').notNull(),
  at: ts('at').notNull().default(now()),
});

/** One row per notification that took a throttle slot, at the workflow's time of the claim. */
export const throttleClaims = pgTable(
  'throttle_claims',
  {
    tenantId: text('tenant_id').notNull(),
    recipientId: text('recipient_id').notNull(),
    key: text('key').notNull(),
    notificationId: text('notification_id').notNull(),
    claimedAt: ts('claimed_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.recipientId, t.key, t.notificationId] }),
    index('throttle_claims_window_idx').on(t.tenantId, t.recipientId, t.key, t.claimedAt),
  ],
);

export const broadcasts = pgTable(
  'broadcasts',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    templateKey: text('template_key').notNull(),
    templateVersion: integer('template_version').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    /** The channels asked for; null: each recipient's deliverable channels. */
    channels: jsonb('channels').$type<string[]>(),
    category: text('category'),
    priority: text('priority').notNull(),
    /** `list` or `all` (the tenant's recipients when it was accepted). */
    audience: text('audience').notNull(),
    total: integer('total').notNull(),
    status: text('status').notNull(),
    workflowId: text('workflow_id').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [index('broadcasts_tenant_created_idx').on(t.tenantId, t.createdAt)],
);

/** A broadcast's audience, pinned at acceptance and numbered for paging. */
export const broadcastRecipients = pgTable(
  'broadcast_recipients',
  {
    broadcastId: text('broadcast_id')
      .notNull()
      .references(() => broadcasts.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    recipientId: text('recipient_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.broadcastId, t.seq] })],
);

/**
 * A tenant's own provider for one channel (README: "Integrations"). `credentials` is sealed
 * (usecases/credentials.ts: envelope encryption under TOCSIN_ENCRYPTION_KEYS), never clear;
 * `masked` is what answers show. `health` is the circuit breaker's last state, as workers saw it.
 */
export const integrations = pgTable(
  'integrations',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    channel: text('channel').notNull(),
    provider: text('provider').notNull(),
    credentials: text('credentials').notNull(),
    masked: jsonb('masked').$type<Record<string, string>>().notNull(),
    settings: jsonb('settings').$type<{ from?: string; baseUrl?: string; ratePerSecond?: number; breakerFailures?: number; breakerCooldownSeconds?: number }>().notNull().default({}),
    priority: integer('priority').notNull().default(1),
    enabled: boolean('enabled').notNull().default(true),
    health: jsonb('health').$type<{ state: 'closed' | 'open' | 'half_open'; failures: number; openedAt: string | null }>().notNull().default({ state: 'closed', failures: 0, openedAt: null }),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('integrations_channel').on(t.tenantId, t.channel, t.priority)],
);

/**
 * Sends through an integration with `ratePerSecond`, kept for its pacing window (db/integrations.ts
 * claimPace): `at` is the claim while the send is in flight (`done` false), then its end.
 */
export const integrationSends = pgTable(
  'integration_sends',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id').notNull(),
    integrationId: text('integration_id').notNull(),
    at: ts('at').notNull(),
    done: boolean('done').notNull().default(false),
  },
  (t) => [index('integration_sends_window').on(t.tenantId, t.integrationId, t.at)],
);

/** A recipient's push devices: an FCM or APNs token, or a Web Push subscription. */
export const devices = pgTable(
  'devices',
  {
    tenantId: text('tenant_id').notNull(),
    recipientId: text('recipient_id').notNull(),
    id: text('id').notNull(),
    provider: text('provider').$type<'fcm' | 'apns' | 'webpush'>().notNull(),
    token: text('token'),
    subscription: jsonb('subscription').$type<{ endpoint: string; keys: { p256dh: string; auth: string } }>(),
    platform: text('platform'),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.recipientId, t.id] }),
    foreignKey({ columns: [t.tenantId, t.recipientId], foreignColumns: [recipients.tenantId, recipients.id] }).onDelete('cascade'),
  ],
);

/**
 * A tenant's secrets for recipient tokens (usecases/recipient-tokens.ts), sealed like
 * integration credentials. The newest unretired one signs; every unretired one verifies.
 */
export const recipientTokenKeys = pgTable(
  'recipient_token_keys',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kid: text('kid').notNull(),
    secret: text('secret').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    retiredAt: ts('retired_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.kid] })],
);

/**
 * Addresses a tenant must not send to on a channel. `addressHash` (db/suppressions.ts
 * addressHash) is the key, so a suppression outlives the erasure of its address.
 */
export const suppressions = pgTable(
  'suppressions',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    channel: text('channel').notNull(),
    addressHash: text('address_hash').notNull(),
    /** Null once the person was erased. */
    address: text('address'),
    reason: text('reason').$type<'unsubscribed' | 'stop' | 'hard_bounce' | 'complaint' | 'manual'>().notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.channel, t.addressHash] }), index('suppressions_listing').on(t.tenantId, t.channel, t.createdAt)],
);

/** Lifecycle events for tenants (`recipient.unsubscribed`, …), kept for the lifecycle webhooks. */
export const lifecycleEvents = pgTable(
  'lifecycle_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    recipientId: text('recipient_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    /** What made it (`<notification id>:notification.sent`), so a retried activity records it once. */
    dedupKey: text('dedup_key'),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [
    index('lifecycle_events_tenant').on(t.tenantId, t.id),
    index('lifecycle_events_created').on(t.createdAt),
    uniqueIndex('lifecycle_events_dedup').on(t.tenantId, t.dedupKey),
  ],
);

/** Erasures asked for (DELETE /v1/recipients/{rid}) and when each finished. */
export const erasures = pgTable(
  'erasures',
  {
    tenantId: text('tenant_id').notNull(),
    recipientId: text('recipient_id').notNull(),
    requestedAt: ts('requested_at').notNull().default(now()),
    finishedAt: ts('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.recipientId, t.requestedAt] })],
);

/** Topics a tenant's recipients subscribe to (rules and broadcasts address a topic's subscribers). */
export const topics = pgTable(
  'topics',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    name: text('name'),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] })],
);

export const topicSubscriptions = pgTable(
  'topic_subscriptions',
  {
    tenantId: text('tenant_id').notNull(),
    topicKey: text('topic_key').notNull(),
    recipientId: text('recipient_id').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.topicKey, t.recipientId] }),
    foreignKey({ columns: [t.tenantId, t.topicKey], foreignColumns: [topics.tenantId, topics.key] }).onDelete('cascade'),
    index('topic_subscriptions_recipient').on(t.tenantId, t.recipientId),
  ],
);

/** Rules: which notifications an event (`POST /v1/events`) accepts. `definition` is the PUT body. */
export const rules = pgTable(
  'rules',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    event: text('event').notNull(),
    definition: jsonb('definition').$type<Record<string, unknown>>().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] }), index('rules_event').on(t.tenantId, t.event)],
);

/** Events posted by producers (`POST /v1/events`) and what their rules made of them. */
export const events = pgTable(
  'events',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    actor: text('actor'),
    recipients: jsonb('recipients').$type<string[]>(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status').$type<'accepted' | 'processed'>().notNull().default('accepted'),
    rules: jsonb('rules').$type<string[]>().notNull().default([]),
    notificationCount: integer('notification_count').notNull().default(0),
    workflowId: text('workflow_id').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    processedAt: ts('processed_at'),
  },
  (t) => [
    index('events_tenant_created').on(t.tenantId, t.createdAt),
    // The worker's sweep of events a dying API left accepted (usecases/events.ts): only those rows.
    index('events_accepted_created').on(t.createdAt).where(sql`${t.status} = 'accepted'`),
  ],
);

/**
 * A tenant's lifecycle webhook endpoints. `secret` (and `previousSecret`, which also signs
 * until `previousSecretExpiresAt`) are sealed like integration credentials.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: text('id').notNull(),
    url: text('url').notNull(),
    events: jsonb('events').$type<string[]>().notNull(),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    /** Since when every attempt failed; null after a success. */
    failingSince: ts('failing_since'),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

/** One lifecycle event owed to one endpoint: pending until delivered, or failed after 3 days. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id').notNull(),
    endpointId: text('endpoint_id').notNull(),
    eventId: bigint('event_id', { mode: 'number' })
      .notNull()
      .references(() => lifecycleEvents.id, { onDelete: 'cascade' }),
    status: text('status').$type<'pending' | 'succeeded' | 'failed'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /**
     * How often the delivery was replayed: a round records its attempt only on the replay it
     * claimed, so a replay during an attempt in flight is sent again, not overwritten.
     */
    replays: integer('replays').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().default(now()),
    firstAttemptAt: ts('first_attempt_at'),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_endpoint_event').on(t.tenantId, t.endpointId, t.eventId),
    index('webhook_deliveries_due').on(t.tenantId, t.endpointId, t.status, t.nextAttemptAt),
    foreignKey({ columns: [t.tenantId, t.endpointId], foreignColumns: [webhookEndpoints.tenantId, webhookEndpoints.id] }).onDelete('cascade'),
  ],
);

/** Every attempt to deliver a lifecycle event to an endpoint (the deliveries log). */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id').notNull(),
    endpointId: text('endpoint_id').notNull(),
    statusCode: integer('status_code'),
    error: text('error'),
    succeeded: boolean('succeeded').notNull(),
    at: ts('at').notNull().default(now()),
  },
  (t) => [index('webhook_attempts_endpoint').on(t.tenantId, t.endpointId, t.id)],
);

/** Flows: multi-step notifications as data, versioned like templates. */
export const flows = pgTable(
  'flows',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    latestVersion: integer('latest_version').notNull(),
    createdAt: ts('created_at').notNull().default(now()),
    updatedAt: ts('updated_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] })],
);

export const flowVersions = pgTable(
  'flow_versions',
  {
    tenantId: text('tenant_id').notNull(),
    key: text('key').notNull(),
    version: integer('version').notNull(),
    steps: jsonb('steps').$type<Record<string, unknown>[]>().notNull(),
    createdAt: ts('created_at').notNull().default(now()),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key, t.version] })],
);
