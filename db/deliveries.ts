// Deliveries as the workflow records them, each write in one statement: a notification's status
// (with an event) and the outcome of any of its deliveries. Local activities run these inside
// workflow tasks, so a write is one round trip to the database, never a transaction of several.
// And the attempts: a failed one's record, and what a retry asks about earlier ones.
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Channel, DeliveryStatus, NotificationStatus } from '../domain/types.js';
import { deliveryId } from '../domain/delivery.js';
import { cleanOptional } from '../domain/text.js';
import type { Db } from './client.js';
import { fixedStatement } from './fixed-statement.js';
import { deliveries, deliveryAttempts } from './schema.js';
import { deliveryEventsOf, emitLifecycleEvents, notificationEventsOf } from './lifecycle-events.js';

export interface DeliveryRecord {
  channel: Channel;
  status: DeliveryStatus;
  reason?: string | null;
  provider?: string | null;
  providerMessageId?: string | null;
  error?: { code: string; message: string } | null;
  /** The attempt that sent it: recorded as that attempt's outcome. */
  attempt?: number;
}

/**
 * A delivery outcome as the statement's JSON rows: which fields it sets, and to what. What a
 * provider answered (its message id, an error) is cleaned, so the row can always be written.
 */
function deliveryRow(notificationId: string, d: DeliveryRecord) {
  const sent = d.status === 'sent';
  const setError = sent || d.error !== undefined || Boolean(d.reason);
  return {
    id: deliveryId(notificationId, d.channel),
    status: d.status,
    set_provider: d.provider !== undefined,
    provider: cleanOptional(d.provider ?? null, 100),
    set_pmid: d.providerMessageId !== undefined,
    pmid: cleanOptional(d.providerMessageId ?? null, 255),
    set_error: setError,
    error_code: cleanOptional(sent ? null : d.error !== undefined ? (d.error?.code ?? null) : (d.reason ?? null), 100),
    error_message: cleanOptional(sent ? null : (d.error?.message ?? null)),
    sent,
    attempt: d.attempt ?? null,
  };
}

/** How recordOutcome writes a run's `sending` when its delivery wakes it (activities/index.ts wakeThenDeliver). */
export interface SendingWrite {
  /**
   * A `sending` record that moves only what has not moved on: the notification from `accepted`,
   * its deliveries from `pending`. Written late, twice or after the outcome, it changes nothing.
   */
  onlyFromAccepted?: boolean;
  /**
   * With the outcome: the `sending` event too, dated this many milliseconds before now, when the
   * notification is still `accepted` (an attempt that answered before its `sending` was written).
   */
  foldSendingMsAgo?: number;
}

/**
 * Writes delivery outcomes and, when given, the notification's status and its event. Receipts
 * may already have moved a delivery on: delivered and bounced are never overwritten, and a
 * delivery a receipt marked failed is not marked sent.
 */
export async function recordOutcome(
  db: Db,
  notificationId: string,
  outcomes: DeliveryRecord[],
  status?: { status: NotificationStatus; reason: string | null; releaseAt?: string | null },
  sending: SendingWrite = {},
): Promise<void> {
  const fold = status !== undefined && sending.foldSendingMsAgo !== undefined;
  const variant: OutcomeVariant = `${status ? 'status' : 'deliveries'}${fold ? '+fold' : ''}${sending.onlyFromAccepted ? '+guarded' : ''}` as OutcomeVariant;
  await outcomeStatement(db, variant, {
    rows: JSON.stringify(outcomes.map((d) => deliveryRow(notificationId, d))),
    id: notificationId,
    status: status?.status ?? null,
    reason: status?.reason ?? null,
    setRelease: status?.releaseAt !== undefined,
    releaseAt: status?.releaseAt ?? null,
    foldSeconds: fold ? sending.foldSendingMsAgo! / 1000 : null,
  });
}

/** recordOutcome's shapes: with the notification's status or deliveries only, the `sending` folded in, guarded (SendingWrite). */
type OutcomeVariant = `${'status' | 'deliveries'}${'' | '+fold'}${'' | '+guarded'}`;

const outcomeStatement = fixedStatement((variant: OutcomeVariant) => {
  const p = (name: string) => sql.placeholder(name);
  const guarded = variant.endsWith('+guarded');
  // The events: the status's, after the `sending` one it folds in (the statement's snapshot: the
  // notification as it was before this update).
  const events = variant.includes('+fold')
    ? sql`insert into notification_events (notification_id, status, reason, at)
          select id, 'sending', null, now() - make_interval(secs => ${p('foldSeconds')}) from n
            where (select status from notifications where id = ${p('id')}) = 'accepted'
          union all select id, ${p('status')}, ${p('reason')}, now() from n`
    : sql`insert into notification_events (notification_id, status, reason) select id, ${p('status')}, ${p('reason')} from n`;
  const notification = variant.startsWith('status')
    ? sql`, n as (
        update notifications set status = ${p('status')}, reason = ${p('reason')},
          release_at = case when ${p('setRelease')} then ${p('releaseAt')}::timestamptz else release_at end,
          updated_at = now()
        where id = ${p('id')}${guarded ? sql` and status = 'accepted'` : sql``}
        returning id, tenant_id, recipient_id, template_key, status, reason
      ), e as (
        ${events}
      ), ${emitLifecycleEvents('nstatus', notificationEventsOf('n'), { onlyWithEndpoints: true })}`
    : sql``;
  return sql`with x as (
      select * from jsonb_to_recordset(${p('rows')}::jsonb) as x(id text, status text, set_provider boolean, provider text, set_pmid boolean,
        pmid text, set_error boolean, error_code text, error_message text, sent boolean, attempt integer)
    ), d as (
      update deliveries d set
        status = x.status,
        provider = case when x.set_provider then x.provider else d.provider end,
        provider_message_id = case when x.set_pmid then x.pmid else d.provider_message_id end,
        error_code = case when x.set_error then x.error_code else d.error_code end,
        error_message = case when x.set_error then x.error_message else d.error_message end,
        sent_at = case when x.sent then coalesce(d.sent_at, now()) else d.sent_at end,
        attempts = greatest(d.attempts, coalesce(x.attempt, 0)),
        updated_at = now()
      from x
      where d.id = x.id and d.status not in ('delivered', 'bounced') and (not x.sent or d.status <> 'failed')${guarded ? sql` and d.status = 'pending'` : sql``}
      returning d.id, d.tenant_id, d.notification_id, d.channel, d.status, d.provider, d.error_code, d.attempts
    ), ${emitLifecycleEvents('dstatus', deliveryEventsOf('d'), { onlyWithEndpoints: true })}, a as (
      insert into delivery_attempts (delivery_id, attempt, outcome)
      select x.id, x.attempt, x.status from x where x.attempt is not null
      on conflict (delivery_id, attempt) do update set outcome = excluded.outcome, error_code = null, error_message = null
    )${notification}
    select 1`;
});

/** A failed attempt: its row, and the delivery's attempt count and last error. */
export async function recordFailedAttempt(db: Db, id: string, attempt: number, error: { code: string; message: string }): Promise<void> {
  const failure = { errorCode: error.code, errorMessage: error.message };
  await db
    .insert(deliveryAttempts)
    .values({ deliveryId: id, attempt, outcome: 'failed', ...failure })
    .onConflictDoUpdate({ target: [deliveryAttempts.deliveryId, deliveryAttempts.attempt], set: { outcome: 'failed', ...failure, at: sql`now()` } });
  await db
    .update(deliveries)
    .set({ attempts: sql`greatest(${deliveries.attempts}, ${attempt})`, ...failure, updatedAt: sql`now()` })
    .where(and(eq(deliveries.id, id), sql`${deliveries.status} in ('pending', 'sending')`));
}

/** When the delivery's first recorded attempt was, if it has one. */
export async function firstAttemptAt(db: Db, id: string): Promise<Date | null> {
  const [row] = await db
    .select({ at: sql<Date | string | null>`min(${deliveryAttempts.at})` })
    .from(deliveryAttempts)
    .where(eq(deliveryAttempts.deliveryId, id));
  return row?.at ? new Date(row.at) : null;
}

/** Whether another delivery than `id` already holds this provider's message id. */
export async function providerMessageHeldElsewhere(db: Db, id: string, provider: string, providerMessageId: string): Promise<boolean> {
  const rows = await db
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(and(eq(deliveries.provider, provider), eq(deliveries.providerMessageId, providerMessageId), ne(deliveries.id, id)))
    .limit(1);
  return rows.length > 0;
}
