// The dashboard's queries over rows written at known times, on PGlite and (when DATABASE_URL
// is set, as in CI) on a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { deliveries, incidents, notificationEvents, notifications, tenants } from '../db/schema.js';
import { openTestDatabase, testDatabaseKinds } from '../test/support.js';
import { dashboardData, workflowUrl } from './dashboard.js';

// Every row's times from one instant, so the latencies below are exact; the dashboard reads
// now() a moment later, which keeps them all inside its window.
let base = Date.now();
const ago = (minutes: number, seconds = 0) => new Date(base - minutes * 60_000 - seconds * 1000);

describe.each(testDatabaseKinds)('dashboard data on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
    base = Date.now();
    const db = database.db;
    await db.insert(tenants).values([
      { id: 'ten_a', name: 'Acme', webhookSecret: 'whsec_x' },
      { id: 'ten_b', name: 'Globex', webhookSecret: 'whsec_y' },
    ]);
    const notification = (id: string, tenantId: string, createdMinutesAgo: number, extra: Record<string, unknown> = {}) => ({
      id,
      tenantId,
      recipientId: `user-${id}`,
      templateKey: 'order-shipped',
      templateVersion: 1,
      priority: 'normal',
      strategy: 'all',
      channels: ['webhook'],
      data: {},
      status: 'sent',
      workflowId: `notification:${tenantId}:${id}`,
      createdAt: ago(createdMinutesAgo),
      ...extra,
    });
    await db.insert(notifications).values([
      notification('n1', 'ten_a', 10),
      notification('n2', 'ten_a', 5),
      notification('n3', 'ten_b', 3, { status: 'failed' }),
      // Outside the window: counts nowhere but in the recent failures.
      notification('n4', 'ten_b', 180, { status: 'failed' }),
      // Failed two days ago: no longer recent.
      notification('n6', 'ten_b', 2880, { status: 'failed' }),
      // Scheduled for 30 minutes after acceptance: its latency counts from sendAt.
      notification('n5', 'ten_a', 40, { sendAt: ago(10) }),
      // Held by quiet hours for 42 minutes, then sent 4 s after its release (release_at cleared).
      notification('n7', 'ten_a', 50),
    ] as never);
    await db.insert(notificationEvents).values([
      { notificationId: 'n7', status: 'accepted', at: ago(50) },
      { notificationId: 'n7', status: 'held', reason: 'quiet_hours', at: ago(50) },
      { notificationId: 'n7', status: 'sending', at: ago(8) },
      { notificationId: 'n7', status: 'sent', at: ago(8, -4) },
    ] as never);
    await db.insert(deliveries).values([
      // 1 s, 3 s and 2 s from ready to sent.
      { id: 'd1', notificationId: 'n1', position: 0, channel: 'webhook', status: 'sent', attempts: 1, sentAt: ago(10, -1), updatedAt: ago(10, -1) },
      { id: 'd2', notificationId: 'n2', position: 0, channel: 'webhook', status: 'delivered', attempts: 1, sentAt: ago(5, -3), updatedAt: ago(4) },
      { id: 'd5', notificationId: 'n5', position: 0, channel: 'inapp', status: 'sent', attempts: 1, sentAt: ago(10, -2), updatedAt: ago(10, -2) },
      { id: 'd7', notificationId: 'n7', position: 0, channel: 'inapp', status: 'sent', attempts: 1, sentAt: ago(8, -4), updatedAt: ago(8, -4) },
      { id: 'd3', notificationId: 'n3', position: 0, channel: 'webhook', status: 'failed', attempts: 3, errorCode: 'http_410', errorMessage: 'Gone', updatedAt: ago(2) },
      { id: 'd3b', notificationId: 'n3', position: 1, channel: 'inapp', status: 'skipped', attempts: 0, updatedAt: ago(2) },
      { id: 'd4', notificationId: 'n4', position: 0, channel: 'sms', status: 'failed', attempts: 8, errorCode: 'provider_error', updatedAt: ago(170) },
      { id: 'd6', notificationId: 'n6', position: 0, channel: 'sms', status: 'failed', attempts: 8, errorCode: 'provider_error', updatedAt: ago(2870) },
    ] as never);
    await db.insert(incidents).values([
      { id: 'inc1', tenantId: 'ten_a', policyKey: 'ops', summary: 'Database down', severity: 'critical', status: 'triggered', workflowId: 'incident:ten_a:db', createdAt: ago(1) },
      { id: 'inc2', tenantId: 'ten_b', policyKey: 'ops', summary: 'Disk full', severity: 'warning', status: 'acknowledged', workflowId: 'incident:ten_b:disk', createdAt: ago(20) },
      { id: 'inc3', tenantId: 'ten_b', policyKey: 'ops', summary: 'Old', severity: 'info', status: 'resolved', workflowId: 'incident:ten_b:old', createdAt: ago(30) },
    ] as never);
  });
  afterAll(() => database.close());

  it('counts per channel over the last hour, with accepted → sent percentiles', async () => {
    const d = await dashboardData(database.db, { url: 'http://ui.example:8233/', namespace: 'default' });
    expect(d.windowMinutes).toBe(60);
    expect(d.accepted).toBe(5);
    expect(d.channels.map((c) => [c.channel, c.sent, c.failed, c.skipped, c.sending])).toEqual([
      ['inapp', 2, 0, 1, 0],
      ['webhook', 2, 1, 0, 0],
    ]);
    const webhook = d.channels.find((c) => c.channel === 'webhook')!;
    expect(webhook.failureRate).toBeCloseTo(1 / 3);
    expect(webhook.count).toBe(2);
    expect(webhook.p50Ms).toBeCloseTo(2000, 0);
    // 1 s, 3 s, 2 s and the held one's 4 s (from its release, not its 42 minutes on hold).
    expect(d.latency.count).toBe(4);
    expect(d.latency.p50Ms).toBeCloseTo(2500, 0);
    expect(d.latency.p99Ms).toBeCloseTo(3970, 0); // between 3 s and 4 s, 97 % of the way
  });

  it('has one point per minute, the sends and failures at their minutes', async () => {
    const d = await dashboardData(database.db, { namespace: 'default' });
    expect(d.series.minutes).toHaveLength(60);
    expect(d.series.minutes[59] - d.series.minutes[0]).toBe(59 * 60);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(d.series.sent.webhook)).toBe(2);
    expect(sum(d.series.failed.webhook)).toBe(1);
    expect(sum(d.series.sent.inapp)).toBe(2);
    // The failure at its minute.
    const minute = Math.floor(ago(2).getTime() / 60_000) * 60;
    expect(d.series.failed.webhook[d.series.minutes.indexOf(minute)]).toBe(1);
  });

  it('lists open incidents and the last day\'s failures, newest first, with links into the Temporal UI', async () => {
    const d = await dashboardData(database.db, { url: 'http://ui.example:8233/', namespace: 'default' });
    expect(d.openIncidents.total).toBe(2);
    expect(d.openIncidents.data.map((i) => [i.summary, i.tenant, i.status])).toEqual([
      ['Database down', 'Acme', 'triggered'],
      ['Disk full', 'Globex', 'acknowledged'],
    ]);
    expect(d.openIncidents.data[0].workflowUrl).toBe('http://ui.example:8233/namespaces/default/workflows/incident%3Aten_a%3Adb');
    expect(d.recentFailures.map((f) => [f.notificationId, f.channel, f.errorCode, f.attempts, f.tenant])).toEqual([
      ['n3', 'webhook', 'http_410', 3, 'Globex'],
      ['n4', 'sms', 'provider_error', 8, 'Globex'],
    ]);
    expect(d.recentFailures[0].workflowUrl).toBe('http://ui.example:8233/namespaces/default/workflows/notification%3Aten_b%3An3');
    expect(Date.parse(d.recentFailures[0].at)).toBeGreaterThan(Date.parse(d.recentFailures[1].at));
  });

  it('answers zeros and no links on an empty database', async () => {
    const empty = await openTestDatabase(kind);
    try {
      const d = await dashboardData(empty.db, { namespace: 'default' });
      expect(d).toMatchObject({ accepted: 0, channels: [], openIncidents: { total: 0, data: [] }, recentFailures: [], latency: { count: 0, p50Ms: null } });
      expect(d.series.minutes).toHaveLength(60);
    } finally {
      await empty.close();
    }
  });
});

describe('workflowUrl', () => {
  it('links a run by workflow id (the UI opens its latest run), or nothing without a UI', () => {
    expect(workflowUrl({ url: 'https://temporal.example.com/ui', namespace: 'prod ns' }, 'notification:t:n 1')).toBe(
      'https://temporal.example.com/ui/namespaces/prod%20ns/workflows/notification%3At%3An%201',
    );
    expect(workflowUrl({ namespace: 'default' }, 'x')).toBeNull();
  });
});
