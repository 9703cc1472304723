// Lifecycle events for tenants (`notification.sent`, `recipient.unsubscribed`, …) and their
// webhook deliveries, written by the statement that changes the state they report (the outbox
// pattern): the event, one `webhook_deliveries` row per enabled endpoint of the tenant that
// subscribes to its type, and a NOTIFY that wakes the endpoints' dispatchers at commit
// (worker/webhook-nudges.ts). A retried activity writes nothing twice: events carry a
// `dedup_key` (`<notification id>:notification.sent`) that is unique per tenant.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.js';
import { lifecycleEvents } from './schema.js';

export type LifecycleEventRow = typeof lifecycleEvents.$inferSelect;

/** The NOTIFY channel whose payloads (`["<tenant>","<endpoint>"]`) name endpoints with new deliveries. */
export const WEBHOOK_CHANNEL = 'tocsin_webhooks';

/**
 * Two CTEs, `<name>_le` and `<name>_wd`, to put in a WITH list: the events `source` selects
 * (columns tenant_id, type, recipient_id, data jsonb, dedup_key), and their deliveries. With
 * `onlyWithEndpoints`, events of a tenant without any webhook endpoint are not recorded at all,
 * so the hot paths of tenants that use no webhooks write nothing more (one index probe).
 * The NOTIFY is in the deliveries' RETURNING, which PostgreSQL evaluates for every inserted
 * row even when nothing reads it; identical payloads fold into one at commit.
 */
export function emitLifecycleEvents(name: string, source: SQL, opts: { onlyWithEndpoints: boolean }): SQL {
  const le = sql.identifier(`${name}_le`);
  const wd = sql.identifier(`${name}_wd`);
  const filter = opts.onlyWithEndpoints ? sql`where exists (select 1 from webhook_endpoints we where we.tenant_id = s.tenant_id)` : sql``;
  return sql`${le} as (
      insert into lifecycle_events (tenant_id, type, recipient_id, data, dedup_key)
      select s.tenant_id, s.type, s.recipient_id, s.data, s.dedup_key from (${source}) s ${filter}
      on conflict (tenant_id, dedup_key) do nothing
      returning id, tenant_id, type
    ), ${wd} as (
      insert into webhook_deliveries (tenant_id, endpoint_id, event_id)
      select e.tenant_id, w.id, e.id from ${le} e
      join webhook_endpoints w on w.tenant_id = e.tenant_id and w.enabled
        and (w.events @> to_jsonb(e.type::text) or w.events @> '"*"'::jsonb)
      on conflict do nothing
      returning pg_notify(${WEBHOOK_CHANNEL}, json_build_array(tenant_id, endpoint_id)::text)
    )`;
}

/** Records a lifecycle event (`recipient.unsubscribed`, …) and its webhook deliveries. */
export async function recordLifecycleEvent(
  db: Db,
  event: Pick<LifecycleEventRow, 'tenantId' | 'type' | 'recipientId' | 'data'> & { dedupKey?: string | null },
): Promise<void> {
  const source = sql`select ${event.tenantId}::text as tenant_id, ${event.type}::text as type, ${event.recipientId ?? null}::text as recipient_id,
    ${JSON.stringify(event.data ?? {})}::jsonb as data, ${event.dedupKey ?? null}::text as dedup_key`;
  await db.execute(sql`with ${emitLifecycleEvents('ev', source, { onlyWithEndpoints: false })} select 1`);
}

/** The JSON payload's endpoint, or null when it is not one of ours. */
export function webhookNudgeOf(payload: string): { tenantId: string; endpointId: string } | null {
  try {
    const v: unknown = JSON.parse(payload);
    return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string') ? { tenantId: v[0] as string, endpointId: v[1] as string } : null;
  } catch {
    return null;
  }
}

/**
 * The lifecycle events of notification rows that `cte` returns (columns id, tenant_id,
 * recipient_id, template_key, status, reason): accepted, sent (also partially), failed and
 * cancelled; other statuses report nothing.
 */
export function notificationEventsOf(cte: string): SQL {
  const from = sql.identifier(cte);
  return sql`select tenant_id, 'notification.' || (case when status = 'partially_sent' then 'sent' else status end) as type, recipient_id,
      jsonb_build_object('notificationId', id, 'recipientId', recipient_id, 'template', template_key, 'status', status, 'reason', reason) as data,
      id || ':notification.' || (case when status = 'partially_sent' then 'sent' else status end) as dedup_key
    from ${from} where status in ('accepted', 'sent', 'partially_sent', 'failed', 'cancelled')`;
}

/**
 * The lifecycle events of delivery rows that `cte` returns (columns id, tenant_id,
 * notification_id, channel, status, provider, error_code, attempts): sent, delivered, failed and
 * bounced. The attempt count is in the key, so a delivery sent again later (a retry of a failed
 * one) reports again, while a repeat of the same write does not.
 */
export function deliveryEventsOf(cte: string): SQL {
  const from = sql.identifier(cte);
  return sql`select tenant_id, 'delivery.' || status as type, null::text as recipient_id,
      jsonb_build_object('deliveryId', id, 'notificationId', notification_id, 'channel', channel, 'status', status, 'provider', provider, 'errorCode', error_code) as data,
      id || ':delivery.' || status || ':' || attempts as dedup_key
    from ${from} where status in ('sent', 'delivered', 'failed', 'bounced') and tenant_id is not null`;
}

/** Notification rows whose status a transaction just set, as their lifecycle events report them. */
export interface NotificationStatusChange {
  id: string;
  tenantId: string;
  recipientId: string;
  templateKey: string;
  status: string;
  reason?: string | null;
}

/** The lifecycle events (and webhook deliveries) of notification status changes a transaction made, in one statement. */
export async function emitNotificationEvents(db: Db, changes: readonly NotificationStatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  const rows = JSON.stringify(changes.map((c) => ({ id: c.id, tenant_id: c.tenantId, recipient_id: c.recipientId, template_key: c.templateKey, status: c.status, reason: c.reason ?? null })));
  await db.execute(sql`with changed as (
      select * from jsonb_to_recordset(${rows}::jsonb) as x(id text, tenant_id text, recipient_id text, template_key text, status text, reason text)
    ), ${emitLifecycleEvents('changed', notificationEventsOf('changed'), { onlyWithEndpoints: true })}
    select 1`);
}

/** Delivery rows whose status a transaction just set. */
export interface DeliveryStatusChange {
  id: string;
  tenantId: string;
  notificationId: string;
  channel: string;
  status: string;
  provider?: string | null;
  errorCode?: string | null;
  attempts: number;
}

/** The lifecycle events (and webhook deliveries) of delivery status changes a transaction made, in one statement. */
export async function emitDeliveryEvents(db: Db, changes: readonly DeliveryStatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  const rows = JSON.stringify(
    changes.map((c) => ({ id: c.id, tenant_id: c.tenantId, notification_id: c.notificationId, channel: c.channel, status: c.status, provider: c.provider ?? null, error_code: c.errorCode ?? null, attempts: c.attempts })),
  );
  await db.execute(sql`with changed as (
      select * from jsonb_to_recordset(${rows}::jsonb) as x(id text, tenant_id text, notification_id text, channel text, status text, provider text, error_code text, attempts integer)
    ), ${emitLifecycleEvents('changed', deliveryEventsOf('changed'), { onlyWithEndpoints: true })}
    select 1`);
}
