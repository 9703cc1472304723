// POST /v1/recipients/bulk through app.request(), on PGlite and (when DATABASE_URL is set)
// PostgreSQL: one statement for up to 1,000 entries, all or nothing.
import { Client, Connection } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recipients } from '../db/schema.js';
import { CHANNELS } from '../domain/types.js';
import { openTestDatabase, testDatabaseKinds } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp, type AppDeps } from './app.js';

const ADMIN = 'admin-secret';

describe.each(testDatabaseKinds)('bulk recipients on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    // A lazy connection to nowhere: nothing here starts a workflow.
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(
      {
        db: db.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: ADMIN,
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
      },
      { log: () => {} },
    );
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  async function req(method: string, path: string, token: string, body?: unknown) {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : null };
  }
  async function tenant(name: string) {
    const r = await req('POST', '/v1/admin/tenants', ADMIN, { name });
    expect(r.status).toBe(201);
    return r.body as { id: string; apiKey: string };
  }
  const stored = (tenantId: string) => db.db.select().from(recipients).where(eq(recipients.tenantId, tenantId));
  const one = async (tenantId: string, id: string) =>
    (await db.db.select().from(recipients).where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, id))))[0];

  it('creates 1,000 recipients in one call, each as PUT would', async () => {
    const t = await tenant('thousand');
    const list = Array.from({ length: 1000 }, (_, i) => ({
      id: `u-${i}`,
      email: `u${i}@example.com`,
      ...(i % 2 ? { phone: '+14155550100', locale: 'de-DE', timezone: 'Europe/Berlin' } : {}),
      name: `User ${i}`,
    }));
    const r = await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: list });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ upserted: 1000 });
    expect(await stored(t.id)).toHaveLength(1000);
    const odd = await req('GET', '/v1/recipients/u-7', t.apiKey);
    expect(odd.body).toMatchObject({ id: 'u-7', email: 'u7@example.com', phone: '+14155550100', locale: 'de-DE', timezone: 'Europe/Berlin', name: 'User 7', slack: null });
    const even = await req('GET', '/v1/recipients/u-8', t.apiKey);
    expect(even.body).toMatchObject({ id: 'u-8', phone: null, locale: 'en', timezone: 'UTC' });
  });

  it('replaces existing recipients, keeping their preferences and createdAt, as PUT does', async () => {
    const t = await tenant('update');
    expect((await req('PUT', '/v1/recipients/old', t.apiKey, { email: 'old@example.com', phone: '+14155550100', name: 'Old' })).status).toBe(200);
    const prefs = { channels: { sms: false }, categories: {}, quietHours: { start: '22:00', end: '07:00', timezone: 'Europe/Berlin' } };
    expect((await req('PUT', '/v1/recipients/old/preferences', t.apiKey, prefs)).status).toBe(200);
    const before = await one(t.id, 'old');

    const r = await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: [{ id: 'old', email: 'new@example.com' }, { id: 'fresh', slack: 'U123' }] });
    expect(r.body).toEqual({ upserted: 2 });
    const after = await one(t.id, 'old');
    // Replaced, not merged: the phone and name the entry leaves out are cleared, as with PUT.
    expect(after).toMatchObject({ email: 'new@example.com', phone: null, name: null, locale: 'en' });
    expect(after.createdAt).toEqual(before.createdAt);
    expect(after.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
    expect((await req('GET', '/v1/recipients/old/preferences', t.apiKey)).body).toEqual(prefs);
    expect((await req('GET', '/v1/recipients/fresh/preferences', t.apiKey)).body).toEqual({ channels: {}, categories: {}, quietHours: null });
    expect((await req('GET', '/v1/recipients/fresh', t.apiKey)).body).toMatchObject({ slack: 'U123', email: null });
  });

  it('refuses a bad entry with 400 naming its index, and writes none of the others', async () => {
    const t = await tenant('bad');
    await req('PUT', '/v1/recipients/keep', t.apiKey, { email: 'keep@example.com' });
    const good = Array.from({ length: 5 }, (_, i) => ({ id: `g-${i}`, email: `g${i}@example.com` }));
    const cases: Array<[unknown[], string[]]> = [
      [[...good.slice(0, 3), { id: 'b', phone: '0155' }, ...good.slice(3)], ['recipients.3.phone']],
      [[...good, { id: 'keep', email: 'changed@example.com', fax: '1' }], ['recipients.5']],
      [[...good, { id: 'bad id!' }], ['recipients.5.id']],
      [[...good, { email: 'no-id@example.com' }], ['recipients.5.id']],
      [[...good, { id: 'x', timezone: 'Mars/Base' }, { id: 'y', locale: 'not a locale!' }], ['recipients.5.timezone', 'recipients.6.locale']],
      // The webhook address guard of PUT, per entry.
      [[...good, { id: 'keep', webhookUrl: 'http://127.0.0.1/x' }, { id: 'z', webhookUrl: 'http://169.254.169.254/' }], ['recipients.5.webhookUrl', 'recipients.6.webhookUrl']],
      // A repeated id names the later entry.
      [[...good, { id: 'g-1', email: 'again@example.com' }], ['recipients.5.id']],
      [[], ['recipients']],
    ];
    for (const [list, paths] of cases) {
      const r = await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: list });
      expect(r.status, JSON.stringify(list.slice(5))).toBe(400);
      expect(r.type).toContain('application/problem+json');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(paths);
    }
    const dup = await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: [...good, { id: 'g-1' }] });
    expect(dup.body.errors[0].message).toMatch(/recipients\.1\b/);
    expect((await req('POST', '/v1/recipients/bulk', t.apiKey, {})).status).toBe(400);
    expect((await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: good, extra: true })).status).toBe(400);

    expect((await stored(t.id)).map((r) => [r.id, r.email])).toEqual([['keep', 'keep@example.com']]);
  });

  it('refuses more than 1,000 entries with 400 naming the limit, and writes nothing', async () => {
    const t = await tenant('too many');
    const list = Array.from({ length: 1001 }, (_, i) => ({ id: `u-${i}` }));
    const r = await req('POST', '/v1/recipients/bulk', t.apiKey, { recipients: list });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ path: 'recipients', message: 'must have at most 1,000 entries' }]);
    expect(await stored(t.id)).toHaveLength(0);
  });

  it('writes only the calling tenant’s recipients', async () => {
    const a = await tenant('A');
    const b = await tenant('B');
    await req('PUT', '/v1/recipients/shared', a.apiKey, { email: 'a@example.com' });
    await req('PUT', '/v1/recipients/shared/preferences', a.apiKey, { channels: { email: false } });
    const r = await req('POST', '/v1/recipients/bulk', b.apiKey, { recipients: [{ id: 'shared', email: 'b@example.com' }, { id: 'b-only' }] });
    expect(r.body).toEqual({ upserted: 2 });
    expect((await req('GET', '/v1/recipients/shared', a.apiKey)).body.email).toBe('a@example.com');
    expect((await req('GET', '/v1/recipients/shared/preferences', a.apiKey)).body.channels).toEqual({ email: false });
    expect((await req('GET', '/v1/recipients/shared', b.apiKey)).body.email).toBe('b@example.com');
    expect((await req('GET', '/v1/recipients/shared/preferences', b.apiKey)).body.channels).toEqual({});
    expect((await req('GET', '/v1/recipients/b-only', a.apiKey)).status).toBe(404);
    expect((await stored(a.id)).map((r) => r.id)).toEqual(['shared']);
  });

  it('needs a tenant key', async () => {
    expect((await req('POST', '/v1/recipients/bulk', 'tsk_nothing', { recipients: [{ id: 'x' }] })).status).toBe(401);
  });
});
