// What the operator dashboard (GET /dashboard/data) shows, read from the database in a few
// aggregate queries over the last hour: deliveries per channel and minute, accepted → sent
// latency percentiles, open incidents and the latest failed deliveries. Plain SQL that both
// PGlite and PostgreSQL run; every number is cast in SQL so both drivers answer JS numbers.
import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../db/client.js';

/** The window the rates, series and percentiles cover. */
export const DASHBOARD_WINDOW_MINUTES = 60;
/** The latest failed deliveries, of the last day at most (an index range, not every failure ever). */
const RECENT_FAILURES = 20;
const RECENT_FAILURES_HOURS = 24;
const OPEN_INCIDENTS = 50;

export interface Percentiles {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ChannelSummary extends Percentiles {
  channel: string;
  sent: number;
  failed: number;
  skipped: number;
  /** Deliveries of this channel being attempted now (status sending), whatever their age. */
  sending: number;
  /** failed / (sent + failed), 0 when there were none. */
  failureRate: number;
}

export interface DashboardData {
  /** Server time (database clock) the data was read at, ISO 8601. */
  at: string;
  windowMinutes: number;
  accepted: number;
  /** Accepted → first sent, over every delivery sent in the window. */
  latency: Percentiles;
  channels: ChannelSummary[];
  /** One point per minute, oldest first: epoch seconds and, per channel, deliveries sent and failed. */
  series: { minutes: number[]; sent: Record<string, number[]>; failed: Record<string, number[]> };
  openIncidents: {
    total: number;
    data: Array<{ id: string; tenant: string; summary: string; severity: string; status: string; step: number; cycle: number; createdAt: string; workflowId: string; workflowUrl: string | null }>;
  };
  recentFailures: Array<{
    deliveryId: string;
    notificationId: string;
    tenant: string;
    recipient: string;
    template: string;
    channel: string;
    status: string;
    attempts: number;
    errorCode: string | null;
    errorMessage: string | null;
    at: string;
    workflowId: string;
    workflowUrl: string | null;
  }>;
}

export interface TemporalUiLink {
  /** Base URL of the Temporal Web UI; unset: no links. */
  url?: string;
  namespace: string;
}

/** The Temporal Web UI page of a workflow's latest run (the UI redirects to it). */
export function workflowUrl(ui: TemporalUiLink, workflowId: string): string | null {
  if (!ui.url) return null;
  return `${ui.url.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

// Latency is measured from when the notification could first be sent: its acceptance, or the
// end of a deliberate wait (sendAt, quiet hours), so that scheduled sends do not read as slow.
// A hold's end is its release_at while held; once released the run records `sending` (and
// clears release_at) at once, so that first `sending` event after a `held` one stands for it.
// Over `notifications n`; /metrics' accepted → sent histogram starts from it too.
export const readyAt = sql`greatest(n.created_at, coalesce(n.send_at, n.created_at), coalesce(n.release_at, n.created_at),
  coalesce((select min(s.at) from notification_events h join notification_events s on s.notification_id = h.notification_id and s.status = 'sending' and s.at >= h.at
    where h.notification_id = n.id and h.status = 'held'), n.created_at))`;
const latencyMs = sql`extract(epoch from (d.sent_at - ${readyAt})) * 1000`;

export async function dashboardData(db: Db, ui: TemporalUiLink): Promise<DashboardData> {
  const window = sql`now() - make_interval(mins => ${DASHBOARD_WINDOW_MINUTES})`;

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
      limit ${OPEN_INCIDENTS}`),
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
      where d.status in ('failed', 'bounced') and d.updated_at >= now() - make_interval(hours => ${RECENT_FAILURES_HOURS})
      order by d.updated_at desc, d.id
      limit ${RECENT_FAILURES}`),
  );

  // One point per minute of the window, the current (partial) minute last.
  const minutes = Array.from({ length: DASHBOARD_WINDOW_MINUTES }, (_, i) => clock.minute - (DASHBOARD_WINDOW_MINUTES - 1 - i) * 60);
  const index = new Map(minutes.map((m, i) => [m, i]));
  const channelNames = [...new Set([...perMinute.map((r) => r.channel), ...sending.map((r) => r.channel)])].sort();
  const zeros = () => Object.fromEntries(channelNames.map((c) => [c, minutes.map(() => 0)])) as Record<string, number[]>;
  const series = { minutes, sent: zeros(), failed: zeros() };
  const totals = new Map(channelNames.map((c) => [c, { sent: 0, failed: 0, skipped: 0 }]));
  for (const r of perMinute) {
    const t = totals.get(r.channel)!;
    if (r.outcome === 'sent' || r.outcome === 'failed' || r.outcome === 'skipped') t[r.outcome] += r.n;
    const i = index.get(r.minute);
    if (i !== undefined && (r.outcome === 'sent' || r.outcome === 'failed')) series[r.outcome][r.channel][i] += r.n;
  }
  const percentiles = (channel: string | null): Percentiles => {
    const p = percentileRows.find((r) => r.channel === channel);
    return { count: p?.count ?? 0, p50Ms: p?.p50 ?? null, p95Ms: p?.p95 ?? null, p99Ms: p?.p99 ?? null };
  };

  return {
    at: iso(clock.now),
    windowMinutes: DASHBOARD_WINDOW_MINUTES,
    accepted: accepted.n,
    latency: percentiles(null),
    channels: channelNames.map((channel) => {
      const t = totals.get(channel)!;
      return {
        channel,
        ...t,
        sending: sending.find((r) => r.channel === channel)?.n ?? 0,
        failureRate: t.sent + t.failed === 0 ? 0 : t.failed / (t.sent + t.failed),
        ...percentiles(channel),
      };
    }),
    series,
    openIncidents: {
      total: incidentRows[0]?.total ?? 0,
      data: incidentRows.map((r) => ({
        id: r.id,
        tenant: r.tenant,
        summary: r.summary,
        severity: r.severity,
        status: r.status,
        step: r.step,
        cycle: r.cycle,
        createdAt: iso(r.created_at),
        workflowId: r.workflow_id,
        workflowUrl: workflowUrl(ui, r.workflow_id),
      })),
    },
    recentFailures: failureRows.map((r) => ({
      deliveryId: r.id,
      notificationId: r.notification_id,
      tenant: r.tenant,
      recipient: r.recipient_id,
      template: r.template_key,
      channel: r.channel,
      status: r.status,
      attempts: r.attempts,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      at: iso(r.at),
      workflowId: r.workflow_id,
      workflowUrl: workflowUrl(ui, r.workflow_id),
    })),
  };
}
