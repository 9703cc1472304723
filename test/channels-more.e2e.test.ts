// The channels added after the first six, end to end as `npm start` runs them: email over SMTP
// (SMTP_URL, no Resend key) to a real SMTP server, SMS through Vonage (no TWILIO_FROM), WhatsApp
// through Twilio Messages and Telegram's Bot API, each pointed at its fake in test/fakes, driven over real HTTP.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { startFakeSmtp, type FakeSmtp } from './fakes/smtp.js';
import { startFakeTelegram, type FakeTelegram } from './fakes/telegram.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { startFakeVonage, type FakeVonage } from './fakes/vonage.js';
import { filesHolding, quietTemporalLogs, stackRequests, startTestStack, temporalState } from './support.js';
import { until } from './until.js';

const TWILIO_ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const TWILIO_AUTH_TOKEN = randomBytes(16).toString('hex');
const TWILIO_WHATSAPP_FROM = '+14155238886';
const TELEGRAM_BOT_TOKEN = `123456789:${randomBytes(16).toString('hex')}`;
const SMTP_PASSWORD = `smtp-${randomBytes(8).toString('hex')}`;
const EMAIL_FROM = 'Acme <notifications@acme.example>';
const VONAGE_API_SECRET = `vonage-${randomBytes(8).toString('hex')}`;
const RECIPIENT = { name: 'Ann', email: 'ann@example.com', phone: '+14155550188', whatsapp: '+14155550123', telegramChatId: '987654321' };

describe('email over SMTP, SMS through Vonage, WhatsApp and Telegram end to end against their fakes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-channels-more-'));
  let running: Running | undefined;
  let smtp: FakeSmtp;
  let twilio: FakeTwilio;
  let telegram: FakeTelegram;
  let vonage: FakeVonage;
  let apiKey: string;

  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);
  async function notify(channels: string[]) {
    const sent = await api('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 } }, channels });
    expect(sent.status).toBe(202);
    return until(
      () => api('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status),
    ).then((r) => r.body);
  }

  beforeAll(async () => {
    quietTemporalLogs();
    [smtp, twilio, telegram, vonage] = await Promise.all([startFakeSmtp({ user: 'acme', pass: SMTP_PASSWORD }), startFakeTwilio(), startFakeTelegram(), startFakeVonage()]);
    running = await startTestStack(dataDir, {
      TEMPORAL_TASK_QUEUE: 'channels-more-e2e',
      EMAIL_FROM,
      SMTP_URL: smtp.url(),
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_WHATSAPP_FROM,
      TWILIO_API_BASE_URL: twilio.url,
      VONAGE_API_KEY: 'acme-key',
      VONAGE_API_SECRET,
      VONAGE_FROM: 'Acme',
      VONAGE_BASE_URL: vonage.url,
      TELEGRAM_BOT_TOKEN,
      TELEGRAM_API_URL: telegram.url,
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
    });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    apiKey = created.body.apiKey;
    const put = await api('PUT', '/v1/recipients/user-42', RECIPIENT);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ whatsapp: RECIPIENT.whatsapp, telegramChatId: RECIPIENT.telegramChatId, phone: RECIPIENT.phone, slack: null });
    const template = await api('POST', '/v1/templates', {
      key: 'order-shipped',
      content: {
        en: {
          email: { subject: 'Order {{ order.id }} shipped', html: '<p>Order <b>{{ order.id }}</b> is on its way.</p>', text: 'Order {{ order.id }} is on its way.' },
          sms: { text: 'Order {{ order.id }} shipped (SMS)' },
          whatsapp: { text: 'Order {{ order.id }} shipped (WhatsApp)' },
          telegram: { text: 'Order {{ order.id }} shipped (Telegram)' },
        },
      },
    });
    expect(template.status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([smtp, twilio, telegram, vonage].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('/readyz lists email (SMTP), sms (Vonage), whatsapp and telegram as configured, and slack as not', async () => {
    const ready = await request('GET', '/readyz', null);
    expect(ready.body.channels).toMatchObject({ email: 'configured', sms: 'configured', whatsapp: 'configured', telegram: 'configured', slack: 'unconfigured' });
  });

  it('one notification on the four channels reaches each provider exactly once, in its wire format', async () => {
    const n = await notify(['email', 'sms', 'whatsapp', 'telegram']);
    expect(n.status).toBe('sent');
    const d = Object.fromEntries(n.deliveries.map((x: any) => [x.channel, x]));
    for (const ch of ['email', 'sms', 'whatsapp', 'telegram']) expect(d[ch]).toMatchObject({ status: 'sent', attempts: 1, error: null });

    // Email: one SMTP transaction the server accepted, authenticated, with the delivery's Message-ID.
    const mails = smtp.messages.filter((m) => m.source.includes(`<${n.id}.email@tocsin>`));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ user: 'acme', from: 'notifications@acme.example', to: [RECIPIENT.email] });
    expect(mails[0].source).toMatch(/^Subject: Order 7 shipped\r?$/m);
    expect(d.email).toMatchObject({ provider: 'smtp', providerMessageId: `<${n.id}.email@tocsin>` });

    // SMS: Vonage's /sms/json, with basic auth and the delivery id as client-ref.
    const sms = vonage.messages.filter((m) => m.clientRef === `${n.id}.sms`);
    expect(sms).toEqual([{ to: RECIPIENT.phone.slice(1), from: 'Acme', text: 'Order 7 shipped (SMS)', clientRef: `${n.id}.sms`, messageId: expect.any(String), auth: `Basic ${Buffer.from(`acme-key:${VONAGE_API_SECRET}`).toString('base64')}` }]);
    expect(d.sms).toMatchObject({ provider: 'vonage', providerMessageId: sms[0].messageId });

    // WhatsApp: a Twilio Message between whatsapp: numbers.
    const wa = twilio.messages.filter((m) => m.to === `whatsapp:${RECIPIENT.whatsapp}`);
    expect(wa).toHaveLength(1);
    expect(wa[0]).toMatchObject({ from: `whatsapp:${TWILIO_WHATSAPP_FROM}`, body: 'Order 7 shipped (WhatsApp)' });
    expect(d.whatsapp).toMatchObject({ provider: 'twilio', providerMessageId: wa[0].sid });

    // Telegram: sendMessage with the bot's token, to the recipient's chat.
    const tg = telegram.messages.filter((m) => m.chatId === RECIPIENT.telegramChatId);
    expect(tg).toEqual([{ token: TELEGRAM_BOT_TOKEN, chatId: RECIPIENT.telegramChatId, text: 'Order 7 shipped (Telegram)', messageId: expect.any(Number) }]);
    expect(d.telegram).toMatchObject({ provider: 'telegram', providerMessageId: String(tg[0].messageId) });
  });

  it('Telegram’s 429 with retry_after is waited out, then the message goes once', async () => {
    telegram.enqueue({ status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } });
    const before = telegram.messages.length;
    const n = await notify(['telegram']);
    expect(n.status).toBe('sent');
    expect(n.deliveries[0]).toMatchObject({ channel: 'telegram', status: 'sent', attempts: 2 });
    expect(telegram.messages.length - before).toBe(1);
  });

  it('a recipient without a telegram chat or whatsapp number: naming those channels is a 400 that names each, and bad addresses are refused', async () => {
    expect((await api('PUT', '/v1/recipients/user-7', { email: 'bo@example.com' })).status).toBe(200);
    const sent = await api('POST', '/v1/notifications', { recipient: 'user-7', template: 'order-shipped', data: { order: { id: 8 } }, channels: ['email', 'telegram', 'whatsapp'] });
    expect(sent.status).toBe(400);
    expect(sent.body.errors).toEqual([
      { path: 'channels.1', message: 'recipient has no telegram address' },
      { path: 'channels.2', message: 'recipient has no whatsapp address' },
    ]);

    const bad = await api('PUT', '/v1/recipients/user-8', { whatsapp: '0415 555', telegramChatId: 'not a chat' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['telegramChatId', 'whatsapp']);
    expect((await api('GET', '/v1/recipients/user-8')).status).toBe(404);
  });

  it('the SMTP password, the Vonage secret and the bot token are in no file under DATA_DIR nor in the Temporal server’s', () => {
    const secrets = [SMTP_PASSWORD, TELEGRAM_BOT_TOKEN.split(':')[1], VONAGE_API_SECRET];
    expect(filesHolding(dataDir, secrets)).toEqual([]);
    // Nor in the Temporal server's files (the scan reads what it must: they are there).
    const temporal = temporalState(dataDir);
    expect(temporal.files.length).toBeGreaterThan(0);
    expect(filesHolding(temporal.dir, secrets)).toEqual([]);
  });
});
