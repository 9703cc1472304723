// The recipient's links through app.request(), on PGlite and (when DATABASE_URL is set)
// PostgreSQL: POST /v1/recipients/{rid}/preference-link, the hosted preference page
// (GET|POST /preferences/{token}) and one-click unsubscribe (GET|POST /unsubscribe/{token}).
// The worker's side (headers in emails) is test/recipient-links.e2e.test.ts; the page in a
// browser, test/preferences.browser.test.ts.
import { Client, Connection } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifecycleEvents } from '../db/schema.js';
import { CHANNELS } from '../domain/types.js';
import { issueRecipientToken } from '../usecases/recipient-tokens.js';
import { parseEncryptionKeys } from '../usecases/payload-codec.js';
import { openTestDatabase, TEST_ENCRYPTION_KEYS, testDatabaseKinds } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp, type AppDeps } from './app.js';

const ADMIN = 'admin-secret';
const BASE = 'https://tocsin.example';

describe.each(testDatabaseKinds)('recipient links on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let apiKey: string;
  let tenantId: string;
  const keys = parseEncryptionKeys(TEST_ENCRYPTION_KEYS);
  const tokens = () => ({ db: db.db, encryptionKeys: keys });

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(
      {
        db: db.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: ADMIN,
        encryptionKeys: keys,
        secrets: { publicBaseUrl: BASE },
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        // Many bad tokens below from one (test) address: the limit itself is tested at the end.
        unauthenticated: { perSecond: 1000, trustedProxyHops: 0 },
      },
      { log: () => {} },
    );
    const t = await json('POST', '/v1/admin/tenants', ADMIN, { name: 'Acme' });
    apiKey = t.body.apiKey;
    tenantId = t.body.id;
    expect((await json('PUT', '/v1/recipients/ann', apiKey, { email: 'ann@example.com', phone: '+14155550123', name: 'Ann <b>' })).status).toBe(200);
    expect((await json('PUT', '/v1/recipients/ann/preferences', apiKey, { categories: { 'news"><script>alert(1)</script>': { enabled: true } } })).status).toBe(200);
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  async function json(method: string, path: string, token: string | null, body?: unknown) {
    const res = await app.request(path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  }
  async function html(method: string, url: string, form?: Record<string, string> | URLSearchParams) {
    const path = url.startsWith(BASE) ? url.slice(BASE.length) : url;
    const res = await app.request(path, {
      method,
      ...(form ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() } : {}),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
  const prefs = async () => (await json('GET', '/v1/recipients/ann/preferences', apiKey)).body;
  const events = () => db.db.select().from(lifecycleEvents).where(and(eq(lifecycleEvents.tenantId, tenantId), eq(lifecycleEvents.type, 'recipient.unsubscribed')));

  it('POST preference-link answers 201 with a URL under PUBLIC_BASE_URL; 404 for an unknown recipient; 400 for a bad ttl; 401 without a key', async () => {
    const link = await json('POST', '/v1/recipients/ann/preference-link', apiKey);
    expect(link.status).toBe(201);
    expect(link.body.url).toMatch(new RegExp(`^${BASE}/preferences/[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
    const days = (Date.parse(link.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    const short = await json('POST', '/v1/recipients/ann/preference-link', apiKey, { ttlSeconds: 3600 });
    expect(short.status).toBe(201);
    expect(Date.parse(short.body.expiresAt) - Date.now()).toBeLessThan(3601_000);
    expect((await json('POST', '/v1/recipients/nobody/preference-link', apiKey)).status).toBe(404);
    const bad = await json('POST', '/v1/recipients/ann/preference-link', apiKey, { ttlSeconds: -5 });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect((await json('POST', '/v1/recipients/ann/preference-link', null)).status).toBe(401);
    const doc = await json('GET', '/openapi.json', null);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/recipients/{recipientId}/preference-link', '/preferences/{token}', '/unsubscribe/{token}']),
    );
  });

  it('the preference page is escaped HTML with the security headers, and saves a form post', async () => {
    const { url } = (await json('POST', '/v1/recipients/ann/preference-link', apiKey)).body;
    const page = await html('GET', url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/script-src|unsafe-inline/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).not.toContain('<script>');
    expect(page.text).not.toContain('Ann <b>');
    expect(page.text).toContain('Ann &#60;b&#62;');
    expect(page.text).toContain('name="channel.email"');
    expect(page.text).toContain('name="channel.sms"');
    expect(page.text).not.toContain('name="channel.slack"');

    const saved = await html('POST', url, {
      channels: 'email,sms,inapp,push',
      'channel.email': 'on',
      'channel.inapp': 'on',
      'channel.push': 'on',
      'cat.0': 'billing',
      'cat.0.ch.email': 'on',
      'cat.1': 'marketing',
      'cat.1.on': 'on',
      'cat.1.ch.sms': 'on',
      'cat.1.ch.inapp': 'on',
      'cat.1.ch.push': 'on',
      quiet: 'on',
      quietStart: '22:00',
      quietEnd: '07:30',
      quietTimezone: 'Europe/Berlin',
    });
    expect(saved.status).toBe(200);
    expect(saved.text).toContain('Your preferences were saved.');
    const p = await prefs();
    expect(p.channels).toEqual({ sms: false });
    expect(p.categories.billing).toEqual({ enabled: false, channels: { sms: false, inapp: false, push: false } });
    expect(p.categories.marketing).toEqual({ channels: { email: false } });
    // A category the form did not show is kept as it was.
    expect(p.categories['news"><script>alert(1)</script>']).toEqual({ enabled: true });
    expect(p.quietHours).toEqual({ start: '22:00', end: '07:30', timezone: 'Europe/Berlin' });

    // Quiet hours off clears them.
    expect((await html('POST', url, { channels: 'email', 'channel.email': 'on' })).status).toBe(200);
    expect((await prefs()).quietHours).toBeNull();
  });

  it('invalid input re-renders the page with the reasons and a 400, saving nothing', async () => {
    const { url } = (await json('POST', '/v1/recipients/ann/preference-link', apiKey)).body;
    const before = await prefs();
    const refused = await html('POST', url, { channels: 'email,fax', quiet: 'on', quietStart: '25:00', quietEnd: '07:00', quietTimezone: 'Mars/Olympus' });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(refused.text).toContain('Nothing was saved');
    expect(refused.text).toContain('Unknown channel: fax');
    expect(refused.text).toContain('Quiet hours “From” must be HH:MM');
    expect(refused.text).toContain('time zone must be an IANA timezone');
    expect(await prefs()).toEqual(before);

    // Text the database cannot hold (NUL) in a category's name: a page with the reason, never a
    // 5xx. (An unpaired surrogate cannot arrive: form decoding turns bad UTF-8 into U+FFFD.)
    const nul = await html('POST', url, { channels: 'email', 'cat.0': 'a\u0000b' });
    expect(nul.status).toBe(400);
    expect(nul.text).toContain('must not contain NUL');
    expect(await prefs()).toEqual(before);
  });

  it('an expired, forged or other-purpose token answers the "link expired" page (401); a POST with one saves nothing', async () => {
    const expired = await issueRecipientToken({ ...tokens(), now: () => Date.now() - 30 * 86_400_000 }, { tenantId, recipientId: 'ann', purpose: 'preferences', ttlSeconds: 60 });
    const unsub = await issueRecipientToken(tokens(), { tenantId, recipientId: 'ann', purpose: 'unsubscribe', category: 'billing', channel: 'email' });
    const me = await issueRecipientToken(tokens(), { tenantId, recipientId: 'ann', purpose: 'me' });
    const { url } = (await json('POST', '/v1/recipients/ann/preference-link', apiKey)).body;
    const token = url.split('/').pop()!;
    const forged = `${token.slice(0, -4)}AAAA`;
    for (const t of [expired.token, unsub.token, me.token, forged, 'not-a-token', 'x'.repeat(5000)]) {
      const r = await html('GET', `/preferences/${t}`);
      expect(r.status).toBe(401);
      expect(r.text).toContain('This link has expired or is not valid');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const before = await prefs();
    expect((await html('POST', `/preferences/${expired.token}`, { channels: 'email' })).status).toBe(401);
    expect(await prefs()).toEqual(before);
    // A body that is not a form, with a valid token: 415, nothing saved.
    for (const [type, body] of [['application/json', '{"channels":"email"}'], ['text/plain', 'channels=email']]) {
      const r = await app.request(`/preferences/${token}`, { method: 'POST', headers: { 'content-type': type }, body });
      expect(r.status, type).toBe(415);
    }
    expect(await prefs()).toEqual(before);
    // A preference token does not unsubscribe.
    expect((await html('POST', `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' })).status).toBe(401);
  });

  it('GET on an unsubscribe link changes nothing; POST List-Unsubscribe=One-Click opts out of the category by email at once, once', async () => {
    const { token } = await issueRecipientToken(tokens(), { tenantId, recipientId: 'ann', purpose: 'unsubscribe', category: 'deals', channel: 'email' });
    const before = await prefs();
    const confirm = await html('GET', `/unsubscribe/${token}`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('name="List-Unsubscribe" value="One-Click"');
    expect(confirm.text).toContain('“deals” emails');
    expect(confirm.headers.get('x-frame-options')).toBe('DENY');
    expect(await prefs()).toEqual(before);
    expect(await events()).toHaveLength(0);

    // The body must be the one-click form.
    const wrong = await html('POST', `/unsubscribe/${token}`, { 'List-Unsubscribe': 'Yes' });
    expect(wrong.status).toBe(400);
    expect(await prefs()).toEqual(before);

    const done = await html('POST', `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' });
    expect(done.status).toBe(200);
    expect(done.text).toContain('You are unsubscribed');
    const after = await prefs();
    expect(after.categories.deals).toEqual({ channels: { email: false } });
    expect(after.channels).toEqual(before.channels);
    expect(after.quietHours).toEqual(before.quietHours);
    // The link opened again says so, still changing nothing.
    const reopened = await html('GET', `/unsubscribe/${token}`);
    expect(reopened.status).toBe(200);
    expect(reopened.text).toContain('You had already unsubscribed');
    expect(await prefs()).toEqual(after);

    // Idempotent, concurrent repeats included: one event, no personal address in it.
    const again = await Promise.all([1, 2, 3].map(() => html('POST', `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' })));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
    const recorded = await events();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ recipientId: 'ann', data: { category: 'deals', channel: 'email' } });
    expect(JSON.stringify(recorded[0].data)).not.toContain('@');

    // Multipart, as some mail providers post it.
    const { token: t2 } = await issueRecipientToken(tokens(), { tenantId, recipientId: 'ann', purpose: 'unsubscribe', category: 'tips', channel: 'email' });
    const fd = new FormData();
    fd.set('List-Unsubscribe', 'One-Click');
    const multipart = await app.request(`/unsubscribe/${t2}`, { method: 'POST', body: fd });
    expect(multipart.status).toBe(200);
    expect((await prefs()).categories.tips).toEqual({ channels: { email: false } });
  });

  it('a recipient erased since the link was made: 404 page', async () => {
    expect((await json('PUT', '/v1/recipients/gone', apiKey, { email: 'gone@example.com' })).status).toBe(200);
    const { token } = await issueRecipientToken(tokens(), { tenantId, recipientId: 'gone', purpose: 'unsubscribe', category: 'deals', channel: 'email' });
    const { token: pt } = await issueRecipientToken(tokens(), { tenantId, recipientId: 'gone', purpose: 'preferences' });
    const { recipients } = await import('../db/schema.js');
    await db.db.delete(recipients).where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, 'gone')));
    expect((await html('POST', `/unsubscribe/${token}`, { 'List-Unsubscribe': 'One-Click' })).status).toBe(404);
    expect((await html('GET', `/preferences/${pt}`)).status).toBe(404);
    expect((await html('GET', `/unsubscribe/${token}`)).status).toBe(404);
  });
});

describe('recipient links and the unauthenticated limit', () => {
  it('bad tokens count against UNAUTH_RATE_PER_SECOND per address (then 429); no token reaches a log line', async () => {
    const db = await openTestDatabase('pglite');
    const connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    const lines: string[] = [];
    const { createLogger } = await import('../telemetry/log.js');
    const logger = createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void lines.push(s) } as never });
    try {
      const app = createApp(
        {
          db: db.db,
          temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
          adminToken: ADMIN,
          encryptionKeys: parseEncryptionKeys(TEST_ENCRYPTION_KEYS),
          channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
          retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
          unauthenticated: { perSecond: 3, trustedProxyHops: 0 },
          rateLimit: { perSecond: 2, burst: 2 },
        },
        { logger },
      );
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await app.request(`/unsubscribe/bad-token-${i}`, { method: 'GET' })).status);
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses.slice(3)).toEqual([429, 429]);
      expect(lines.join('\n')).toContain('/unsubscribe/{token}');
      expect(lines.join('\n')).not.toContain('bad-token');

      // A valid link's requests count against its tenant's rate, like its API requests (after
      // the second in which this address spent its unauthenticated answers).
      await new Promise((ok) => setTimeout(ok, 1100));
      const tenant = await app.request('/v1/admin/tenants', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: '{"name":"Busy"}' });
      const { id } = (await tenant.json()) as { id: string };
      const { token } = await issueRecipientToken({ db: db.db, encryptionKeys: parseEncryptionKeys(TEST_ENCRYPTION_KEYS) }, { tenantId: id, recipientId: 'r', purpose: 'unsubscribe', category: 'c', channel: 'email' });
      const valid: number[] = [];
      for (let i = 0; i < 4; i++) valid.push((await app.request(`/unsubscribe/${token}`)).status);
      expect(valid.slice(0, 2)).toEqual([404, 404]); // no such recipient: counted all the same
      expect(valid.slice(2)).toEqual([429, 429]);
      expect(lines.join('\n')).not.toContain(token);
    } finally {
      await connection.close().catch(() => {});
      await db.close();
    }
  });
});
