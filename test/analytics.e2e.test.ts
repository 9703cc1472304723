// Analytics and failed deliveries end to end on the time-skipping server and PGlite: the counts of
// GET /v1/analytics/deliveries agree with the deliveries the test made (a webhook receiver that
// refuses some with 400, a permanent failure), the failed deliveries list with their errors a
// page at a time, single retry once per Idempotency-Key, bulk retry re-sending exactly the
// failed ones once (and nothing on the same request again), and each route's 4xx.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryAnalyticsQuery } from '../db/analytics.js';
import { rowsOf } from '../db/client.js';
import { seed, startHarness, type Harness } from './harness.js';
import { until } from './until.js';

const order = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };
const FINISHED = ['sent', 'partially_sent', 'failed', 'suppressed', 'cancelled'];

describe('analytics and failed deliveries', () => {
  let h: Harness;
  const since = new Date(Date.now() - 3600_000).toISOString();
  const until1h = () => new Date(Date.now() + 3600_000).toISOString();
  const ok: string[] = [];
  const partial: string[] = [];
  const failed: string[] = [];

  /** Sends one notification and waits until it has finished. */
  async function send(channels: string[]) {
    const res = await h.call('POST', '/v1/notifications', { ...order, channels });
    expect(res.status).toBe(202);
    return (await until(() => h.call('GET', `/v1/notifications/${res.body.id}`), (r) => FINISHED.includes(r.body.status))).body;
  }
  /** The webhook receiver's requests for one notification. */
  const hooksFor = (id: string) => h.hook.requests.filter((r) => r.body?.notificationId === id);

  beforeAll(async () => {
    h = await startHarness();
    await seed(h);
    for (let i = 0; i < 3; i++) ok.push((await send(['inapp', 'webhook'])).id);
    h.hook.setDefault({ status: 400, body: { error: 'no such hook' } });
    for (let i = 0; i < 2; i++) partial.push((await send(['inapp', 'webhook'])).id);
    for (let i = 0; i < 3; i++) failed.push((await send(['webhook'])).id);
    h.hook.setDefault(undefined);
  }, 180_000);
  afterAll(async () => h?.close());

  it('made the deliveries the counts are checked against', async () => {
    for (const id of ok) expect((await h.call('GET', `/v1/notifications/${id}`)).body.status).toBe('sent');
    for (const id of partial) expect((await h.call('GET', `/v1/notifications/${id}`)).body.status).toBe('partially_sent');
    for (const id of failed) expect((await h.call('GET', `/v1/notifications/${id}`)).body.status).toBe('failed');
  });

  it('counts deliveries by channel, with latency percentiles over the sent ones', async () => {
    const res = await h.call('GET', `/v1/analytics/deliveries?from=${since}&to=${until1h()}&interval=hour&groupBy=channel`);
    expect(res.status).toBe(200);
    const sum = (key: string, field: string) => res.body.data.filter((r: any) => r.key === key).reduce((n: number, r: any) => n + r[field], 0);
    expect(sum('inapp', 'sent')).toBe(5);
    expect(sum('inapp', 'failed')).toBe(0);
    expect(sum('webhook', 'sent')).toBe(3);
    expect(sum('webhook', 'failed')).toBe(5);
    for (const r of res.body.data) {
      expect(r.bucket).toMatch(/T\d\d:00:00\.000Z$/);
      expect(r.delivered + r.bounced + r.skipped).toBe(0);
      // A row with nothing sent has no latency (the run can cross an hour, so the webhook's
      // last failures may have a bucket of their own); a row with sends has ordered percentiles.
      if (r.sent === 0) {
        expect(r.latencyMs).toEqual({ p50: null, p95: null, p99: null });
      } else {
        expect(r.latencyMs.p50).toBeGreaterThanOrEqual(0);
        expect(r.latencyMs.p99).toBeGreaterThanOrEqual(r.latencyMs.p50);
      }
    }
    // By template, by day: one row, every delivery of the test.
    const byTemplate = await h.call('GET', `/v1/analytics/deliveries?from=${since}&to=${until1h()}&interval=day&groupBy=template`);
    const t = byTemplate.body.data.filter((r: any) => r.key === 'order-shipped');
    expect(t.reduce((n: number, r: any) => n + r.sent, 0)).toBe(8);
    expect(t.reduce((n: number, r: any) => n + r.failed, 0)).toBe(5);
    // Another tenant sees none of it.
    const other = await h.call('POST', '/v1/admin/tenants', { name: 'Other' }, { authorization: 'Bearer test-admin-token' });
    const theirs = await h.app.request(`/v1/analytics/deliveries?from=${since}&to=${until1h()}`, { headers: { authorization: `Bearer ${other.body.apiKey}` } });
    expect((await theirs.json()).data).toEqual([]);
  });

  it('lists the failed deliveries with their errors, a page at a time', async () => {
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: any } = await h.call('GET', `/v1/deliveries?status=failed&channel=webhook&from=${since}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data);
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen.map((d) => d.notificationId).sort()).toEqual([...partial, ...failed].sort());
    for (const d of seen) {
      expect(d).toMatchObject({ channel: 'webhook', status: 'failed', recipient: 'user-42', template: 'order-shipped' });
      expect(d.error.code).toBe('provider_rejected');
      expect(d.error.message).toContain('400');
    }
    expect((await h.call('GET', `/v1/deliveries?status=failed&channel=inapp&from=${since}`)).body.data).toEqual([]);
  });

  it('retries one notification once per Idempotency-Key, and 409/404 when there is nothing to retry', async () => {
    const id = failed[0];
    const before = hooksFor(id).length;
    h.hook.setDefault({ status: 400, body: { error: 'still no hook' } });
    try {
      const first = await h.call('POST', `/v1/notifications/${id}/retry`, undefined, { 'idempotency-key': 'retry-1' });
      expect(first.status).toBe(202);
      const done = await until(
        () => h.call('GET', `/v1/notifications/${id}`),
        (r) => r.body.status === 'failed' && r.body.deliveries[0].attempts === 2,
      );
      expect(done.body.deliveries[0].error.code).toBe('provider_rejected');
      expect(hooksFor(id).length).toBe(before + 1);
      // The same key again: nothing more.
      const again = await h.call('POST', `/v1/notifications/${id}/retry`, undefined, { 'idempotency-key': 'retry-1' });
      expect(again.status).toBe(202);
    } finally {
      h.hook.setDefault(undefined);
    }
    expect(hooksFor(id).length).toBe(before + 1);
    expect((await h.call('GET', `/v1/notifications/${id}`)).body.deliveries[0].attempts).toBe(2);

    // Another key, with the receiver back: sent.
    expect((await h.call('POST', `/v1/notifications/${id}/retry`, undefined, { 'idempotency-key': 'retry-2' })).status).toBe(202);
    const sent = await until(() => h.call('GET', `/v1/notifications/${id}`), (r) => r.body.status === 'sent');
    expect(sent.body.deliveries[0]).toMatchObject({ status: 'sent', attempts: 3, error: null });
    expect(hooksFor(id).length).toBe(before + 2);

    const finished = await h.call('POST', `/v1/notifications/${ok[0]}/retry`);
    expect(finished.status).toBe(409);
    expect(finished.body.detail).toMatch(/Nothing of the notification failed/);
    const unknown = await h.call('POST', '/v1/notifications/ntf_nope/retry');
    expect(unknown.status).toBe(404);
  });

  it('retries in bulk exactly the failed ones, once, and nothing on the same request again', async () => {
    const todo = [...partial, ...failed.slice(1)];
    const before = new Map(todo.map((id) => [id, hooksFor(id).length]));
    const okBefore = ok.map((id) => hooksFor(id).length);
    const body = { status: 'failed', from: since, to: until1h() };
    const res = await h.call('POST', '/v1/deliveries/retry', body);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ count: todo.length });
    for (const id of todo) await until(() => h.call('GET', `/v1/notifications/${id}`), (r) => r.body.status === 'sent');
    for (const id of todo) expect(hooksFor(id).length).toBe(before.get(id)! + 1);
    expect(ok.map((id) => hooksFor(id).length)).toEqual(okBefore);

    // Fail them again, then repeat the same request: no retry starts.
    await h.db.db.execute(sql`update deliveries set status = 'failed', sent_at = null where notification_id in ${todo} and channel = 'webhook'`);
    await h.db.db.execute(sql`update notifications set status = 'failed' where id in ${todo}`);
    const repeated = await h.call('POST', '/v1/deliveries/retry', body);
    expect(repeated).toEqual({ status: 202, body: { count: 0 } });
    // A request of its own (another key) retries them again, once.
    const keyed = await h.call('POST', '/v1/deliveries/retry', { ...body, channel: 'webhook' }, { 'idempotency-key': 'bulk-2' });
    expect(keyed.body).toEqual({ count: todo.length });
    for (const id of todo) await until(() => h.call('GET', `/v1/notifications/${id}`), (r) => r.body.status === 'sent');
    for (const id of todo) expect(hooksFor(id).length).toBe(before.get(id)! + 2);
    expect((await h.call('GET', `/v1/analytics/deliveries?from=${since}&to=${until1h()}`)).body.data.every((r: any) => r.failed === 0)).toBe(true);
  });

  it('answers problem+json for bad input on every route', async () => {
    const bad: Array<[string, string, unknown?]> = [
      ['GET', '/v1/analytics/deliveries?interval=week'],
      ['GET', '/v1/analytics/deliveries?groupBy=recipient'],
      ['GET', '/v1/analytics/deliveries?from=yesterday'],
      ['GET', '/v1/analytics/deliveries?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z'],
      ['GET', '/v1/analytics/deliveries?interval=hour&from=2026-01-01T00:00:00Z&to=2026-01-09T00:00:00Z'],
      ['GET', '/v1/analytics/deliveries?interval=day&from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z'],
      ['GET', `/v1/analytics/deliveries?from=${'1'.repeat(100)}`],
      ['GET', '/v1/deliveries?status=sent'],
      ['GET', '/v1/deliveries?channel=fax'],
      ['GET', '/v1/deliveries?cursor=bm9wZQ'],
      ['GET', '/v1/deliveries?limit=1000'],
      ['GET', '/v1/deliveries?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z'],
      ['POST', '/v1/deliveries/retry', {}],
      ['POST', '/v1/deliveries/retry', { status: 'sent', from: since, to: until1h() }],
      ['POST', '/v1/deliveries/retry', { status: 'failed', from: until1h(), to: since }],
      ['POST', '/v1/deliveries/retry', { status: 'failed', from: '2026-01-01T00:00:00Z', to: '2026-06-01T00:00:00Z' }],
      ['POST', '/v1/deliveries/retry', { status: 'failed', channel: 'fax', from: since, to: until1h() }],
      ['POST', '/v1/notifications/bad%20id/retry'],
    ];
    for (const [method, path, body] of bad) {
      const res = await h.app.request(path, {
        method,
        headers: { authorization: `Bearer ${h.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect([res.status, path]).toEqual([400, path]);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect((await res.json()).errors.length).toBeGreaterThan(0);
    }
    const key = await h.call('POST', `/v1/notifications/${failed[0]}/retry`, undefined, { 'idempotency-key': 'k'.repeat(256) });
    expect(key.status).toBe(400);
    const unauth = await h.app.request('/v1/analytics/deliveries');
    expect(unauth.status).toBe(401);
  });

  it('reads a day of deliveries through deliveries_tenant_created_idx', async () => {
    // Enough rows of other tenants that a scan would cost more than the index range.
    await h.db.db.execute(sql`insert into tenants (id, name, webhook_secret) values ('t-explain', 'x', 'whsec_x') on conflict do nothing`);
    await h.db.db.execute(sql`
      insert into notifications (id, tenant_id, recipient_id, template_key, template_version, priority, strategy, channels, data, status, workflow_id, created_at)
      select 'x' || g, 't-explain', 'r', 't', 1, 'normal', 'all', '["inapp"]'::jsonb, '{}'::jsonb, 'sent', 'w', now() - g * interval '1 minute'
      from generate_series(1, 20000) g`);
    await h.db.db.execute(sql`
      insert into deliveries (id, notification_id, tenant_id, template_key, position, channel, status, sent_at, created_at)
      select id || ':inapp', id, tenant_id, template_key, 0, 'inapp', 'sent', created_at, created_at from notifications where tenant_id = 't-explain'`);
    await h.db.db.execute(sql`analyze deliveries`);
    const day = 24 * 3600_000;
    const q = deliveryAnalyticsQuery(h.tenantId, { from: new Date(Date.now() - day), to: new Date(), interval: 'hour', groupBy: 'channel', limit: 10 });
    const plan = rowsOf<Record<string, string>>(await h.db.db.execute(sql`explain ${q}`))
      .map((r) => Object.values(r)[0])
      .join('\n');
    expect(plan).toContain('deliveries_tenant_created_idx');
    expect(plan).not.toMatch(/Seq Scan on deliveries/);
  });

  it('skips, rather than re-sends, a failed channel whose address was suppressed since', async () => {
    expect((await h.call('PUT', '/v1/recipients/mailer', { email: 'mailer@example.com' })).status).toBe(200);
    const mail = { key: 'mail', content: { en: { email: { subject: 'Hi', html: '<p>Hi</p>', text: 'Hi' } } } };
    expect((await h.call('POST', '/v1/templates', mail)).status).toBe(201);
    // No email provider in this harness: the delivery fails channel_unconfigured.
    const res = await h.call('POST', '/v1/notifications', { recipient: 'mailer', template: 'mail', data: {}, channels: ['email'] });
    const n = (await until(() => h.call('GET', `/v1/notifications/${res.body.id}`), (r) => FINISHED.includes(r.body.status))).body;
    expect(n.status).toBe('failed');
    expect((await h.call('POST', '/v1/suppressions', { channel: 'email', address: 'mailer@example.com' })).status).toBe(201);
    expect((await h.call('POST', `/v1/notifications/${n.id}/retry`)).status).toBe(202);
    const after = await until(() => h.call('GET', `/v1/notifications/${n.id}`), (r) => r.body.deliveries[0].status === 'skipped' && FINISHED.includes(r.body.status));
    expect(after.body).toMatchObject({ status: 'suppressed', deliveries: [{ channel: 'email', status: 'skipped', attempts: 1, error: { code: 'suppressed' } }] });
    // Nothing was sent on email, so its analytics row has counts and no latency.
    const byChannel = await h.call('GET', `/v1/analytics/deliveries?from=${since}&to=${until1h()}&interval=day&groupBy=channel`);
    const email = byChannel.body.data.filter((r: any) => r.key === 'email');
    expect(email.reduce((n: number, r: any) => n + r.skipped, 0)).toBe(1);
    for (const r of email) expect(r).toMatchObject({ sent: 0, latencyMs: { p50: null, p95: null, p99: null } });
  });
});
