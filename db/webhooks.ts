// Lifecycle webhook endpoints, their deliveries (one per event and endpoint, written with the
// event by db/lifecycle-events.ts) and the attempts that make the deliveries log.
import { and, asc, desc, eq, inArray, lt, lte, min, sql } from 'drizzle-orm';
import { rowsOf, type Db } from './client.js';
import { WEBHOOK_CHANNEL } from './lifecycle-events.js';
import { lifecycleEvents, webhookAttempts, webhookDeliveries, webhookEndpoints } from './schema.js';

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;

export async function findWebhookEndpoint(db: Db, tenantId: string, id: string): Promise<WebhookEndpointRow | undefined> {
  const [row] = await db
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id)));
  return row;
}

export async function listWebhookEndpoints(db: Db, tenantId: string): Promise<WebhookEndpointRow[]> {
  return db.select().from(webhookEndpoints).where(eq(webhookEndpoints.tenantId, tenantId)).orderBy(asc(webhookEndpoints.id)).limit(1000);
}

/** Creates the endpoint with `secret` (sealed), unless it exists. Answers the row when it was created. */
export async function insertWebhookEndpoint(
  db: Db,
  row: { tenantId: string; id: string; url: string; events: string[]; enabled: boolean; secret: string },
): Promise<WebhookEndpointRow | undefined> {
  const [created] = await db.insert(webhookEndpoints).values(row).onConflictDoNothing().returning();
  return created;
}

/** Changes an endpoint's URL and events, and `enabled` when given (enabling clears the disable reason and the failure streak). */
export async function updateWebhookEndpoint(
  db: Db,
  tenantId: string,
  id: string,
  change: { url: string; events: string[]; enabled?: boolean },
): Promise<WebhookEndpointRow | undefined> {
  const [row] = await db
    .update(webhookEndpoints)
    .set({
      url: change.url,
      events: change.events,
      ...(change.enabled === true ? { enabled: true, disabledReason: null, failingSince: null } : {}),
      ...(change.enabled === false ? { enabled: false } : {}),
      updatedAt: sql`now()`,
    })
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id)))
    .returning();
  return row;
}

/** A new secret; the one it replaces (when given) keeps signing until `previousExpiresAt`. */
export async function rotateWebhookSecret(
  db: Db,
  tenantId: string,
  id: string,
  secrets: { secret: string; previousSecret: string; previousExpiresAt: Date },
): Promise<boolean> {
  const rows = await db
    .update(webhookEndpoints)
    .set({ secret: secrets.secret, previousSecret: secrets.previousSecret, previousSecretExpiresAt: secrets.previousExpiresAt, updatedAt: sql`now()` })
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id)))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

/** Deletes the endpoint with its deliveries and attempts; whether it existed. */
export async function deleteWebhookEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(webhookEndpoints)
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id)))
    .returning({ id: webhookEndpoints.id });
  return rows.length > 0;
}

export async function disableWebhookEndpoint(db: Db, tenantId: string, id: string, reason: string): Promise<void> {
  await db
    .update(webhookEndpoints)
    .set({ enabled: false, disabledReason: reason, updatedAt: sql`now()` })
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id), eq(webhookEndpoints.enabled, true)));
}

/** A delivery due to be attempted, with its event. */
export interface DueWebhookDelivery {
  id: number;
  attempts: number;
  /** The replay this claim is of (webhook_deliveries.replays): its outcome is recorded only on it. */
  replays: number;
  firstAttemptAt: Date | null;
  event: { id: number; type: string; recipientId: string | null; data: Record<string, unknown>; createdAt: Date };
}

/** Up to `limit` of the endpoint's pending deliveries due at `now`, the longest due first. */
export async function dueWebhookDeliveries(db: Db, tenantId: string, endpointId: string, now: Date, limit: number): Promise<DueWebhookDelivery[]> {
  const rows = await db
    .select({
      id: webhookDeliveries.id,
      attempts: webhookDeliveries.attempts,
      replays: webhookDeliveries.replays,
      firstAttemptAt: webhookDeliveries.firstAttemptAt,
      event: {
        id: lifecycleEvents.id,
        type: lifecycleEvents.type,
        recipientId: lifecycleEvents.recipientId,
        data: lifecycleEvents.data,
        createdAt: lifecycleEvents.createdAt,
      },
    })
    .from(webhookDeliveries)
    .innerJoin(lifecycleEvents, eq(lifecycleEvents.id, webhookDeliveries.eventId))
    .where(
      and(
        eq(webhookDeliveries.tenantId, tenantId),
        eq(webhookDeliveries.endpointId, endpointId),
        eq(webhookDeliveries.status, 'pending'),
        lte(webhookDeliveries.nextAttemptAt, now),
      ),
    )
    .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.id))
    .limit(limit);
  return rows;
}

/** When the endpoint's next pending delivery is due; null when none is pending. */
export async function nextWebhookDueAt(db: Db, tenantId: string, endpointId: string): Promise<Date | null> {
  const [row] = await db
    .select({ at: min(webhookDeliveries.nextAttemptAt) })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.tenantId, tenantId), eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, 'pending')));
  return row?.at ? new Date(row.at) : null;
}

/** One attempt's outcome, as the dispatcher decided it. */
export interface WebhookAttemptOutcome {
  deliveryId: number;
  /** The delivery's replay count when the round claimed it (DueWebhookDelivery.replays). */
  replays: number;
  statusCode: number | null;
  error: string | null;
  succeeded: boolean;
  /** After a failure: when to try again, or null to give up (`failed`). */
  nextAttemptAt: Date | null;
}

/**
 * Records a round of attempts at `now` in one statement: the attempts, each delivery's new
 * state, and the endpoint's failure streak (cleared by any success, started by a round of
 * failures). A success also makes the endpoint's backed-off deliveries due at once: the
 * receiver is back. Answers the endpoint's `failing_since` afterwards.
 */
export async function recordWebhookAttempts(db: Db, tenantId: string, endpointId: string, now: Date, outcomes: readonly WebhookAttemptOutcome[]): Promise<Date | null> {
  const rows = JSON.stringify(
    outcomes.map((o) => ({
      delivery_id: o.deliveryId,
      replays: o.replays,
      status_code: o.statusCode,
      error: o.error,
      succeeded: o.succeeded,
      next_at: o.nextAttemptAt?.toISOString() ?? null,
    })),
  );
  const anySuccess = outcomes.some((o) => o.succeeded);
  const at = now.toISOString();
  const result = await db.execute(sql`with x as (
      select * from jsonb_to_recordset(${rows}::jsonb) as x(delivery_id bigint, replays integer, status_code integer, error text, succeeded boolean, next_at timestamptz)
    ), a as (
      insert into webhook_attempts (delivery_id, tenant_id, endpoint_id, status_code, error, succeeded, at)
      select delivery_id, ${tenantId}, ${endpointId}, status_code, error, succeeded, ${at}::timestamptz from x
    ), d as (
      update webhook_deliveries w set
        status = case when x.succeeded then 'succeeded' when x.next_at is null then 'failed' else 'pending' end,
        attempts = w.attempts + 1,
        first_attempt_at = coalesce(w.first_attempt_at, ${at}::timestamptz),
        next_attempt_at = coalesce(x.next_at, w.next_attempt_at),
        updated_at = now()
      from x where w.id = x.delivery_id and w.tenant_id = ${tenantId} and w.endpoint_id = ${endpointId}
        -- A replay since the claim made it pending again: it is sent again, not marked by this attempt.
        and w.replays = x.replays
      returning w.id
    ), recovered as (
      update webhook_deliveries set next_attempt_at = ${at}::timestamptz, updated_at = now()
      where ${anySuccess}::boolean and tenant_id = ${tenantId} and endpoint_id = ${endpointId} and status = 'pending' and next_attempt_at > ${at}::timestamptz
        and id not in (select delivery_id from x)
      returning id
    )
    update webhook_endpoints set failing_since = case when ${anySuccess}::boolean then null else coalesce(failing_since, ${at}::timestamptz) end
    where tenant_id = ${tenantId} and id = ${endpointId}
    returning failing_since`);
  const [row] = rowsOf<{ failing_since: string | Date | null }>(result);
  return row?.failing_since ? new Date(row.failing_since) : null;
}

/** A position in the deliveries log, newest first: the last delivery id of the previous page. */
export async function webhookDeliveryPage(
  db: Db,
  tenantId: string,
  endpointId: string,
  filter: { status?: string; beforeId?: number },
  limit: number,
): Promise<Array<WebhookDeliveryRow & { type: string; attemptsLog: WebhookAttemptRow[] }>> {
  const rows = await db
    .select({ delivery: webhookDeliveries, type: lifecycleEvents.type })
    .from(webhookDeliveries)
    .innerJoin(lifecycleEvents, eq(lifecycleEvents.id, webhookDeliveries.eventId))
    .where(
      and(
        eq(webhookDeliveries.tenantId, tenantId),
        eq(webhookDeliveries.endpointId, endpointId),
        filter.status ? eq(webhookDeliveries.status, filter.status as WebhookDeliveryRow['status']) : undefined,
        filter.beforeId !== undefined ? lt(webhookDeliveries.id, filter.beforeId) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(limit);
  const ids = rows.map((r) => r.delivery.id);
  const attempts = ids.length
    ? await db.select().from(webhookAttempts).where(inArray(webhookAttempts.deliveryId, ids)).orderBy(asc(webhookAttempts.id))
    : [];
  return rows.map((r) => ({ ...r.delivery, type: r.type, attemptsLog: attempts.filter((a) => a.deliveryId === r.delivery.id) }));
}

/**
 * Makes every event of the tenant since `since` that the endpoint subscribes to pending for
 * it again (or for the first time), due now, under the same event ids; answers how many. The
 * dispatcher is woken by NOTIFY at commit, as for new deliveries.
 */
export async function replayWebhookDeliveries(db: Db, tenantId: string, endpointId: string, since: Date): Promise<number> {
  const result = await db.execute(sql`with ep as (
      select events from webhook_endpoints where tenant_id = ${tenantId} and id = ${endpointId}
    ), r as (
      insert into webhook_deliveries (tenant_id, endpoint_id, event_id)
      select ${tenantId}, ${endpointId}, e.id from lifecycle_events e, ep
      where e.tenant_id = ${tenantId} and e.created_at >= ${since.toISOString()}::timestamptz
        and (ep.events @> to_jsonb(e.type::text) or ep.events @> '"*"'::jsonb)
      on conflict (tenant_id, endpoint_id, event_id) do update set
        status = 'pending', attempts = 0, replays = webhook_deliveries.replays + 1, first_attempt_at = null, next_attempt_at = now(), updated_at = now()
      returning id, pg_notify(${WEBHOOK_CHANNEL}, json_build_array(tenant_id, endpoint_id)::text)
    )
    select count(*)::int as n from r`);
  return Number(rowsOf<{ n: number }>(result)[0]?.n ?? 0);
}

/** Enabled endpoints with pending deliveries (a dispatcher's catch-up after a listener reconnects). */
export async function endpointsWithPendingDeliveries(db: Db, limit: number): Promise<Array<{ tenantId: string; endpointId: string }>> {
  const rows = await db
    .selectDistinct({ tenantId: webhookDeliveries.tenantId, endpointId: webhookDeliveries.endpointId })
    .from(webhookDeliveries)
    .innerJoin(webhookEndpoints, and(eq(webhookEndpoints.tenantId, webhookDeliveries.tenantId), eq(webhookEndpoints.id, webhookDeliveries.endpointId)))
    .where(and(eq(webhookDeliveries.status, 'pending'), eq(webhookEndpoints.enabled, true)))
    .limit(limit);
  return rows;
}

/** Endpoints with a secret (current or previous) sealed under another key than `keyId` (a key rotation). */
export async function webhookSecretsSealedElsewhere(db: Db, keyId: string): Promise<Array<Pick<WebhookEndpointRow, 'tenantId' | 'id' | 'secret' | 'previousSecret'>>> {
  return db
    .select({ tenantId: webhookEndpoints.tenantId, id: webhookEndpoints.id, secret: webhookEndpoints.secret, previousSecret: webhookEndpoints.previousSecret })
    .from(webhookEndpoints)
    .where(
      sql`split_part(${webhookEndpoints.secret}, '.', 2) <> ${keyId} or (${webhookEndpoints.previousSecret} is not null and split_part(${webhookEndpoints.previousSecret}, '.', 2) <> ${keyId})`,
    );
}

/** Replaces one sealed secret column's value if it is still `before` (a concurrent rotation wins). */
export async function replaceSealedWebhookSecret(db: Db, tenantId: string, id: string, column: 'secret' | 'previousSecret', before: string, after: string): Promise<void> {
  await db
    .update(webhookEndpoints)
    .set({ [column]: after })
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id), eq(webhookEndpoints[column], before)));
}
