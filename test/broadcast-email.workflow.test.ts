// Broadcasts whose recipients get email: sent in bulk by the page's activity with Resend's batch
// send (activities/broadcast-batch.ts), through the real SDK against the fake Resend, on the
// time-skipping server over PGlite.
import { afterEach, describe, expect, it } from 'vitest';
import { and, asc, count, eq, like, sql } from 'drizzle-orm';
import { createEmailSender } from '../activities/channels/email.js';
import { createInappSender } from '../activities/channels/inapp.js';
import type { ChannelSender } from '../activities/channels/types.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { deliveries, deliveryAttempts, inboxMessages, notificationEvents, notifications, recipients } from '../db/schema.js';
import { broadcastNotificationId } from '../domain/broadcast.js';
import type { Channel } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { resendError, startFakeResend, type FakeResend } from './fakes/resend.js';
import { startHarness, type Harness } from './harness.js';
import { LOCAL_RECEIVERS } from './support.js';
import { until } from './until.js';

let h: Harness | undefined;
let resend: FakeResend | undefined;
afterEach(async () => {
  await h?.close();
  await resend?.close();
  h = resend = undefined;
});

const FROM = 'Tocsin <news@example.com>';
const pad = (i: number) => String(i).padStart(4, '0');

/** The harness with real senders: in-app, webhooks, and email through the SDK to the fake Resend. */
async function start(opts: Parameters<typeof startHarness>[0] = {}) {
  resend = await startFakeResend();
  const senders: Partial<Record<Channel, ChannelSender>> = {
    email: createEmailSender({ apiKey: 're_test_key', baseUrl: resend.url, from: FROM })!,
    webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }),
  };
  h = await startHarness({ ...opts, senders });
  // The in-app sender writes to the harness's database, which exists only now.
  senders.inapp = createInappSender(h.db.db);
  return h;
}

async function addRecipients(x: Harness, rows: Array<Omit<typeof recipients.$inferInsert, 'tenantId'>>) {
  await x.db.db.insert(recipients).values(rows.map((r) => ({ ...r, tenantId: x.tenantId })));
}

async function addTemplate(x: Harness) {
  const t = await x.call('POST', '/v1/templates', {
    key: 'launch',
    content: {
      en: {
        email: { subject: 'We launched {{ product }}', html: '<p>Try {{ product }} today.</p>', text: 'Try {{ product }} today.' },
        inapp: { title: 'We launched {{ product }}', body: 'Try it.' },
      },
    },
  });
  expect(t.status).toBe(201);
}

/** Quiet hours that began an hour ago and end two hours from now (UTC). */
function quietNow() {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  return { start: hhmm(Date.now() - 3_600_000), end: hhmm(Date.now() + 2 * 3_600_000), timezone: 'UTC' };
}

const progress = (x: Harness, id: string) => x.call('GET', `/v1/broadcasts/${id}`).then((r) => r.body);
const batchCalls = () => resend!.requests.filter((r) => r.path === '/emails/batch');

/** The broadcast's email deliveries, by notification id. */
async function emailDeliveries(x: Harness, broadcastId: string) {
  return x.db.db
    .select({ notificationId: deliveries.notificationId, status: deliveries.status, provider: deliveries.provider, providerMessageId: deliveries.providerMessageId, errorCode: deliveries.errorCode, attempts: deliveries.attempts })
    .from(deliveries)
    .innerJoin(notifications, eq(notifications.id, deliveries.notificationId))
    .where(and(eq(notifications.broadcastId, broadcastId), eq(deliveries.channel, 'email')))
    .orderBy(asc(deliveries.id));
}

async function rowsOf(x: Harness, broadcastId: string) {
  const db = x.db.db;
  const mine = eq(notifications.broadcastId, broadcastId);
  const [[n], [inbox], [events], [attempts]] = await Promise.all([
    db.select({ n: count() }).from(notifications).where(mine),
    db.select({ n: count() }).from(inboxMessages).innerJoin(notifications, eq(notifications.id, inboxMessages.notificationId)).where(mine),
    db.select({ n: count() }).from(notificationEvents).innerJoin(notifications, eq(notifications.id, notificationEvents.notificationId)).where(mine),
    db
      .select({ n: count() })
      .from(deliveryAttempts)
      .where(sql`${deliveryAttempts.deliveryId} in (select d.id from deliveries d join notifications n on n.id = d.notification_id where n.broadcast_id = ${broadcastId})`),
  ]);
  return { notifications: n.n, inbox: inbox.n, events: events.n, attempts: attempts.n };
}

describe('broadcasts to email recipients (Resend batch send)', () => {
  it('sends N emails in ceil(N/100) batch calls with exact records; quiet hours hold, opt-outs suppress', { timeout: 240_000 }, async () => {
    await start();
    await addTemplate(h!);
    await addRecipients(h!, [
      // In-app and email: both sent by the page, the email in a batch.
      ...Array.from({ length: 250 }, (_, i) => ({ id: `e-${pad(i)}`, email: `e${i}@example.com` })),
      // Marketing turned off: suppressed by preferences, nothing sent.
      ...Array.from({ length: 30 }, (_, i) => ({ id: `o-${pad(i)}`, email: `o${i}@example.com`, preferences: { categories: { marketing: { enabled: false } } } })),
      // Inside quiet hours: held, each in its own notification workflow.
      ...Array.from({ length: 20 }, (_, i) => ({ id: `q-${pad(i)}`, email: `q${i}@example.com`, preferences: { quietHours: quietNow() } })),
    ]);
    const res = await h!.call('POST', '/v1/broadcasts', { all: true, template: 'launch', data: { product: 'Tocsin' }, category: 'marketing' });
    expect(res).toMatchObject({ status: 202, body: { status: 'running', total: 300 } });
    const id = res.body.id as string;

    const before = await until(() => progress(h!, id), (b) => b.pending === 20, 200_000, 200);
    expect(before).toMatchObject({ status: 'running', total: 300, sent: 250, failed: 0, suppressed: 30, pending: 20 });

    // 250 emails in 3 calls of 100, 100 and 50, each with its own stable key; no single sends.
    const calls = batchCalls();
    expect(calls.map((c) => c.body.length)).toEqual([100, 100, 50]);
    expect(calls.map((c) => c.headers['idempotency-key'])).toEqual([0, 100, 200].map((seq) => `tocsin-broadcast/${h!.tenantId}/${id}/${seq}`));
    expect(resend!.requests.filter((r) => r.path === '/emails')).toHaveLength(0);
    expect(resend!.emails.size).toBe(250);
    expect(calls[0].body[7]).toEqual({ from: FROM, to: 'e7@example.com', subject: 'We launched Tocsin', html: '<p>Try Tocsin today.</p>', text: 'Try Tocsin today.' });
    expect(new Set([...resend!.emails.values()].map((e) => e.to))).toEqual(new Set(Array.from({ length: 250 }, (_, i) => `e${i}@example.com`)));

    // Each recipient's delivery records Resend's id for its own email.
    const sentEmails = (await emailDeliveries(h!, id)).filter((d) => d.status === 'sent');
    expect(sentEmails).toHaveLength(250);
    for (const d of sentEmails) {
      expect(d).toMatchObject({ provider: 'resend', attempts: 1 });
      const [, seq] = d.notificationId.match(/_(\d+)$/)!;
      expect(resend!.emails.get(d.providerMessageId!)).toMatchObject({ to: `e${Number(seq)}@example.com` });
    }
    const one = await h!.call('GET', `/v1/notifications/${broadcastNotificationId(id, 7)}`);
    expect(one.body).toMatchObject({ status: 'sent', recipient: 'e-0007', template: 'launch' });
    expect(one.body.deliveries).toEqual(
      expect.arrayContaining([expect.objectContaining({ channel: 'email', status: 'sent' }), expect.objectContaining({ channel: 'inapp', status: 'sent' })]),
    );
    const inbox = await h!.call('GET', '/v1/recipients/e-0007/inbox');
    expect(inbox.body.data).toEqual([expect.objectContaining({ notificationId: broadcastNotificationId(id, 7), title: 'We launched Tocsin' })]);
    expect((await h!.call('GET', `/v1/notifications/${broadcastNotificationId(id, 255)}`)).body).toMatchObject({ status: 'suppressed', reason: 'preferences' });
    const held = broadcastNotificationId(id, 290);
    // Its workflow records it held as it starts.
    const heldNow = await until(() => h!.call('GET', `/v1/notifications/${held}`), (r) => r.body.status !== 'accepted', 30_000, 100);
    expect(heldNow.body).toMatchObject({ status: 'held', reason: 'quiet_hours' });
    expect((await h!.handle(held).describe()).status.name).toBe('RUNNING');

    // Cancel: the held ones never get their email.
    expect((await h!.call('POST', `/v1/broadcasts/${id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
    await h!.env.client.workflow.getHandle(workflowIds.broadcast(h!.tenantId, id)).result();
    expect(await progress(h!, id)).toMatchObject({ status: 'cancelled', total: 300, sent: 250, failed: 0, suppressed: 30, cancelled: 20, pending: 0 });
    expect((await h!.call('GET', `/v1/notifications/${held}`)).body).toMatchObject({ status: 'cancelled' });
    expect(resend!.requests.filter((r) => r.path === '/emails')).toHaveLength(0);
    expect(resend!.emails.size).toBe(250);
    // One of everything per sent recipient: two deliveries' attempts, three events, one inbox message.
    const rows = await rowsOf(h!, id);
    expect(rows).toMatchObject({ notifications: 300, inbox: 250, attempts: 500 });
    const [sentEvents] = await h!.db.db
      .select({ n: count() })
      .from(notificationEvents)
      .innerJoin(notifications, eq(notifications.id, notificationEvents.notificationId))
      .where(and(eq(notifications.broadcastId, id), like(notifications.recipientId, 'e-%')));
    expect(sentEvents.n).toBe(750);
  });

  it('a page killed after its first chunk, and a batch whose answer was lost, are retried without sending anything twice', { timeout: 240_000 }, async () => {
    let killed = 0;
    const attempts: Array<{ nextSeq: number; attempt: number }> = [];
    await start({
      activities: {
        // The page's activity dies once, after its first chunk (its batch sent and recorded).
        afterBroadcastChunk: ({ nextSeq, attempt }) => {
          attempts.push({ nextSeq, attempt });
          if (nextSeq === 100 && killed++ === 0) throw new Error('worker killed mid-page');
        },
      },
    });
    await addTemplate(h!);
    await addRecipients(h!, Array.from({ length: 300 }, (_, i) => ({ id: `k-${pad(i)}`, email: `k${i}@example.com` })));
    // The second batch is accepted by Resend but its answer is lost: the page retries that chunk.
    resend!.enqueue({}, { acceptThen: 'drop' });
    const res = await h!.call('POST', '/v1/broadcasts', { all: true, template: 'launch', data: { product: 'Tocsin' }, channels: ['email'] });
    const id = res.body.id as string;
    await h!.env.client.workflow.getHandle(workflowIds.broadcast(h!.tenantId, id)).result();
    expect(killed).toBe(1);
    expect(attempts.some((a) => a.attempt > 1)).toBe(true);

    expect(await progress(h!, id)).toMatchObject({ status: 'completed', total: 300, sent: 300, failed: 0, suppressed: 0, pending: 0 });
    // Four calls: three chunks, the second sent twice under its key; Resend sent 300 emails.
    const keys = batchCalls().map((c) => c.headers['idempotency-key']);
    expect(keys).toEqual([0, 100, 100, 200].map((seq) => `tocsin-broadcast/${h!.tenantId}/${id}/${seq}`));
    expect(resend!.emails.size).toBe(300);
    const recorded = await emailDeliveries(h!, id);
    expect(recorded).toHaveLength(300);
    expect(recorded.every((d) => d.status === 'sent' && d.attempts === 1)).toBe(true);
    expect(new Set(recorded.map((d) => d.providerMessageId))).toEqual(new Set(resend!.emails.keys()));
    expect(await rowsOf(h!, id)).toEqual({ notifications: 300, inbox: 0, events: 900, attempts: 300 });
  });

  it('a batch Resend refuses for good fails its recipients, recorded and counted; the others are sent', { timeout: 240_000 }, async () => {
    await start();
    await addTemplate(h!);
    await addRecipients(h!, Array.from({ length: 250 }, (_, i) => ({ id: `r-${pad(i)}`, email: `r${i}@example.com` })));
    resend!.enqueue({}, { status: 422, body: resendError(422, 'Invalid `to` field.', 'validation_error') });
    const res = await h!.call('POST', '/v1/broadcasts', { all: true, template: 'launch', data: { product: 'Tocsin' }, channels: ['email'] });
    const id = res.body.id as string;
    await h!.env.client.workflow.getHandle(workflowIds.broadcast(h!.tenantId, id)).result();

    expect(await progress(h!, id)).toMatchObject({ status: 'completed', total: 250, sent: 150, failed: 100, suppressed: 0, pending: 0 });
    expect(batchCalls()).toHaveLength(3);
    expect(resend!.emails.size).toBe(150);
    const failed = (await emailDeliveries(h!, id)).filter((d) => d.status === 'failed');
    expect(failed.map((d) => d.notificationId).sort()).toEqual(Array.from({ length: 100 }, (_, i) => broadcastNotificationId(id, 100 + i)).sort());
    expect(failed.every((d) => d.errorCode === 'provider_rejected' && d.attempts === 1 && d.providerMessageId === null)).toBe(true);
    const one = await h!.call('GET', `/v1/notifications/${broadcastNotificationId(id, 150)}`);
    expect(one.body).toMatchObject({ status: 'failed', deliveries: [{ channel: 'email', status: 'failed' }] });
    const [attempt] = await h!.db.db.select().from(deliveryAttempts).where(eq(deliveryAttempts.deliveryId, `${broadcastNotificationId(id, 150)}.email`));
    expect(attempt).toMatchObject({ attempt: 1, outcome: 'failed', errorCode: 'provider_rejected' });
    expect(attempt.errorMessage).toContain('422');
  });
});
