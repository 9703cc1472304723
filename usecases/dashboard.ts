// What the operator dashboard (GET /dashboard/data) shows, read from the database in a few
// aggregate queries over the last hour: deliveries per channel and minute, accepted → sent
// latency percentiles, open incidents and the latest failed deliveries. Plain SQL that both
// PGlite and PostgreSQL run; every number is cast in SQL so both drivers answer JS numbers.
import type { Db } from '../db/client.js';
import { dashboardRows } from '../db/reports.js';
import { deliverySummary, failedDeliveriesPage, tenantById, tenantChoices } from '../db/analytics.js';
import { missing } from '../domain/errors.js';
import { workflowIds } from '../domain/workflow-ids.js';
import type { AnalyticsBucket } from './analytics.js';

/** The window the rates, series and percentiles cover. */
const DASHBOARD_WINDOW_MINUTES = 60;
/** The latest failed deliveries, of the last day at most (an index range, not every failure ever). */
const RECENT_FAILURES = 20;
const RECENT_FAILURES_HOURS = 24;
const OPEN_INCIDENTS = 50;

interface Percentiles {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

interface ChannelSummary extends Percentiles {
  channel: string;
  sent: number;
  failed: number;
  skipped: number;
  /** Deliveries of this channel being attempted now (status sending), whatever their age. */
  sending: number;
  /** failed / (sent + failed), 0 when there were none. */
  failureRate: number;
}

interface DashboardData {
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

interface TemporalUiLink {
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

export async function dashboardData(db: Db, ui: TemporalUiLink): Promise<DashboardData> {
  const { clock, accepted, perMinute, sending, percentileRows, incidentRows, failureRows } = await dashboardRows(db, {
    windowMinutes: DASHBOARD_WINDOW_MINUTES,
    openIncidents: OPEN_INCIDENTS,
    recentFailures: RECENT_FAILURES,
    recentFailuresHours: RECENT_FAILURES_HOURS,
  });

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
    accepted,
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

/** The per-tenant view's window, its latest failures, and how many tenants the page offers. */
const TENANT_WINDOW_HOURS = 24;
const TENANT_FAILURES = 20;
const TENANT_CHOICES = 500;

/** The same figures as an analytics bucket's. */
type TenantFigures = Omit<AnalyticsBucket, 'bucket' | 'key'>;

/** The tenants the dashboard offers a view of, by name. */
export async function dashboardTenants(db: Db): Promise<{ data: Array<{ id: string; name: string }> }> {
  return { data: await tenantChoices(db, TENANT_CHOICES) };
}

/**
 * One tenant's deliveries over the last 24 hours, the figures GET /v1/analytics/deliveries
 * gives (by status and channel, latency percentiles), and its latest failed deliveries.
 */
export async function tenantDashboardData(
  db: Db,
  ui: TemporalUiLink,
  tenantId: string,
): Promise<{
  at: string;
  tenant: { id: string; name: string };
  windowHours: number;
  total: TenantFigures;
  channels: Array<TenantFigures & { channel: string }>;
  recentFailures: Array<{ deliveryId: string; notificationId: string; recipient: string; template: string | null; channel: string; attempts: number; errorCode: string | null; errorMessage: string | null; at: string; workflowUrl: string | null }>;
}> {
  const tenant = await tenantById(db, tenantId);
  if (!tenant) throw missing('Tenant');
  const to = new Date();
  const from = new Date(to.getTime() - TENANT_WINDOW_HOURS * 3600_000);
  const [rows, failures] = await Promise.all([deliverySummary(db, tenantId, from, to), failedDeliveriesPage(db, tenantId, { from, to, limit: TENANT_FAILURES })]);
  const ms = (v: number | null) => (v === null || v === undefined ? null : Math.round(Number(v)));
  const figures = (r: (typeof rows)[number] | undefined): TenantFigures => ({
    sent: r?.sent ?? 0,
    delivered: r?.delivered ?? 0,
    failed: r?.failed ?? 0,
    bounced: r?.bounced ?? 0,
    skipped: r?.skipped ?? 0,
    latencyMs: { p50: ms(r?.p50 ?? null), p95: ms(r?.p95 ?? null), p99: ms(r?.p99 ?? null) },
  });
  return {
    at: to.toISOString(),
    tenant: { id: tenant.id, name: tenant.name },
    windowHours: TENANT_WINDOW_HOURS,
    total: figures(rows.find((r) => r.total)),
    channels: rows.filter((r) => !r.total).map((r) => ({ channel: r.key ?? '', ...figures(r) })),
    recentFailures: failures.map((f) => ({
      deliveryId: f.id,
      notificationId: f.notification_id,
      recipient: f.recipient_id,
      template: f.template_key,
      channel: f.channel,
      attempts: Number(f.attempts),
      errorCode: f.error_code,
      errorMessage: f.error_message,
      at: iso(new Date(f.updated_at).getTime()),
      workflowUrl: workflowUrl(ui, workflowIds.notification(tenantId, f.notification_id)),
    })),
  };
}
