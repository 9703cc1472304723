// The per-tenant critical rate (api/critical-rate.ts) through the whole API on PGlite and the
// time-skipping server: one tenant past its critical rate gets 429 and nothing is accepted,
// while another tenant's sends are accepted; the admin API's per-tenant setting.
import { and, count, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { notifications } from '../db/schema.js';
import { ADMIN, seed, startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const order = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };

async function request(x: Harness, method: string, path: string, token: string, body?: unknown) {
  const res = await x.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** A second tenant with the same recipient and template as the harness's. */
async function otherTenant(x: Harness) {
  const created = await request(x, 'POST', '/v1/admin/tenants', ADMIN, { name: 'Beta' });
  expect(created.status).toBe(201);
  const key = created.body.apiKey as string;
  expect((await request(x, 'PUT', '/v1/recipients/user-42', key, { webhookUrl: `${x.hook.url}/hooks` })).status).toBe(200);
  const template = { key: 'order-shipped', content: { en: { inapp: { title: 'Order {{ order.id }} shipped', body: 'Hi {{ name }}' } } } };
  expect((await request(x, 'POST', '/v1/templates', key, template)).status).toBe(201);
  return { id: created.body.id as string, send: (body: Record<string, unknown> = {}) => request(x, 'POST', '/v1/notifications', key, { ...order, ...body }) };
}

const rowsOf = async (x: Harness, tenantId: string, priority?: string) => {
  const [row] = await x.db.db
    .select({ n: count() })
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), ...(priority ? [eq(notifications.priority, priority)] : [])));
  return Number(row.n);
};

describe('per-tenant critical rate', () => {
  it("answers 429 to a tenant past its critical rate and accepts nothing, while another tenant's sends are accepted", async () => {
    h = await startHarness({ app: { criticalRatePerMinute: 3 } });
    await seed(h);
    const beta = await otherTenant(h);
    const send = (body: Record<string, unknown> = {}) => request(h!, 'POST', '/v1/notifications', h!.apiKey, { ...order, ...body });

    for (let i = 0; i < 3; i++) {
      const ok = await send({ priority: 'critical' });
      expect(ok.status).toBe(202);
      expect(ok.headers.get('ratelimit-policy')).toMatch(/^"default";q=1000;w=1, "burst";q=1000;w=10, "critical";q=3;w=60$/);
      expect(ok.headers.get('ratelimit')).toMatch(new RegExp(`^"default";r=\\d+;t=\\d+, "burst";r=\\d+;t=\\d+, "critical";r=${2 - i};t=\\d+$`));
    }
    const refused = await send({ priority: 'critical' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit-policy')).toMatch(/, "critical";q=3;w=60$/);
    expect(refused.headers.get('ratelimit')).toMatch(/, "critical";r=0;t=\d+$/);
    expect(refused.body).toMatchObject({ status: 429, code: 'critical_rate_exceeded' });
    expect(refused.body.detail).toMatch(/at most 3 critical notifications/);
    expect(await rowsOf(h, h.tenantId, 'critical')).toBe(3);

    // The same tenant's other priorities are not held back by its critical rate…
    expect((await send({ priority: 'high' })).status).toBe(202);
    // … and another tenant's sends, normal and critical, are accepted.
    for (let i = 0; i < 5; i++) expect((await beta.send()).status).toBe(202);
    const betaCritical = await beta.send({ priority: 'critical' });
    expect(betaCritical.status).toBe(202);
    expect(await rowsOf(h, beta.id)).toBe(6);
    expect(await rowsOf(h, h.tenantId)).toBe(4);
  });

  it("follows a tenant's own setting from the admin API, and gives back the turn of a refused request", async () => {
    h = await startHarness({ app: { criticalRatePerMinute: 2 } });
    await seed(h);
    const send = (body: Record<string, unknown> = {}) => request(h!, 'POST', '/v1/notifications', h!.apiKey, { ...order, priority: 'critical', ...body });
    const settings = (body: unknown, id = h!.tenantId) => request(h!, 'PATCH', `/v1/admin/tenants/${id}`, ADMIN, body);

    // A request refused for another reason takes no turn.
    expect((await send({ recipient: 'nobody' })).status).toBe(400);
    expect((await send()).status).toBe(202);
    expect((await send()).status).toBe(202);
    expect((await send()).status).toBe(429);

    const raised = await settings({ criticalRatePerMinute: 5 });
    expect(raised).toMatchObject({ status: 200, body: { id: h.tenantId, name: 'Acme', criticalRatePerMinute: 5 } });
    for (let i = 0; i < 5; i++) expect((await send()).status).toBe(202);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toMatch(/, "critical";q=5;w=60$/);

    // Back to the instance's setting: its window still holds the two sent under it.
    expect((await settings({ criticalRatePerMinute: null })).body).toMatchObject({ criticalRatePerMinute: null });
    expect((await send()).status).toBe(429);
    expect(await rowsOf(h, h.tenantId)).toBe(7);

    // A tenant created with its own setting.
    const created = await request(h, 'POST', '/v1/admin/tenants', ADMIN, { name: 'Gamma', criticalRatePerMinute: 1 });
    expect(created).toMatchObject({ status: 201, body: { name: 'Gamma', criticalRatePerMinute: 1 } });

    // Settings the admin API refuses.
    for (const bad of [{ criticalRatePerMinute: 0 }, { criticalRatePerMinute: 1.5 }, { criticalRatePerMinute: 2_000_000 }, {}, { rate: 3 }]) {
      const res = await settings(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await settings({ criticalRatePerMinute: 3 }, 'ten_nobody')).status).toBe(404);
    expect((await request(h, 'PATCH', `/v1/admin/tenants/${h.tenantId}`, h.apiKey, { criticalRatePerMinute: 1000 })).status).toBe(401);
  });

  it('counts a trigger that opens a new incident, not one that joins the open incident of its dedupKey', async () => {
    h = await startHarness({ app: { criticalRatePerMinute: 1 } });
    const policy = await h.call('PUT', '/v1/escalation-policies/ops', { steps: [{ channel: 'webhook', target: `${h.hook.url}/page`, ackTimeoutSeconds: 300 }] });
    expect(policy.status).toBe(200);
    const trigger = (dedupKey: string) => h!.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', dedupKey });

    const first = await trigger('db-1');
    expect(first.status).toBe(202);
    const joined = await trigger('db-1');
    expect(joined).toMatchObject({ status: 202, body: { id: first.body.id } });
    const refused = await trigger('db-2');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('critical_rate_exceeded');
    // The critical rate is one: a critical notification is refused too.
    await seed(h);
    expect((await h.call('POST', '/v1/notifications', { ...order, priority: 'critical' })).status).toBe(429);
    expect((await h.call('POST', '/v1/notifications', order)).status).toBe(202);
  });
});
