// A send the provider accepted but whose answer the worker never saw (the connection dropped,
// or the answer came after the client gave up) is retried by Temporal. SMS and Slack, which
// have no idempotency key, adopt the message already sent instead of sending a second one;
// email (idempotency key), pager (dedup_key) and webhooks (one stable id) keep their own
// guarantee. Real SDKs against the fakes, the real notification workflow on Temporal's test
// server, the database the activities record in.
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { createActivities, type DeliverArgs, type DeliverResult } from '../activities/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as s from '../db/schema.js';
import { createEmailSender } from '../activities/channels/email.js';
import { createPagerClient, createPagerSender } from '../activities/channels/pager.js';
import { createSlackSender } from '../activities/channels/slack.js';
import { createSmsSender } from '../activities/channels/sms.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { type FakePagerDuty, startFakePagerDuty } from './fakes/pagerduty.js';
import { type FakeResend, startFakeResend } from './fakes/resend.js';
import { type FakeSlack, startFakeSlack } from './fakes/slack.js';
import { type FakeTwilio, startFakeTwilio } from './fakes/twilio.js';
import { type Harness, startHarness } from './harness.js';
import { LOCAL_RECEIVERS } from './support.js';
import { until } from './until.js';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const FROM = '+15005550006';
const PHONE = '+14155550123';
const SLACK_CHANNEL = 'C0123456789';
const ROUTING_KEY = 'R0UTINGKEY0000000000000000000001';
/** The providers' clients give up after this long; a slower answer is lost to the worker. */
const CLIENT_TIMEOUT_MS = 1000;

describe('a send the provider accepted but whose answer was lost: SMS and Slack adopt it, the others keep their guarantee', () => {
  let h: Harness;
  let twilio: FakeTwilio;
  let slack: FakeSlack;
  let resend: FakeResend;
  let pagerduty: FakePagerDuty;
  let order = 100;
  let senders: Parameters<typeof createActivities>[0]['senders'];

  beforeAll(async () => {
    [twilio, slack, resend, pagerduty] = await Promise.all([startFakeTwilio(), startFakeSlack(), startFakeResend(), startFakePagerDuty()]);
    senders = {
      sms: createSmsSender({ accountSid: SID, authToken: 'token', from: FROM, apiBaseUrl: twilio.url, timeoutMs: CLIENT_TIMEOUT_MS })!,
      slack: createSlackSender({ botToken: 'xoxb-test', apiUrl: `${slack.url}/api/`, timeoutMs: CLIENT_TIMEOUT_MS })!,
      email: createEmailSender({ apiKey: 're_test', baseUrl: resend.url, from: 'n@example.com' })!,
      pager: createPagerSender(createPagerClient({ eventsUrl: pagerduty.eventsUrl })),
      webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }),
    };
    h = await startHarness({ senders });
    const r = await h.call('PUT', '/v1/recipients/user-42', {
      phone: PHONE,
      slack: SLACK_CHANNEL,
      email: 'ann@example.com',
      pagerRoutingKey: ROUTING_KEY,
      webhookUrl: `${h.hook.url}/hooks`,
    });
    expect(r.status).toBe(200);
    const t = await h.call('POST', '/v1/templates', {
      key: 'order-shipped',
      content: {
        en: {
          sms: { text: 'Order {{ order.id }} shipped' },
          slack: { text: 'Order *{{ order.id }}* shipped' },
          email: { subject: 'Order {{ order.id }} shipped', text: 'On its way.' },
          pager: { summary: 'Order {{ order.id }} shipped' },
          webhook: { order: '{{ order.id }}' },
        },
      },
    });
    expect(t.status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await Promise.all([twilio?.close(), slack?.close(), resend?.close(), pagerduty?.close()]);
  });

  /** Sends order `id` on `channels` and waits until the workflow has finished it. */
  async function notify(channels: string[], id = ++order) {
    const sent = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id } }, channels });
    expect(sent.status).toBe(202);
    const done = await until(
      () => h.call('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status),
      60_000,
    );
    return { id, body: done.body, byChannel: Object.fromEntries(done.body.deliveries.map((d: any) => [d.channel, d])) };
  }
  const smsFor = (id: number) => twilio.messages.filter((m) => m.body === `Order ${id} shipped`);
  const slackFor = (id: number) => (slack.channels.get(SLACK_CHANNEL) ?? []).filter((m) => m.text === `Order *${id}* shipped`);
  const attemptsOf = (deliveryId: string) =>
    h.db.db
      .select({ attempt: s.deliveryAttempts.attempt, outcome: s.deliveryAttempts.outcome })
      .from(s.deliveryAttempts)
      .where(eq(s.deliveryAttempts.deliveryId, deliveryId))
      .orderBy(s.deliveryAttempts.attempt);

  it('the connection drops after the provider accepted: one SMS and one Slack message, adopted on the second attempt', async () => {
    twilio.enqueue({ acceptThen: 'drop' });
    slack.enqueue({ acceptThen: 'drop' });
    const n = await notify(['sms', 'slack']);

    expect(n.body.status).toBe('sent');
    expect(smsFor(n.id)).toHaveLength(1);
    expect(slackFor(n.id)).toHaveLength(1);
    expect(n.byChannel.sms).toMatchObject({ status: 'sent', attempts: 2, provider: 'twilio', providerMessageId: smsFor(n.id)[0].sid });
    expect(n.byChannel.slack).toMatchObject({ status: 'sent', attempts: 2, provider: 'slack', providerMessageId: `${SLACK_CHANNEL}:${slackFor(n.id)[0].ts}` });
    expect(await attemptsOf(`${n.body.id}.sms`)).toMatchObject([{ attempt: 1, outcome: 'failed' }, { attempt: 2, outcome: 'sent' }]);
  });

  it('the answer comes after the client gave up (a timed-out attempt): still one of each', async () => {
    twilio.enqueue({ acceptThen: { answerDelayMs: CLIENT_TIMEOUT_MS * 3 } });
    slack.enqueue({ acceptThen: { answerDelayMs: CLIENT_TIMEOUT_MS * 3 } });
    const n = await notify(['sms', 'slack']);

    expect(n.body.status).toBe('sent');
    expect(smsFor(n.id)).toHaveLength(1);
    expect(slackFor(n.id)).toHaveLength(1);
    expect(n.byChannel.sms).toMatchObject({ attempts: 2, providerMessageId: smsFor(n.id)[0].sid });
    expect(n.byChannel.slack).toMatchObject({ attempts: 2, providerMessageId: `${SLACK_CHANNEL}:${slackFor(n.id)[0].ts}` });
  });

  it('a send the provider refused (503) is sent on the retry, once', async () => {
    twilio.enqueue({ status: 503 });
    slack.enqueue({ status: 503 });
    const n = await notify(['sms', 'slack']);

    expect(n.body.status).toBe('sent');
    expect(smsFor(n.id)).toHaveLength(1);
    expect(slackFor(n.id)).toHaveLength(1);
    expect(n.byChannel.sms).toMatchObject({ attempts: 2, providerMessageId: smsFor(n.id)[0].sid });
  });

  it('an identical SMS that another delivery sent is never adopted: each delivery gets its own message', async () => {
    const first = await notify(['sms'], 7);
    expect(first.body.status).toBe('sent');

    twilio.enqueue({ acceptThen: 'drop' });
    const second = await notify(['sms'], 7);
    expect(second.body.status).toBe('sent');
    expect(second.byChannel.sms.attempts).toBe(2);

    const sent = smsFor(7);
    expect(sent).toHaveLength(2);
    expect(first.byChannel.sms.providerMessageId).toBe(sent[0].sid);
    expect(second.byChannel.sms.providerMessageId).toBe(sent[1].sid);
  });

  it('a first attempt that finds a recorded earlier attempt (a reset run) adopts as a retry does', async () => {
    twilio.enqueue({ acceptThen: 'drop' });
    slack.enqueue({ acceptThen: 'drop' });
    const n = await notify(['sms', 'slack']);
    const recipient = { id: 'user-42', email: null, phone: PHONE, slack: SLACK_CHANNEL, webhookUrl: null, pagerRoutingKey: null, whatsapp: null, telegramChatId: null, locale: 'en', timezone: 'UTC', name: null };
    const args = (channel: 'sms' | 'slack'): DeliverArgs => ({
      tenantId: h.tenantId,
      notificationId: n.body.id,
      deliveryId: `${n.body.id}.${channel}`,
      channel,
      recipient,
      template: { key: 'order-shipped', version: 1 },
      content: { sms: { text: 'Order {{ order.id }} shipped' }, slack: { text: 'Order *{{ order.id }}* shipped' } },
      data: { order: { id: n.id } },
      category: null,
    });
    // The activity run anew for the same delivery: attempt 1, scheduled now, after the
    // recorded failed attempt 1 of the earlier run.
    const activities = createActivities({ db: h.db.db, senders });
    const rerun = new MockActivityEnvironment({ attempt: 1, scheduledTimestampMs: Date.now(), currentAttemptScheduledTimestampMs: Date.now() });
    const sms = await rerun.run(activities.deliverSms, args('sms'));
    const slackResult = await rerun.run(activities.deliverSlack, args('slack'));

    expect(sms).toMatchObject({ adopted: true, providerMessageId: n.byChannel.sms.providerMessageId });
    expect(slackResult).toMatchObject({ adopted: true, providerMessageId: n.byChannel.slack.providerMessageId });
    expect(smsFor(n.id)).toHaveLength(1);
    expect(slackFor(n.id)).toHaveLength(1);

    // Without a record of an earlier attempt, a first attempt sends without asking.
    const fresh = await rerun.run(activities.deliverSms, { ...args('sms'), deliveryId: 'ntf_never_attempted.sms', data: { order: { id: 9999 } } });
    expect((fresh as DeliverResult).adopted).toBeUndefined();
    expect(smsFor(9999)).toHaveLength(1);
  });

  it('email, pager and webhook hold their own guarantees under the same lost answer', async () => {
    resend.enqueue({ acceptThen: 'drop' });
    pagerduty.enqueue({ acceptThen: 'drop' });
    h.hook.enqueue({ acceptThen: 'drop' });
    const n = await notify(['email', 'pager', 'webhook']);
    expect(n.body.status).toBe('sent');

    // Email: the retry reuses the delivery id as Resend's idempotency key, so Resend answers
    // the first email's id and sends one email.
    const emails = [...resend.emails.entries()].filter(([, e]) => e.subject === `Order ${n.id} shipped`);
    expect(emails).toHaveLength(1);
    const emailPosts = resend.requests.filter((r) => r.body?.subject === `Order ${n.id} shipped`);
    expect(emailPosts.map((r) => r.headers['idempotency-key'])).toEqual([`${n.body.id}.email`, `${n.body.id}.email`]);
    expect(n.byChannel.email).toMatchObject({ attempts: 2, providerMessageId: emails[0][0] });

    // Pager: both triggers carry the delivery id as dedup_key, which PagerDuty folds into one alert.
    const triggers = pagerduty.requests.filter((r) => r.body?.payload?.summary === `Order ${n.id} shipped`);
    expect(triggers.map((r) => r.body.dedup_key)).toEqual([`${n.body.id}.pager`, `${n.body.id}.pager`]);
    expect(n.byChannel.pager).toMatchObject({ attempts: 2, providerMessageId: `${n.body.id}.pager` });

    // Webhook: at least once, every attempt under the delivery's one stable id.
    const hooks = h.hook.requests.filter((r) => r.body?.notificationId === n.body.id);
    expect(hooks).toHaveLength(2);
    expect(hooks.map((r) => r.body.id)).toEqual([`${n.body.id}.webhook`, `${n.body.id}.webhook`]);
    const headerIds = hooks.map((r) => r.headers['webhook-id'] ?? r.headers['tocsin-event-id']);
    expect(headerIds).toEqual([`${n.body.id}.webhook`, `${n.body.id}.webhook`]);
  });
});
