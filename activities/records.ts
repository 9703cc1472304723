// The workflow's records of a notification, each in one statement: its status (with an event)
// and the outcome of any of its deliveries. Local activities run these inside workflow tasks,
// so a write is one round trip to the database, never a transaction of several.
import { sql, type SQL } from 'drizzle-orm';
import type { DeliveryStatus, NotificationStatus } from '../domain/types.js';
import type { Channel } from '../domain/types.js';
import { deliveryId } from '../domain/delivery.js';
import { cleanOptional } from '../domain/text.js';

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

/**
 * Writes delivery outcomes and, when given, the notification's status and its event. Receipts
 * may already have moved a delivery on: delivered and bounced are never overwritten, and a
 * delivery a receipt marked failed is not marked sent.
 */
export function recordStatement(
  notificationId: string,
  deliveries: DeliveryRecord[],
  status?: { status: NotificationStatus; reason: string | null; releaseAt?: string | null },
): SQL {
  const rows = JSON.stringify(deliveries.map((d) => deliveryRow(notificationId, d)));
  const notification = status
    ? sql`, n as (
        update notifications set status = ${status.status}, reason = ${status.reason},
          release_at = case when ${status.releaseAt !== undefined} then ${status.releaseAt ?? null}::timestamptz else release_at end,
          updated_at = now()
        where id = ${notificationId}
        returning id
      ), e as (
        insert into notification_events (notification_id, status, reason) select id, ${status.status}, ${status.reason} from n
      )`
    : sql``;
  return sql`with x as (
      select * from jsonb_to_recordset(${rows}::jsonb) as x(id text, status text, set_provider boolean, provider text, set_pmid boolean,
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
      where d.id = x.id and d.status not in ('delivered', 'bounced') and (not x.sent or d.status <> 'failed')
      returning d.id
    ), a as (
      insert into delivery_attempts (delivery_id, attempt, outcome)
      select x.id, x.attempt, x.status from x where x.attempt is not null
      on conflict (delivery_id, attempt) do update set outcome = excluded.outcome, error_code = null, error_message = null
    )${notification}
    select 1`;
}
