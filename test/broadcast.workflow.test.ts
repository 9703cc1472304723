// Broadcasts on the time-skipping server, through the API: 1,000 recipients each.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { recipients } from '../db/schema.js';
import { broadcastNotificationId } from '../domain/broadcast.js';
import { registerSearchAttributes } from '../worker/index.js';
import { workflowIds } from '../workflows/messages.js';
import { startFakeServer, type FakeServer } from './fakes/server.js';
import { startHarness, type Harness } from './harness.js';
import { localEnv, testWorker, uniqueQueue } from './support.js';
import { until } from './until.js';

let h: Harness | undefined;
let failing: FakeServer | undefined;
let dev: { env: TestWorkflowEnvironment; worker: Worker; running: Promise<void> } | undefined;
afterEach(async () => {
  if (dev) {
    dev.worker.shutdown();
    await dev.running;
  }
  await h?.close();
  await dev?.env.teardown();
  await failing?.close();
  h = failing = dev = undefined;
});

/**
 * The API and a worker on the Temporal dev server, as in production. (The time-skipping test
 * server mishandles a cancel that crosses an activity's completion under load, leaving that
 * notification's workflow task stuck; the real server does not.)
 */
async function startOnDevServer(opts: Parameters<typeof startHarness>[0] = {}) {
  const env = await localEnv();
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  const taskQueue = uniqueQueue('broadcast');
  const x = await startHarness({ ...opts, app: { ...opts.app, temporal: { client: env.client, taskQueue, ping: async () => {} } } });
  const worker = await testWorker(env, x.db, taskQueue);
  dev = { env, worker, running: worker.run() };
  return x;
}

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
    h = await startOnDevServer({ app: { broadcastTuning: { pageSize: 100, maxInFlight: 20 } } });
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
    expect((await refuse({ recipients: ['c-0000'], all: true })).body.errors).toEqual([{ path: 'recipients', message: 'give either recipients or "all": true' }]);
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
      () => Promise.all(held.map((id) => dev!.env.client.workflow.getHandle(workflowIds.notification(h!.tenantId, id)).describe())),
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
});
