// The notification workflow on the time-skipping test server, driven through the API.
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationStartOptions, prepareNotification } from '../usecases/accept.js';
import { canonicalJson, sha256 } from '../usecases/ids.js';
import { SENDING_RECORD_AFTER_MS } from '../activities/index.js';
import { NotificationBody } from '../usecases/schemas.js';
import { NOTIFICATION_REVISION } from '../domain/types.js';
import { idempotencyKeys, notificationEvents } from '../db/schema.js';
import { verifyWebhook } from './fakes/webhook.js';
import { activityStartTimes, fastRetry, loseStartAnswers, seed, startHarness, waitForState, type Harness } from './harness.js';
import { until } from './until.js';
import { decodePayload } from './support.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const send = (x: Harness, body: Record<string, unknown> = {}, headers?: Record<string, string>) =>
  x.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, ...body }, headers);

/** A fresh harness with the recipient and template every test here uses. */
async function seeded() {
  const x = await startHarness();
  await seed(x);
  return x;
}

/** [channel, status] of each delivery, in the order the API lists them. */
async function deliveryStatuses(x: Harness, id: string) {
  const got = await x.call('GET', `/v1/notifications/${id}`);
  return got.body.deliveries.map((d: any) => [d.channel, d.status]);
}

/** The statuses of a notification's lifecycle events, in order. */
async function eventStatuses(x: Harness, id: string) {
  const events = await x.db.db.select().from(notificationEvents).where(eq(notificationEvents.notificationId, id)).orderBy(notificationEvents.id);
  return events.map((e) => e.status);
}

/** The patch markers a run's history holds, and the TemporalChangeVersion values it upserted. */
function patchesRecorded(history: Array<{ markerRecordedEventAttributes?: { markerName?: string | null } | null; upsertWorkflowSearchAttributesEventAttributes?: any }>) {
  const markers = history.flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes.markerName] : []));
  const changeVersions = history.flatMap((e) => {
    const field = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion;
    return field ? JSON.parse(Buffer.from(field.data!).toString()) : [];
  });
  return { markers, changeVersions };
}

/** The activities a run scheduled, with their inputs decoded. */
async function scheduledActivities(x: Harness, id: string) {
  const history = (await x.handle(id).fetchHistory()).events ?? [];
  const scheduled = history.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : []));
  return Promise.all(scheduled.map(async (a) => ({ name: a.activityType?.name, input: await decodePayload(a.input!.payloads![0]) })));
}

/** Moves the test server's clock forward to `iso` (which must be in its future). */
async function skipTo(x: Harness, iso: string) {
  const now = Number(await x.env.currentTimeMs());
  const target = Date.parse(iso);
  if (target <= now) throw new Error(`${iso} is in the test server's past`);
  await x.env.sleep(target - now);
}

describe('notification workflow', () => {
  it('sends in-app and a signed webhook, and reports sent with its deliveries', async () => {
    h = await seeded();
    const res = await send(h);
    expect(res.status).toBe(202);
    await h.handle(res.body.id).result();

    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body).toMatchObject({ id: res.body.id, status: 'sent', templateVersion: 1, recipient: 'user-42' });
    expect(got.body.deliveries.map((d: any) => [d.channel, d.status, d.attempts])).toEqual([
      ['webhook', 'sent', 1],
      ['inapp', 'sent', 1],
    ]);

    const [req] = h.hook.requests;
    const body = JSON.parse(req.rawBody);
    expect(body).toMatchObject({ notificationId: res.body.id, recipient: 'user-42', template: 'order-shipped', channel: 'webhook', content: { event: 'order.shipped', order: '7' } });
    expect(req.headers['webhook-id']).toBe(body.id);
    const [tenant] = await h.db.db.query.tenants.findMany();
    expect(verifyWebhook(tenant.webhookSecret, req)).toEqual(body);

    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body).toMatchObject({ unread: 1, data: [{ notificationId: res.body.id, title: 'Order 7 shipped', body: 'It is on its way, Ann.', read: false }] });
  });

  it("gives each delivery activity its own channel's content and address only", async () => {
    h = await startHarness();
    await seed(h, { email: 'ann@example.com', phone: '+14155550100' });
    const res = await send(h);
    expect(res.status).toBe(202);
    await h.handle(res.body.id).result();

    const inputs = Object.fromEntries((await scheduledActivities(h, res.body.id)).map((a) => [a.name!, a.input]));
    expect(Object.keys(inputs).sort()).toEqual(['deliverInapp', 'deliverWebhook']);
    expect(inputs.deliverWebhook.content).toEqual({ webhook: { event: 'order.shipped', order: '{{ order.id }}' } });
    expect(inputs.deliverWebhook.recipient).toMatchObject({ id: 'user-42', webhookUrl: `${h.hook.url}/hooks`, email: null, phone: null, slack: null, pagerRoutingKey: null });
    expect(inputs.deliverInapp.content).toEqual({ inapp: { title: 'Order {{ order.id }} shipped', body: 'It is on its way, {{ name }}.' } });
    expect(inputs.deliverInapp.recipient).toMatchObject({ id: 'user-42', webhookUrl: null, email: null, phone: null, slack: null, pagerRoutingKey: null });
    expect(await deliveryStatuses(h, res.body.id)).toEqual([
      ['webhook', 'sent'],
      ['inapp', 'sent'],
    ]);
  });

  it("records a single channel's success in its delivery's step: the run ends without a last local activity", async () => {
    h = await seeded();
    await h.call('PUT', '/v1/recipients/user-42/preferences', { channels: { inapp: false } });
    const res = await send(h);
    expect(res.status).toBe(202);
    expect((await h.handle(res.body.id).result()).status).toBe('sent');

    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.status).toBe('sent');
    expect(got.body.deliveries.map((d: any) => [d.channel, d.status, d.attempts])).toEqual([
      ['webhook', 'sent', 1],
      ['inapp', 'skipped', 0],
    ]);
    expect(h.hook.requests).toHaveLength(1);
    expect(await eventStatuses(h, res.body.id)).toEqual(['accepted', 'sending', 'sent']);

    // The wake is the run's only local activity; the delivery was asked to record the end.
    const history = await h.handle(res.body.id).fetchHistory();
    const localActivities = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(localActivities).toHaveLength(1);
    const scheduled = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : []));
    expect(scheduled.map((a) => a.activityType?.name)).toEqual(['deliverWebhook']);
    expect(await decodePayload(scheduled[0].input!.payloads![0])).toMatchObject({ recordSent: [{ channel: 'inapp', status: 'skipped', reason: 'opted_out' }] });
  });

  it("wakes a run's only channel in its delivery's step: one activity between two workflow tasks, no local activity", async () => {
    h = await seeded();
    h.hook.enqueue({ status: 503 });
    const res = await send(h, { channels: ['webhook'] });
    expect(res.status).toBe(202);
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    expect(h.hook.requests).toHaveLength(2);
    expect(await deliveryStatuses(h, res.body.id)).toEqual([['webhook', 'sent']]);
    // The retry woke again but recorded `sending` once.
    expect(await eventStatuses(h, res.body.id)).toEqual(['accepted', 'sending', 'sent']);

    // Accepted with NOTIFICATION_REVISION, the run takes the patches without asking: no marker, no change version.
    const history = (await h.handle(res.body.id).fetchHistory()).events ?? [];
    expect(patchesRecorded(history)).toEqual({ markers: [], changeVersions: [] });
    expect(history.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(2);
    const scheduled = await scheduledActivities(h, res.body.id);
    expect(scheduled.map((a) => a.name)).toEqual(['deliverWebhook']);
    const { input } = scheduled[0];
    expect(input).toMatchObject({ channel: 'webhook', deliveryId: `${res.body.id}.webhook`, wake: { input: { notificationId: res.body.id, channels: ['webhook'] } } });
    expect(input).not.toHaveProperty('recipient');
  });

  it('a run accepted before input revisions (none in its input) asks patched() as it did: its history records the marker', async () => {
    h = await seeded();
    const id = 'ntf_without_revision';
    const body = NotificationBody.parse({ recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, channels: ['webhook'] });
    const { revision, ...before } = await prepareNotification(h.db.db, h.tenantId, body, { id, retry: fastRetry });
    expect(revision).toBe(NOTIFICATION_REVISION);
    await h.env.client.workflow.start('notificationWorkflow', notificationStartOptions(before, h.taskQueue));
    expect((await h.handle(id).result()).status).toBe('sent');
    expect(patchesRecorded((await h.handle(id).fetchHistory()).events ?? [])).toEqual({ markers: ['core_patch'], changeVersions: ['wake-in-delivery'] });
    expect(await scheduledActivities(h, id)).toMatchObject([{ name: 'deliverWebhook' }]);
  });

  it('records `sending` with the outcome when the attempt answers at once, and on its own while a slow attempt runs', async () => {
    h = await seeded();
    // Quick: one statement records sending and sent; the timeline still has both, in order.
    const quick = await send(h, { channels: ['webhook'] });
    expect((await h.handle(quick.body.id).result()).status).toBe('sent');
    const events = await h.db.db.select().from(notificationEvents).where(eq(notificationEvents.notificationId, quick.body.id)).orderBy(notificationEvents.id);
    expect(events.map((e) => e.status)).toEqual(['accepted', 'sending', 'sent']);
    const [accepted, sending, sent] = events.map((e) => new Date(e.at).getTime());
    expect(sending).toBeGreaterThanOrEqual(accepted);
    expect(sending).toBeLessThanOrEqual(sent);

    // Slow: past SENDING_RECORD_AFTER_MS the run reads `sending` while the provider has not answered.
    h.hook.enqueue({ delayMs: SENDING_RECORD_AFTER_MS + 2000 });
    const slow = await send(h, { channels: ['webhook'] });
    await until(
      async () => (await h!.call('GET', `/v1/notifications/${slow.body.id}`)).body.status,
      (status) => status === 'sending',
    );
    expect(h.hook.requests.filter((r) => r.body?.notificationId === slow.body.id).every((r) => r.status === undefined)).toBe(true);
    expect((await h.handle(slow.body.id).result()).status).toBe('sent');
    expect(await eventStatuses(h, slow.body.id)).toEqual(['accepted', 'sending', 'sent']);
    expect(await deliveryStatuses(h, slow.body.id)).toEqual([['webhook', 'sent']]);
  });

  it('wakes in its local activity instead when the delivery could not wake it (wake_deferred), and sends once', async () => {
    // The delivery's wake fails as it does when the database is away (activities/index.ts
    // wakeThenDeliver; test/deliver-records-sent.test.ts checks that answer on a closed database).
    let deferred = 0;
    const deferWakes: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        const arg = input.args[0] as { wake?: unknown } | undefined;
        if (arg && typeof arg === 'object' && 'wake' in arg) {
          deferred += 1;
          throw ApplicationFailure.create({ type: 'wake_deferred', message: 'the database is away', nonRetryable: true });
        }
        return next(input);
      },
    };
    h = await startHarness({ worker: { interceptors: { activity: [() => ({ inbound: deferWakes })] } } });
    await seed(h);
    const res = await send(h, { channels: ['webhook'] });
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    expect(deferred).toBe(1);
    expect(h.hook.requests).toHaveLength(1);
    expect(await eventStatuses(h, res.body.id)).toEqual(['accepted', 'sending', 'sent']);
    const history = (await h.handle(res.body.id).fetchHistory()).events ?? [];
    expect(history.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(1);
    const inputs = (await scheduledActivities(h, res.body.id)).map((a) => a.input);
    expect(inputs.map((i) => ('wake' in i ? 'waking' : 'delivery'))).toEqual(['waking', 'delivery']);
  });
});

const NY_QUIET = { quietHours: { start: '22:00', end: '07:00', timezone: 'America/New_York' } };

describe('quiet hours defer, never drop', () => {
  async function heldAt(eventIso: string, expectedReleaseIso: string, body: Record<string, unknown> = {}) {
    h = await seeded();
    expect((await h.call('PUT', '/v1/recipients/user-42/preferences', NY_QUIET)).status).toBe(200);
    await skipTo(h, eventIso);
    const res = await send(h, body);
    const held = await waitForState(h, res.body.id, (s) => s.status === 'held');
    expect(held.releaseAt).toBe(new Date(expectedReleaseIso).toISOString());
    const shown = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(shown.body).toMatchObject({ status: 'held', reason: 'quiet_hours', releaseAt: new Date(expectedReleaseIso).toISOString() });
    expect(h.hook.requests).toHaveLength(0);

    const final = await h.handle(res.body.id).result();
    expect(final.status).toBe('sent');
    const times = await activityStartTimes(h, res.body.id);
    const release = Date.parse(expectedReleaseIso);
    expect(times.deliverWebhook.scheduled).toBeGreaterThanOrEqual(release);
    expect(times.deliverWebhook.scheduled - release).toBeLessThan(60_000);
    expect(h.hook.requests).toHaveLength(1);
    return res.body.id as string;
  }

  it('sends a 23:30 event at 07:00 local the next morning', () =>
    heldAt('2027-06-11T03:30:00Z' /* 23:30 EDT */, '2027-06-11T11:00:00Z' /* 07:00 EDT */));

  it('holds a single channel its delivery woke, and sends it at 07:00: never recorded sending before', async () => {
    const id = await heldAt('2027-06-11T03:30:00Z', '2027-06-11T11:00:00Z', { channels: ['webhook'] });
    expect(await eventStatuses(h!, id)).toEqual(['accepted', 'held', 'sending', 'sent']);
    const inputs = (await scheduledActivities(h!, id)).map((a) => a.input);
    expect(inputs.map((i) => ('wake' in i ? 'waking' : 'delivery'))).toEqual(['waking', 'delivery']);
  });

  it('sends at 07:00 local on the night clocks spring forward', () =>
    heldAt('2027-03-14T04:30:00Z' /* 23:30 EST, Mar 13 */, '2027-03-14T11:00:00Z' /* 07:00 EDT */));

  it('sends at 07:00 local on the night clocks fall back', () =>
    heldAt('2027-11-07T03:30:00Z' /* 23:30 EDT, Nov 6 */, '2027-11-07T12:00:00Z' /* 07:00 EST */));

  it('sends critical notifications at once, but never past an explicit opt-out', async () => {
    h = await seeded();
    await h.call('PUT', '/v1/recipients/user-42/preferences', { ...NY_QUIET, channels: { inapp: false } });
    await skipTo(h, '2027-06-11T03:30:00Z');
    const res = await send(h, { priority: 'critical' });
    const final = await h.handle(res.body.id).result();
    expect(final.status).toBe('sent');
    const times = await activityStartTimes(h, res.body.id);
    expect(times.deliverWebhook.scheduled - Date.parse('2027-06-11T03:30:00Z')).toBeLessThan(60_000);
    expect(times.deliverInapp).toBeUndefined();
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.deliveries.find((d: any) => d.channel === 'inapp')).toMatchObject({ status: 'skipped', error: { code: 'opted_out' } });
  });

  it('sends nothing when cancelled while held', async () => {
    h = await seeded();
    await h.call('PUT', '/v1/recipients/user-42/preferences', NY_QUIET);
    await skipTo(h, '2027-06-11T03:30:00Z');
    const res = await send(h);
    await waitForState(h, res.body.id, (s) => s.status === 'held');
    const cancel = await h.call('POST', `/v1/notifications/${res.body.id}/cancel`);
    expect(cancel).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    expect((await h.handle(res.body.id).result()).status).toBe('cancelled');
    await h.env.sleep('12 hours');
    expect(h.hook.requests).toHaveLength(0);
    expect((await h.call('GET', '/v1/recipients/user-42/inbox/count')).body).toEqual({ total: 0, unread: 0 });
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.status).toBe('cancelled');
    expect(got.body.deliveries.every((d: any) => d.status === 'cancelled')).toBe(true);
    expect((await h.call('POST', `/v1/notifications/${res.body.id}/cancel`)).status).toBe(200);
  });

  it('skips a channel the recipient opted out of while the notification was held', async () => {
    h = await seeded();
    await h.call('PUT', '/v1/recipients/user-42/preferences', NY_QUIET);
    await skipTo(h, '2027-06-11T03:30:00Z');
    const res = await send(h);
    await waitForState(h, res.body.id, (s) => s.status === 'held');
    await h.call('PUT', '/v1/recipients/user-42/preferences', { ...NY_QUIET, channels: { webhook: false } });
    const final = await h.handle(res.body.id).result();
    expect(final.status).toBe('sent');
    expect(h.hook.requests).toHaveLength(0);
    expect(await deliveryStatuses(h, res.body.id)).toEqual([
      ['webhook', 'skipped'],
      ['inapp', 'sent'],
    ]);
  });

  it('suppresses a notification whose every channel is opted out', async () => {
    h = await seeded();
    await h.call('PUT', '/v1/recipients/user-42/preferences', { categories: { marketing: { enabled: false } } });
    const res = await send(h, { category: 'marketing' });
    expect((await h.handle(res.body.id).result()).status).toBe('suppressed');
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body).toMatchObject({ status: 'suppressed', reason: 'preferences' });
    expect(got.body.deliveries.every((d: any) => d.status === 'skipped')).toBe(true);
  });
});

describe('sendAt, retries, fallback, pinning, idempotency', () => {
  it('fires a sendAt notification at its time, and is scheduled until then', async () => {
    h = await seeded();
    const now = Number(await h.env.currentTimeMs());
    const sendAt = new Date(now + 3 * 3600_000).toISOString();
    const res = await send(h, { sendAt });
    const s = await waitForState(h, res.body.id, (x) => x.status === 'scheduled');
    expect(s.releaseAt).toBe(sendAt);
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    const times = await activityStartTimes(h, res.body.id);
    expect(times.deliverWebhook.scheduled).toBeGreaterThanOrEqual(Date.parse(sendAt));
    expect(times.deliverWebhook.scheduled - Date.parse(sendAt)).toBeLessThan(60_000);
  });

  it('retries a webhook answering 503 twice and sends it on the third attempt at the backoff times', async () => {
    h = await seeded();
    h.hook.enqueue({ status: 503 }, { status: 503 });
    const res = await send(h, { channels: ['webhook'] });
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    expect(h.hook.requests).toHaveLength(3);
    // Same event id on every attempt, so receivers can de-duplicate.
    expect(new Set(h.hook.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const t = await activityStartTimes(h, res.body.id);
    expect(t.deliverWebhook.attempt).toBe(3);
    // The activity's retry policy, as the workflow scheduled it: initial 1 s, coefficient 2, so the
    // third attempt starts no sooner than +3 s (a loaded machine only makes it later).
    expect(t.deliverWebhook.retry).toEqual({ initialIntervalMs: 1000, backoffCoefficient: 2 });
    expect(t.deliverWebhook.started - t.deliverWebhook.scheduled).toBeGreaterThanOrEqual(3000);
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.deliveries[0]).toMatchObject({ channel: 'webhook', status: 'sent', attempts: 3, error: null });
    const attempts = await h.db.db.query.deliveryAttempts.findMany({ orderBy: (a, { asc }) => [asc(a.attempt)] });
    expect(attempts.map((a) => [a.attempt, a.outcome, a.errorCode])).toEqual([
      [1, 'failed', 'provider_unavailable'],
      [2, 'failed', 'provider_unavailable'],
      [3, 'sent', null],
    ]);
  });

  it('does not retry a 400, and first-success falls back to the next channel', async () => {
    h = await seeded();
    h.hook.enqueue({ status: 400, body: { error: 'no such user' } });
    const res = await send(h, { channels: ['webhook', 'inapp'], strategy: 'first-success' });
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    expect(h.hook.requests).toHaveLength(1);
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.status).toBe('sent');
    expect(got.body.deliveries).toMatchObject([
      { channel: 'webhook', status: 'failed', attempts: 1, error: { code: 'provider_rejected' } },
      { channel: 'inapp', status: 'sent', attempts: 1 },
    ]);
  });

  it('fails a delivery whose template goes past the render limit at once, template_render_failed, without retries', async () => {
    h = await seeded();
    const loops = '{% for a in items %}{% for b in items %}{% for c in items %}{{ c }}{% endfor %}{% endfor %}{% endfor %}';
    const t = await h.call('POST', '/v1/templates', { key: 'loops', content: { en: { webhook: { event: 'loops', body: loops }, inapp: { title: 'fine', body: '{{ items | size }} items' } } } });
    expect(t.status).toBe(201);
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const res = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'loops', data: { items }, channels: ['webhook', 'inapp'] });
    expect(res.status).toBe(202);
    // Stopped by the render limit on the first attempt (below), not retried until some timeout.
    expect((await h.handle(res.body.id).result()).status).toBe('partially_sent');
    expect(h.hook.requests).toHaveLength(0);
    const got = await h.call('GET', `/v1/notifications/${res.body.id}`);
    expect(got.body.deliveries).toMatchObject([
      { channel: 'webhook', status: 'failed', attempts: 1, error: { code: 'template_render_failed', message: expect.stringMatching(/webhook\.body took longer than 300 ms/) } },
      { channel: 'inapp', status: 'sent', attempts: 1 },
    ]);
    expect((await activityStartTimes(h, res.body.id)).deliverWebhook.attempt).toBe(1);
    const attempts = await h.db.db.query.deliveryAttempts.findMany();
    expect(attempts.filter((a) => a.deliveryId.endsWith('.webhook')).map((a) => [a.attempt, a.outcome, a.errorCode])).toEqual([[1, 'failed', 'template_render_failed']]);
  });

  it('skips the channels after the first that is sent', async () => {
    h = await seeded();
    const res = await send(h, { channels: ['inapp', 'webhook'], strategy: 'first-success' });
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
    expect(h.hook.requests).toHaveLength(0);
    expect(await deliveryStatuses(h, res.body.id)).toEqual([
      ['inapp', 'sent'],
      ['webhook', 'skipped'],
    ]);
  });

  it('sends the template version pinned at acceptance, even if a new one is published while it waits', async () => {
    h = await seeded();
    const now = Number(await h.env.currentTimeMs());
    const res = await send(h, { sendAt: new Date(now + 3600_000).toISOString() });
    await waitForState(h, res.body.id, (x) => x.status === 'scheduled');
    const v2 = await h.call('PUT', '/v1/templates/order-shipped', {
      content: { en: { inapp: { title: 'V2 {{ order.id }}', body: 'v2' }, webhook: { event: 'v2' } } },
    });
    expect(v2.body.version).toBe(2);
    await h.handle(res.body.id).result();
    expect(JSON.parse(h.hook.requests[0].rawBody).content.event).toBe('order.shipped');
    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body.data[0].title).toBe('Order 7 shipped');
    expect((await h.call('GET', `/v1/notifications/${res.body.id}`)).body.templateVersion).toBe(1);
  });

  it('starts one workflow for concurrent submits with the same Idempotency-Key, and 409s another body', async () => {
    h = await seeded();
    const key = { 'idempotency-key': 'order-7-shipped' };
    const answers = await Promise.all(Array.from({ length: 5 }, () => send(h!, {}, key)));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    await h.handle(id).result();
    expect(h.hook.requests).toHaveLength(1);
    expect(await h.db.db.query.notifications.findMany()).toHaveLength(1);
    expect((await send(h, {}, key)).body.id).toBe(id);
    const other = await send(h, { data: { order: { id: 8 }, name: 'Ann' } }, key);
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ status: 409, title: 'Conflict' });
  });

  it('cancels a scheduled notification, and answers 409 once it has finished', async () => {
    h = await seeded();
    const now = Number(await h.env.currentTimeMs());
    const later = await send(h, { sendAt: new Date(now + 3600_000).toISOString() });
    await waitForState(h, later.body.id, (x) => x.status === 'scheduled');
    expect((await h.call('POST', `/v1/notifications/${later.body.id}/cancel`)).status).toBe(200);
    await h.handle(later.body.id).result();
    const done = await send(h);
    await h.handle(done.body.id).result();
    const late = await h.call('POST', `/v1/notifications/${done.body.id}/cancel`);
    expect(late.status).toBe(409);
    expect(h.hook.requests).toHaveLength(1);
  });
});

describe('nothing accepted is lost, nothing is left without its record', () => {
  const body = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };

  /** What a first request that died after claiming its Idempotency-Key leaves behind: the claim. */
  async function claimedBy(x: Harness, key: string, id: string) {
    const parsed = NotificationBody.parse(body);
    await x.db.db.insert(idempotencyKeys).values({ tenantId: x.tenantId, key, requestHash: sha256(canonicalJson(parsed)), resourceId: id });
    return parsed;
  }

  it('starts the workflow that a request which died before starting left behind, when it is retried, and never runs it twice', async () => {
    h = await seeded();
    const id = 'ntf_crashed_before_start';
    await claimedBy(h, 'k1', id);
    expect(await h.db.db.query.notifications.findMany()).toHaveLength(0);

    const retried = await send(h, {}, { 'idempotency-key': 'k1' });
    expect(retried).toMatchObject({ status: 202, body: { id } });
    expect((await h.handle(id).result()).status).toBe('sent');
    const again = await send(h, {}, { 'idempotency-key': 'k1' });
    expect(again).toMatchObject({ status: 202, body: { id, status: 'sent' } });
    expect(h.hook.requests).toHaveLength(1);
  });

  it('a run whose API died between the start and the record writes its own record', async () => {
    h = await seeded();
    const id = 'ntf_crashed_after_start';
    const parsed = await claimedBy(h, 'k2', id);
    // The start went through; the API died before it wrote the row.
    const input = await prepareNotification(h.db.db, h.tenantId, parsed, { id, retry: fastRetry });
    await h.env.client.workflow.start('notificationWorkflow', notificationStartOptions(input, h.taskQueue));
    expect((await h.handle(id).result()).status).toBe('sent');
    const rows = await h.db.db.query.notifications.findMany();
    expect(rows.map((r) => [r.id, r.status])).toEqual([[id, 'sent']]);
    // The client's retry answers the same notification; nothing is sent again.
    expect(await send(h, {}, { 'idempotency-key': 'k2' })).toMatchObject({ status: 202, body: { id, status: 'sent' } });
    expect(h.hook.requests).toHaveLength(1);
  });

  it('a start whose answer is lost answers 503, deletes nothing, and the retry joins the run that did start', async () => {
    let lose = true;
    h = await startHarness({
      clientInterceptors: [loseStartAnswers(() => lose)],
    });
    await seed(h);
    const first = await send(h, {}, { 'idempotency-key': 'k3' });
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ status: 503 });
    // The server did start it: the run records itself and sends, though the client heard 503.
    const [row] = await until(async () => (await h!.db.db.query.notifications.findMany()).filter((r) => r.status === 'sent'), (rows) => rows.length === 1);
    lose = false;
    const retried = await send(h, {}, { 'idempotency-key': 'k3' });
    expect(retried).toMatchObject({ status: 202, body: { id: row.id, status: 'sent' } });
    expect(h.hook.requests).toHaveLength(1);
    expect(await h.db.db.query.notifications.findMany()).toHaveLength(1);
  });
});
