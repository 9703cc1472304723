// Routing, authentication and validation through app.request(): no Temporal needed, since
// every request here is refused or answered before a workflow would start.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { CHANNELS } from '../domain/types.js';
import { openTestDatabase } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp } from './app.js';

let db: Database;
let app: ReturnType<typeof createApp>;
let connection: Connection;
const logged: unknown[] = [];
const ADMIN = 'admin-secret';

beforeAll(async () => {
  db = await openTestDatabase();
  // A lazy connection to nowhere: any test that reached Temporal would fail loudly.
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  app = createApp(
    {
      db: db.db,
      temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => { throw new Error('unreachable'); } },
      adminToken: ADMIN,
      channels: Object.fromEntries(CHANNELS.map((c) => [c, c === 'email' ? 'unconfigured' : 'configured'])) as any,
      retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
    },
    { log: (...args) => logged.push(args) },
  );
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

async function req(method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const res = await app.request(path, { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body: text ? JSON.parse(text) : null };
}

async function newTenant(name = 'Acme') {
  const r = await req('POST', '/v1/admin/tenants', { token: ADMIN, body: { name } });
  expect(r.status).toBe(201);
  return r.body as { id: string; apiKey: string; webhookSecret: string };
}

describe('operations', () => {
  it('answers /healthz, and /readyz 503 naming Temporal while it is down, with channel readiness', async () => {
    expect((await req('GET', '/healthz')).status).toBe(200);
    const ready = await req('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'unavailable', checks: { database: { ok: true }, temporal: { ok: false } }, channels: { email: 'unconfigured', webhook: 'configured' } });
    expect(ready.body.detail).toMatch(/temporal/);
  });
});

describe('authentication', () => {
  it('refuses admin routes without the admin token, and tenant routes without a valid key', async () => {
    for (const r of [
      await req('POST', '/v1/admin/tenants', { body: { name: 'x' } }),
      await req('POST', '/v1/admin/tenants', { token: 'wrong', body: { name: 'x' } }),
      await req('GET', '/v1/recipients/u1'),
      await req('GET', '/v1/recipients/u1', { token: 'tsk_nothing' }),
      await req('GET', '/v1/recipients/u1', { token: ADMIN }),
    ]) {
      expect(r.status).toBe(401);
      expect(r.type).toContain('application/problem+json');
      expect(r.body).toMatchObject({ type: 'about:blank', title: 'Unauthorized', status: 401 });
    }
  });

  it('rotates keys: old keys keep working until revoked', async () => {
    const t = await newTenant();
    const second = await req('POST', `/v1/admin/tenants/${t.id}/api-keys`, { token: ADMIN });
    expect(second.status).toBe(201);
    await req('PUT', '/v1/recipients/u1', { token: t.apiKey, body: {} });
    expect((await req('GET', '/v1/recipients/u1', { token: second.body.apiKey })).status).toBe(200);
    const prefix = t.apiKey.split('_').slice(0, 2).join('_');
    const firstPrefix = t.apiKey.slice(0, 16);
    expect(prefix.length).toBeGreaterThan(3);
    expect((await req('DELETE', `/v1/admin/tenants/${t.id}/api-keys/${firstPrefix}`, { token: ADMIN })).status).toBe(204);
    expect((await req('GET', '/v1/recipients/u1', { token: t.apiKey })).status).toBe(401);
    expect((await req('GET', '/v1/recipients/u1', { token: second.body.apiKey })).status).toBe(200);
    expect((await req('DELETE', `/v1/admin/tenants/${t.id}/api-keys/${firstPrefix}`, { token: ADMIN })).status).toBe(404);
    expect((await req('POST', '/v1/admin/tenants/ten_nope/api-keys', { token: ADMIN })).status).toBe(404);
  });

  it('stores keys only as hashes', async () => {
    const t = await newTenant();
    const rows = await db.db.query.apiKeys.findMany();
    expect(rows.some((r) => r.hash === t.apiKey || r.prefix === t.apiKey)).toBe(false);
  });
});

describe('tenants see only their own data', () => {
  it('answers 404 for another tenant’s recipient and template', async () => {
    const a = await newTenant('A');
    const b = await newTenant('B');
    await req('PUT', '/v1/recipients/shared-id', { token: a.apiKey, body: { email: 'a@example.com' } });
    await req('POST', '/v1/templates', { token: a.apiKey, body: { key: 't', content: { en: { sms: { text: 'hi' } } } } });
    expect((await req('GET', '/v1/recipients/shared-id', { token: b.apiKey })).status).toBe(404);
    expect((await req('GET', '/v1/templates/t', { token: b.apiKey })).status).toBe(404);
    expect((await req('GET', '/v1/notifications/ntf_whatever', { token: b.apiKey })).status).toBe(404);
  });
});

describe('validation: clear 4xx problems that change nothing', () => {
  /** Each test's own tenant, with recipient user-42 and template order-shipped: no test sees another's rows. */
  async function validationTenant() {
    const t = await newTenant();
    await req('PUT', '/v1/recipients/user-42', { token: t.apiKey, body: { email: 'ann@example.com', webhookUrl: 'https://hooks.example.com/x' } });
    await req('POST', '/v1/templates', {
      token: t.apiKey,
      body: { key: 'order-shipped', content: { en: { email: { subject: 'Order {{ order.id }}', html: '<b>{{ name }}</b>' }, webhook: { id: '{{ order.id }}' } }, fr: { email: { subject: 'Commande {{ order.id }}' } } } },
    });
    return t;
  }
  const notificationsOf = (tenantId: string) => db.db.query.notifications.findMany({ where: (n, { eq }) => eq(n.tenantId, tenantId) });
  const keysOf = (tenantId: string) => db.db.query.idempotencyKeys.findMany({ where: (k, { eq }) => eq(k.tenantId, tenantId) });

  it('names each invalid recipient field', async () => {
    const t = await validationTenant();
    const r = await req('PUT', '/v1/recipients/user-42', { token: t.apiKey, body: { phone: '0155', timezone: 'Mars/Base', locale: 'not a locale!', email: 'nope' } });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: any) => e.path).sort()).toEqual(['email', 'locale', 'phone', 'timezone']);
    expect((await req('GET', '/v1/recipients/user-42', { token: t.apiKey })).body.email).toBe('ann@example.com');
    expect((await req('PUT', '/v1/recipients/bad id!', { token: t.apiKey, body: {} })).status).toBe(400);
    expect((await req('PUT', `/v1/recipients/${'x'.repeat(129)}`, { token: t.apiKey, body: {} })).status).toBe(400);
  });

  it('validates preferences and clears quiet hours with null', async () => {
    const t = await validationTenant();
    const bad = await req('PUT', '/v1/recipients/user-42/preferences', { token: t.apiKey, body: { quietHours: { start: '25:00', end: '07:00' }, channels: { fax: false } } });
    expect(bad.status).toBe(400);
    const ok = await req('PUT', '/v1/recipients/user-42/preferences', { token: t.apiKey, body: { channels: { sms: false }, quietHours: { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' } } });
    expect(ok.body).toEqual({ channels: { sms: false }, categories: {}, quietHours: { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' } });
    const cleared = await req('PUT', '/v1/recipients/user-42/preferences', { token: t.apiKey, body: { channels: { sms: false }, quietHours: null } });
    expect(cleared.body.quietHours).toBeNull();
    expect((await req('PUT', '/v1/recipients/nobody/preferences', { token: t.apiKey, body: {} })).status).toBe(404);
  });

  it('versions templates, previews them with locale fallback and HTML escaping, and names missing variables', async () => {
    const t = await validationTenant();
    expect((await req('POST', '/v1/templates', { token: t.apiKey, body: { key: 'order-shipped', content: { en: { sms: { text: 'x' } } } } })).status).toBe(409);
    const bad = await req('POST', '/v1/templates', { token: t.apiKey, body: { key: 'broken', content: { en: { sms: { text: 'Hi {% if x %}' } } } } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('content.en.sms.text');
    const preview = await req('POST', '/v1/templates/order-shipped/preview', { token: t.apiKey, body: { data: { order: { id: 7 }, name: '<Ann>' }, locale: 'fr-CA' } });
    expect(preview.body).toMatchObject({ version: 1, locale: 'fr', content: { email: { subject: 'Commande 7' } } });
    const en = await req('POST', '/v1/templates/order-shipped/preview', { token: t.apiKey, body: { data: { order: { id: 7 }, name: '<Ann>' } } });
    expect(en.body.content.email.html).toBe('<b>&lt;Ann&gt;</b>');
    const missing = await req('POST', '/v1/templates/order-shipped/preview', { token: t.apiKey, body: { data: { order: {} } } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([
      { path: 'data.name', message: 'missing template variable' },
      { path: 'data.order.id', message: 'missing template variable' },
    ]);
    const v2 = await req('PUT', '/v1/templates/order-shipped', { token: t.apiKey, body: { content: { en: { sms: { text: 'v2' } } } } });
    expect(v2.body.version).toBe(2);
    expect((await req('GET', '/v1/templates/order-shipped', { token: t.apiKey })).body.version).toBe(2);
    expect((await req('GET', '/v1/templates/order-shipped/versions/1', { token: t.apiKey })).body.content.en.email.subject).toBe('Order {{ order.id }}');
    expect((await req('GET', '/v1/templates/order-shipped/versions/9', { token: t.apiKey })).status).toBe(404);
  });

  it('refuses bad notifications at once, naming the field, and starts nothing', async () => {
    const t = await validationTenant();
    const cases: Array<[unknown, string]> = [
      [{ recipient: 'nobody', template: 'order-shipped' }, 'recipient'],
      [{ recipient: 'user-42', template: 'nope' }, 'template'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 } } }, 'data.name'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' }, channels: ['fax'] }, 'channels.0'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' }, channels: ['sms'] }, 'channels.0'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' }, priority: 'urgent' }, 'priority'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' }, sendAt: 'tomorrow' }, 'sendAt'],
      [{ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' }, strategy: 'some' }, 'strategy'],
      [{ recipient: 'user-42', template: 'order-shipped', surprise: true }, ''],
    ];
    for (const [body, path] of cases) {
      const r = await req('POST', '/v1/notifications', { token: t.apiKey, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.type).toContain('application/problem+json');
      if (path) expect(r.body.errors.map((e: any) => e.path)).toContain(path);
    }
    const long = await req('POST', '/v1/notifications', { token: t.apiKey, body: cases[0][0], headers: { 'idempotency-key': 'k'.repeat(256) } });
    expect(long.status).toBe(400);
    expect(await notificationsOf(t.id)).toHaveLength(0);
    expect(await keysOf(t.id)).toHaveLength(0);
  });

  it('answers 503 without a stack trace and writes no notification when Temporal cannot start the workflow', async () => {
    const t = await validationTenant();
    const loggedBefore = logged.length;
    const r = await req('POST', '/v1/notifications', { token: t.apiKey, body: { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' } }, headers: { 'idempotency-key': 'abc' } });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('5');
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts/);
    expect(await notificationsOf(t.id)).toHaveLength(0);
    // The key stays claimed for the id it named: had the start happened after all, a retry with
    // the key joins that run instead of starting a second notification.
    const keys = await keysOf(t.id);
    expect(keys.map((k) => k.key)).toEqual(['abc']);
    const again = await req('POST', '/v1/notifications', { token: t.apiKey, body: { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'x' } }, headers: { 'idempotency-key': 'abc' } });
    expect(again.status).toBe(503);
    expect(await keysOf(t.id)).toEqual(keys);
    expect(logged.length).toBeGreaterThan(loggedBefore);
  });

  it('maps malformed JSON to 400, a non-JSON body to 415, a body over 1 MiB to 413 and unknown routes to 404', async () => {
    const t = await validationTenant();
    const malformed = await req('PUT', '/v1/recipients/u2', { token: t.apiKey, raw: '{"email":' });
    expect(malformed.status).toBe(400);
    expect(malformed.type).toContain('application/problem+json');
    expect((await req('PUT', '/v1/recipients/u2', { token: t.apiKey, raw: 'email=a', type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    const big = await req('PUT', '/v1/recipients/u2', { token: t.apiKey, raw: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }) });
    expect(big.status).toBe(413);
    expect((await req('GET', '/v1/nothing-here', { token: t.apiKey })).status).toBe(404);
    expect((await req('GET', '/v1/notifications?limit=1000', { token: t.apiKey })).status).toBe(400);
    expect((await req('GET', '/v1/notifications?cursor=!!', { token: t.apiKey })).status).toBe(400);
    expect((await req('POST', '/v1/recipients/user-42/inbox/msg_nope/read', { token: t.apiKey })).status).toBe(404);
  });
});

describe('template bounds: no template holds the API', () => {
  const BILLION = '{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}';
  const BILLION_OVER_DATA = '{% for a in items %}{% for b in items %}{% for c in items %}{{ c }}{% endfor %}{% endfor %}{% endfor %}';

  it('refuses at POST and PUT, with 400 naming the field, a template past a bound', async () => {
    const t = await newTenant();
    const created = await req('POST', '/v1/templates', { token: t.apiKey, body: { key: 'bomb', content: { en: { email: { subject: 'hi', html: BILLION } } } } });
    expect(created.status).toBe(400);
    expect(created.type).toContain('application/problem+json');
    expect(created.body.errors).toEqual([{ path: 'content.en.email.html', message: 'took longer than 300 ms to render' }]);
    expect((await req('GET', '/v1/templates/bomb', { token: t.apiKey })).status).toBe(404);
    expect((await req('POST', '/v1/templates', { token: t.apiKey, body: { key: 'bomb', content: { en: { sms: { text: 'ok' } } } } })).status).toBe(201);
    const updated = await req('PUT', '/v1/templates/bomb', { token: t.apiKey, body: { content: { en: { sms: { text: 'ok' } }, de: { sms: { text: BILLION } } } } });
    expect(updated.status).toBe(400);
    expect(updated.body.errors[0].path).toBe('content.de.sms.text');
    expect((await req('GET', '/v1/templates/bomb', { token: t.apiKey })).body.version).toBe(1);
  });

  it('answers 422 template_limit_exceeded at preview, holding the event loop for less than 1 s', async () => {
    const t = await newTenant();
    expect((await req('POST', '/v1/templates', { token: t.apiKey, body: { key: 'loops', content: { en: { sms: { text: BILLION_OVER_DATA } } } } })).status).toBe(201);
    // The event loop's own delay, not a wall-clock gap: other processes' load does not stretch it.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const preview = await req('POST', '/v1/templates/loops/preview', { token: t.apiKey, body: { data: { items } } });
    loop.disable();
    expect(preview.status).toBe(422);
    expect(preview.type).toContain('application/problem+json');
    expect(preview.body).toMatchObject({ status: 422, code: 'template_limit_exceeded', errors: [{ path: 'content.en.sms.text' }] });
    expect(loop.max / 1e6).toBeLessThan(1000);
    // With data that keeps it small, the same template renders.
    const small = await req('POST', '/v1/templates/loops/preview', { token: t.apiKey, body: { data: { items: [1, 2] } } });
    expect(small).toMatchObject({ status: 200, body: { content: { sms: { text: '12121212' } } } });
  });
});
