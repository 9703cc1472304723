// Flows on the time-skipping test server, driven through the API: definitions validated at PUT,
// the interpreter's steps (send, wait for read and for an event, branch, delay, fetch), cancel,
// preview, and runs that keep their pinned version while the flow changes.
import { afterEach, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { createEmailSender } from '../activities/channels/email.js';
import { createInappSender } from '../activities/channels/inapp.js';
import type { ChannelSender } from '../activities/channels/types.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { notifications } from '../db/schema.js';
import type { Channel } from '../domain/types.js';
import { signalFlowWaits } from '../usecases/flows.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import { activityStartTimes, startHarness, type Harness } from './harness.js';
import { LOCAL_RECEIVERS } from './support.js';
import { until } from './until.js';

let h: Harness | undefined;
let resend: FakeResend | undefined;
afterEach(async () => {
  await h?.close();
  await resend?.close();
  h = resend = undefined;
});

const HOUR = 3600;

/** The harness with in-app, webhook and email (the fake Resend); a recipient with both addresses; templates. */
async function start(opts: Parameters<typeof startHarness>[0] = {}) {
  resend = await startFakeResend();
  const senders: Partial<Record<Channel, ChannelSender>> = {
    email: createEmailSender({ apiKey: 're_test_key', baseUrl: resend.url, from: 'Tocsin <n@example.com>' })!,
    webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }),
  };
  h = await startHarness({ ...opts, senders });
  senders.inapp = createInappSender(h.db.db);
  const r = await h.call('PUT', '/v1/recipients/user-42', { email: 'ann@example.com', webhookUrl: `${h.hook.url}/hooks` });
  expect(r.status).toBe(200);
  const t = await h.call('POST', '/v1/templates', {
    key: 'nudge',
    content: {
      en: {
        inapp: { title: 'Order {{ order }} is waiting', body: 'Plan: {{ profile.plan | default: "none" }}' },
        email: { subject: 'Order {{ order }} is still waiting', text: 'Pay for order {{ order }}.' },
        webhook: { step: 'webhook', order: '{{ order }}' },
      },
    },
  });
  expect(t.status).toBe(201);
  return h;
}

const readThenEmail = (waitFor: Record<string, unknown> = { for: 'read' }, timeoutSeconds = HOUR) => ({
  steps: [
    { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
    { id: 'wait', type: 'wait', ...waitFor, timeoutSeconds },
    { id: 'check', type: 'branch', if: 'steps.wait.outcome == "timed_out"', then: [{ id: 'email', type: 'send', channels: ['email'], template: 'nudge' }] },
  ],
});

async function putFlow(x: Harness, key: string, body: unknown) {
  const res = await x.call('PUT', `/v1/flows/${key}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { key: string; version: number };
}

async function sendFlow(x: Harness, flow: string, data: Record<string, unknown> = { order: 'A-7' }) {
  const res = await x.call('POST', '/v1/notifications', { recipient: 'user-42', flow, data });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

/** The steps as GET shows them, once `pred` holds (polling never lets the test server skip time). */
async function stepsWhen(x: Harness, id: string, pred: (steps: any[]) => boolean) {
  const got = await until(
    () => x.call('GET', `/v1/notifications/${id}`),
    (r) => r.status === 200 && Array.isArray(r.body.steps) && pred(r.body.steps),
    45_000,
  );
  return got.body.steps as any[];
}
const step = (steps: any[], id: string) => steps.find((s) => s.id === id);

describe('flow: in-app, wait for read, email if unread', () => {
  it('read within the hour: no email; the wait ends matched and the email step is skipped', async () => {
    h = await start();
    await putFlow(h, 'nudge', readThenEmail());
    const id = await sendFlow(h, 'nudge');
    await stepsWhen(h, id, (s) => step(s, 'wait').status === 'running');

    const read = await h.call('POST', `/v1/recipients/user-42/inbox/msg_${id}/read`);
    expect(read.body).toEqual({ updated: 1 });
    const final = await h.handle(id).result();
    expect(final.status).toBe('sent');

    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(got.body).toMatchObject({ status: 'sent', flow: 'nudge', flowVersion: 1 });
    expect(got.body.steps.map((s: any) => [s.id, s.status, s.outcome])).toEqual([
      ['inapp', 'done', 'sent'],
      ['wait', 'done', 'matched'],
      ['check', 'done', 'else'],
      ['email', 'skipped', undefined],
    ]);
    expect(got.body.deliveries.map((d: any) => [d.channel, d.status])).toEqual([
      ['inapp', 'sent'],
      ['email', 'skipped'],
    ]);
    expect(resend!.emails.size).toBe(0);
  });

  it('unread: exactly one email, an hour after the in-app item', async () => {
    h = await start();
    await putFlow(h, 'nudge', readThenEmail());
    const id = await sendFlow(h, 'nudge');
    const final = await h.handle(id).result();
    expect(final.status).toBe('sent');
    expect(resend!.emails.size).toBe(1);
    const [email] = [...resend!.emails.values()];
    expect(email).toMatchObject({ subject: 'Order A-7 is still waiting' });
    expect(JSON.stringify(email.to)).toContain('ann@example.com');

    const times = await activityStartTimes(h, id);
    expect(times.deliverEmail.scheduled - times.deliverInapp.scheduled).toBeGreaterThanOrEqual(HOUR * 1000);
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(got.body.steps.map((s: any) => [s.id, s.status, s.outcome])).toEqual([
      ['inapp', 'done', 'sent'],
      ['wait', 'done', 'timed_out'],
      ['check', 'done', 'then'],
      ['email', 'done', 'sent'],
    ]);
    expect(got.body.deliveries.map((d: any) => [d.channel, d.status])).toEqual([
      ['inapp', 'sent'],
      ['email', 'sent'],
    ]);
  });

  it('a read before the wait begins counts: the wait finds the item read', async () => {
    h = await start();
    await putFlow(h, 'slow', {
      steps: [
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
        { id: 'pause', type: 'delay', seconds: 60 },
        { id: 'wait', type: 'wait', for: 'read', timeoutSeconds: HOUR },
        { id: 'check', type: 'branch', if: 'steps.wait.outcome == "timed_out"', then: [{ id: 'email', type: 'send', channels: ['email'], template: 'nudge' }] },
      ],
    });
    const id = await sendFlow(h, 'slow');
    await stepsWhen(h, id, (s) => step(s, 'pause').status === 'running');
    expect((await h.call('POST', `/v1/recipients/user-42/inbox/msg_${id}/read`)).body).toEqual({ updated: 1 });
    await h.handle(id).result();
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(step(got.body.steps, 'wait')).toMatchObject({ status: 'done', outcome: 'matched' });
    expect(resend!.emails.size).toBe(0);
  });

  it('an order.paid event for the recipient ends the wait: no further send', async () => {
    h = await start();
    await putFlow(h, 'pay', readThenEmail({ for: 'event', event: 'order.paid', if: 'event.data.order == data.order' }));
    const id = await sendFlow(h, 'pay');
    await stepsWhen(h, id, (s) => step(s, 'wait').status === 'running');
    const deps = { db: h.db.db, temporal: { client: h.env.client, taskQueue: h.taskQueue } };

    // Another order's event, another recipient's, another name: none ends this wait.
    expect(await signalFlowWaits(deps, { tenantId: h.tenantId, name: 'order.paid', actor: 'user-42', data: { order: 'B-1' } })).toBe(1);
    expect(await signalFlowWaits(deps, { tenantId: h.tenantId, name: 'order.paid', actor: 'user-9', data: { order: 'A-7' } })).toBe(0);
    expect(await signalFlowWaits(deps, { tenantId: h.tenantId, name: 'order.shipped', recipients: ['user-42'], data: { order: 'A-7' } })).toBe(0);
    expect((await h.handle(id).query<any>('flow')).steps.find((s: any) => s.id === 'wait').status).toBe('running');

    expect(await signalFlowWaits(deps, { tenantId: h.tenantId, name: 'order.paid', recipients: ['user-42'], data: { order: 'A-7' } })).toBe(1);
    const final = await h.handle(id).result();
    expect(final.status).toBe('sent');
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(step(got.body.steps, 'wait')).toMatchObject({ status: 'done', outcome: 'matched' });
    expect(step(got.body.steps, 'email')).toMatchObject({ status: 'skipped' });
    expect(resend!.emails.size).toBe(0);
    // The run no longer waits: a second event finds nothing.
    expect(await signalFlowWaits(deps, { tenantId: h.tenantId, name: 'order.paid', actor: 'user-42', data: { order: 'A-7' } })).toBe(0);
  });

  it('cancel stops the flow in its wait: nothing more is sent', async () => {
    h = await start();
    await putFlow(h, 'nudge', readThenEmail());
    const id = await sendFlow(h, 'nudge');
    await stepsWhen(h, id, (s) => step(s, 'wait').status === 'running');
    const cancelled = await h.call('POST', `/v1/notifications/${id}/cancel`);
    expect(cancelled).toEqual({ status: 200, body: { status: 'cancelled' } });
    await h.handle(id).result();
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(got.body.status).toBe('cancelled');
    expect(got.body.steps.map((s: any) => [s.id, s.status, s.outcome])).toEqual([
      ['inapp', 'done', 'sent'],
      ['wait', 'skipped', 'cancelled'],
      ['check', 'skipped', undefined],
      ['email', 'skipped', undefined],
    ]);
    expect(resend!.emails.size).toBe(0);
  });
});

describe('flow: fetch', () => {
  it('puts the JSON a local server answers into data for the next template', async () => {
    h = await start({ activities: { webhookAllowedHosts: LOCAL_RECEIVERS } });
    h.hook.setDefault({ status: 200, body: { plan: 'gold', seats: 3 } });
    await putFlow(h, 'enriched', {
      steps: [
        { id: 'load', type: 'fetch', url: `${h.hook.url}/profiles/user-42`, as: 'profile' },
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
      ],
    });
    const id = await sendFlow(h, 'enriched');
    expect((await h.handle(id).result()).status).toBe('sent');
    const [req] = h.hook.requests;
    expect([req.method, req.path]).toEqual(['GET', '/profiles/user-42']);
    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body.data[0]).toMatchObject({ notificationId: id, title: 'Order A-7 is waiting', body: 'Plan: gold' });
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(step(got.body.steps, 'load')).toMatchObject({ status: 'done' });
  });

  it('to an address the worker may not reach: the step fails address_blocked and nothing is sent', async () => {
    // The API lets 127.0.0.1 through (the harness allows it); this worker's fetch does not.
    h = await start();
    await putFlow(h, 'enriched', {
      steps: [
        { id: 'load', type: 'fetch', url: `${h.hook.url}/profiles/user-42`, as: 'profile' },
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
      ],
    });
    const id = await sendFlow(h, 'enriched');
    const final = await h.handle(id).result();
    expect(final).toMatchObject({ status: 'failed', reason: 'address_blocked' });
    expect(h.hook.requests).toHaveLength(0);
    const got = await h.call('GET', `/v1/notifications/${id}`);
    expect(got.body).toMatchObject({ status: 'failed', reason: 'address_blocked' });
    expect(got.body.steps.map((s: any) => [s.id, s.status, s.outcome])).toEqual([
      ['load', 'failed', 'address_blocked'],
      ['inapp', 'skipped', undefined],
    ]);
  });
});

describe('flow definitions', () => {
  it('PUT refuses, naming each step: duplicate ids, unknown templates, uncovered channels, bad CEL, long delays, private fetches, a channel twice', async () => {
    h = await start();
    const res = await h.call('PUT', '/v1/flows/bad', {
      steps: [
        { id: 'a', type: 'send', channels: ['sms'], template: 'nudge' },
        { id: 'a', type: 'send', channels: ['inapp'], template: 'missing' },
        { id: 'b', type: 'branch', if: 'data.x +', then: [{ id: 'c', type: 'delay', seconds: 366 * 86400 }] },
        { id: 'd', type: 'fetch', url: 'http://10.0.0.8/x', as: 'x' },
        { id: 'e', type: 'wait', for: 'event', timeoutSeconds: 10 },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.type).toBeDefined();
    const byPath = Object.fromEntries(res.body.errors.map((e: any) => [e.path, e.message]));
    expect(Object.keys(byPath).sort()).toEqual(['steps.1.id', 'steps.2.if', 'steps.2.then.0.seconds', 'steps.4.event'].sort());
    expect(byPath['steps.1.id']).toContain('step "a"');
    expect(byPath['steps.2.if']).toContain('step "b"');

    // Shape right, tenant data wrong: templates and addresses.
    const res2 = await h.call('PUT', '/v1/flows/bad', {
      steps: [
        { id: 'a', type: 'send', channels: ['sms'], template: 'nudge' },
        { id: 'b', type: 'send', channels: ['inapp'], template: 'missing' },
        { id: 'd', type: 'fetch', url: 'http://10.0.0.8/x', as: 'x' },
      ],
    });
    expect(res2.status).toBe(400);
    const byPath2 = Object.fromEntries(res2.body.errors.map((e: any) => [e.path, e.message]));
    expect(byPath2['steps.0.channels']).toContain('no sms content');
    expect(byPath2['steps.1.template']).toContain('missing does not exist');
    expect(byPath2['steps.2.url']).toContain('step "d"');

    const twice = await h.call('PUT', '/v1/flows/bad', {
      steps: [
        { id: 'a', type: 'send', channels: ['inapp'], template: 'nudge' },
        { id: 'b', type: 'branch', if: 'true', then: [{ id: 'c', type: 'send', channels: ['inapp'], template: 'nudge' }] },
      ],
    });
    expect(twice.status).toBe(400);
    expect(twice.body.errors[0]).toMatchObject({ path: 'steps.1.then.0.channels' });
    expect((await h.call('GET', '/v1/flows/bad')).status).toBe(404);

    const ok = await h.call('PUT', '/v1/flows/good', readThenEmail());
    expect(ok).toEqual({ status: 200, body: { key: 'good', version: 1 } });
    expect((await h.call('PUT', '/v1/flows/good', readThenEmail())).body).toEqual({ key: 'good', version: 2 });
    const got = await h.call('GET', '/v1/flows/good');
    expect(got.body).toMatchObject({ key: 'good', version: 2, steps: readThenEmail().steps });

    // A notification names a flow or a template, not both; flows decide channels themselves.
    const both = await h.call('POST', '/v1/notifications', { recipient: 'user-42', flow: 'good', template: 'nudge' });
    expect(both.status).toBe(400);
    const chans = await h.call('POST', '/v1/notifications', { recipient: 'user-42', flow: 'good', channels: ['email'] });
    expect(chans.status).toBe(400);
    const unknown = await h.call('POST', '/v1/notifications', { recipient: 'user-42', flow: 'nope' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ path: 'flow', message: 'unknown flow' }]);
  });

  it('preview: the path for this data and recipient, with each send rendered, and nothing sent', async () => {
    h = await start();
    await putFlow(h, 'nudge', readThenEmail());
    const timedOut = await h.call('POST', '/v1/flows/nudge/preview', { data: { order: 'A-7' }, recipient: 'user-42' });
    expect(timedOut.status).toBe(200);
    expect(timedOut.body.path.map((p: any) => [p.id, p.outcome])).toEqual([
      ['inapp', 'sent'],
      ['wait', 'timed_out'],
      ['check', 'then'],
      ['email', 'sent'],
    ]);
    expect(timedOut.body.path[3].rendered).toEqual({ email: { subject: 'Order A-7 is still waiting', text: 'Pay for order A-7.' } });
    const matched = await h.call('POST', '/v1/flows/nudge/preview', { data: { order: 'A-7' }, recipient: { locale: 'en' }, assume: { wait: 'matched' } });
    expect(matched.body.path.map((p: any) => [p.id, p.outcome])).toEqual([
      ['inapp', 'sent'],
      ['wait', 'matched'],
      ['check', 'else'],
    ]);
    expect(resend!.emails.size).toBe(0);
    expect((await h.call('GET', '/v1/recipients/user-42/inbox')).body.data).toEqual([]);
  });

  it('100 runs waiting in a delay finish on their pinned version while new runs take the new one', async () => {
    h = await start();
    await putFlow(h, 'later', {
      steps: [
        { id: 'd1', type: 'delay', seconds: 2 * HOUR },
        { id: 'old_send', type: 'send', channels: ['webhook'], template: 'nudge' },
      ],
    });
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await sendFlow(h, 'later', { order: `O-${i}` }));
    await until(
      () => h!.db.db.select({ id: notifications.id, steps: notifications.steps }).from(notifications).where(and(eq(notifications.tenantId, h!.tenantId), eq(notifications.flowKey, 'later'))),
      (rows) => rows.length === 100 && rows.every((r) => (r.steps as any[])?.[0]?.status === 'running'),
      120_000,
      250,
    );
    // Version 2: no delay, in-app instead of the webhook.
    expect(await putFlow(h, 'later', { steps: [{ id: 'new_send', type: 'send', channels: ['inapp'], template: 'nudge' }] })).toEqual({ key: 'later', version: 2 });
    const fresh = await sendFlow(h, 'later', { order: 'N-1' });
    expect((await h.handle(fresh).result()).status).toBe('sent');

    const results = [];
    // One after another: the first wait skips the clock past every run's delay.
    for (const id of ids) results.push(await h.handle(id).result());
    expect(results.every((r) => r.status === 'sent')).toBe(true);
    const rows = await h.db.db.select().from(notifications).where(and(eq(notifications.tenantId, h.tenantId), eq(notifications.flowKey, 'later')));
    const old = rows.filter((r) => r.id !== fresh);
    expect(old).toHaveLength(100);
    expect(old.every((r) => r.flowVersion === 1 && r.status === 'sent' && (r.steps as any[]).map((s) => s.id).join() === 'd1,old_send')).toBe(true);
    const neu = rows.find((r) => r.id === fresh)!;
    expect([neu.flowVersion, neu.status, (neu.steps as any[]).map((s) => s.id)]).toEqual([2, 'sent', ['new_send']]);
    // The webhook got the 100 old sends, each its own order; the new run went to the inbox.
    expect(new Set(h.hook.requests.map((r) => JSON.parse(r.rawBody).data.order)).size).toBe(100);
    expect((await h.call('GET', '/v1/recipients/user-42/inbox')).body.data.map((m: any) => m.notificationId)).toEqual([fresh]);
  }, 300_000);
});
