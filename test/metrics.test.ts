// GET /metrics: the tocsin_* series, counted from the database at scrape time, after real
// sends through the API, the workflow and its delivery activities (time-skipping server).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { LATENCY_BUCKETS, tocsinMetrics } from '../api/routes/metrics.js';
import { broadcasts, deliveries, deliveryAttempts, incidents, notifications, tenants } from '../db/schema.js';
import { CHANNELS, type Channel } from '../domain/types.js';
import { ADMIN, fastRetry, seed, startHarness, waitForState, type Harness } from './harness.js';
import { openTestDatabase, testDatabaseKinds } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await seed(h);
});
afterAll(() => h?.close());

type Sample = { name: string; labels: Record<string, string>; value: number };
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = l.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
      if (!m) throw new Error(`not a sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1], labels, value: Number(m[3]) };
    });
}
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

async function scrape(app = h.app, token = ADMIN) {
  const res = await app.request('/metrics', { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('GET /metrics', () => {
  it('needs the admin token', async () => {
    expect((await h.app.request('/metrics')).status).toBe(401);
    expect((await scrape(h.app, h.apiKey)).status).toBe(401);
  });

  it('counts accepted notifications, deliveries by channel and outcome, failed attempts and the accepted → sent latency after real sends', async () => {
    const ok = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'Ann' } });
    expect(ok.status).toBe(202);
    await waitForState(h, ok.body.id, (s) => s.status === 'sent');
    // The webhook receiver refuses the next one: not retried, the webhook delivery fails.
    h.hook.enqueue({ status: 400, body: { error: 'no such user' } });
    const bad = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 2 }, name: 'Ann' }, priority: 'high' });
    expect(bad.status).toBe(202);
    await waitForState(h, bad.body.id, (s) => s.status === 'partially_sent');

    const r = await scrape();
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parse(r.text);
    expect(value(m, 'tocsin_notifications_accepted_total', { priority: 'normal', source: 'api' })).toBe(1);
    expect(value(m, 'tocsin_notifications_accepted_total', { priority: 'high', source: 'api' })).toBe(1);
    expect(value(m, 'tocsin_notifications', { status: 'sent' })).toBe(1);
    expect(value(m, 'tocsin_notifications', { status: 'partially_sent' })).toBe(1);
    expect(value(m, 'tocsin_deliveries_total', { channel: 'inapp', outcome: 'sent' })).toBe(2);
    expect(value(m, 'tocsin_deliveries_total', { channel: 'webhook', outcome: 'sent' })).toBe(1);
    expect(value(m, 'tocsin_deliveries_total', { channel: 'webhook', outcome: 'failed' })).toBe(1);
    expect(value(m, 'tocsin_deliveries', { channel: 'webhook', status: 'failed' })).toBe(1);
    expect(value(m, 'tocsin_delivery_attempts_failed_total', { channel: 'webhook', code: 'provider_rejected' })).toBe(1);

    // The histogram: a count and a sum per channel, cumulative buckets ending at the count.
    for (const [channel, n] of [['inapp', 2], ['webhook', 1]] as const) {
      expect(value(m, 'tocsin_delivery_latency_seconds_count', { channel })).toBe(n);
      expect(value(m, 'tocsin_delivery_latency_seconds_bucket', { channel, le: '+Inf' })).toBe(n);
      const buckets = LATENCY_BUCKETS.map((le) => value(m, 'tocsin_delivery_latency_seconds_bucket', { channel, le: String(le) })!);
      expect(buckets.every((b, i) => b >= (buckets[i - 1] ?? 0) && b <= n)).toBe(true);
      // Sent within the minute (the test server skips no time on this path).
      expect(value(m, 'tocsin_delivery_latency_seconds_bucket', { channel, le: '60' })).toBe(n);
      expect(value(m, 'tocsin_delivery_latency_seconds_sum', { channel })).toBeGreaterThanOrEqual(0);
    }
    expect(r.text).toContain('# TYPE tocsin_delivery_latency_seconds histogram');
    expect(r.text).toContain('# TYPE tocsin_deliveries_total counter');
    // This process's own metrics come along: its CPU, its requests by route pattern.
    expect(value(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(m, 'tocsin_http_requests_total', { method: 'POST', route: '/v1/notifications', status: '202' })).toBe(2);
    expect(value(m, 'tocsin_http_request_duration_seconds_count', { method: 'POST', route: '/v1/notifications' })).toBe(2);
    expect(value(m, 'tocsin_http_requests_total', { method: 'PUT', route: '/v1/recipients/:recipientId', status: '200' })).toBe(1);
  });

  it('shows open incidents and the progress of running broadcasts, and any replica over the same database answers the same', async () => {
    // Rows as the escalation and broadcast paths write them (their workflows are tested elsewhere).
    await h.db.db.insert(incidents).values([
      { id: 'inc_open', tenantId: h.tenantId, policyKey: 'p', summary: 'db down', severity: 'critical', status: 'triggered', workflowId: 'incident:x:1' },
      { id: 'inc_done', tenantId: h.tenantId, policyKey: 'p', summary: 'db back', severity: 'critical', status: 'resolved', workflowId: 'incident:x:2' },
    ]);
    await h.db.db.insert(broadcasts).values({
      id: 'bc_metrics',
      tenantId: h.tenantId,
      templateKey: 'order-shipped',
      templateVersion: 1,
      data: {},
      priority: 'low',
      audience: 'all',
      total: 3,
      status: 'running',
      workflowId: 'broadcast:x:bc_metrics',
    });
    await h.call('GET', '/v1/no/such/route/123');
    await h.app.request('/v1/templates/some-key', { headers: { authorization: 'Bearer wrong' } });
    const m = parse((await scrape()).text);
    expect(value(m, 'tocsin_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    // Refused by the auth middleware, counted under the route it asked for.
    expect(value(m, 'tocsin_http_requests_total', { method: 'GET', route: '/v1/templates/:key', status: '401' })).toBe(1);
    expect(value(m, 'tocsin_incidents_open', { severity: 'critical', status: 'triggered' })).toBe(1);
    expect(m.filter((s) => s.name === 'tocsin_incidents_open')).toHaveLength(1);
    expect(value(m, 'tocsin_broadcasts', { status: 'running' })).toBe(1);
    expect(value(m, 'tocsin_broadcast_recipients', { broadcast: 'bc_metrics', state: 'pending' })).toBe(3);
    expect(value(m, 'tocsin_broadcast_recipients', { broadcast: 'bc_metrics', state: 'sent' })).toBe(0);

    // A second API (another replica) over the same database: the same tocsin_* series (but
    // for each process's own request counts).
    const replica = createApp(
      {
        db: h.db.db,
        temporal: { client: h.env.client, taskQueue: h.taskQueue, ping: async () => {} },
        adminToken: 'replica-admin',
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as Record<Channel, 'configured'>,
        retry: fastRetry,
      },
      { log: () => {} },
    );
    const tocsin = (text: string) => text.split('\n').filter((l) => l.startsWith('tocsin_') && !l.startsWith('tocsin_http_')).sort();
    const [a, b] = await Promise.all([scrape(), scrape(replica, 'replica-admin')]);
    expect(tocsin(b.text)).toEqual(tocsin(a.text));
    expect(tocsin(a.text).length).toBeGreaterThan(20);
  });
});

describe('GET /metrics without its database', () => {
  it('answers 503 with Retry-After, not a 500', async () => {
    const db = await openTestDatabase();
    const app = createApp(
      {
        db: db.db,
        temporal: { client: {} as never, taskQueue: 'unused', ping: async () => {} },
        adminToken: ADMIN,
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as Record<Channel, 'configured'>,
        retry: fastRetry,
      },
      { log: () => {} },
    );
    expect((await scrape(app)).status).toBe(200);
    await db.close();
    const res = await app.request('/metrics', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
  });
});

describe.each(testDatabaseKinds)('the scrape on %s', (kind) => {
  it('measures accepted → sent from sendAt for a scheduled send, and from acceptance otherwise', async () => {
    const db = await openTestDatabase(kind);
    try {
      const t0 = new Date('2026-03-01T10:00:00Z');
      const at = (s: number) => new Date(t0.getTime() + s * 1000);
      await db.db.insert(tenants).values({ id: 'ten_m', name: 'M', webhookSecret: 'whsec_x' });
      const base = { tenantId: 'ten_m', recipientId: 'r', templateKey: 'k', templateVersion: 1, priority: 'normal', strategy: 'all', channels: ['sms'], data: {}, workflowId: 'w' };
      await db.db.insert(notifications).values([
        { ...base, id: 'ntf_now', status: 'sent', createdAt: t0 },
        { ...base, id: 'ntf_later', status: 'sent', createdAt: t0, sendAt: at(3600) },
        { ...base, id: 'ntf_failed', status: 'failed', createdAt: t0 },
      ]);
      await db.db.insert(deliveries).values([
        { id: 'ntf_now.sms', notificationId: 'ntf_now', position: 0, channel: 'sms', status: 'delivered', sentAt: at(0.2) },
        { id: 'ntf_later.sms', notificationId: 'ntf_later', position: 0, channel: 'sms', status: 'sent', sentAt: at(3602) },
        { id: 'ntf_failed.sms', notificationId: 'ntf_failed', position: 0, channel: 'sms', status: 'failed' },
      ]);
      await db.db.insert(deliveryAttempts).values([
        { deliveryId: 'ntf_failed.sms', attempt: 1, outcome: 'failed', errorCode: 'provider_unavailable' },
        { deliveryId: 'ntf_failed.sms', attempt: 2, outcome: 'failed', errorCode: 'provider_rejected' },
      ]);
      const m = parse(await tocsinMetrics(db.db).scrape());
      const bucket = (le: string) => value(m, 'tocsin_delivery_latency_seconds_bucket', { channel: 'sms', le });
      expect([bucket('0.1'), bucket('0.25'), bucket('1'), bucket('2.5'), bucket('+Inf')]).toEqual([0, 1, 1, 2, 2]);
      expect(value(m, 'tocsin_delivery_latency_seconds_sum', { channel: 'sms' })).toBeCloseTo(2.2, 5);
      expect(value(m, 'tocsin_deliveries_total', { channel: 'sms', outcome: 'sent' })).toBe(2);
      expect(value(m, 'tocsin_deliveries_total', { channel: 'sms', outcome: 'failed' })).toBe(1);
      expect(value(m, 'tocsin_deliveries', { channel: 'sms', status: 'delivered' })).toBe(1);
      expect(value(m, 'tocsin_delivery_attempts_failed_total', { channel: 'sms', code: 'provider_unavailable' })).toBe(1);
      expect(value(m, 'tocsin_delivery_attempts_failed_total', { channel: 'sms', code: 'provider_rejected' })).toBe(1);
      expect(value(m, 'tocsin_notifications_accepted_total', { priority: 'normal', source: 'api' })).toBe(3);
    } finally {
      await db.close();
    }
  });
});
