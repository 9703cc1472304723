// Broadcasts on the time-skipping server, through the API: 1,000 recipients each.
import { afterEach, describe, expect, it } from 'vitest';
import { count, eq, sql } from 'drizzle-orm';
import { deliveryAttempts, inboxMessages, notificationEvents, notifications, recipients } from '../db/schema.js';
import { broadcastNotificationId } from '../domain/broadcast.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { startFakeServer, type FakeServer } from './fakes/server.js';
import { startDevHarness, startHarness, type Harness } from './harness.js';
import { until } from './until.js';

let h: Harness | undefined;
let failing: FakeServer | undefined;
afterEach(async () => {
  await h?.close();
  await failing?.close();
  h = failing = undefined;
});

/** Quiet hours that hold a recipient now and for the next two hours, on the wall clock. */
function quietNow() {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  return { start: hhmm(Date.now() - 3600_000), end: hhmm(Date.now() + 2 * 3600_000), timezone: 'UTC' };
}

type RecipientRow = typeof recipients.$inferInsert;
const pad = (i: number) => String(i).padStart(4, '0');

/** Writes recipients straight to the database: a thousand PUTs would only slow the test down. */
async function addRecipients(x: Harness, rows: Array<Omit<RecipientRow, 'tenantId'>>) {
  await x.db.db.insert(recipients).values(rows.map((r) => ({ ...r, tenantId: x.tenantId })));
}

async function addTemplate(x: Harness) {
  const t = await x.call('POST', '/v1/templates', {
    key: 'launch',
    content: { en: { inapp: { title: 'We launched {{ product }}', body: 'Try it.' }, webhook: { event: 'launch', product: '{{ product }}' } } },
  });
  expect(t.status).toBe(201);
}

const progress = (x: Harness, id: string) => x.call('GET', `/v1/broadcasts/${id}`).then((r) => r.body);

describe('broadcasts', () => {
  it('reaches 1,000 recipients with exact counts: addresses, preferences and failures per recipient', { timeout: 240_000 }, async () => {
    h = await startHarness();
    failing = await startFakeServer(() => ({ status: 400, body: { error: 'unknown endpoint' } }));
    await addTemplate(h);
    const hook = { webhookUrl: `${h.hook.url}/hooks` };
    await addRecipients(h, [
      ...Array.from({ length: 300 }, (_, i) => ({ id: `r-${pad(i)}`, ...hook })),
      // The webhook answers 400: failed.
      ...Array.from({ length: 50 }, (_, i) => ({ id: `f-${pad(i)}`, webhookUrl: `${failing!.url}/hook` })),
      // Marketing turned off: suppressed by preferences, in their own notification workflow.
      ...Array.from({ length: 150 }, (_, i) => ({ id: `o-${pad(i)}`, ...hook, preferences: { categories: { marketing: { enabled: false } } } })),
      // No webhook address: suppressed as the page is prepared (a POST would answer 400).
      ...Array.from({ length: 500 }, (_, i) => ({ id: `n-${pad(i)}` })),
    ]);

    const started = Date.now();
    const request = { all: true, template: 'launch', data: { product: 'Tocsin' }, category: 'marketing', channels: ['webhook'] };
    const res = await h.call('POST', '/v1/broadcasts', request, { 'idempotency-key': 'launch-day' });
    expect(res).toMatchObject({ status: 202, body: { status: 'running', total: 1000 } });
    // A retried request is the same broadcast, never a second one.
    expect(await h.call('POST', '/v1/broadcasts', request, { 'idempotency-key': 'launch-day' })).toMatchObject({ status: 202, body: { id: res.body.id } });
    expect((await h.call('POST', '/v1/broadcasts', { ...request, data: { product: 'Other' } }, { 'idempotency-key': 'launch-day' })).status).toBe(409);
    const done = await until(() => progress(h!, res.body.id), (b) => b.status !== 'running', 200_000, 200);
    expect(done).toMatchObject({ id: res.body.id, status: 'completed', total: 1000, sent: 300, failed: 50, suppressed: 650, cancelled: 0, pending: 0 });
    console.log(`broadcast of 1,000 completed in ${Date.now() - started} ms`);

    expect(h.hook.requests).toHaveLength(300);
    expect(new Set(h.hook.requests.map((r) => r.body.recipient)).size).toBe(300);
    expect(h.hook.requests[0].body).toMatchObject({ template: 'launch', content: { event: 'launch', product: 'Tocsin' }, data: { product: 'Tocsin' } });
    expect(failing.requests).toHaveLength(50);
    // Each recipient has an ordinary notification record.
    const one = async (recipient: string) => (await h!.call('GET', `/v1/notifications?recipient=${recipient}`)).body.data[0];
    expect(await one('f-0007')).toMatchObject({ status: 'failed', template: 'launch', deliveries: [{ channel: 'webhook', status: 'failed' }] });
    expect(await one('o-0007')).toMatchObject({ status: 'suppressed', reason: 'preferences' });
    expect(await one('n-0007')).toMatchObject({ status: 'suppressed', reason: 'no_channel', deliveries: [] });
    // A finished broadcast cannot be cancelled.
    expect((await h.call('POST', `/v1/broadcasts/${res.body.id}/cancel`)).status).toBe(409);
  });

  it('cancel mid-way stops every recipient not yet sent: held ones and those never started', { timeout: 240_000 }, async () => {
    // Small pages and a low in-flight bound, so the fan-out is still going when the cancel comes.
    // On the dev server, as in production: the time-skipping test server mishandles a cancel
    // that crosses an activity's completion under load, leaving that workflow task stuck.
    h = await startDevHarness({ queuePrefix: 'broadcast', app: { broadcastTuning: { pageSize: 100, maxInFlight: 20 } } });
    await addTemplate(h);
    const ids = Array.from({ length: 1000 }, (_, i) => `c-${pad(i)}`);
    await addRecipients(
      h,
      ids.map((id, i) => ({
        id,
        webhookUrl: `${h!.hook.url}/hooks`,
        // The first hundred are in quiet hours: held, not yet sent.
        ...(i < 100 ? { preferences: { quietHours: quietNow() } } : {}),
      })),
    );
    // 150 sends answer at once, the rest take 3 s: when 150 are sent the fan-out waits on slow
    // sends in flight, and the cancel reaches deliveries that are running.
    h.hook.enqueue(...Array.from({ length: 1000 }, (_, i) => ({ delayMs: i < 150 ? 0 : 3000 })));

    // Refused at once, naming what is wrong; nothing is written or started.
    const refuse = (body: Record<string, unknown>) => h!.call('POST', '/v1/broadcasts', { template: 'launch', data: { product: 'x' }, ...body });
    expect((await refuse({ recipients: ['c-0000'], all: true })).body.errors).toEqual([{ path: 'recipients', message: 'give one of recipients, "all": true, topic or segment' }]);
    expect((await refuse({ recipients: ['c-0000', 'nobody'] })).body.errors).toEqual([{ path: 'recipients', message: 'unknown recipients: nobody' }]);
    expect((await refuse({ recipients: ['c-0000'], data: {} })).body.errors.map((e: any) => e.path)).toEqual(['data.product']);
    expect((await refuse({ recipients: ['c-0000'], channels: ['sms'] })).body.errors.map((e: any) => e.path)).toEqual(['channels.0']);

    const res = await h.call('POST', '/v1/broadcasts', { recipients: ids, template: 'launch', data: { product: 'Tocsin' }, channels: ['webhook'] });
    expect(res.status).toBe(202);
    await until(() => progress(h!, res.body.id), (b) => b.sent >= 150, 200_000, 20);
    const cancel = await h.call('POST', `/v1/broadcasts/${res.body.id}/cancel`);
    expect(cancel).toMatchObject({ status: 200, body: { status: 'cancelled' } });

    const end = await until(() => progress(h!, res.body.id), (b) => b.pending === 0, 200_000, 200);
    expect(end).toMatchObject({ status: 'cancelled', total: 1000, failed: 0, suppressed: 0, pending: 0 });
    expect(end.sent + end.cancelled).toBe(1000);
    expect(end.sent).toBeGreaterThanOrEqual(150);
    expect(end.sent).toBeLessThan(900); // pages after the cancel were never started
    // The held ones were stopped: cancelled, and their workflows have finished, so nothing
    // more can go out, not even when their quiet hours end.
    const held = ids.slice(0, 100).map((_, seq) => broadcastNotificationId(res.body.id, seq));
    for (const id of held) expect((await h.call('GET', `/v1/notifications/${id}`)).body).toMatchObject({ status: 'cancelled' });
    // The cancelled status is recorded just before each run completes.
    const runs = await until(
      () => Promise.all(held.map((id) => h!.handle(id).describe())),
      (rs) => rs.every((r) => r.status.name !== 'RUNNING'),
      20_000,
      100,
    );
    expect(new Set(runs.map((r) => r.status.name))).toEqual(new Set(['COMPLETED']));
    const requests = h.hook.requests.length;
    expect(requests).toBeGreaterThanOrEqual(end.sent);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.hook.requests.length).toBe(requests);
    expect(await progress(h, res.body.id)).toMatchObject({ sent: end.sent, cancelled: end.cancelled });
    // Cancelling again is harmless.
    expect((await h.call('POST', `/v1/broadcasts/${res.body.id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
  });

  describe('in batches (broadcastBatchWorkflow)', () => {
    /** Rows of the broadcast's notifications in a table, counted straight from the database. */
    const rowsOf = async (x: Harness, broadcastId: string) => {
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
    };

    /** Quiet hours that began an hour ago and end `minutes` from now (UTC, HH:MM). */
    const quietFor = (minutes: number) => {
      const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
      return { start: hhmm(Date.now() - 3_600_000), end: hhmm(Date.now() + minutes * 60_000), timezone: 'UTC' };
    };

    it('reaches 1,000 in-app recipients with exact counts and inbox messages; quiet hours defer, not drop', { timeout: 400_000 }, async () => {
      h = await startHarness();
      await addTemplate(h);
      await addRecipients(h, [
        ...Array.from({ length: 850 }, (_, i) => ({ id: `a-${pad(i)}` })),
        // In-app turned off: suppressed by preferences in the batch.
        ...Array.from({ length: 50 }, (_, i) => ({ id: `o-${pad(i)}`, preferences: { channels: { inapp: false } } })),
        // Quiet now, for one or two minutes more: each held in its own notification workflow.
        ...Array.from({ length: 50 }, (_, i) => ({ id: `q-${pad(i)}`, preferences: { quietHours: quietFor(2) } })),
        // A webhook too: sent on both channels by its own notification workflow.
        ...Array.from({ length: 50 }, (_, i) => ({ id: `w-${pad(i)}`, webhookUrl: `${h!.hook.url}/hooks` })),
      ]);
      const res = await h.call('POST', '/v1/broadcasts', { all: true, template: 'launch', data: { product: 'Tocsin' } });
      expect(res).toMatchObject({ status: 202, body: { status: 'running', total: 1000 } });
      const id = res.body.id as string;

      // Everyone but the held ones is done; those are waiting, not dropped.
      const before = await until(() => progress(h!, id), (b) => b.sent === 900, 200_000, 200);
      expect(before).toMatchObject({ status: 'running', total: 1000, sent: 900, failed: 0, suppressed: 50, pending: 50 });
      const quiet = broadcastNotificationId(id, 900);
      expect((await h.call('GET', `/v1/notifications/${quiet}`)).body).toMatchObject({ status: 'held', reason: 'quiet_hours' });

      // Quiet hours end within two minutes of wall time (this server's clock does not skip
      // here: the broadcast polls its held notifications), and the held ones are sent then.
      await h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, id)).result();
      const done = await progress(h, id);
      expect(done).toMatchObject({ status: 'completed', total: 1000, sent: 950, failed: 0, suppressed: 50, cancelled: 0, pending: 0 });
      expect((await h.call('GET', `/v1/notifications/${quiet}`)).body).toMatchObject({ status: 'sent', deliveries: [{ channel: 'inapp', status: 'sent' }] });
      expect(h.hook.requests).toHaveLength(50);

      // Each batch recipient has its ordinary record, deliveries, events and inbox message.
      const one = await h.call('GET', `/v1/notifications/${broadcastNotificationId(id, 7)}`);
      expect(one.body).toMatchObject({ status: 'sent', template: 'launch', recipient: 'a-0007', deliveries: [{ channel: 'inapp', status: 'sent' }] });
      const inbox = await h.call('GET', '/v1/recipients/a-0007/inbox');
      expect(inbox.body.data).toEqual([expect.objectContaining({ notificationId: broadcastNotificationId(id, 7), title: 'We launched Tocsin', body: 'Try it.', read: false })]);
      expect((await h.call('GET', `/v1/notifications?recipient=o-0007`)).body.data[0]).toMatchObject({ status: 'suppressed', reason: 'preferences' });
      expect(await rowsOf(h, id)).toMatchObject({ notifications: 1000, inbox: 950 });
    });

    it('a batch killed mid-page resumes and sends nothing twice', { timeout: 240_000 }, async () => {
      let killed = 0;
      const attempts: Array<{ nextSeq: number; attempt: number }> = [];
      h = await startHarness({
        app: { broadcastTuning: { pageSize: 500, maxInFlight: 20 } },
        activities: {
          // The page's activity dies after its third chunk (300 rows) is committed, once.
          afterBroadcastChunk: ({ nextSeq, attempt }) => {
            attempts.push({ nextSeq, attempt });
            if (nextSeq === 300 && killed++ === 0) throw new Error('worker killed mid-page');
          },
        },
      });
      await addTemplate(h);
      await addRecipients(h, Array.from({ length: 1000 }, (_, i) => ({ id: `k-${pad(i)}` })));
      const res = await h.call('POST', '/v1/broadcasts', { all: true, template: 'launch', data: { product: 'Tocsin' }, channels: ['inapp'] });
      const id = res.body.id as string;
      await h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, id)).result();
      expect(killed).toBe(1);
      // The page ran again (from its last heartbeat where the server keeps it, else from its start).
      expect(attempts.filter((a) => a.attempt === 2).length).toBeGreaterThan(0);
      expect(await progress(h, id)).toMatchObject({ status: 'completed', total: 1000, sent: 1000, failed: 0, suppressed: 0, pending: 0 });
      // Exactly one of everything per recipient: accepted, sending, sent.
      expect(await rowsOf(h, id)).toEqual({ notifications: 1000, inbox: 1000, events: 3000, attempts: 1000 });
    });

    it('cancel mid-way stops every page not yet sent and the held recipients', { timeout: 240_000 }, async () => {
      // One chunk per page, each slowed down, so the cancel lands between pages.
      h = await startHarness({
        app: { broadcastTuning: { pageSize: 100, maxInFlight: 1000 } },
        activities: { afterBroadcastChunk: () => new Promise((r) => setTimeout(r, 300)) },
      });
      await addTemplate(h);
      const ids = Array.from({ length: 1000 }, (_, i) => `c-${pad(i)}`);
      await addRecipients(
        h,
        ids.map((rid, i) => ({ id: rid, ...(i < 20 ? { preferences: { quietHours: { start: '00:00', end: '23:59', timezone: 'UTC' } } } : {}) })),
      );
      const res = await h.call('POST', '/v1/broadcasts', { recipients: ids, template: 'launch', data: { product: 'Tocsin' }, channels: ['inapp'] });
      const id = res.body.id as string;
      await until(() => progress(h!, id), (b) => b.sent >= 200, 200_000, 20);
      expect((await h.call('POST', `/v1/broadcasts/${id}/cancel`)).body).toMatchObject({ status: 'cancelled' });
      await h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, id)).result();
      const end = await progress(h, id);
      expect(end).toMatchObject({ status: 'cancelled', total: 1000, failed: 0, suppressed: 0, pending: 0 });
      expect(end.sent + end.cancelled).toBe(1000);
      expect(end.sent).toBeLessThan(700); // pages after the cancel were never sent
      for (let seq = 0; seq < 20; seq++) expect((await h.call('GET', `/v1/notifications/${broadcastNotificationId(id, seq)}`)).body).toMatchObject({ status: 'cancelled' });
      const rows = await rowsOf(h, id);
      expect(rows.inbox).toBe(end.sent);
      await new Promise((r) => setTimeout(r, 1000));
      expect(await progress(h, id)).toMatchObject({ sent: end.sent, cancelled: end.cancelled });
    });
  });
});
