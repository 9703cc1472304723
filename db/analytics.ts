// Delivery analytics and failed-delivery tooling (README: "Analytics and failed deliveries"):
// one tenant's deliveries counted per time bucket and key, its failed deliveries a page at a
// time, and the claim a retry makes on a finished notification's failed deliveries. Every query
// is a range over deliveries_tenant_created_idx (tenant_id, created_at).
import { sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db } from './client.js';

export type AnalyticsInterval = 'hour' | 'day';
export type AnalyticsGroupBy = 'channel' | 'template' | 'category' | 'provider';

const GROUP_COLUMN: Record<AnalyticsGroupBy, ReturnType<typeof sql.raw>> = {
  channel: sql.raw('d.channel'),
  template: sql.raw('d.template_key'),
  category: sql.raw('d.category'),
  provider: sql.raw('d.provider'),
};

export interface AnalyticsRow {
  bucket: Date | string;
  key: string | null;
  sent: number;
  delivered: number;
  failed: number;
  bounced: number;
  skipped: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/**
 * Deliveries created in [from, to) bucketed by their creation (the notification's acceptance)
 * in UTC. `sent` counts deliveries that reached the provider (sent_at set: delivered and bounced
 * ones too), the others count by current status. Latency is from when the notification was due
 * (acceptance, or its sendAt when later) to the delivery's send, over the deliveries sent.
 */
export async function deliveryAnalytics(db: Db, tenantId: string, q: AnalyticsParams): Promise<AnalyticsRow[]> {
  return rowsOf<AnalyticsRow>(await db.execute(deliveryAnalyticsQuery(tenantId, q)));
}

export interface AnalyticsParams {
  from: Date;
  to: Date;
  interval: AnalyticsInterval;
  groupBy: AnalyticsGroupBy;
  limit: number;
}

/** The statement deliveryAnalytics runs (tests and the bench EXPLAIN it). */
export function deliveryAnalyticsQuery(tenantId: string, q: AnalyticsParams) {
  const unit = q.interval === 'hour' ? sql.raw(`date_trunc('hour', d.created_at at time zone 'UTC') at time zone 'UTC'`) : sql.raw(`date_trunc('day', d.created_at at time zone 'UTC') at time zone 'UTC'`);
  return sql`
      with d as (${rangeRows(tenantId, q.from, q.to, unit, GROUP_COLUMN[q.groupBy])})
      select bucket, key, ${COUNTS}
      from d
      group by 1, 2
      order by 1, 2 nulls first
      limit ${q.limit}`;
}

/**
 * The tenant's deliveries created in [from, to), one row each with its bucket, key, status and
 * latency. A delivery row is written with its notification, in the same statement or
 * transaction, so both carry the same created_at: the notifications of the range are an index
 * range too (notifications_tenant_created_idx), hash-joined, rather than one lookup per delivery.
 */
function rangeRows(tenantId: string, fromDate: Date, toDate: Date, bucket: SQL, key: SQL) {
  const from = sql`${fromDate.toISOString()}::timestamptz`;
  const to = sql`${toDate.toISOString()}::timestamptz`;
  return sql`
        select ${bucket} as bucket, ${key} as key, d.status, d.sent_at is not null as sent,
               case when d.sent_at is not null
                    then greatest(0, extract(epoch from d.sent_at - greatest(d.created_at, coalesce(n.send_at, d.created_at))) * 1000) end as ms
        from deliveries d
        left join notifications n on n.id = d.notification_id and n.tenant_id = ${tenantId} and n.created_at >= ${from} and n.created_at < ${to}
        where d.tenant_id = ${tenantId} and d.created_at >= ${from} and d.created_at < ${to}`;
}

/** The counts and percentiles of a group of rangeRows. */
const COUNTS = sql.raw(`(count(*) filter (where sent))::int as sent,
             (count(*) filter (where status = 'delivered'))::int as delivered,
             (count(*) filter (where status = 'failed'))::int as failed,
             (count(*) filter (where status = 'bounced'))::int as bounced,
             (count(*) filter (where status = 'skipped'))::int as skipped,
             (percentile_cont(0.5) within group (order by ms))::float8 as p50,
             (percentile_cont(0.95) within group (order by ms))::float8 as p95,
             (percentile_cont(0.99) within group (order by ms))::float8 as p99`);

/** The tenant's deliveries of [from, to) per channel, and over all (`key` null, `total`). */
export async function deliverySummary(db: Db, tenantId: string, from: Date, to: Date): Promise<Array<Omit<AnalyticsRow, 'bucket'> & { total: boolean }>> {
  return rowsOf(
    await db.execute(sql`
      with d as materialized (${rangeRows(tenantId, from, to, sql`null::timestamptz`, sql.raw('d.channel'))})
      select key, grouping(key) = 1 as total, ${COUNTS}
      from d
      group by grouping sets ((key), ())
      order by 2, 1`),
  );
}

/** Tenants by name, for the dashboard's choice of one (at most `limit`). */
export async function tenantChoices(db: Db, limit: number): Promise<Array<{ id: string; name: string }>> {
  return rowsOf(await db.execute(sql`select id, name from tenants order by name, id limit ${limit}`));
}

export interface FailedDeliveryRow {
  id: string;
  notification_id: string;
  recipient_id: string;
  template_key: string | null;
  category: string | null;
  channel: string;
  provider: string | null;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface DeliveryCursor {
  createdAt: Date;
  id: string;
}

/** A page of the tenant's failed deliveries created in [from, to), newest first. */
export async function failedDeliveriesPage(
  db: Db,
  tenantId: string,
  q: { from: Date; to: Date; channel?: string; after?: DeliveryCursor; limit: number },
): Promise<FailedDeliveryRow[]> {
  const channel = q.channel ? sql`and d.channel = ${q.channel}` : sql``;
  const after = q.after ? sql`and (d.created_at, d.id) < (${q.after.createdAt.toISOString()}::timestamptz, ${q.after.id})` : sql``;
  return rowsOf<FailedDeliveryRow>(
    await db.execute(sql`
      select d.id, d.notification_id, n.recipient_id, d.template_key, d.category, d.channel, d.provider, d.attempts,
             d.error_code, d.error_message, d.created_at, d.updated_at
      from deliveries d join notifications n on n.id = d.notification_id
      where d.tenant_id = ${tenantId} and d.status = 'failed'
        and d.created_at >= ${q.from.toISOString()}::timestamptz and d.created_at < ${q.to.toISOString()}::timestamptz
        ${channel} ${after}
      order by d.created_at desc, d.id desc
      limit ${q.limit}`),
  );
}

/** Statuses a notification may be retried from: finished, with something failed. */
export const RETRYABLE_STATUSES = ['failed', 'partially_sent'] as const;

export interface RetryCandidate {
  notification_id: string;
  created_at: Date | string;
}

/**
 * A page of the tenant's notifications that a bulk retry takes: finished as failed or
 * partially sent, with a failed delivery (of `channel`, when given) created in [from, to);
 * oldest first, after the cursor.
 */
export async function retryCandidatesPage(
  db: Db,
  tenantId: string,
  q: { from: Date; to: Date; channel?: string; after?: DeliveryCursor; limit: number },
): Promise<RetryCandidate[]> {
  const channel = q.channel ? sql`and d.channel = ${q.channel}` : sql``;
  const after = q.after ? sql`and (d.created_at, d.notification_id) > (${q.after.createdAt.toISOString()}::timestamptz, ${q.after.id})` : sql``;
  return rowsOf<RetryCandidate>(
    await db.execute(sql`
      select d.notification_id, min(d.created_at) as created_at
      from deliveries d join notifications n on n.id = d.notification_id
      where d.tenant_id = ${tenantId} and d.status = 'failed' and n.status in ('failed', 'partially_sent')
        and d.created_at >= ${q.from.toISOString()}::timestamptz and d.created_at < ${q.to.toISOString()}::timestamptz
        ${channel} ${after}
      group by d.notification_id
      order by 2, 1
      limit ${q.limit}`),
  );
}

/** A notification's status and its deliveries' channels and statuses (for the retry's checks). */
export async function retryState(
  db: Db,
  tenantId: string,
  notificationId: string,
): Promise<{ status: string; deliveries: Array<{ channel: string; status: string }> } | null> {
  const rows = rowsOf<{ status: string; channel: string | null; dstatus: string | null }>(
    await db.execute(sql`
      select n.status, d.channel, d.status as dstatus
      from notifications n left join deliveries d on d.notification_id = n.id
      where n.tenant_id = ${tenantId} and n.id = ${notificationId}`),
  );
  if (rows.length === 0) return null;
  return {
    status: rows[0].status,
    deliveries: rows.filter((r) => r.channel !== null).map((r) => ({ channel: r.channel!, status: r.dstatus! })),
  };
}

export interface ClaimedRetry {
  recipientId: string;
  templateKey: string;
  templateVersion: number;
  category: string | null;
  strategy: string;
  data: Record<string, unknown>;
  /** Every delivery of the notification, in position order, as it stands after the claim. */
  deliveries: Array<{ channel: string; status: string; attempts: number; claimed: boolean }>;
}

/**
 * Claims a finished notification's failed deliveries for a retry, in one statement: they go
 * back to `sending` and the notification to `sending` (with an event whose reason names the
 * claim). Only one claim wins a failed delivery, so two retries never send it twice; the same
 * claim asked again (its activity retried) answers what it claimed. Null when nothing was
 * claimed (the notification is not finished, or nothing failed any more).
 */
export async function claimFailedDeliveries(db: Db, tenantId: string, notificationId: string, claim: string): Promise<ClaimedRetry | null> {
  const reason = `retry:${claim}`;
  const rows = rowsOf<{
    recipient_id: string;
    template_key: string;
    template_version: number;
    category: string | null;
    strategy: string;
    data: Record<string, unknown> | string;
    channel: string;
    status: string;
    attempts: number;
    claimed: boolean;
  }>(
    await db.execute(sql`
      with n as (
        select id, status = 'sending' as again from notifications x
        where x.tenant_id = ${tenantId} and x.id = ${notificationId}
          and (x.status in ('failed', 'partially_sent')
               or (x.status = 'sending' and exists (select 1 from notification_events e where e.notification_id = x.id and e.reason = ${reason})))
        for update
      ), c as (
        update deliveries d set status = 'sending', updated_at = now()
        from n where not n.again and d.notification_id = n.id and d.status = 'failed'
        returning d.id
      ), s as (
        update notifications set status = 'sending', reason = null, updated_at = now()
        where id = (select id from n) and exists (select 1 from c)
        returning id
      ), e as (
        insert into notification_events (notification_id, status, reason) select id, 'sending', ${reason} from s
      )
      select n0.recipient_id, n0.template_key, n0.template_version, n0.category, n0.strategy, n0.data, d.channel,
             case when c.id is not null then 'sending' else d.status end as status, d.attempts,
             (c.id is not null or (d.status = 'sending' and exists (select 1 from n where n.again))) as claimed
      from notifications n0 join deliveries d on d.notification_id = n0.id left join c on c.id = d.id
      where n0.id = ${notificationId} and (exists (select 1 from s) or exists (select 1 from n where n.again))
      order by d.position`),
  );
  if (rows.length === 0) return null;
  const r = rows[0];
  return {
    recipientId: r.recipient_id,
    templateKey: r.template_key,
    templateVersion: Number(r.template_version),
    category: r.category,
    strategy: r.strategy,
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
    deliveries: rows.map((x) => ({ channel: x.channel, status: x.status, attempts: Number(x.attempts), claimed: Boolean(x.claimed) })),
  };
}

/** A tenant's id and name, for the dashboard's view of it. */
export async function tenantById(db: Db, id: string): Promise<{ id: string; name: string } | undefined> {
  return rowsOf<{ id: string; name: string }>(await db.execute(sql`select id, name from tenants where id = ${id}`))[0];
}
