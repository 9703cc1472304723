// GET /metrics (admin token): Prometheus text. The tocsin_* series are counted from the
// database at scrape time, not from in-process counters: deliveries run in the workers,
// possibly in other processes than this API, and the database is where every process records
// what happened, so any API replica answers the same truth and a restart resets nothing.
// Process metrics (process_*, nodejs_*) and tocsin_http_* are this API process's own.
import { createRoute, z } from '@hono/zod-openapi';
import { collectDefaultMetrics, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import type { Db } from '../../db/client.js';
import { metricsRows } from '../../db/reports.js';
import { broadcastCounts } from '../../domain/broadcast.js';
import { adminAuth } from '../auth.js';
import { Problem } from '../problem.js';
import type { AppDeps, Env } from '../deps.js';
import { problems, router, security } from '../contract.js';

/** Upper bounds (seconds) of the accepted → sent histogram. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];

type Row = Record<string, unknown>;
const num = (v: unknown) => Number(v ?? 0);

/** A histogram whose buckets come whole from a query (prom-client's Histogram only observes). */
class SnapshotHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  values: MetricValueWithName<string>[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(rows: Row[], label: string) {
    this.values = rows.flatMap((r) => {
      const labels = { [label]: String(r[label]) };
      return [
        ...LATENCY_BUCKETS.map((le, i) => ({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: num(r[`b${i}`]) })),
        { metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: num(r.n) },
        { metricName: `${this.name}_sum`, labels, value: num(r.sum) },
        { metricName: `${this.name}_count`, labels, value: num(r.n) },
      ];
    });
  }
  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values: this.values } as never;
  }
  reset() {
    this.values = [];
  }
}

export function tocsinMetrics(db: Db, registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const accepted = new Counter({ name: 'tocsin_notifications_accepted_total', help: 'Notifications accepted, by priority and source (api or broadcast)', labelNames: ['priority', 'source'], registers });
  const notificationsNow = new Gauge({ name: 'tocsin_notifications', help: 'Notifications by current status', labelNames: ['status'], registers });
  const deliveries = new Counter({ name: 'tocsin_deliveries_total', help: 'Deliveries finished, by channel and outcome (sent: handed to the provider, delivered and bounced included; failed; skipped; cancelled)', labelNames: ['channel', 'outcome'], registers });
  const deliveriesNow = new Gauge({ name: 'tocsin_deliveries', help: 'Deliveries by channel and current status', labelNames: ['channel', 'status'], registers });
  const failedAttempts = new Counter({ name: 'tocsin_delivery_attempts_failed_total', help: 'Failed delivery attempts (each retry counts), by channel and error code', labelNames: ['channel', 'code'], registers });
  const latency = new SnapshotHistogram('tocsin_delivery_latency_seconds', 'Seconds from when the notification could first be sent (acceptance, or the end of sendAt or quiet hours) to each sent delivery, by channel');
  registry.registerMetric(latency as never);
  const incidentsOpen = new Gauge({ name: 'tocsin_incidents_open', help: 'Incidents not resolved, by severity and status', labelNames: ['severity', 'status'], registers });
  const broadcasts = new Gauge({ name: 'tocsin_broadcasts', help: 'Broadcasts by status', labelNames: ['status'], registers });
  const breakers = new Gauge({
    name: 'tocsin_integration_circuit_open',
    help: "1 while an integration's circuit breaker is open or half-open (its last state as a worker wrote it), else 0",
    labelNames: ['tenant', 'integration', 'channel'],
    registers,
  });
  const progress = new Gauge({ name: 'tocsin_broadcast_recipients', help: 'Recipients of each running broadcast, by state (sent, failed, suppressed, cancelled, pending)', labelNames: ['broadcast', 'state'], registers });

  return {
    registry,
    /** Reads the database and renders every series. */
    async scrape(): Promise<string> {
      const s = await metricsRows(db, LATENCY_BUCKETS);
      for (const m of [accepted, notificationsNow, deliveries, deliveriesNow, failedAttempts, incidentsOpen, broadcasts, progress, breakers]) m.reset();
      for (const r of s.notificationRows) {
        accepted.inc({ priority: String(r.priority), source: r.broadcast ? 'broadcast' : 'api' }, num(r.n));
        notificationsNow.inc({ status: String(r.status) }, num(r.n));
      }
      for (const r of s.deliveryRows) {
        const channel = String(r.channel);
        deliveriesNow.inc({ channel, status: String(r.status) }, num(r.n));
        const outcome = r.sent ? 'sent' : ['failed', 'skipped', 'cancelled'].includes(String(r.status)) ? String(r.status) : null;
        if (outcome) deliveries.inc({ channel, outcome }, num(r.n));
      }
      for (const r of s.attemptRows) failedAttempts.inc({ channel: String(r.channel), code: String(r.code) }, num(r.n));
      latency.set(s.latencyRows, 'channel');
      for (const r of s.incidentRows) incidentsOpen.set({ severity: String(r.severity), status: String(r.status) }, num(r.n));
      for (const r of s.broadcastRows) broadcasts.set({ status: String(r.status) }, num(r.n));
      for (const r of s.integrationRows) breakers.set({ tenant: String(r.tenant_id), integration: String(r.id), channel: String(r.channel) }, r.state === 'closed' ? 0 : 1);
      const byBroadcast = new Map<string, { total: number; byStatus: Record<string, number> }>();
      for (const r of s.progressRows) {
        const b = byBroadcast.get(String(r.id)) ?? { total: num(r.total), byStatus: {} };
        if (r.status != null) b.byStatus[String(r.status)] = num(r.n);
        byBroadcast.set(String(r.id), b);
      }
      for (const [broadcast, b] of byBroadcast) {
        const { total: _total, ...states } = broadcastCounts(b.total, b.byStatus, 'running');
        for (const [state, n] of Object.entries(states)) progress.set({ broadcast, state }, n);
      }
      return registry.metrics();
    },
  };
}

const scrapeRoute = createRoute({
  method: 'get',
  path: '/',
  summary: "Prometheus metrics: the tocsin_* series, counted from the database at scrape time, and this process's own",
  security: security.admin,
  responses: {
    200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
    ...problems(401, 503),
  },
});

/** `registry` holds the metrics other parts of this process keep (api/telemetry.ts). */
export function metricsRoutes(deps: AppDeps, registry?: Registry) {
  const metrics = tocsinMetrics(deps.db, registry);
  const app = router<Env>();
  app.use('*', adminAuth(deps.adminToken));
  app.openapi(scrapeRoute, async (c) => {
    let text: string;
    try {
      text = await metrics.scrape();
    } catch (err) {
      // The counts live in the database: without it there is nothing true to answer.
      throw Object.assign(new Problem(503, 'The database did not answer; metrics are unavailable', [], { 'retry-after': '5' }), { cause: err });
    }
    return c.body(text, 200, { 'content-type': metrics.registry.contentType }) as never;
  });
  return app;
}
