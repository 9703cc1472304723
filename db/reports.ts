// What the operator's views read: the dashboard's window and /metrics' scrape, counted in
// grouped queries over the delivery records every process writes.
import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from './client.js';

// Latency is measured from when the notification could first be sent: its acceptance, or the
// end of a deliberate wait (sendAt, quiet hours), so that scheduled sends do not read as slow.
// A hold's end is its release_at while held; once released the run records `sending` (and
// clears release_at) at once, so that first `sending` event after a `held` one stands for it.
// Over `notifications n`; /metrics' accepted → sent histogram starts from it too.
const readyAt = sql`greatest(n.created_at, coalesce(n.send_at, n.created_at), coalesce(n.release_at, n.created_at),
  coalesce((select min(s.at) from notification_events h join notification_events s on s.notification_id = h.notification_id and s.status = 'sending' and s.at >= h.at
    where h.notification_id = n.id and h.status = 'held'), n.created_at))`;
const latencyMs = sql`extract(epoch from (d.sent_at - ${readyAt})) * 1000`;

interface DashboardLimits {
  windowMinutes: number;
  openIncidents: number;
  recentFailures: number;
  recentFailuresHours: number;
}

/** The dashboard's rows, as the database has them now. */
export async function dashboardRows(db: Db, { windowMinutes, openIncidents, recentFailures, recentFailuresHours }: DashboardLimits) {
  const window = sql`now() - make_interval(mins => ${windowMinutes})`;

  const [clock] = rowsOf<{ now: number; minute: number }>(
    await db.execute(sql`select (extract(epoch from now()) * 1000)::float8 as now, extract(epoch from date_trunc('minute', now()))::float8 as minute`),
  );

  const [accepted] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from notifications where created_at >= ${window}`));

  // Sent deliveries count at their sent_at, the others at their last change.
  // (deliveries_status_updated_idx and notifications_created_idx serve these queries.)
  const perMinute = rowsOf<{ channel: string; outcome: string; minute: number; n: number }>(
    await db.execute(sql`
      select channel, outcome, extract(epoch from date_trunc('minute', at))::float8 as minute, count(*)::int as n
      from (
        select channel,
               case when status in ('sent', 'delivered') then 'sent'
                    when status in ('failed', 'bounced') then 'failed'
                    else status end as outcome,
               case when status in ('sent', 'delivered') then sent_at else updated_at end as at
        from deliveries
        -- updated_at is never before sent_at: a range over deliveries_status_updated_idx.
        where status in ('sent', 'delivered', 'failed', 'bounced', 'skipped')
          and updated_at >= ${window}
      ) d
      where at >= ${window}
      group by 1, 2, 3`),
  );

  const sending = rowsOf<{ channel: string; n: number }>(await db.execute(sql`select channel, count(*)::int as n from deliveries where status = 'sending' group by 1`));

  const percentileRows = rowsOf<{ channel: string | null; count: number; p50: number | null; p95: number | null; p99: number | null }>(
    await db.execute(sql`
      select d.channel, count(*)::int as count,
             (percentile_cont(0.5) within group (order by ${latencyMs}))::float8 as p50,
             (percentile_cont(0.95) within group (order by ${latencyMs}))::float8 as p95,
             (percentile_cont(0.99) within group (order by ${latencyMs}))::float8 as p99
      from deliveries d join notifications n on n.id = d.notification_id
      where d.status in ('sent', 'delivered') and d.updated_at >= ${window} and d.sent_at >= ${window}
      group by grouping sets ((d.channel), ())`),
  );

  const incidentRows = rowsOf<{
    id: string;
    tenant: string;
    summary: string;
    severity: string;
    status: string;
    step: number;
    cycle: number;
    created_at: number;
    workflow_id: string;
    total: number;
  }>(
    await db.execute(sql`
      select i.id, coalesce(t.name, i.tenant_id) as tenant, i.summary, i.severity, i.status, i.step, i.cycle,
             (extract(epoch from i.created_at) * 1000)::float8 as created_at, i.workflow_id, (count(*) over ())::int as total
      from incidents i left join tenants t on t.id = i.tenant_id
      where i.status in ('triggered', 'acknowledged')
      order by i.created_at desc
      limit ${openIncidents}`),
  );

  const failureRows = rowsOf<{
    id: string;
    notification_id: string;
    tenant: string;
    recipient_id: string;
    template_key: string;
    channel: string;
    status: string;
    attempts: number;
    error_code: string | null;
    error_message: string | null;
    at: number;
    workflow_id: string;
  }>(
    await db.execute(sql`
      select d.id, d.notification_id, coalesce(t.name, n.tenant_id) as tenant, n.recipient_id, n.template_key, d.channel, d.status,
             d.attempts, d.error_code, d.error_message, (extract(epoch from d.updated_at) * 1000)::float8 as at, n.workflow_id
      from deliveries d
      join notifications n on n.id = d.notification_id
      left join tenants t on t.id = n.tenant_id
      where d.status in ('failed', 'bounced') and d.updated_at >= now() - make_interval(hours => ${recentFailuresHours})
      order by d.updated_at desc, d.id
      limit ${recentFailures}`),
  );
  return { clock, accepted: accepted.n, perMinute, sending, percentileRows, incidentRows, failureRows };
}

type Row = Record<string, unknown>;

/** One scrape's counts, read from the database in a few grouped queries. */
export async function metricsRows(db: Db, latencyBuckets: readonly number[]) {
  const q = async (query: ReturnType<typeof sql>) => rowsOf<Row>(await db.execute(query));
  const buckets = latencyBuckets.map((b, i) => `count(*) filter (where s <= ${b}) as b${i}`).join(', ');
  const [notificationRows, deliveryRows, attemptRows, latencyRows, incidentRows, broadcastRows, progressRows, integrationRows] = await Promise.all([
    q(sql`select priority, broadcast_id is not null as broadcast, status, count(*)::int as n from notifications group by 1, 2, 3`),
    q(sql`select channel, status, sent_at is not null as sent, count(*)::int as n from deliveries group by 1, 2, 3`),
    q(sql`select d.channel, coalesce(a.error_code, 'unknown') as code, count(*)::int as n
          from delivery_attempts a join deliveries d on d.id = a.delivery_id where a.outcome = 'failed' group by 1, 2`),
    // From when the notification could first be sent, as the dashboard measures it (acceptance,
    // or the end of a deliberate wait), to the delivery's send.
    q(sql`select channel, count(*)::int as n, coalesce(sum(s), 0)::float8 as sum, ${sql.raw(buckets)}
          from (select d.channel, greatest(0, extract(epoch from d.sent_at - ${readyAt}))::float8 as s
                from deliveries d join notifications n on n.id = d.notification_id where d.sent_at is not null) x
          group by 1`),
    q(sql`select severity, status, count(*)::int as n from incidents where status <> 'resolved' group by 1, 2`),
    q(sql`select status, count(*)::int as n from broadcasts group by 1`),
    q(sql`select b.id, b.total, n.status, count(n.id)::int as n
          from broadcasts b left join notifications n on n.broadcast_id = b.id where b.status = 'running' group by 1, 2, 3`),
    q(sql`select tenant_id, id, channel, health->>'state' as state from integrations`),
  ]);
  return { notificationRows, deliveryRows, attemptRows, latencyRows, incidentRows, broadcastRows, progressRows, integrationRows };
}

