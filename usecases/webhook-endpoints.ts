// Lifecycle webhook endpoints (README: "Lifecycle webhooks"): put, read, list, delete, rotate
// the secret, the deliveries log and replay; and waking an endpoint's dispatcher workflow
// (workflows/webhook-dispatch.ts), from the API after a change and from the worker when the
// database says deliveries were written (startWebhookNudges).
import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Database, Db } from '../db/client.js';
import { WEBHOOK_CHANNEL, webhookNudgeOf } from '../db/lifecycle-events.js';
import {
  deleteWebhookEndpoint,
  endpointsWithPendingDeliveries,
  findWebhookEndpoint,
  insertWebhookEndpoint,
  listWebhookEndpoints,
  replayWebhookDeliveries,
  replaceSealedWebhookSecret,
  rotateWebhookSecret,
  updateWebhookEndpoint,
  webhookSecretsSealedElsewhere,
  webhookDeliveryPage,
  type WebhookEndpointRow,
} from '../db/webhooks.js';
import { invalidInput, missing, unavailable } from '../domain/errors.js';
import { LIFECYCLE_EVENT_TYPES, lifecycleEventId, PREVIOUS_SECRET_TTL_MS } from '../domain/webhooks.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { webhookNudgeSignal } from '../domain/workflow-messages.js';
import { openCredentials, rewrapAll, sealCredentials, sealedKeyId } from './credentials.js';
import type { EncryptionKey } from './payload-codec.js';
import { refuseWebhookUrls } from './webhook-address.js';
import type { TemporalDeps } from './temporal.js';

export const WebhookEndpointId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1–128 of A-Za-z0-9._-');

export const WebhookEndpointBody = z
  .object({
    url: z.string().min(1).max(2048).url(),
    events: z
      .array(z.enum([...LIFECYCLE_EVENT_TYPES, '*']))
      .min(1)
      .max(LIFECYCLE_EVENT_TYPES.length + 1)
      .openapi({ description: 'The event types to receive, or `["*"]` for all' }),
    enabled: z.boolean().optional().openapi({ description: 'Default true on creation; `true` re-enables an endpoint that was disabled for failing' }),
  })
  .strict()
  .openapi('WebhookEndpointBody');
export type WebhookEndpointBody = z.infer<typeof WebhookEndpointBody>;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export const WebhookDeliveriesQuery = z.object({
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
  cursor: z.string().max(20).regex(/^\d{1,15}$/, 'must be a cursor from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const ReplayBody = z
  .object({ since: z.string().max(40).datetime({ offset: true }).openapi({ description: 'Every event from this time on is sent again', example: '2026-12-01T00:00:00Z' }) })
  .strict()
  .openapi('WebhookReplayBody');

export interface WebhookEndpointDeps {
  db: Db;
  temporal?: Pick<TemporalDeps, 'client' | 'taskQueue'>;
  encryptionKeys?: readonly EncryptionKey[];
  webhookAllowedHosts?: readonly string[];
  now?: () => number;
}

/** What a sealed secret is bound to: tenant and endpoint, apart from integrations' credentials. */
const ownerOf = (tenantId: string, id: string) => ({ tenantId, integrationId: `webhook-endpoint/${id}` });

const keysOf = (deps: WebhookEndpointDeps) => {
  if (!deps.encryptionKeys?.length) throw unavailable('Webhook endpoints need TOCSIN_ENCRYPTION_KEYS to seal their secrets', undefined);
  return deps.encryptionKeys;
};

export const sealWebhookSecret = (keys: readonly EncryptionKey[], tenantId: string, id: string, secret: string) => sealCredentials(keys, ownerOf(tenantId, id), { secret });
export const openWebhookSecret = (keys: readonly EncryptionKey[], tenantId: string, id: string, sealed: string) => openCredentials(keys, ownerOf(tenantId, id), sealed).secret;

/** A new first key in TOCSIN_ENCRYPTION_KEYS: endpoint secrets (current and previous) move under it, as integration credentials do. */
export async function rewrapWebhookSecrets(deps: { db: Db; encryptionKeys: readonly EncryptionKey[] }): Promise<{ rewrapped: number; unreadable: number }> {
  const first = deps.encryptionKeys[0].id;
  const rows = await webhookSecretsSealedElsewhere(deps.db, first);
  const sealed = rows.flatMap((r) =>
    (['secret', 'previousSecret'] as const).flatMap((column) => {
      const value = r[column];
      return value && sealedKeyId(value) !== first ? [{ tenantId: r.tenantId, id: r.id, column, value }] : [];
    }),
  );
  return rewrapAll(
    deps.encryptionKeys,
    sealed,
    (s) => ({ owner: ownerOf(s.tenantId, s.id), value: s.value }),
    (s, after) => replaceSealedWebhookSecret(deps.db, s.tenantId, s.id, s.column, s.value, after),
  );
}

/** A Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export interface WebhookEndpointView {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
  secret?: string;
}

function present(row: WebhookEndpointRow): WebhookEndpointView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Starts the endpoint's dispatcher unless it runs, and wakes it. */
export async function nudgeWebhookDispatcher(temporal: Pick<TemporalDeps, 'client' | 'taskQueue'>, tenantId: string, endpointId: string): Promise<void> {
  await temporal.client.workflow.signalWithStart('webhookDispatchWorkflow', {
    workflowId: workflowIds.webhookEndpoint(tenantId, endpointId),
    taskQueue: temporal.taskQueue,
    args: [{ tenantId, endpointId }],
    signal: webhookNudgeSignal,
    signalArgs: [],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: SA.tenant, value: tenantId },
      { key: SA.kind, value: 'webhook-endpoint' },
    ],
  });
}

/** Creates (answering the secret, once) or changes an endpoint; an enabled one's dispatcher is woken. */
export async function putWebhookEndpoint(deps: WebhookEndpointDeps, tenantId: string, id: string, body: WebhookEndpointBody): Promise<WebhookEndpointView> {
  refuseWebhookUrls(deps.webhookAllowedHosts, ['url', body.url]);
  const events = [...new Set(body.events)];
  let view: WebhookEndpointView;
  const updated = await updateWebhookEndpoint(deps.db, tenantId, id, { url: body.url, events, enabled: body.enabled });
  if (updated) view = present(updated);
  else {
    const keys = keysOf(deps);
    const secret = newWebhookSecret();
    const created = await insertWebhookEndpoint(deps.db, { tenantId, id, url: body.url, events, enabled: body.enabled ?? true, secret: sealWebhookSecret(keys, tenantId, id, secret) });
    // Two PUTs raced: the other one created it (and answered the secret).
    if (!created) return putWebhookEndpoint(deps, tenantId, id, body);
    view = { ...present(created), secret };
  }
  if (view.enabled && deps.temporal) {
    // Best effort: the worker's catch-up wakes every endpoint with pending deliveries anyway.
    await nudgeWebhookDispatcher(deps.temporal, tenantId, id).catch(() => {});
  }
  return view;
}

export async function getWebhookEndpoint(db: Db, tenantId: string, id: string): Promise<WebhookEndpointView> {
  const row = await findWebhookEndpoint(db, tenantId, id);
  if (!row) throw missing(`Webhook endpoint ${id}`);
  return present(row);
}

export async function listEndpoints(db: Db, tenantId: string): Promise<WebhookEndpointView[]> {
  return (await listWebhookEndpoints(db, tenantId)).map(present);
}

export async function removeWebhookEndpoint(db: Db, tenantId: string, id: string): Promise<void> {
  if (!(await deleteWebhookEndpoint(db, tenantId, id))) throw missing(`Webhook endpoint ${id}`);
}

/** A new secret; the current one keeps signing (a second `v1,` signature) for 24 hours. */
export async function rotateSecret(deps: WebhookEndpointDeps, tenantId: string, id: string): Promise<{ secret: string; previousSecretExpiresAt: string }> {
  const keys = keysOf(deps);
  const row = await findWebhookEndpoint(deps.db, tenantId, id);
  if (!row) throw missing(`Webhook endpoint ${id}`);
  const secret = newWebhookSecret();
  const previousExpiresAt = new Date((deps.now ?? Date.now)() + PREVIOUS_SECRET_TTL_MS);
  await rotateWebhookSecret(deps.db, tenantId, id, { secret: sealWebhookSecret(keys, tenantId, id, secret), previousSecret: row.secret, previousExpiresAt });
  return { secret, previousSecretExpiresAt: previousExpiresAt.toISOString() };
}

export interface WebhookDeliveryView {
  id: string;
  eventId: string;
  type: string;
  status: (typeof WEBHOOK_DELIVERY_STATUSES)[number];
  attempts: Array<{ statusCode: number | null; error: string | null; succeeded: boolean; at: string }>;
  nextAttemptAt: string | null;
  createdAt: string;
}

/** The endpoint's deliveries, newest first, each with its attempts. */
export async function listWebhookDeliveries(
  db: Db,
  tenantId: string,
  id: string,
  q: z.infer<typeof WebhookDeliveriesQuery>,
): Promise<{ data: WebhookDeliveryView[]; nextCursor: string | null }> {
  if (!(await findWebhookEndpoint(db, tenantId, id))) throw missing(`Webhook endpoint ${id}`);
  const rows = await webhookDeliveryPage(db, tenantId, id, { status: q.status, beforeId: q.cursor ? Number(q.cursor) : undefined }, q.limit + 1);
  const page = rows.slice(0, q.limit);
  return {
    data: page.map((r) => ({
      id: String(r.id),
      eventId: lifecycleEventId(r.eventId),
      type: r.type,
      status: r.status,
      attempts: r.attemptsLog.map((a) => ({ statusCode: a.statusCode, error: a.error, succeeded: a.succeeded, at: a.at.toISOString() })),
      nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt.toISOString() : null,
      createdAt: r.createdAt.toISOString(),
    })),
    nextCursor: rows.length > q.limit ? String(page[page.length - 1].id) : null,
  };
}

/** Every event since `since` the endpoint subscribes to, pending again under the same ids; how many. */
export async function replayWebhookEvents(deps: WebhookEndpointDeps, tenantId: string, id: string, since: string): Promise<{ count: number }> {
  const row = await findWebhookEndpoint(deps.db, tenantId, id);
  if (!row) throw missing(`Webhook endpoint ${id}`);
  const from = new Date(since);
  if (from.getTime() > (deps.now ?? Date.now)()) throw invalidInput('since is in the future', [{ path: 'since', message: 'must not be in the future' }]);
  const count = await replayWebhookDeliveries(deps.db, tenantId, id, from);
  if (count > 0 && row.enabled && deps.temporal) await nudgeWebhookDispatcher(deps.temporal, tenantId, id).catch(() => {});
  return { count };
}

/**
 * The worker's side of the nudges: LISTENs for the NOTIFY that every statement writing webhook
 * deliveries sends at commit and wakes (or starts) those endpoints' dispatchers, coalescing
 * bursts per endpoint. Each (re)connect of the listener, and every `catchUpMs`, it also wakes
 * every enabled endpoint with pending deliveries, so a notification lost with a connection or
 * a failed start never strands a delivery. Resolves with the function that stops.
 */
export async function startWebhookNudges(opts: {
  db: Db;
  listen: Database['listen'];
  temporal: Pick<TemporalDeps, 'client' | 'taskQueue'>;
  catchUpMs?: number;
  onError?: (err: unknown) => void;
}): Promise<() => Promise<void>> {
  const inFlight = new Map<string, { again: boolean }>();
  const nudge = (tenantId: string, endpointId: string) => {
    const key = JSON.stringify([tenantId, endpointId]);
    const running = inFlight.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    inFlight.set(key, state);
    void (async () => {
      try {
        do {
          state.again = false;
          await nudgeWebhookDispatcher(opts.temporal, tenantId, endpointId).catch((err) => opts.onError?.(err));
        } while (state.again);
      } finally {
        inFlight.delete(key);
      }
    })();
  };
  const catchUp = async () => {
    try {
      for (const e of await endpointsWithPendingDeliveries(opts.db, 10_000)) nudge(e.tenantId, e.endpointId);
    } catch (err) {
      opts.onError?.(err);
    }
  };
  const unlisten = await opts.listen(
    WEBHOOK_CHANNEL,
    (payload) => {
      const e = webhookNudgeOf(payload);
      if (e) nudge(e.tenantId, e.endpointId);
    },
    () => void catchUp(),
  );
  const timer = setInterval(() => void catchUp(), opts.catchUpMs ?? 5 * 60_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await unlisten();
  };
}
