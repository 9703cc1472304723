// /v1/me through app.request() on PGlite (and PostgreSQL when DATABASE_URL is set): a recipient
// token opens its recipient's own inbox, preferences and devices and nothing else; tenant keys,
// expired, forged and other-purpose tokens open nothing here; browsers on CORS_ORIGINS may call.
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInappSender } from '../activities/channels/inapp.js';
import { addInboxMessage } from '../db/inbox.js';
import { sendRequest } from '../test/fakes/send-request.js';
import { parseEncryptionKeys } from '../usecases/payload-codec.js';
import { issueRecipientToken } from '../usecases/recipient-tokens.js';
import { offlineAppDeps, openTestDatabase, testDatabaseKinds, TEST_ENCRYPTION_KEYS } from '../test/support.js';
import { createApp } from './app.js';
import { createInboxStreams } from './inbox-streams.js';
import { apiConnectionOptions } from './temporal.js';

const ADMIN = 'admin-secret';
const PAGE = 'http://app.example.test';
const keys = parseEncryptionKeys(TEST_ENCRYPTION_KEYS);

describe.each(testDatabaseKinds)('/v1/me on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  const streams = createInboxStreams({ pollMs: 100 });
  let acme: { id: string; apiKey: string };
  let globex: { id: string; apiKey: string };
  let annToken: string;

  async function req(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
    const res = await app.request(path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body: text ? JSON.parse(text) : null };
  }
  const message = (tenantId: string, recipientId: string, n: string, more: { url?: string } = {}) =>
    addInboxMessage(db.db, { id: `msg_${n}`, tenantId, recipientId, notificationId: n, title: `Title ${n}`, body: `Body ${n}`, category: null, ...more });

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    // Many refusals in a row here: the per-address limit of answers to bad credentials is lifted.
    app = createApp(
      offlineAppDeps(db.db, connection, { adminToken: ADMIN, encryptionKeys: keys, corsOrigins: [PAGE], inboxStreams: streams, unauthenticated: { perSecond: 10_000, trustedProxyHops: 0 } }),
      { log: () => {} },
    );
    acme = (await req('POST', '/v1/admin/tenants', ADMIN, { name: 'Acme' })).body;
    globex = (await req('POST', '/v1/admin/tenants', ADMIN, { name: 'Globex' })).body;
    for (const [t, rid] of [[acme, 'ann'], [acme, 'bob'], [globex, 'ann']] as const) expect((await req('PUT', `/v1/recipients/${rid}`, t.apiKey, { email: `${rid}@example.com` })).status).toBe(200);
    await message(acme.id, 'ann', 'n1', { url: 'https://app.example.test/orders/1' });
    await message(acme.id, 'ann', 'n2');
    await message(acme.id, 'bob', 'n3');
    await message(globex.id, 'ann', 'n4');
    const issued = await req('POST', '/v1/recipients/ann/token', acme.apiKey, { ttlSeconds: 3600 });
    expect(issued.status).toBe(201);
    annToken = issued.body.token;
  });
  afterAll(async () => {
    await streams.close();
    await connection.close().catch(() => {});
    await db.close();
  });

  it('issues tokens for known recipients only, with a bounded lifetime, and publishes the route', async () => {
    const r = await req('POST', '/v1/recipients/bob/token', acme.apiKey);
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(['expiresAt', 'token']);
    expect(Math.abs(Date.parse(r.body.expiresAt) - Date.now() - 3600_000)).toBeLessThan(5000);
    expect((await req('POST', '/v1/recipients/nobody/token', acme.apiKey, {})).status).toBe(404);
    // Another tenant's recipient is unknown too.
    expect((await req('POST', '/v1/recipients/bob/token', globex.apiKey, {})).status).toBe(404);
    for (const ttlSeconds of [0, -1, 1.5, 31 * 86_400, 'x']) {
      const bad = await req('POST', '/v1/recipients/ann/token', acme.apiKey, { ttlSeconds });
      expect(bad.status).toBe(400);
      expect(bad.type).toContain('application/problem+json');
    }
    expect((await req('POST', '/v1/recipients/ann/token', null, {})).status).toBe(401);
    const doc = (await req('GET', '/openapi.json', null)).body;
    expect(doc.paths['/v1/recipients/{recipientId}/token'].post).toBeDefined();
    for (const p of ['/v1/me/inbox', '/v1/me/inbox/count', '/v1/me/inbox/stream', '/v1/me/preferences', '/v1/me/devices/{deviceId}', '/inbox.js']) expect(doc.paths[p]).toBeDefined();
  });

  it('shows the recipient its own inbox only; another recipient’s message is 404', async () => {
    const list = await req('GET', '/v1/me/inbox', annToken);
    expect(list.status).toBe(200);
    expect(list.body.data.map((m: { id: string }) => m.id)).toEqual(['msg_n2', 'msg_n1']);
    expect(list.body.data[1]).toMatchObject({ title: 'Title n1', read: false, archived: false, url: 'https://app.example.test/orders/1' });
    expect(list.body.data[0].url).toBeUndefined();
    expect((await req('GET', '/v1/me/inbox/count', annToken)).body).toEqual({ total: 2, unread: 2 });
    // Bob's (same tenant) and Globex's Ann's messages are not Ann's.
    for (const id of ['msg_n3', 'msg_n4', 'msg_nope']) {
      for (const action of ['read', 'archive']) {
        const r = await req('POST', `/v1/me/inbox/${id}/${action}`, annToken);
        expect(r.status).toBe(404);
        expect(r.type).toContain('application/problem+json');
      }
    }
    const bob = await req('GET', '/v1/recipients/bob/inbox', acme.apiKey);
    expect(bob.body.data[0]).toMatchObject({ id: 'msg_n3', read: false, archived: false });
  });

  it('marks read, archives (hidden unless archived=true), and the tenant’s routes agree', async () => {
    expect((await req('POST', '/v1/me/inbox/msg_n1/read', annToken)).body).toEqual({ updated: 1 });
    expect((await req('POST', '/v1/me/inbox/msg_n1/read', annToken)).body).toEqual({ updated: 0 });
    expect((await req('GET', '/v1/me/inbox/count', annToken)).body).toEqual({ total: 2, unread: 1 });
    expect((await req('GET', '/v1/me/inbox?unread=true', annToken)).body.data.map((m: { id: string }) => m.id)).toEqual(['msg_n2']);

    expect((await req('POST', '/v1/me/inbox/msg_n2/archive', annToken)).body).toEqual({ updated: 1 });
    const shown = await req('GET', '/v1/me/inbox', annToken);
    expect(shown.body.data.map((m: { id: string }) => m.id)).toEqual(['msg_n1']);
    // The archived unread item no longer counts on the bell.
    expect(shown.body.unread).toBe(0);
    expect((await req('GET', '/v1/me/inbox/count', annToken)).body).toEqual({ total: 1, unread: 0 });
    const archived = await req('GET', '/v1/me/inbox?archived=true', annToken);
    expect(archived.body.data).toEqual([expect.objectContaining({ id: 'msg_n2', archived: true })]);
    // The tenant sees every message, with its marks.
    const tenantView = await req('GET', '/v1/recipients/ann/inbox', acme.apiKey);
    expect(tenantView.body.data.map((m: { id: string; read: boolean; archived: boolean }) => [m.id, m.read, m.archived])).toEqual([
      ['msg_n2', false, true],
      ['msg_n1', true, false],
    ]);
    expect((await req('POST', '/v1/me/inbox/read-all', annToken)).body).toEqual({ updated: 1 });
    expect((await req('GET', '/v1/me/inbox?archived=maybe', annToken)).status).toBe(400);
    const unknown = await req('GET', '/v1/me/recipients', annToken);
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
  });

  it('opens nothing but /v1/me: tenant routes refuse a recipient token with 401', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/recipients/ann', undefined],
      ['GET', '/v1/recipients/ann/inbox', undefined],
      ['POST', '/v1/recipients/ann/token', {}],
      ['POST', '/v1/notifications', { recipient: 'ann', template: 'x' }],
      ['GET', '/v1/admin/tenants', undefined],
    ] as const) {
      const r = await req(method, path, annToken, body);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.type).toContain('application/problem+json');
    }
  });

  it('refuses tenant keys, the admin token, expired, forged and other-purpose tokens on /v1/me', async () => {
    const deps = { db: db.db, encryptionKeys: keys };
    const expired = (await issueRecipientToken({ ...deps, now: () => Date.now() - 7200_000 }, { tenantId: acme.id, recipientId: 'ann', purpose: 'me', ttlSeconds: 3600 })).token;
    const preferences = (await issueRecipientToken(deps, { tenantId: acme.id, recipientId: 'ann', purpose: 'preferences' })).token;
    const [h, p, s] = annToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')}.${s}`;
    for (const token of [acme.apiKey, ADMIN, expired, preferences, forged, `${annToken}x`, null]) {
      for (const path of ['/v1/me/inbox', '/v1/me/inbox/count', '/v1/me/preferences']) {
        const r = await req('GET', path, token);
        expect(r.status).toBe(401);
        expect(r.type).toContain('application/problem+json');
      }
    }
    // A body is never read without valid credentials.
    expect((await req('PUT', '/v1/me/preferences', acme.apiKey, { channels: { email: false } })).status).toBe(401);
    // ?token= opens the stream only.
    expect((await req('GET', `/v1/me/inbox?token=${annToken}`, null)).status).toBe(401);
  });

  it('reads and sets the recipient’s own preferences and devices, with the tenant routes’ validation', async () => {
    const bobToken = (await req('POST', '/v1/recipients/bob/token', acme.apiKey, {})).body.token;
    const put = await req('PUT', '/v1/me/preferences', bobToken, { channels: { email: false }, categories: { marketing: { enabled: false } } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ channels: { email: false }, categories: { marketing: { enabled: false } }, quietHours: null });
    expect((await req('GET', '/v1/me/preferences', bobToken)).body).toEqual(put.body);
    expect((await req('GET', '/v1/recipients/bob/preferences', acme.apiKey)).body).toEqual(put.body);
    // Ann's are untouched.
    expect((await req('GET', '/v1/me/preferences', annToken)).body.channels).toEqual({});
    const bad = await req('PUT', '/v1/me/preferences', bobToken, { channels: { carrier_pigeon: true } });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');

    const device = await req('PUT', '/v1/me/devices/phone-1', bobToken, { provider: 'fcm', token: 'fcm-token-1', platform: 'android' });
    expect(device.status).toBe(200);
    expect(device.body).toMatchObject({ id: 'phone-1', provider: 'fcm', token: 'fcm-token-1' });
    expect((await req('GET', '/v1/recipients/bob/devices', acme.apiKey)).body.data.map((d: { id: string }) => d.id)).toEqual(['phone-1']);
    expect((await req('PUT', '/v1/me/devices/phone-2', bobToken, { provider: 'carrier' })).status).toBe(400);
    // Ann cannot remove Bob's device.
    expect((await req('DELETE', '/v1/me/devices/phone-1', annToken)).status).toBe(404);
    expect((await req('DELETE', '/v1/me/devices/phone-1', bobToken)).status).toBe(204);
    expect((await req('GET', '/v1/recipients/bob/devices', acme.apiKey)).body.data).toEqual([]);
  });

  it('answers CORS preflights without credentials for CORS_ORIGINS only, and no cookies', async () => {
    const preflight = (origin: string) =>
      app.request('/v1/me/inbox', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    const allowed = await preflight(PAGE);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const refused = await preflight('http://evil.example.test');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    // The actual request from the page carries the header too; a tenant route has no CORS.
    const get = await req('GET', '/v1/me/inbox/count', annToken, undefined, { origin: PAGE });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe(PAGE);
    // A refusal is readable by the page too (so it can tell an expired token from a network error).
    const refusedGet = await req('GET', '/v1/me/inbox/count', 'expired', undefined, { origin: PAGE });
    expect(refusedGet.status).toBe(401);
    expect(refusedGet.headers.get('access-control-allow-origin')).toBe(PAGE);
    const tenantRoute = await app.request('/v1/recipients/ann', { method: 'OPTIONS', headers: { origin: PAGE, 'access-control-request-method': 'GET' } });
    expect(tenantRoute.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('streams new messages with ?token=, and resumes after Last-Event-ID', async () => {
    const dave = async () => {
      expect((await req('PUT', '/v1/recipients/dave', acme.apiKey, {})).status).toBe(200);
      return (await req('POST', '/v1/recipients/dave/token', acme.apiKey, {})).body.token as string;
    };
    const token = await dave();
    await message(acme.id, 'dave', 'd1');
    const abort = new AbortController();
    const read = async (headers: Record<string, string>, want: number) => {
      const res = await app.request(`/v1/me/inbox/stream?token=${encodeURIComponent(token)}`, { headers, signal: abort.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      let text = '';
      const ids = () => [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]);
      const deadline = Date.now() + 20_000;
      while (ids().length < want && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
        if (text.includes('event: ready') && !text.includes('msg_d2') && want > 0) await message(acme.id, 'dave', 'd2');
      }
      await reader.cancel();
      return ids();
    };
    // From now on: d1 is older, d2 arrives live.
    expect(await read({}, 1)).toEqual(['msg_d2']);
    // Resuming after d1: d2 (and what comes after) again.
    expect(await read({ 'last-event-id': 'msg_d1' }, 1)).toEqual(['msg_d2']);
    abort.abort();
  });

  it('keeps the in-app content’s url when it is an http(s) URL, and drops any other', async () => {
    expect((await req('PUT', '/v1/recipients/erin', acme.apiKey, {})).status).toBe(200);
    const erin = (await req('POST', '/v1/recipients/erin/token', acme.apiKey, {})).body.token;
    const deliver = (n: string, url: string) =>
      createInappSender(db.db).send(
        sendRequest({
          notificationId: `ntf_${kind}_${n}`,
          tenant: { ...sendRequest().tenant, id: acme.id },
          recipient: { ...sendRequest().recipient, id: 'erin' },
          content: { inapp: { title: n, body: '', url } },
        }),
      );
    await deliver('link', ' https://app.example.test/docs/7?x=1 ');
    await deliver('script', 'javascript:alert(1)');
    await deliver('relative', '/docs/7');
    const items = (await req('GET', '/v1/me/inbox', erin)).body.data as Array<{ title: string; url?: string }>;
    expect(Object.fromEntries(items.map((m) => [m.title, m.url ?? null]))).toEqual({ link: 'https://app.example.test/docs/7?x=1', script: null, relative: null });
    // Templates accept `inapp.url`.
    const template = await req('POST', '/v1/templates', acme.apiKey, { key: `linked-${kind}`, content: { en: { inapp: { title: 'Hi', body: 'x', url: 'https://app.example.test/{{ id }}' } } } });
    expect(template.status).toBe(201);
  });

  it('answers hostile input on every /v1/me route with a 4xx problem, never a 5xx', async () => {
    const odd = ['%00', '%ED%A0%80', 'x'.repeat(300), '..%2F..%2Fetc', '-1', '99999999999999999999'];
    const bodies = ['{"a":', '\u0000', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[', '{"channels":{"email":"\ud800"}}', '{"provider":"fcm","token":"a\u0000b"}', '{"quietHours":{"start":"25:00","end":"x"}}'];
    const cases: Array<[string, string, string | undefined]> = [];
    for (const v of odd) {
      cases.push(['GET', `/v1/me/inbox?limit=${v}`, undefined], ['GET', `/v1/me/inbox?cursor=${v}`, undefined], ['GET', `/v1/me/inbox?unread=${v}&archived=${v}`, undefined]);
      cases.push(['POST', `/v1/me/inbox/${v}/read`, undefined], ['POST', `/v1/me/inbox/${v}/archive`, undefined], ['DELETE', `/v1/me/devices/${v}`, undefined]);
    }
    for (const b of bodies) cases.push(['PUT', '/v1/me/preferences', b], ['PUT', '/v1/me/devices/d1', b], ['POST', '/v1/recipients/ann/token', b]);
    for (const [method, path, body] of cases) {
      const token = path.startsWith('/v1/me') ? annToken : acme.apiKey;
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
      expect(res.status, `${method} ${path} ${body ?? ''}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path} ${body ?? ''}`).toBeLessThan(500);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('spends the tenant’s rate limit on /v1/me too', async () => {
    const limited = createApp(offlineAppDeps(db.db, connection, { adminToken: ADMIN, encryptionKeys: keys, rateLimit: { perSecond: 2, burst: 2 } }), { log: () => {} });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await limited.request('/v1/me/inbox/count', { headers: { authorization: `Bearer ${annToken}` } })).status);
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
  });
  it('rotates the signing secret: old tokens keep working until retired, then answer 401', async () => {
    // Globex's own tokens, so that the tests above keep Acme's.
    const before = (await req('POST', '/v1/recipients/ann/token', globex.apiKey)).body.token as string;
    expect((await req('GET', '/v1/me/inbox/count', before)).status).toBe(200);
    const rotated = await req('POST', '/v1/recipient-token-secrets', globex.apiKey);
    expect(rotated).toMatchObject({ status: 201, body: { retiredOthers: false } });
    const after = (await req('POST', '/v1/recipients/ann/token', globex.apiKey)).body.token as string;
    expect(JSON.parse(Buffer.from(after.split('.')[0], 'base64url').toString()).kid).toBe(rotated.body.kid);
    expect((await req('GET', '/v1/me/inbox/count', before)).status).toBe(200);
    expect((await req('POST', '/v1/recipient-token-secrets', globex.apiKey, { retireOthers: 'yes' })).status).toBe(400);
    const retired = await req('POST', '/v1/recipient-token-secrets', globex.apiKey, { retireOthers: true });
    expect(retired).toMatchObject({ status: 201, body: { retiredOthers: true } });
    expect((await req('GET', '/v1/me/inbox/count', before)).status).toBe(401);
    expect((await req('GET', '/v1/me/inbox/count', after)).status).toBe(401);
    const fresh = (await req('POST', '/v1/recipients/ann/token', globex.apiKey)).body.token as string;
    expect((await req('GET', '/v1/me/inbox/count', fresh)).status).toBe(200);
    // Another tenant's tokens are untouched.
    expect((await req('GET', '/v1/me/inbox/count', annToken)).status).toBe(200);
  });
});
