// Every channel end to end, as `npm start` runs them: the Temporal dev server, the database, the
// worker and the API on free ports, with each provider's settings pointed at its fake in
// test/fakes, driven over real HTTP. Receipts are posted, signed, to the running API.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../worker/dev-server.js';
import type { Running } from '../runtime/index.js';
import { startFakePagerDuty, type FakePagerDuty } from './fakes/pagerduty.js';
import { resendEmailEvent, svixHeaders, twilioSignature, twilioStatusCallback } from './fakes/receipts.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import type { FakeServer } from './fakes/server.js';
import { startFakeSlack } from './fakes/slack.js';
import { startFakeTwilio, twilioError } from './fakes/twilio.js';
import { startFakeWebhook, verifyWebhook } from './fakes/webhook.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const RESEND_API_KEY = 're_test_0123456789';
const RESEND_WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const TWILIO_ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const TWILIO_AUTH_TOKEN = randomBytes(16).toString('hex');
const TWILIO_FROM = '+15005550006';
const SLACK_BOT_TOKEN = 'xoxb-test-0123456789';
const EMAIL_FROM = 'Acme <notifications@acme.example>';

const RECIPIENT = {
  name: 'Ann',
  email: 'ann@example.com',
  phone: '+14155550123',
  slack: 'C0123456789',
  pagerRoutingKey: 'R0UTINGKEY0000000000000000000001',
};


describe('every channel end to end against the providers’ fakes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-channels-e2e-'));
  let running: Running | undefined;
  let resend: FakeResend;
  let twilio: FakeServer;
  let slack: FakeServer;
  let pagerduty: FakePagerDuty;
  let hook: FakeServer;
  let publicBaseUrl: string;
  let tenant: { id: string; apiKey: string; webhookSecret: string };

  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, tenant.apiKey, body);

  /** Sends a notification and waits until the workflow has finished it. */
  async function notify(channels: string[]) {
    const sent = await api('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 } }, channels });
    expect(sent.status).toBe(202);
    return until(
      () => api('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status),
    ).then((r) => r.body);
  }
  const byChannel = (n: { deliveries: any[] }) => Object.fromEntries(n.deliveries.map((d) => [d.channel, d]));

  beforeAll(async () => {
    quietTemporalLogs();
    [resend, twilio, slack, pagerduty, hook] = await Promise.all([startFakeResend(), startFakeTwilio(), startFakeSlack(), startFakePagerDuty(), startFakeWebhook()]);
    // Twilio signs the status callback URL it was given: PUBLIC_BASE_URL must be the API's own.
    const port = await freePort();
    publicBaseUrl = `http://127.0.0.1:${port}`;
    running = await startTestStack(dataDir, {
      PORT: String(port),
      TEMPORAL_TASK_QUEUE: 'channels-e2e',
      EMAIL_FROM,
      RESEND_API_KEY,
      RESEND_BASE_URL: resend.url,
      RESEND_WEBHOOK_SECRET,
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM,
      TWILIO_API_BASE_URL: twilio.url,
      SLACK_BOT_TOKEN,
      SLACK_API_URL: `${slack.url}/api/`,
      PAGERDUTY_EVENTS_URL: pagerduty.eventsUrl,
      PUBLIC_BASE_URL: publicBaseUrl,
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
    });
    expect(running.apiUrl).toBe(publicBaseUrl);

    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    tenant = created.body;
    expect((await api('PUT', '/v1/recipients/user-42', { ...RECIPIENT, webhookUrl: `${hook.url}/hooks` })).status).toBe(200);
    const template = await api('POST', '/v1/templates', {
      key: 'order-shipped',
      content: {
        en: {
          email: { subject: 'Order {{ order.id }} shipped', html: '<p>Order <b>{{ order.id }}</b> is on its way.</p>', text: 'Order {{ order.id }} is on its way.' },
          sms: { text: 'Order {{ order.id }} shipped' },
          slack: { text: 'Order *{{ order.id }}* shipped' },
          webhook: { event: 'order.shipped', order: '{{ order.id }}' },
          inapp: { title: 'Order {{ order.id }} shipped', body: 'It is on its way.' },
          pager: { summary: 'Order {{ order.id }} shipped' },
        },
      },
    });
    expect(template.status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([resend, twilio, slack, pagerduty, hook].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('/readyz lists every channel given its settings as configured, the others unconfigured', async () => {
    const ready = await request('GET', '/readyz', null);
    expect(ready.status).toBe(200);
    expect(ready.body.channels).toEqual({
      email: 'configured',
      sms: 'configured',
      slack: 'configured',
      webhook: 'configured',
      inapp: 'configured',
      pager: 'configured',
      // Their settings are not given here (test/channels-more.e2e.test.ts gives them).
      whatsapp: 'unconfigured',
      telegram: 'unconfigured',
      push: 'unconfigured',
    });
  });

  it('sends one notification on all six channels, each provider receiving exactly its request', async () => {
    const n = await notify(['email', 'sms', 'slack', 'webhook', 'inapp', 'pager']);
    expect(n.status).toBe('sent');
    const d = byChannel(n);
    for (const ch of ['email', 'sms', 'slack', 'webhook', 'inapp', 'pager']) {
      expect(d[ch]).toMatchObject({ status: 'sent', attempts: 1, error: null });
      expect(d[ch].sentAt).toEqual(expect.any(String));
    }

    // Email: Resend's emails.send, keyed by the delivery id.
    const emails = resend.requests.filter((r) => r.headers['idempotency-key'] === `${n.id}.email`);
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({ method: 'POST', path: '/emails', headers: { authorization: `Bearer ${RESEND_API_KEY}` } });
    expect(emails[0].body).toEqual({
      from: EMAIL_FROM,
      to: RECIPIENT.email,
      subject: 'Order 7 shipped',
      html: '<p>Order <b>7</b> is on its way.</p>',
      text: 'Order 7 is on its way.',
    });
    expect(d.email).toMatchObject({ provider: 'resend' });
    expect(resend.emails.get(d.email.providerMessageId)).toEqual(emails[0].body);

    // SMS: Twilio Messages, with the status callback under PUBLIC_BASE_URL.
    const sms = twilio.requests.filter((r) => r.body?.To === RECIPIENT.phone && r.body?.Body === 'Order 7 shipped');
    expect(sms).toHaveLength(1);
    expect(sms[0].path).toBe(`/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages.json`);
    expect(sms[0].headers.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`);
    expect(sms[0].body).toEqual({ To: RECIPIENT.phone, From: TWILIO_FROM, Body: 'Order 7 shipped', StatusCallback: `${publicBaseUrl}/v1/receipts/twilio` });
    expect(d.sms).toMatchObject({ provider: 'twilio', providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/) });

    // Slack: chat.postMessage to the recipient's channel.
    const posts = slack.requests.filter((r) => r.path === '/api/chat.postMessage' && r.body?.text === 'Order *7* shipped');
    expect(posts).toHaveLength(1);
    expect(posts[0].headers.authorization).toBe(`Bearer ${SLACK_BOT_TOKEN}`);
    expect(posts[0].body).toMatchObject({ channel: RECIPIENT.slack, text: 'Order *7* shipped' });
    expect(d.slack).toMatchObject({ provider: 'slack', providerMessageId: expect.stringMatching(/^C0123456789:\d+\.\d{6}$/) });

    // Pager: an Events API v2 trigger, deduplicated by the delivery id.
    const pages = pagerduty.requests.filter((r) => r.body?.dedup_key === `${n.id}.pager`);
    expect(pages).toHaveLength(1);
    expect(pages[0].body).toMatchObject({
      routing_key: RECIPIENT.pagerRoutingKey,
      event_action: 'trigger',
      payload: { summary: 'Order 7 shipped', severity: 'critical', source: 'tocsin', custom_details: { notificationId: n.id, recipient: 'user-42' } },
    });
    expect(d.pager).toMatchObject({ provider: 'pagerduty', providerMessageId: `${n.id}.pager` });

    // Webhook: the contract's body, event id and signature.
    const hooks = hook.requests.filter((r) => r.headers['webhook-id'] === `${n.id}.webhook`);
    expect(hooks).toHaveLength(1);
    expect(hooks[0].body).toEqual({
      id: `${n.id}.webhook`,
      notificationId: n.id,
      recipient: 'user-42',
      template: 'order-shipped',
      channel: 'webhook',
      content: { event: 'order.shipped', order: '7' },
      data: { order: { id: 7 } },
    });
    expect(tenant.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(verifyWebhook(tenant.webhookSecret, hooks[0])).toEqual(hooks[0].body);

    // In-app: in the inbox.
    const inbox = await api('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body.data.find((m: any) => m.notificationId === n.id)).toMatchObject({ title: 'Order 7 shipped', body: 'It is on its way.' });
  });

  it('retries an email that Resend answered 503, then sends it once', async () => {
    resend.enqueue({ status: 503 });
    const n = await notify(['email']);
    expect(n.status).toBe('sent');
    expect(byChannel(n).email).toMatchObject({ status: 'sent', attempts: 2, provider: 'resend', error: null });
    const attempts = resend.requests.filter((r) => r.headers['idempotency-key'] === `${n.id}.email`);
    expect(attempts).toHaveLength(2);
    expect(attempts[1].rawBody).toBe(attempts[0].rawBody);
    expect(resend.emails.has(byChannel(n).email.providerMessageId)).toBe(true);
  });

  it('fails an SMS to a number Twilio calls invalid (21211) at once, without retrying', async () => {
    twilio.enqueue({ status: 400, body: twilioError(400, 21211, "The 'To' number +14155550123 is not a valid phone number.") });
    const before = twilio.requests.length;
    const n = await notify(['sms']);
    expect(n.status).toBe('failed');
    expect(byChannel(n).sms).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'invalid_address' } });
    expect(byChannel(n).sms.error.message).toMatch(/21211/);
    expect(twilio.requests.length - before).toBe(1);
  });

  it('moves email and SMS to delivered on signed receipts posted to the running API', async () => {
    const n = await notify(['email', 'sms']);
    expect(n.status).toBe('sent');
    const { email, sms } = byChannel(n);

    // Resend → Svix-signed webhook.
    const body = resendEmailEvent('email.delivered', email.providerMessageId, new Date());
    const resendRes = await fetch(`${running!.apiUrl}/v1/receipts/resend`, {
      method: 'POST',
      headers: svixHeaders(RESEND_WEBHOOK_SECRET, `msg_${randomUUID()}`, Math.floor(Date.now() / 1000), body),
      body,
    });
    expect(resendRes.status).toBe(200);
    expect(await resendRes.json()).toEqual({ outcome: 'applied' });

    // Twilio → a status callback signed over the URL it was given.
    const params = twilioStatusCallback(sms.providerMessageId, 'delivered', { AccountSid: TWILIO_ACCOUNT_SID });
    const twilioRes = await fetch(`${running!.apiUrl}/v1/receipts/twilio`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(TWILIO_AUTH_TOKEN, `${publicBaseUrl}/v1/receipts/twilio`, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(twilioRes.status).toBe(200);
    expect(await twilioRes.json()).toEqual({ outcome: 'applied' });

    const after = byChannel((await api('GET', `/v1/notifications/${n.id}`)).body);
    expect(after.email).toMatchObject({ status: 'delivered', providerMessageId: email.providerMessageId, deliveredAt: expect.any(String) });
    expect(after.sms).toMatchObject({ status: 'delivered', providerMessageId: sms.providerMessageId, deliveredAt: expect.any(String) });

    // A forged callback is refused and changes nothing.
    const forged = await fetch(`${running!.apiUrl}/v1/receipts/twilio`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'Zm9yZ2Vk' },
      body: new URLSearchParams(twilioStatusCallback(sms.providerMessageId, 'undelivered', { ErrorCode: '30003' })).toString(),
    });
    expect(forged.status).toBe(401);
    expect(byChannel((await api('GET', `/v1/notifications/${n.id}`)).body).sms.status).toBe('delivered');
  });
});
