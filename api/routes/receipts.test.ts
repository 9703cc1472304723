// Delivery receipts through app.request(): Twilio status callbacks and Resend (Svix) webhooks,
// signed here with the providers' libraries (twilio, standardwebhooks) as the providers sign.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import type { Database } from '../../db/client.js';
import * as s from '../../db/schema.js';
import { CHANNELS } from '../../domain/types.js';
import { resendEmailEvent, svixSignature, twilioSignature, twilioStatusCallback } from '../../test/fakes/receipts.js';
import { openTestDatabase, testDatabaseKinds } from '../../test/support.js';
import { apiConnectionOptions } from '../temporal.js';
import { createApp } from '../app.js';

const PUBLIC_BASE_URL = 'https://tocsin.example.com';
const TWILIO_TOKEN = 'twilio-auth-token-0123456789abcdef';
const RESEND_KEY = randomBytes(24);
const RESEND_SECRET = `whsec_${RESEND_KEY.toString('base64')}`;
const NOW = Date.parse('2025-06-02T12:00:00Z');
// Resend's verifier judges a webhook's timestamp by the real clock, so webhooks are signed now.
const nowSeconds = () => Math.floor(Date.now() / 1000);

const sign = (url: string, params: Record<string, string>, token = TWILIO_TOKEN) => twilioSignature(token, url, params);
const svix = (id: string, timestamp: number, body: string, key: Buffer = RESEND_KEY) => svixSignature(key, id, timestamp, body);

describe.each(testDatabaseKinds)('delivery receipts on %s', (kind) => {
  let db: Database;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let seq = 0;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    // Receipts never reach Temporal: a lazy connection to nowhere would fail loudly if they did.
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(
      {
        db: db.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: 'admin',
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as Record<(typeof CHANNELS)[number], 'configured'>,
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        secrets: { twilioAuthToken: TWILIO_TOKEN, resendWebhookSecret: RESEND_SECRET, publicBaseUrl: PUBLIC_BASE_URL },
        now: () => NOW,
      },
      { log: () => {} },
    );
    await db.db.insert(s.tenants).values({ id: 'ten_receipts', name: 'Acme', webhookSecret: 'w' });
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  /** A notification with one delivery, recorded sent with the provider's message id the way the workflow records it. */
  async function sentDelivery(channel: 'email' | 'sms', provider: 'resend' | 'twilio', messageId: string) {
    const id = `ntf_receipts_${kind}_${++seq}`;
    await db.db.insert(s.notifications).values({
      id,
      tenantId: 'ten_receipts',
      recipientId: 'user-42',
      templateKey: 't',
      templateVersion: 1,
      priority: 'normal',
      strategy: 'all',
      channels: [channel],
      data: {},
      status: 'sending',
      workflowId: `notification:ten_receipts:${id}`,
    });
    await db.db.insert(s.deliveries).values({ id: `${id}.${channel}`, notificationId: id, position: 0, channel, status: 'sending' });
    const recordSent = () =>
      createActivities({ db: db.db, senders: {} }).recordStatus({
        tenantId: 'ten_receipts',
        notificationId: id,
        status: 'sent',
        deliveries: [{ channel, status: 'sent', provider, providerMessageId: messageId, error: null }],
      });
    await recordSent();
    return { deliveryId: `${id}.${channel}`, recordSent };
  }

  async function delivery(id: string) {
    const [row] = await db.db.select().from(s.deliveries).where(eq(s.deliveries.id, id));
    return row;
  }
  async function receiptsFor(deliveryId: string) {
    return db.db.select().from(s.receipts).where(eq(s.receipts.deliveryId, deliveryId));
  }
  /** Every response a 401 problem, and the delivery still only sent, with no receipt recorded. */
  async function expectRefused(responses: { status: number; contentType: string | null; body: unknown }[], deliveryId: string) {
    for (const res of responses) {
      expect(res.status).toBe(401);
      expect(res.contentType).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
    }
    expect((await delivery(deliveryId)).status).toBe('sent');
    expect(await receiptsFor(deliveryId)).toEqual([]);
  }

  describe('Twilio status callbacks', () => {
    const sid = () => `SM${randomBytes(16).toString('hex')}`;

    async function callback(params: Record<string, string>, opts: { signature?: string | null; query?: string } = {}) {
      const query = opts.query ?? '';
      const signature = opts.signature === undefined ? sign(`${PUBLIC_BASE_URL}/v1/receipts/twilio${query}`, params) : opts.signature;
      // The API listens on its own address; Twilio signed the public URL.
      const res = await app.request(`http://127.0.0.1:3000/v1/receipts/twilio${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature !== null ? { 'x-twilio-signature': signature } : {}) },
        body: new URLSearchParams(params).toString(),
      });
      const text = await res.text();
      return { status: res.status, contentType: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
    }
    const status = twilioStatusCallback;

    it('moves a sent SMS to delivered on a valid delivered callback, without tenant credentials', async () => {
      const messageSid = sid();
      const { deliveryId } = await sentDelivery('sms', 'twilio', messageSid);
      const res = await callback(status(messageSid, 'delivered'));
      expect(res).toMatchObject({ status: 200, body: { outcome: 'applied' } });
      const d = await delivery(deliveryId);
      expect(d.status).toBe('delivered');
      expect(d.deliveredAt).toBeInstanceOf(Date);
      expect(d.sentAt).toBeInstanceOf(Date);
      expect((await receiptsFor(deliveryId)).map((r) => [r.id, r.status])).toEqual([[`twilio:${messageSid}:delivered`, 'delivered']]);
    });

    it('signs the configured URL with its query string', async () => {
      const messageSid = sid();
      const { deliveryId } = await sentDelivery('sms', 'twilio', messageSid);
      const res = await callback(status(messageSid, 'delivered'), { query: '?region=us1&x=a%20b' });
      expect(res.body.outcome).toBe('applied');
      expect((await delivery(deliveryId)).status).toBe('delivered');
    });

    it('refuses forged callbacks with 401 and changes nothing', async () => {
      const messageSid = sid();
      const { deliveryId } = await sentDelivery('sms', 'twilio', messageSid);
      const params = status(messageSid, 'undelivered', { ErrorCode: '30003' });
      const forged = [
        await callback(params, { signature: null }),
        await callback(params, { signature: 'bm90IGEgc2lnbmF0dXJl' }),
        await callback(params, { signature: sign(`${PUBLIC_BASE_URL}/v1/receipts/twilio`, params, 'another-account-token') }),
        // Signed for another URL (Twilio signs exactly what it was configured with).
        await callback(params, { signature: sign('https://attacker.example.com/v1/receipts/twilio', params) }),
        // A valid signature of other params: the body was tampered with.
        await callback(params, { signature: sign(`${PUBLIC_BASE_URL}/v1/receipts/twilio`, status(messageSid, 'delivered')) }),
      ];
      await expectRefused(forged, deliveryId);
    });

    it('marks undelivered and failed as failed with Twilio’s error code', async () => {
      const a = sid();
      const b = sid();
      const first = await sentDelivery('sms', 'twilio', a);
      const second = await sentDelivery('sms', 'twilio', b);
      expect((await callback(status(a, 'undelivered', { ErrorCode: '30003' }))).body.outcome).toBe('applied');
      expect((await callback(status(b, 'failed', { ErrorCode: '30008' }))).body.outcome).toBe('applied');
      const da = await delivery(first.deliveryId);
      expect(da).toMatchObject({ status: 'failed', errorCode: '30003', deliveredAt: null });
      expect(da.errorMessage).toMatch(/undelivered.*30003/);
      expect(await delivery(second.deliveryId)).toMatchObject({ status: 'failed', errorCode: '30008' });
    });

    it('leaves the delivery alone for queued, sending and sent', async () => {
      const messageSid = sid();
      const { deliveryId } = await sentDelivery('sms', 'twilio', messageSid);
      for (const st of ['queued', 'sending', 'sent']) expect((await callback(status(messageSid, st))).body.outcome).toBe('unchanged');
      expect((await delivery(deliveryId)).status).toBe('sent');
    });

    it('applies a duplicate (or replayed) callback once', async () => {
      const messageSid = sid();
      const { deliveryId } = await sentDelivery('sms', 'twilio', messageSid);
      expect((await callback(status(messageSid, 'delivered'))).body.outcome).toBe('applied');
      const deliveredAt = (await delivery(deliveryId)).deliveredAt;
      const again = await callback(status(messageSid, 'delivered'));
      expect(again).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
      expect((await delivery(deliveryId)).deliveredAt).toEqual(deliveredAt);
      expect(await receiptsFor(deliveryId)).toHaveLength(1);
    });

    it('never moves a delivery backwards when callbacks arrive out of order', async () => {
      const messageSid = sid();
      const { deliveryId, recordSent } = await sentDelivery('sms', 'twilio', messageSid);
      expect((await callback(status(messageSid, 'delivered'))).body.outcome).toBe('applied');
      // Late ones: sent after delivered, and a contradictory undelivered.
      expect((await callback(status(messageSid, 'sent'))).body.outcome).toBe('unchanged');
      expect((await callback(status(messageSid, 'undelivered', { ErrorCode: '30003' }))).body.outcome).toBe('unchanged');
      // The workflow's own record of the send (a retried recordStatus) does not undo it either.
      await recordSent();
      expect(await delivery(deliveryId)).toMatchObject({ status: 'delivered', errorCode: null });
      expect(await receiptsFor(deliveryId)).toHaveLength(3);
    });

    it('answers 200 for a valid callback about a message it does not know, and keeps the receipt', async () => {
      const messageSid = sid();
      const res = await callback(status(messageSid, 'delivered'));
      expect(res).toMatchObject({ status: 200, body: { outcome: 'unmatched' } });
      const [row] = await db.db.select().from(s.receipts).where(eq(s.receipts.id, `twilio:${messageSid}:delivered`));
      expect(row).toMatchObject({ deliveryId: null, status: 'delivered' });
    });

    it('answers 400 for a validly signed request that is not a status callback', async () => {
      const res = await callback({ AccountSid: 'AC0123456789abcdef0123456789abcdef', Body: 'hello' });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['MessageSid', 'MessageStatus']);
    });
  });

  describe('Resend webhooks (Svix)', () => {
    const emailId = () => crypto.randomUUID();
    const msgId = () => `msg_${randomBytes(12).toString('hex')}`;

    const event = (type: string, emailId: string, extra: Record<string, unknown> = {}) => resendEmailEvent(type, emailId, new Date(NOW), extra);

    async function webhook(body: string, opts: { id?: string; timestamp?: number; signature?: string | null; prefix?: 'svix' | 'webhook' } = {}) {
      const id = opts.id ?? msgId();
      const timestamp = opts.timestamp ?? nowSeconds();
      const signature = opts.signature === undefined ? svix(id, timestamp, body) : opts.signature;
      const prefix = opts.prefix ?? 'svix';
      const headers: Record<string, string> = { 'content-type': 'application/json', [`${prefix}-id`]: id, [`${prefix}-timestamp`]: String(timestamp) };
      if (signature !== null) headers[`${prefix}-signature`] = signature;
      const res = await app.request('/v1/receipts/resend', { method: 'POST', headers, body });
      const text = await res.text();
      return { status: res.status, contentType: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
    }

    it('moves a sent email to delivered on email.delivered', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      const svixId = msgId();
      expect(await webhook(event('email.delivered', id), { id: svixId })).toMatchObject({ status: 200, body: { outcome: 'applied' } });
      const d = await delivery(deliveryId);
      expect(d.status).toBe('delivered');
      expect(d.deliveredAt).toBeInstanceOf(Date);
      expect((await receiptsFor(deliveryId)).map((r) => [r.id, r.status])).toEqual([[`resend:${svixId}`, 'email.delivered']]);
    });

    it('accepts the Standard Webhooks header names (webhook-id, -timestamp, -signature) too', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      expect(await webhook(event('email.delivered', id), { prefix: 'webhook' })).toMatchObject({ status: 200, body: { outcome: 'applied' } });
      expect((await delivery(deliveryId)).status).toBe('delivered');
    });

    it('accepts any valid signature among several (secret rotation)', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      const body = event('email.delivered', id);
      const svixId = msgId();
      const ts = nowSeconds();
      const good = svix(svixId, ts, body);
      const old = svix(svixId, ts, body, randomBytes(24));
      expect((await webhook(body, { id: svixId, timestamp: ts, signature: `${old} v1a,ignored ${good}` })).body.outcome).toBe('applied');
      expect((await delivery(deliveryId)).status).toBe('delivered');
    });

    it('refuses forged webhooks with 401 and changes nothing', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      const body = event('email.bounced', id, { bounce: { message: 'no such user', type: 'Permanent', subType: 'General' } });
      const svixId = msgId();
      const timestamp = nowSeconds();
      const forged = [
        await webhook(body, { id: svixId, timestamp, signature: null }),
        await webhook(body, { id: svixId, timestamp, signature: 'v1,bm90IGEgc2lnbmF0dXJl' }),
        await webhook(body, { id: svixId, timestamp, signature: svix(svixId, timestamp, body, randomBytes(24)) }),
        // Signed for another body, another id, another time, or with the wrong scheme.
        await webhook(body, { id: svixId, timestamp, signature: svix(svixId, timestamp, event('email.delivered', id)) }),
        await webhook(body, { id: svixId, timestamp, signature: svix('msg_other', timestamp, body) }),
        await webhook(body, { id: svixId, timestamp, signature: svix(svixId, timestamp - 1, body) }),
        await webhook(body, { id: svixId, timestamp, signature: svix(svixId, timestamp, body).replace('v1,', 'v2,') }),
        // No id or no timestamp at all.
        await webhook(body, { id: '', timestamp, signature: svix('', timestamp, body) }),
      ];
      await expectRefused(forged, deliveryId);
    });

    it('refuses replays: a validly signed webhook more than five minutes old or ahead', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      const body = event('email.delivered', id);
      expect((await webhook(body, { timestamp: nowSeconds() - 6 * 60 })).status).toBe(401);
      expect((await webhook(body, { timestamp: nowSeconds() + 6 * 60 })).status).toBe(401);
      expect((await delivery(deliveryId)).status).toBe('sent');
      // Within the tolerance it is accepted.
      expect((await webhook(body, { timestamp: nowSeconds() - 4 * 60 })).body.outcome).toBe('applied');
    });

    it('applies a duplicate delivery (Svix retry: same id, new timestamp) once', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      const body = event('email.delivered', id);
      const svixId = msgId();
      expect((await webhook(body, { id: svixId, timestamp: nowSeconds() - 60 })).body.outcome).toBe('applied');
      expect(await webhook(body, { id: svixId })).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
      expect(await receiptsFor(deliveryId)).toHaveLength(1);
    });

    it('bounces: email.bounced wins over delivered, and a late delivered never undoes a bounce', async () => {
      const a = emailId();
      const b = emailId();
      const first = await sentDelivery('email', 'resend', a);
      const second = await sentDelivery('email', 'resend', b);
      const bounce = { bounce: { message: "550 5.1.1 The email account that you tried to reach doesn't exist", type: 'Permanent', subType: 'General' } };

      // Delivered, then an asynchronous bounce.
      expect((await webhook(event('email.delivered', a))).body.outcome).toBe('applied');
      expect((await webhook(event('email.bounced', a, bounce))).body.outcome).toBe('applied');
      expect(await delivery(first.deliveryId)).toMatchObject({ status: 'bounced', errorCode: 'bounced', errorMessage: bounce.bounce.message });

      // Out of order: the bounce first, a late delivered after it, then the workflow's own record.
      expect((await webhook(event('email.bounced', b, bounce))).body.outcome).toBe('applied');
      expect((await webhook(event('email.delivered', b))).body.outcome).toBe('unchanged');
      await second.recordSent();
      expect(await delivery(second.deliveryId)).toMatchObject({ status: 'bounced', deliveredAt: null });
    });

    it('a delivered receipt survives the workflow recording the send again', async () => {
      const id = emailId();
      const { deliveryId, recordSent } = await sentDelivery('email', 'resend', id);
      expect((await webhook(event('email.delivered', id))).body.outcome).toBe('applied');
      await recordSent();
      expect((await delivery(deliveryId)).status).toBe('delivered');
    });

    it('keeps a complained email delivered, noting the complaint; delivery_delayed changes nothing', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('email', 'resend', id);
      expect((await webhook(event('email.delivery_delayed', id))).body.outcome).toBe('unchanged');
      expect((await delivery(deliveryId)).status).toBe('sent');
      expect((await webhook(event('email.delivered', id))).body.outcome).toBe('applied');
      expect((await webhook(event('email.complained', id))).body.outcome).toBe('unchanged');
      expect((await delivery(deliveryId)).status).toBe('delivered');
      expect((await receiptsFor(deliveryId)).map((r) => r.status).sort()).toEqual(['email.complained', 'email.delivered', 'email.delivery_delayed']);
    });

    it('answers 200 for an email it does not know and for events that are not about emails', async () => {
      expect(await webhook(event('email.delivered', emailId()))).toMatchObject({ status: 200, body: { outcome: 'unmatched' } });
      const contact = JSON.stringify({ type: 'contact.created', created_at: new Date(NOW).toISOString(), data: { id: 'c1', email: 'a@example.com' } });
      expect(await webhook(contact)).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
    });

    it('does not match an email by another provider’s message id', async () => {
      const id = emailId();
      const { deliveryId } = await sentDelivery('sms', 'twilio', id);
      expect((await webhook(event('email.delivered', id))).body.outcome).toBe('unmatched');
      expect((await delivery(deliveryId)).status).toBe('sent');
    });

    it('answers 400 for a validly signed body that is not an email event', async () => {
      expect((await webhook('not json')).status).toBe(400);
      expect((await webhook(JSON.stringify({ type: 'email.delivered', data: {} }))).status).toBe(400);
    });
  });
});

describe('receipts without their secrets configured', () => {
  it('refuses every receipt with 401', async () => {
    const db = await openTestDatabase();
    const connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    try {
      const app = createApp(
        {
          db: db.db,
          temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
          adminToken: 'admin',
          channels: Object.fromEntries(CHANNELS.map((c) => [c, 'unconfigured'])) as Record<(typeof CHANNELS)[number], 'unconfigured'>,
          retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        },
        { log: () => {} },
      );
      const params = { MessageSid: 'SM0', MessageStatus: 'delivered' };
      const twilio = await app.request('/v1/receipts/twilio', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign('http://localhost/v1/receipts/twilio', params, '') },
        body: new URLSearchParams(params).toString(),
      });
      expect(twilio.status).toBe(401);
      const body = JSON.stringify({ type: 'email.delivered', data: { email_id: 'e' } });
      const resend = await app.request('/v1/receipts/resend', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'svix-id': 'msg_1', 'svix-timestamp': String(Math.floor(Date.now() / 1000)), 'svix-signature': svix('msg_1', Math.floor(Date.now() / 1000), body, randomBytes(24)) },
        body,
      });
      expect(resend.status).toBe(401);
    } finally {
      await connection.close().catch(() => {});
      await db.close();
    }
  });
});
