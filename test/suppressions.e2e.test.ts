// Suppressions end to end, as `npm start` runs them (dev server, worker and API on free ports)
// with the Twilio and Resend fakes: a person's STOP texted to the platform's number, START and
// HELP, a tenant's manual suppression, Twilio's 21610 on a send and Resend's bounce and complaint
// webhooks, each followed by what the next notification does. Webhooks are signed with the
// providers' own libraries (twilio's helper, standardwebhooks for Svix).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../worker/dev-server.js';
import type { Running } from '../runtime/index.js';
import { resendEmailEvent, svixHeaders, twilioSignature } from './fakes/receipts.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import { startFakeTwilio, twilioError, type FakeTwilio } from './fakes/twilio.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const RESEND_API_KEY = 're_test_0123456789';
const RESEND_WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const TWILIO_ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const TWILIO_AUTH_TOKEN = randomBytes(16).toString('hex');
const TWILIO_FROM = '+15005550006';

describe('suppressions end to end: STOP, START, HELP, manual, 21610, bounces', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-suppressions-e2e-'));
  let running: Running | undefined;
  let resend: FakeResend;
  let twilio: FakeTwilio;
  let publicBaseUrl: string;
  let tenant: { id: string; apiKey: string };
  let sid = 0;

  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, tenant.apiKey, body);
  const listed = async (channel?: string) => (await api('GET', `/v1/suppressions${channel ? `?channel=${channel}` : ''}`)).body.data as any[];

  /** Sends a notification to `recipient` and waits until the workflow has finished it. */
  async function notify(recipient: string, channels: string[]) {
    const sent = await api('POST', '/v1/notifications', { recipient, template: 'hello', data: {}, channels });
    expect(sent.status).toBe(202);
    return until(
      () => api('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'partially_sent', 'failed', 'suppressed'].includes(r.body.status),
    ).then((r) => r.body);
  }
  const byChannel = (n: { deliveries: any[] }) => Object.fromEntries(n.deliveries.map((d) => [d.channel, d]));
  const smsTo = (phone: string) => twilio.messages.filter((m) => m.to === phone);

  /** Twilio's inbound message webhook to the running API, signed with `token` over the URL it was given. */
  async function inbound(from: string, body: string, token = TWILIO_AUTH_TOKEN) {
    const params = {
      AccountSid: TWILIO_ACCOUNT_SID,
      ApiVersion: '2010-04-01',
      MessageSid: `SM${(++sid).toString(16).padStart(32, '0')}`,
      SmsMessageSid: `SM${sid.toString(16).padStart(32, '0')}`,
      From: from,
      To: TWILIO_FROM,
      Body: body,
      NumMedia: '0',
    };
    const res = await fetch(`${running!.apiUrl}/v1/receipts/twilio/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(token, `${publicBaseUrl}/v1/receipts/twilio/inbound`, params) },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  async function resendWebhook(type: string, emailId: string, to: string, extra: Record<string, unknown> = {}) {
    const body = resendEmailEvent(type, emailId, new Date(), { to: [to], ...extra });
    const res = await fetch(`${running!.apiUrl}/v1/receipts/resend`, {
      method: 'POST',
      headers: svixHeaders(RESEND_WEBHOOK_SECRET, `msg_${randomUUID()}`, Math.floor(Date.now() / 1000), body),
      body,
    });
    return { status: res.status, body: await res.json() };
  }

  beforeAll(async () => {
    quietTemporalLogs();
    [resend, twilio] = await Promise.all([startFakeResend(), startFakeTwilio()]);
    const port = await freePort();
    publicBaseUrl = `http://127.0.0.1:${port}`;
    running = await startTestStack(dataDir, {
      PORT: String(port),
      TEMPORAL_TASK_QUEUE: 'suppressions-e2e',
      EMAIL_FROM: 'Acme <notifications@acme.example>',
      RESEND_API_KEY,
      RESEND_BASE_URL: resend.url,
      RESEND_WEBHOOK_SECRET,
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM,
      TWILIO_API_BASE_URL: twilio.url,
      PUBLIC_BASE_URL: publicBaseUrl,
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
    });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    tenant = created.body;
    const template = await api('POST', '/v1/templates', {
      key: 'hello',
      content: { en: { email: { subject: 'Hello', text: 'Hello there.' }, sms: { text: 'Hello there.' } } },
    });
    expect(template.status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([resend, twilio].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('STOP skips the next SMS (suppressed, never sent); the tenant cannot lift it; START does; HELP answers TwiML; a forged STOP changes nothing', async () => {
    const phone = '+14155550101';
    expect((await api('PUT', '/v1/recipients/stopper', { phone })).status).toBe(200);
    expect((await notify('stopper', ['sms'])).status).toBe('sent');
    expect(smsTo(phone)).toHaveLength(1);

    // A forged STOP: 401, nothing suppressed, the next SMS goes.
    const forged = await inbound(phone, 'STOP', 'not-the-auth-token');
    expect(forged.status).toBe(401);
    expect(forged.type).toContain('application/problem+json');
    expect((await listed()).filter((s) => s.address === phone)).toEqual([]);

    const stop = await inbound(phone, ' stop ');
    expect(stop.status).toBe(200);
    expect(stop.type).toMatch(/^text\/xml/);
    expect((await listed('sms')).map((s) => [s.address, s.reason])).toEqual([[phone, 'stop']]);
    const skipped = await notify('stopper', ['sms']);
    expect(skipped.status).toBe('suppressed');
    expect(byChannel(skipped).sms).toMatchObject({ status: 'skipped', error: { code: 'suppressed' } });
    expect(smsTo(phone)).toHaveLength(1);

    const lift = await api('DELETE', `/v1/suppressions/sms/${encodeURIComponent(phone)}`);
    expect(lift.status).toBe(409);
    expect(lift.body).toMatchObject({ status: 409, title: 'Conflict' });

    const help = await inbound(phone, 'HELP');
    expect(help.status).toBe(200);
    expect(help.type).toMatch(/^text\/xml/);
    expect(help.text).toMatch(/<Response><Message>.*STOP.*<\/Message><\/Response>$/);

    expect((await inbound(phone, 'START')).status).toBe(200);
    expect((await listed()).filter((s) => s.address === phone)).toEqual([]);
    expect((await notify('stopper', ['sms'])).status).toBe('sent');
    expect(smsTo(phone)).toHaveLength(2);
  });

  it('a manual suppression of an email skips the next email, its other channels still send; DELETE lifts it', async () => {
    const phone = '+14155550102';
    expect((await api('PUT', '/v1/recipients/manual', { email: 'bea@example.com', phone })).status).toBe(200);
    expect((await api('POST', '/v1/suppressions', { channel: 'email', address: 'Bea@Example.com' })).status).toBe(201);
    const emailsBefore = resend.emails.size;

    const n = await notify('manual', ['email', 'sms']);
    expect(n.status).toBe('sent');
    expect(byChannel(n).email).toMatchObject({ status: 'skipped', error: { code: 'suppressed' } });
    expect(byChannel(n).sms).toMatchObject({ status: 'sent' });
    expect(resend.emails.size).toBe(emailsBefore);

    expect((await api('DELETE', '/v1/suppressions/email/bea@example.com')).status).toBe(204);
    const after = await notify('manual', ['email']);
    expect(after.status).toBe('sent');
    expect(resend.emails.size).toBe(emailsBefore + 1);
  });

  it('a broadcast’s batched emails skip a suppressed address too', async () => {
    expect((await api('PUT', '/v1/recipients/bc-ok', { email: 'bc-ok@example.com' })).status).toBe(200);
    expect((await api('PUT', '/v1/recipients/bc-off', { email: 'bc-off@example.com' })).status).toBe(200);
    expect((await api('POST', '/v1/suppressions', { channel: 'email', address: 'bc-off@example.com' })).status).toBe(201);
    const accepted = await api('POST', '/v1/broadcasts', { recipients: ['bc-ok', 'bc-off'], template: 'hello', channels: ['email'] });
    expect(accepted.status).toBe(202);
    await until(() => api('GET', `/v1/broadcasts/${accepted.body.id}`), (r) => r.body.status === 'completed');
    const of = async (rid: string) => (await api('GET', `/v1/notifications?recipient=${rid}`)).body.data[0];
    expect(byChannel(await of('bc-ok')).email).toMatchObject({ status: 'sent' });
    const off = await of('bc-off');
    expect(off.status).toBe('suppressed');
    expect(byChannel(off).email).toMatchObject({ status: 'skipped', error: { code: 'suppressed' } });
    const batched = resend.requests.filter((r) => r.path === '/emails/batch').flatMap((r) => r.body as any[]);
    expect(batched.map((e) => e.to)).toContain('bc-ok@example.com');
    expect(JSON.stringify(resend.requests.map((r) => r.body))).not.toContain('bc-off@example.com');
  });

  it('Twilio 21610 on a send records a stop: that delivery fails, the next is skipped', async () => {
    const phone = '+14155550103';
    expect((await api('PUT', '/v1/recipients/opted-out', { phone })).status).toBe(200);
    twilio.enqueue({ status: 400, body: twilioError(400, 21610, 'Attempt to send to unsubscribed recipient') });
    const n = await notify('opted-out', ['sms']);
    expect(n.status).toBe('failed');
    expect(byChannel(n).sms).toMatchObject({ status: 'failed', error: { code: 'invalid_address' } });
    expect((await listed()).filter((s) => s.address === phone).map((s) => [s.channel, s.reason]).sort()).toEqual([
      ['sms', 'stop'],
      ['whatsapp', 'stop'],
    ]);
    const requestsBefore = twilio.requests.length;
    const next = await notify('opted-out', ['sms']);
    expect(byChannel(next).sms).toMatchObject({ status: 'skipped', error: { code: 'suppressed' } });
    expect(twilio.requests.length).toBe(requestsBefore);
  });

  it('Resend’s hard bounce and complaint webhooks record hard_bounce and complaint; a transient bounce does not', async () => {
    expect((await api('PUT', '/v1/recipients/bouncer', { email: 'gone@example.com' })).status).toBe(200);
    expect((await api('PUT', '/v1/recipients/complainer', { email: 'angry@example.com' })).status).toBe(200);
    expect((await api('PUT', '/v1/recipients/soft', { email: 'full@example.com' })).status).toBe(200);
    const [bounced, complained, soft] = await Promise.all([notify('bouncer', ['email']), notify('complainer', ['email']), notify('soft', ['email'])]);

    const hard = await resendWebhook('email.bounced', byChannel(bounced).email.providerMessageId, 'gone@example.com', {
      bounce: { type: 'Permanent', subType: 'General', message: 'The recipient’s mail server permanently rejected the email.' },
    });
    expect(hard).toEqual({ status: 200, body: { outcome: 'applied' } });
    expect((await resendWebhook('email.complained', byChannel(complained).email.providerMessageId, 'angry@example.com')).status).toBe(200);
    expect((await resendWebhook('email.bounced', byChannel(soft).email.providerMessageId, 'full@example.com', { bounce: { type: 'Transient', subType: 'MailboxFull' } })).status).toBe(200);

    const mine = ['gone@example.com', 'angry@example.com', 'full@example.com'];
    const email = (await listed('email')).filter((s) => mine.includes(s.address));
    expect(email.map((s) => [s.address, s.reason]).sort()).toEqual([
      ['angry@example.com', 'complaint'],
      ['gone@example.com', 'hard_bounce'],
    ]);
    const next = await notify('bouncer', ['email']);
    expect(byChannel(next).email).toMatchObject({ status: 'skipped', error: { code: 'suppressed' } });
    // Lifted by the tenant (it is not a stop), the address can be sent to again.
    expect((await api('DELETE', '/v1/suppressions/email/gone@example.com')).status).toBe(204);
    expect((await notify('bouncer', ['email'])).status).toBe('sent');
  });
});
