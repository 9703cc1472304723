// Credentials come first (api/auth.ts): a request without valid ones is answered before its body
// is read, unknown key prefixes are answered from a negative cache without a query, and each
// client address gets UNAUTH_RATE_PER_SECOND such answers a second, then 429.
import { PGlite } from '@electric-sql/pglite';
import { Connection } from '@temporalio/client';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder, type Db } from '../db/client.js';
import * as schema from '../db/schema.js';
import { offlineAppDeps } from '../test/support.js';
import { addressKey } from './client-address.js';
import { createApp, type AppDeps } from './app.js';
import { KeyCache } from './auth.js';
import { apiConnectionOptions } from './temporal.js';

const ADMIN = 'admin-secret';
let client: PGlite;
let db: Db;
let connection: Connection;
/** Every query the API makes on api_keys, counted through drizzle's query logger. */
let keyQueries = 0;

beforeAll(async () => {
  client = new PGlite();
  await migrate(drizzle(client), { migrationsFolder });
  db = drizzle(client, {
    schema,
    logger: { logQuery: (query) => void (/\bfrom "api_keys"/.test(query) && keyQueries++) },
  }) as unknown as Db;
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await client.close();
});

function api(more: Partial<AppDeps> = {}) {
  const app = createApp(offlineAppDeps(db, connection, { adminToken: ADMIN, ...more }), { log: () => {} });
  const call = async (method: string, path: string, opts: { token?: string; body?: BodyInit; from?: string; type?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.from) headers['x-forwarded-for'] = opts.from;
    if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
    // As an HTTP client declares it (app.request() does not).
    if (typeof opts.body === 'string') headers['content-length'] = String(Buffer.byteLength(opts.body));
    const res = await app.request(path, { method, headers, body: opts.body, ...(opts.body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };
  const tenant = async (name: string) => {
    const r = await call('POST', '/v1/admin/tenants', { token: ADMIN, body: JSON.stringify({ name }) });
    expect(r.status).toBe(201);
    return r.body as { id: string; apiKey: string };
  };
  return { call, tenant };
}

describe('credentials before the body', () => {
  it('answers a wrong key 401 without reading a byte of its body', async () => {
    const { call } = api();
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({ pull: (c) => void (pulled++, c.enqueue(new TextEncoder().encode('{"recipient":'))) }, { highWaterMark: 0 });
    const r = await call('POST', '/v1/notifications', { token: 'tsk_AAAAAAAAAAAA_wrong', body });
    expect(r.status).toBe(401);
    expect(pulled).toBe(0);
    // Malformed JSON from a client without a key is a 401 too, not the 400 of a parsed body.
    expect((await call('POST', '/v1/templates', { body: '{"a":' })).status).toBe(401);
    expect((await call('POST', '/v1/admin/tenants', { token: 'not-the-admin', body: '{"a":' })).status).toBe(401);
  });

  it('refuses a declared body over 1 MiB 413 before anything, and still reads a signed route without a key', async () => {
    const { call } = api();
    const big = 'x'.repeat(1024 * 1024 + 1);
    expect((await call('POST', '/v1/notifications', { body: big })).status).toBe(413);
    // Slack verifies its own signature: no key asked, its own 401 for a missing signature.
    const slack = await call('POST', '/v1/slack/interactivity', { body: 'payload=%7B%7D', type: 'application/x-www-form-urlencoded' });
    expect(slack.status).toBe(401);
    expect(slack.headers.get('www-authenticate')).toBeNull();
  });
});

describe('the negative key cache', () => {
  it('answers a well-formed unknown key from the cache: one query for many requests, at once or in turn', async () => {
    const { call } = api();
    const before = keyQueries;
    const unknown = 'tsk_ZZZZZZZZZZZZ_nosuchkeynosuchkeynosuchkey';
    const first = await Promise.all(Array.from({ length: 5 }, () => call('GET', '/v1/notifications', { token: unknown, from: '192.0.2.1' })));
    expect(first.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    for (let i = 0; i < 5; i++) expect((await call('GET', '/v1/notifications', { token: unknown, from: '192.0.2.2' })).status).toBe(401);
    expect(keyQueries - before).toBe(1);
  });

  it('does not shadow a key the admin API creates, and forgets a revoked one at once', async () => {
    const { call, tenant } = api();
    const t = await tenant('Fresh');
    expect((await call('GET', '/v1/notifications', { token: t.apiKey })).status).toBe(200);
    const queries = keyQueries;
    // A known prefix with a wrong secret: answered from the cached row, no query.
    expect((await call('GET', '/v1/notifications', { token: `${t.apiKey.slice(0, 17)}wrongsecret` })).status).toBe(401);
    expect((await call('GET', '/v1/notifications', { token: t.apiKey })).status).toBe(200);
    expect(keyQueries).toBe(queries);
    const prefix = t.apiKey.slice(0, 16);
    expect((await call('DELETE', `/v1/admin/tenants/${t.id}/api-keys/${prefix}`, { token: ADMIN })).status).toBe(204);
    expect((await call('GET', '/v1/notifications', { token: t.apiKey })).status).toBe(401);
    expect(keyQueries).toBe(queries);
  });

  it('is bounded, expires, and lets a created prefix be looked up again', async () => {
    let now = 0;
    const cache = new KeyCache({ entries: 2, ttlMs: 1000, now: () => now });
    let queries = 0;
    const none = async () => void queries++;
    expect(await cache.lookup('tsk_a', none)).toBeNull();
    expect(cache.cached('tsk_a')).toBeNull();
    cache.created('tsk_a');
    expect(cache.cached('tsk_a')).toBeUndefined();
    await cache.lookup('tsk_b', none);
    await cache.lookup('tsk_c', none);
    await cache.lookup('tsk_d', none);
    expect(cache.cached('tsk_b')).toBeUndefined(); // evicted: two entries at most
    expect(cache.cached('tsk_d')).toBeNull();
    now += 1001;
    expect(cache.cached('tsk_d')).toBeUndefined(); // expired
    expect(queries).toBe(4);
  });
});

describe('the limit on unauthenticated answers', () => {
  it('gives an address UNAUTH_RATE_PER_SECOND 401s a second, then 429 with Retry-After and RateLimit, other addresses and verified keys unaffected', async () => {
    const { call, tenant } = api({ unauthenticated: { perSecond: 3, trustedProxyHops: 1 } });
    const t = await tenant('Limited');
    expect((await call('GET', '/v1/notifications', { token: t.apiKey, from: '198.51.100.7' })).status).toBe(200);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await call('GET', '/v1/notifications', { from: '198.51.100.7' }));
    expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 429, 429]);
    expect(answers[0].headers.get('ratelimit-policy')).toBe('"unauthenticated";q=3;w=1');
    expect(answers[0].headers.get('ratelimit')).toMatch(/^"unauthenticated";r=2;t=[01]$/);
    const limited = answers[3];
    expect(limited.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(limited.headers.get('retry-after'))).toBe(1);
    expect(limited.headers.get('ratelimit')).toMatch(/^"unauthenticated";r=0;t=[01]$/);
    expect(limited.body).toMatchObject({ status: 429, title: 'Too many requests' });
    // A key already verified is still served from that address; a lookup is not made for it.
    const queries = keyQueries;
    expect((await call('GET', '/v1/notifications', { token: t.apiKey, from: '198.51.100.7' })).status).toBe(200);
    expect((await call('GET', '/v1/notifications', { token: 'tsk_YYYYYYYYYYYY_unknownunknownunknown', from: '198.51.100.7' })).status).toBe(429);
    expect(keyQueries).toBe(queries);
    // Another client (the entry the trusted proxy appended) has its own answers; what a client
    // wrote further left in X-Forwarded-For does not make it someone else.
    expect((await call('GET', '/v1/notifications', { from: '203.0.113.9' })).status).toBe(401);
    expect((await call('GET', '/v1/notifications', { from: '203.0.113.9, 198.51.100.7' })).status).toBe(429);
  });

  it('counts IPv6 clients by their /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.5')).toBe('192.0.2.5');
    expect(addressKey('192.0.2.5')).toBe('192.0.2.5');
  });
});
