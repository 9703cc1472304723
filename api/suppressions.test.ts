// Suppressions through app.request(), on PGlite and (when DATABASE_URL is set) PostgreSQL: the
// API's validation and tenant isolation, and Twilio's inbound webhook (STOP, START, HELP) signed
// with the twilio SDK's own helper, for the platform's number and a tenant integration's number.
import { Connection } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lifecycleEvents, suppressions } from '../db/schema.js';
import { twilioSignature } from '../test/fakes/receipts.js';
import { offlineAppDeps, openTestDatabase, TEST_ENCRYPTION_KEYS, testDatabaseKinds } from '../test/support.js';
import { parseEncryptionKeys } from '../usecases/payload-codec.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp } from './app.js';

const ADMIN = 'admin-secret';
const PUBLIC_BASE_URL = 'https://tocsin.example.com';
const INBOUND_URL = `${PUBLIC_BASE_URL}/v1/receipts/twilio/inbound`;
const PLATFORM_TOKEN = 'platform-twilio-token-0123456789';
const PLATFORM_FROM = '+15005550006';
const PLATFORM_WHATSAPP = '+15005550007';
const OWN_FROM = '+15005550999';
const OWN_TOKEN = 'tenant-own-twilio-token-abcdef';

describe.each(testDatabaseKinds)('suppressions on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let sid = 0;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(
      offlineAppDeps(db.db, connection, {
        adminToken: ADMIN,
        encryptionKeys: parseEncryptionKeys(TEST_ENCRYPTION_KEYS),
        secrets: { twilioAuthToken: PLATFORM_TOKEN, twilioFrom: PLATFORM_FROM, twilioWhatsappFrom: `whatsapp:${PLATFORM_WHATSAPP}`, publicBaseUrl: PUBLIC_BASE_URL },
      }),
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

  /** Twilio's inbound message webhook, signed with `token` (the twilio SDK's helper) unless a signature is given. */
  async function inbound(fields: { From: string; To: string; Body: string; MessageSid?: string }, token = PLATFORM_TOKEN, signature?: string) {
    const params: Record<string, string> = {
      ToCountry: 'US',
      SmsMessageSid: fields.MessageSid ?? `SM${String(++sid).padStart(32, '0')}`,
      NumMedia: '0',
      AccountSid: `AC${'0'.repeat(32)}`,
      ApiVersion: '2010-04-01',
      MessageSid: fields.MessageSid ?? `SM${String(sid).padStart(32, '0')}`,
      From: fields.From,
      To: fields.To,
      Body: fields.Body,
    };
    const res = await app.request('/v1/receipts/twilio/inbound', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature ?? twilioSignature(token, INBOUND_URL, params) },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }
  const list = async (t: { apiKey: string }, query = '') => (await req('GET', `/v1/suppressions${query}`, t.apiKey)).body;

  it('adds, lists, lifts; validates each channel’s address; 404 and 409 as the contract says', async () => {
    const t = await tenant('validation');
    const bad = [
      [{ channel: 'email', address: 'not-an-email' }, 'address'],
      [{ channel: 'sms', address: '4155550100' }, 'address'],
      [{ channel: 'whatsapp', address: 'whatsapp:+14155550100' }, 'address'],
      [{ channel: 'telegram', address: 'x y' }, 'address'],
      [{ channel: 'slack', address: 'C0123' }, 'channel'],
      [{ channel: 'email' }, 'address'],
      [{ channel: 'email', address: 'a@b.co', extra: 1 }, ''],
    ] as const;
    for (const [body, path] of bad) {
      const r = await req('POST', '/v1/suppressions', t.apiKey, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.type).toContain('application/problem+json');
      if (path) expect(r.body.errors.map((e: any) => e.path)).toContain(path);
    }
    expect((await req('GET', '/v1/suppressions?channel=push', t.apiKey)).status).toBe(400);
    expect((await req('GET', '/v1/suppressions?cursor=bm9wZQ', t.apiKey)).status).toBe(400);
    expect((await req('GET', '/v1/suppressions?limit=0', t.apiKey)).status).toBe(400);
    expect((await req('DELETE', '/v1/suppressions/email/not-an-email', t.apiKey)).status).toBe(400);
    expect((await req('DELETE', '/v1/suppressions/inapp/x', t.apiKey)).status).toBe(400);

    const added = await req('POST', '/v1/suppressions', t.apiKey, { channel: 'email', address: 'Ann@Example.com' });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ channel: 'email', address: 'ann@example.com', reason: 'manual', createdAt: expect.any(String) });
    // Idempotent: the same suppression again (in another case) is the same.
    const again = await req('POST', '/v1/suppressions', t.apiKey, { channel: 'email', address: 'ann@example.com' });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(added.body);
    expect((await req('POST', '/v1/suppressions', t.apiKey, { channel: 'sms', address: '+14155550100' })).status).toBe(201);
    expect((await list(t)).data.map((s: any) => s.channel).sort()).toEqual(['email', 'sms']);
    expect((await list(t, '?channel=sms')).data).toEqual([expect.objectContaining({ channel: 'sms', address: '+14155550100', reason: 'manual' })]);

    expect((await req('DELETE', '/v1/suppressions/email/ANN@example.com', t.apiKey)).status).toBe(204);
    const none = await req('DELETE', '/v1/suppressions/email/ann@example.com', t.apiKey);
    expect(none.status).toBe(404);
    expect(none.type).toContain('application/problem+json');
    // A `+` in a path is a plus (encoded or not).
    expect((await req('DELETE', `/v1/suppressions/sms/${encodeURIComponent('+14155550100')}`, t.apiKey)).status).toBe(204);
    expect((await list(t)).data).toEqual([]);
  });

  it('pages newest first with a cursor', async () => {
    const t = await tenant('paging');
    for (let i = 0; i < 5; i++) expect((await req('POST', '/v1/suppressions', t.apiKey, { channel: 'email', address: `p${i}@example.com` })).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await list(t, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((s: any) => s.address));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `p${i}@example.com`));
  });

  it('keeps tenants apart', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    expect((await req('POST', '/v1/suppressions', a.apiKey, { channel: 'email', address: 'shared@example.com' })).status).toBe(201);
    expect((await list(b)).data).toEqual([]);
    expect((await req('DELETE', '/v1/suppressions/email/shared@example.com', b.apiKey)).status).toBe(404);
    expect((await list(a)).data).toHaveLength(1);
    expect((await req('GET', '/v1/suppressions', 'tsk_nothing')).status).toBe(401);
  });

  it('STOP to the platform’s number suppresses SMS and WhatsApp for tenants without their own integration; START lifts; HELP answers TwiML', async () => {
    const plain = await tenant('plain');
    const own = await tenant('own-twilio');
    const put = await req('PUT', '/v1/integrations/sms', own.apiKey, {
      channel: 'sms',
      provider: 'twilio',
      credentials: { accountSid: `AC${'ab'.repeat(16)}`, authToken: OWN_TOKEN, from: OWN_FROM },
    });
    expect(put.status).toBe(200);
    expect((await req('PUT', '/v1/recipients/ann', plain.apiKey, { phone: '+14155550123' })).status).toBe(200);

    const help = await inbound({ From: '+14155550123', To: PLATFORM_FROM, Body: ' help ' });
    expect(help.status).toBe(200);
    expect(help.type).toMatch(/^text\/xml/);
    expect(help.text).toMatch(/<Response><Message>[^<]*STOP[^<]*<\/Message><\/Response>$/);

    const other = await inbound({ From: '+14155550123', To: PLATFORM_FROM, Body: 'Thanks!' });
    expect(other.status).toBe(200);
    expect(other.text).toMatch(/<Response\/>$/);
    expect(await list(plain)).toEqual({ data: [], nextCursor: null });

    const stop = await inbound({ From: '+14155550123', To: PLATFORM_FROM, Body: '  Opt Out ', MessageSid: `SM${'1'.repeat(32)}` });
    expect(stop.status).toBe(200);
    expect(stop.text).toMatch(/<Response\/>$/);
    expect((await list(plain)).data.map((s: any) => [s.channel, s.address, s.reason]).sort()).toEqual([
      ['sms', '+14155550123', 'stop'],
      ['whatsapp', '+14155550123', 'stop'],
    ]);
    // The tenant with its own Twilio number does not send from the platform's.
    expect((await list(own)).data).toEqual([]);
    const events = await db.db.select().from(lifecycleEvents).where(eq(lifecycleEvents.tenantId, plain.id));
    expect(events).toEqual([expect.objectContaining({ type: 'recipient.unsubscribed', recipientId: 'ann', data: { channel: 'sms', channels: ['sms', 'whatsapp'], reason: 'stop' } })]);
    expect(JSON.stringify(events)).not.toContain('4155550123');

    // A stop is the person's: the tenant cannot lift it.
    const lift = await req('DELETE', `/v1/suppressions/sms/${encodeURIComponent('+14155550123')}`, plain.apiKey);
    expect(lift.status).toBe(409);
    expect(lift.type).toContain('application/problem+json');

    // START lifts it; the STOP again under the same MessageSid (Twilio retrying) changes nothing.
    expect((await inbound({ From: '+14155550123', To: PLATFORM_FROM, Body: 'start' })).status).toBe(200);
    expect((await list(plain)).data).toEqual([]);
    expect((await inbound({ From: '+14155550123', To: PLATFORM_FROM, Body: 'STOP', MessageSid: `SM${'1'.repeat(32)}` })).status).toBe(200);
    expect((await list(plain)).data).toEqual([]);

    // WhatsApp's number: the same for WhatsApp's sender.
    expect((await inbound({ From: 'whatsapp:+14155550124', To: `whatsapp:${PLATFORM_WHATSAPP}`, Body: 'UNSUBSCRIBE' })).status).toBe(200);
    expect((await list(plain)).data.map((s: any) => [s.channel, s.address]).sort()).toEqual([
      ['sms', '+14155550124'],
      ['whatsapp', '+14155550124'],
    ]);
    expect((await list(own)).data.map((s: any) => s.channel).sort()).toEqual(['sms', 'whatsapp']); // no whatsapp integration: the platform sends its WhatsApp
  });

  it('STOP to a tenant integration’s number is believed only under that integration’s auth token, for that tenant', async () => {
    const own = await tenant('own-number');
    expect(
      (
        await req('PUT', '/v1/integrations/sms', own.apiKey, {
          channel: 'sms',
          provider: 'twilio',
          credentials: { accountSid: `AC${'cd'.repeat(16)}`, authToken: `${OWN_TOKEN}-2`, from: '+15005550998' },
        })
      ).status,
    ).toBe(200);
    const bystander = await tenant('bystander');
    // Signed with the platform's token: not the account that owns this number.
    const wrongAccount = await inbound({ From: '+14155550125', To: '+15005550998', Body: 'STOP' }, PLATFORM_TOKEN);
    expect(wrongAccount.status).toBe(200);
    expect((await list(own)).data).toEqual([]);
    const right = await inbound({ From: '+14155550125', To: '+15005550998', Body: 'STOP' }, `${OWN_TOKEN}-2`);
    expect(right.status).toBe(200);
    expect((await list(own)).data.map((s: any) => [s.channel, s.reason]).sort()).toEqual([
      ['sms', 'stop'],
      ['whatsapp', 'stop'],
    ]);
    expect((await list(bystander)).data).toEqual([]);
    // A tenant's own token does not speak for the platform's number.
    const forgedByTenant = await inbound({ From: '+14155550126', To: PLATFORM_FROM, Body: 'STOP' }, `${OWN_TOKEN}-2`);
    expect(forgedByTenant.status).toBe(401);
    expect((await list(bystander)).data).toEqual([]);
  });

  it('a forged, missing or malformed inbound webhook changes nothing', async () => {
    const t = await tenant('forged');
    const before = await db.db.select().from(suppressions);
    const forged = await inbound({ From: '+14155550130', To: PLATFORM_FROM, Body: 'STOP' }, 'not-the-token');
    expect(forged.status).toBe(401);
    expect(forged.type).toContain('application/problem+json');
    const missing = await app.request('/v1/receipts/twilio/inbound', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ From: '+14155550130', To: PLATFORM_FROM, Body: 'STOP', MessageSid: 'SM1' }).toString(),
    });
    expect(missing.status).toBe(401);
    // Signed, but not an inbound message: 400, never 5xx.
    const malformed = await inbound({ From: 'nobody', To: PLATFORM_FROM, Body: 'STOP' });
    expect(malformed.status).toBe(400);
    expect(await db.db.select().from(suppressions)).toEqual(before);
    expect((await list(t)).data).toEqual([]);
  });
});
