// Lifecycle webhooks end to end: the API and worker on the time-skipping test server (so a
// receiver's outage of a minute and the retry schedule take no wall time), a real local HTTP
// receiver, signatures checked with the `standardwebhooks` library as a tenant would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createWebhookDispatchActivities } from '../activities/webhook-dispatch.js';
import { recordLifecycleEvent } from '../db/lifecycle-events.js';
import { tenants } from '../db/schema.js';
import { findWebhookEndpoint, insertWebhookEndpoint, replayWebhookDeliveries } from '../db/webhooks.js';
import { DISABLE_AFTER_MS, nextAttemptAfterFailure, previousSecretSigns, RETRY_FOR_MS, shouldDisable } from '../domain/webhooks.js';
import { parseEncryptionKeys } from '../usecases/payload-codec.js';
import { newWebhookSecret, openWebhookSecret, rewrapWebhookSecrets, sealWebhookSecret, startWebhookNudges } from '../usecases/webhook-endpoints.js';
import { startFakeServer, type RecordedRequest } from './fakes/server.js';
import { seed, startHarness, type Harness } from './harness.js';
import { LOCAL_RECEIVERS, openTestDatabase, TEST_ENCRYPTION_KEYS } from './support.js';
import { until } from './until.js';

const keys = parseEncryptionKeys(TEST_ENCRYPTION_KEYS);

/** A receiver that answers 200, or 500 while `failing`. */
async function startReceiver() {
  const state = { failing: false };
  const server = await startFakeServer(() => (state.failing ? { status: 500, body: { error: 'down' } } : { status: 200, body: { ok: true } }));
  return { server, state };
}

const verified = (secret: string, r: RecordedRequest) => new Webhook(secret).verify(r.rawBody, r.headers) as { id: string; type: string; createdAt: string; data: Record<string, unknown> };

// Each step polls for up to a minute on a loaded machine: the tests get two.
describe('lifecycle webhooks: endpoints, signed events, retries, rotation and replay', { timeout: 120_000 }, () => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let stopNudges: () => Promise<void>;
  let secret: string;
  const startedAt = new Date().toISOString();

  /** Requests the receiver answered 200 to, for a notification id. */
  const okFor = (notificationId: string) => receiver.server.requests.filter((r) => r.status === 200 && r.body?.data?.notificationId === notificationId);
  const allFor = (notificationId: string) => receiver.server.requests.filter((r) => r.body?.data?.notificationId === notificationId);

  async function notify(recipient: string, channels: string[]) {
    const template = channels.includes('sms') ? 'order-sms' : 'order-shipped';
    const sent = await h.call('POST', '/v1/notifications', { recipient, template, data: { order: { id: 7 }, name: 'Ann' }, channels });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    return sent.body.id as string;
  }

  beforeAll(async () => {
    receiver = await startReceiver();
    h = await startHarness({ activities: { lifecycleWebhooks: { encryptionKeys: keys, allowedHosts: LOCAL_RECEIVERS } } });
    stopNudges = await startWebhookNudges({ db: h.db.db, listen: h.db.listen, temporal: { client: h.env.client, taskQueue: h.taskQueue } });
    await seed(h);
    // No sender for sms in the harness: a notification on sms alone fails.
    expect((await h.call('POST', '/v1/templates', { key: 'order-sms', content: { en: { sms: { text: 'Order {{ order.id }} shipped' } } } })).status).toBe(201);
    expect((await h.call('PUT', '/v1/recipients/user-43', { phone: '+15555550123' })).status).toBe(200);
    const put = await h.call('PUT', '/v1/webhook-endpoints/main', { url: `${receiver.server.url}/lifecycle`, events: ['notification.sent', 'notification.failed'] });
    expect(put.status).toBe(200);
    expect(put.body.secret).toMatch(/^whsec_/);
    secret = put.body.secret;
  });

  afterAll(async () => {
    await stopNudges?.();
    await h?.close();
    await receiver?.server.close();
  });

  it('sends one signed event per notification: notification.sent and notification.failed, nothing unsubscribed', async () => {
    const ok = await notify('user-42', ['inapp']);
    const bad = await notify('user-43', ['sms']);
    await until(
      () => Promise.resolve([okFor(ok).length, okFor(bad).length]),
      ([a, b]) => a >= 1 && b >= 1,
      60_000,
    );
    const sentEvent = verified(secret, okFor(ok)[0]);
    expect(sentEvent).toMatchObject({ type: 'notification.sent', data: { notificationId: ok, recipientId: 'user-42', status: 'sent', template: 'order-shipped' } });
    expect(sentEvent.id).toMatch(/^evt_\d+$/);
    expect(okFor(ok)[0].headers['webhook-id']).toBe(sentEvent.id);
    const failedEvent = verified(secret, okFor(bad)[0]);
    expect(failedEvent).toMatchObject({ type: 'notification.failed', data: { notificationId: bad, status: 'failed' } });
    // No addresses or content in an event.
    expect(JSON.stringify([sentEvent, failedEvent])).not.toMatch(/5555550123|example\.com|Ann/);
    // Exactly one each: the log shows every delivery succeeded at its first attempt, and nothing else was sent.
    // (A round records its attempts once all of its requests are answered.)
    const log = await until(
      () => h.call('GET', '/v1/webhook-endpoints/main/deliveries'),
      (r) => r.status === 200 && r.body.data.length === 2 && r.body.data.every((d: any) => d.status === 'succeeded'),
      60_000,
    );
    expect(log.body.data.map((d: any) => [d.type, d.status, d.attempts.length])).toEqual(
      expect.arrayContaining([
        ['notification.sent', 'succeeded', 1],
        ['notification.failed', 'succeeded', 1],
      ]),
    );
    expect(log.body.data).toHaveLength(2);
    expect(allFor(ok)).toHaveLength(1);
    expect(allFor(bad)).toHaveLength(1);
    expect(log.body.data[0].attempts[0]).toMatchObject({ statusCode: 200, succeeded: true, error: null });
  });

  it('retries while the receiver answers 500 for a minute; every event arrives once it recovers, each under one webhook-id', async () => {
    receiver.state.failing = true;
    const ids = [await notify('user-42', ['inapp']), await notify('user-43', ['sms'])];
    await until(
      () => Promise.resolve(ids.map((id) => allFor(id).length)),
      (counts) => counts.every((n) => n >= 1),
      60_000,
    );
    // A minute of the workflows' time passes (the test server skips it): attempts at 5 s, 20 s, 50 s fail.
    await h.env.sleep(60_000);
    await until(
      () => Promise.resolve(ids.map((id) => allFor(id).length)),
      (counts) => counts.every((n) => n >= 3),
      60_000,
    );
    const failedLog = await until(
      () => h.call('GET', '/v1/webhook-endpoints/main/deliveries?status=pending'),
      (r) => r.status === 200 && r.body.data.length === 2 && r.body.data.every((d: any) => d.attempts.length >= 3),
      60_000,
    );
    for (const d of failedLog.body.data) {
      expect(d.attempts.length).toBeGreaterThanOrEqual(3);
      expect(d.attempts.every((a: any) => a.statusCode === 500 && a.succeeded === false && a.error === 'answered 500')).toBe(true);
      expect(d.nextAttemptAt).not.toBeNull();
    }
    receiver.state.failing = false;
    // The next attempt is due within two minutes of workflow time.
    await h.env.sleep(120_000);
    await until(
      () => Promise.resolve(ids.map((id) => okFor(id).length)),
      (counts) => counts.every((n) => n === 1),
      60_000,
    );
    await until(
      () => h.call('GET', '/v1/webhook-endpoints/main/deliveries?status=pending'),
      (r) => r.body.data.length === 0,
      60_000,
    );
    for (const id of ids) {
      const requests = allFor(id);
      expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(requests.at(-1)!.status).toBe(200);
      verified(secret, requests.at(-1)!);
    }
    const log = await h.call('GET', '/v1/webhook-endpoints/main/deliveries?status=succeeded&limit=2');
    expect(log.body.data.map((d: any) => d.status)).toEqual(['succeeded', 'succeeded']);
    expect(log.body.data[0].attempts.at(-1)).toMatchObject({ statusCode: 200, succeeded: true });
    expect(log.body.nextCursor).not.toBeNull();
    const next = await h.call('GET', `/v1/webhook-endpoints/main/deliveries?status=succeeded&cursor=${log.body.nextCursor}`);
    expect(next.body.data).toHaveLength(2);
    const endpoint = await h.call('GET', '/v1/webhook-endpoints/main');
    expect(endpoint.body).toMatchObject({ enabled: true, failingSince: null, disabledReason: null });
    expect(endpoint.body.secret).toBeUndefined();
  });

  it('signs with the old and the new secret for 24 hours after a rotation', async () => {
    const rotated = await h.call('POST', '/v1/webhook-endpoints/main/rotate-secret');
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);
    const id = await notify('user-42', ['inapp']);
    await until(() => Promise.resolve(okFor(id).length), (n) => n === 1, 60_000);
    const [req] = okFor(id);
    expect(req.headers['webhook-signature'].split(' ').map((s) => s.split(',')[0])).toEqual(['v1', 'v1']);
    expect(verified(rotated.body.secret, req).data.notificationId).toBe(id);
    expect(verified(secret, req).data.notificationId).toBe(id);
    // The old secret's 24 hours, decided on the time passed in.
    const expires = new Date(rotated.body.previousSecretExpiresAt);
    expect(expires.getTime() - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(previousSecretSigns(expires, new Date(expires.getTime() - 1))).toBe(true);
    expect(previousSecretSigns(expires, expires)).toBe(false);
    secret = rotated.body.secret;
  });

  it('replays every event since a time under the same ids', async () => {
    const before = receiver.server.requests.filter((r) => r.status === 200);
    const firstIds = new Set(before.map((r) => r.headers['webhook-id']));
    const replay = await h.call('POST', '/v1/webhook-endpoints/main/replay', { since: startedAt });
    expect(replay.status).toBe(202);
    expect(replay.body.count).toBe(firstIds.size);
    await until(
      async () => ({
        answered: receiver.server.requests.filter((r) => r.status === 200).length,
        log: (await h.call('GET', '/v1/webhook-endpoints/main/deliveries?limit=20')).body.data.map((d: any) => [d.status, d.attempts.length, d.nextAttemptAt]),
      }),
      (v) => v.answered === before.length + firstIds.size,
      40_000,
    );
    const again = receiver.server.requests.filter((r) => r.status === 200).slice(before.length);
    expect(new Set(again.map((r) => r.headers['webhook-id']))).toEqual(firstIds);
    for (const r of again) verified(secret, r);
  });

  it('an endpoint on "*" hears every change: accepted, delivery sent, sent, cancelled, and an incident triggered, acknowledged, resolved', { timeout: 180_000 }, async () => {
    const all = await startReceiver();
    try {
      const put = await h.call('PUT', '/v1/webhook-endpoints/all', { url: `${all.server.url}/all`, events: ['*'] });
      expect(put.status).toBe(200);
      const events = () => all.server.requests.filter((r) => r.status === 200).map((r) => verified(put.body.secret, r));
      const ofNotification = (id: string) => events().filter((e) => e.data.notificationId === id).map((e) => e.type);

      const id = await notify('user-42', ['inapp']);
      await until(() => Promise.resolve(ofNotification(id)), (t) => t.includes('notification.sent') && t.includes('delivery.sent'), 20_000);
      expect(ofNotification(id).sort()).toEqual(['delivery.sent', 'notification.accepted', 'notification.sent']);
      const delivery = events().find((e) => e.type === 'delivery.sent' && e.data.notificationId === id)!;
      expect(delivery.data).toMatchObject({ deliveryId: `${id}.inapp`, channel: 'inapp', status: 'sent' });

      const scheduled = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 8 }, name: 'Ann' }, channels: ['inapp'], sendAt: new Date(Date.now() + 3600_000).toISOString() });
      expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(202);
      const later = scheduled.body.id as string;
      await until(() => h.call('GET', `/v1/notifications/${later}`), (r) => r.body.status === 'scheduled', 20_000);
      expect((await h.call('POST', `/v1/notifications/${later}/cancel`)).status).toBe(200);
      await until(() => Promise.resolve(ofNotification(later)), (t) => t.includes('notification.cancelled'), 20_000);

      expect((await h.call('PUT', '/v1/escalation-policies/ops', { steps: [{ channel: 'pager', target: 'rk', ackTimeoutSeconds: 600 }], repeat: 0 })).status).toBe(200);
      const inc = await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical' });
      expect(inc.status).toBe(202);
      const incidentTypes = () => events().filter((e) => e.data.incidentId === inc.body.id).map((e) => e.type);
      await until(() => Promise.resolve(incidentTypes()), (t) => t.includes('incident.triggered'), 20_000);
      expect((await h.call('POST', `/v1/incidents/${inc.body.id}/acknowledge`, { by: 'ann' })).status).toBe(200);
      expect((await h.call('POST', `/v1/incidents/${inc.body.id}/resolve`, { by: 'ann' })).status).toBe(200);
      await until(() => Promise.resolve(incidentTypes()), (t) => t.length === 3, 20_000);
      expect(incidentTypes()).toEqual(['incident.triggered', 'incident.acknowledged', 'incident.resolved']);
      expect(events().find((e) => e.type === 'incident.triggered')!.data).toMatchObject({ incidentId: inc.body.id, severity: 'critical', policy: 'ops' });
      // Nothing twice.
      const ids = all.server.requests.filter((r) => r.status === 200).map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      expect((await h.call('DELETE', '/v1/webhook-endpoints/all')).status).toBe(204);
      await all.server.close();
    }
  });

  it('refuses a private or loopback URL, at PUT', async () => {
    for (const url of ['http://10.0.0.5/hooks', 'http://169.254.169.254/latest', 'http://[::1]:8080/x', 'http://192.168.1.1/']) {
      const r = await h.call('PUT', '/v1/webhook-endpoints/private', { url, events: ['*'] });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].path).toBe('url');
    }
    expect((await h.call('GET', '/v1/webhook-endpoints/private')).status).toBe(404);
  });

  it('validates every route', async () => {
    const bad = async (method: string, path: string, body?: unknown) => {
      const r = await h.call(method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.status).toBe(400);
    };
    const url = `${receiver.server.url}/x`;
    await bad('PUT', '/v1/webhook-endpoints/x', { url, events: ['order.shipped'] });
    await bad('PUT', '/v1/webhook-endpoints/x', { url, events: [] });
    await bad('PUT', '/v1/webhook-endpoints/x', { url });
    await bad('PUT', '/v1/webhook-endpoints/x', { url: 'not a url', events: ['*'] });
    await bad('PUT', '/v1/webhook-endpoints/x', { url: 'ftp://example.com/x', events: ['*'] });
    await bad('PUT', '/v1/webhook-endpoints/x', { url, events: ['*'], secret: 'whsec_mine' });
    await bad('PUT', '/v1/webhook-endpoints/x', { url, events: ['*'], enabled: 'yes' });
    await bad('PUT', `/v1/webhook-endpoints/${'x'.repeat(129)}`, { url, events: ['*'] });
    await bad('PUT', '/v1/webhook-endpoints/a%20b', { url, events: ['*'] });
    await bad('GET', '/v1/webhook-endpoints/main/deliveries?status=lost');
    await bad('GET', '/v1/webhook-endpoints/main/deliveries?cursor=abc');
    await bad('GET', '/v1/webhook-endpoints/main/deliveries?limit=0');
    await bad('POST', '/v1/webhook-endpoints/main/replay', { since: 'yesterday' });
    await bad('POST', '/v1/webhook-endpoints/main/replay', {});
    await bad('POST', '/v1/webhook-endpoints/main/replay', { since: new Date(Date.now() + 3600_000).toISOString() });
    for (const [method, path, body] of [
      ['GET', '/v1/webhook-endpoints/nope'],
      ['DELETE', '/v1/webhook-endpoints/nope'],
      ['POST', '/v1/webhook-endpoints/nope/rotate-secret'],
      ['GET', '/v1/webhook-endpoints/nope/deliveries'],
      ['POST', '/v1/webhook-endpoints/nope/replay', { since: startedAt }],
    ] as const) {
      expect((await h.call(method, path, body)).status, `${method} ${path}`).toBe(404);
    }
    // Create, change, list, delete.
    const created = await h.call('PUT', '/v1/webhook-endpoints/second', { url, events: ['*'], enabled: false });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ id: 'second', events: ['*'], enabled: false });
    expect(created.body.secret).toMatch(/^whsec_/);
    const changed = await h.call('PUT', '/v1/webhook-endpoints/second', { url, events: ['incident.triggered', 'incident.triggered'] });
    expect(changed.body).toMatchObject({ events: ['incident.triggered'], enabled: false });
    expect(changed.body.secret).toBeUndefined();
    const list = await h.call('GET', '/v1/webhook-endpoints');
    expect(list.body.data.map((e: any) => e.id)).toEqual(['main', 'second']);
    expect(list.body.data.every((e: any) => e.secret === undefined)).toBe(true);
    expect((await h.call('DELETE', '/v1/webhook-endpoints/second')).status).toBe(204);
    expect((await h.call('GET', '/v1/webhook-endpoints/second')).status).toBe(404);
  });
});

describe('lifecycle webhooks: retry schedule and auto-disable, on time passed in', () => {
  it('backs off 5 s, 15 s, 30 s, … and gives up 3 days after the first attempt', () => {
    const first = new Date('2026-01-01T00:00:00Z');
    expect(nextAttemptAfterFailure(1, first, first)!.getTime() - first.getTime()).toBe(5_000);
    const t = new Date(first.getTime() + 5_000);
    expect(nextAttemptAfterFailure(2, first, t)!.getTime() - t.getTime()).toBe(15_000);
    expect(nextAttemptAfterFailure(3, first, t)!.getTime() - t.getTime()).toBe(30_000);
    expect(nextAttemptAfterFailure(40, first, t)!.getTime() - t.getTime()).toBe(8 * 3600_000);
    expect(nextAttemptAfterFailure(30, first, new Date(first.getTime() + RETRY_FOR_MS - 3600_000))).toBeNull();
    expect(shouldDisable(null, t)).toBe(false);
    expect(shouldDisable(first, new Date(first.getTime() + DISABLE_AFTER_MS - 1))).toBe(false);
    expect(shouldDisable(first, new Date(first.getTime() + DISABLE_AFTER_MS))).toBe(true);
  });

  it('disables an endpoint whose every attempt failed for 5 days, with the reason', async () => {
    const db = await openTestDatabase();
    const receiver = await startReceiver();
    receiver.state.failing = true;
    try {
      const tenantId = 'ten_disable';
      await db.db.insert(tenants).values({ id: tenantId, name: 'Acme', webhookSecret: newWebhookSecret() });
      await insertWebhookEndpoint(db.db, {
        tenantId,
        id: 'ep',
        url: `${receiver.server.url}/hooks`,
        events: ['*'],
        enabled: true,
        secret: sealWebhookSecret(keys, tenantId, 'ep', newWebhookSecret()),
      });
      const { dispatchWebhooks } = createWebhookDispatchActivities({ db: db.db, encryptionKeys: keys, allowedHosts: LOCAL_RECEIVERS });
      await recordLifecycleEvent(db.db, { tenantId, type: 'recipient.unsubscribed', recipientId: 'user-1', data: { channel: 'email' } });
      // The rounds' time (the workflow's clock), a little after the event was written.
      const t0 = Date.now() + 1000;
      const round = (atMs: number) => dispatchWebhooks({ tenantId, endpointId: 'ep', now: t0 + atMs });
      const first = await round(0);
      expect(first).toMatchObject({ state: 'active', sent: 0, failed: 1 });
      expect(first.nextDueAt).toBe(t0 + 5_000);
      expect(receiver.server.requests).toHaveLength(1);
      expect(receiver.server.requests[0].body).toMatchObject({ type: 'recipient.unsubscribed', data: { recipientId: 'user-1', channel: 'email' } });
      expect((await findWebhookEndpoint(db.db, tenantId, 'ep'))!.failingSince!.getTime()).toBe(t0);

      // Four days on: a new event fails too; still enabled.
      await recordLifecycleEvent(db.db, { tenantId, type: 'recipient.unsubscribed', recipientId: 'user-2', data: { channel: 'sms' } });
      expect(await round(4 * 86_400_000)).toMatchObject({ state: 'active', failed: 2 });
      expect((await findWebhookEndpoint(db.db, tenantId, 'ep'))!.enabled).toBe(true);

      // Five days after the first failure: disabled, with the reason, and nothing more is sent.
      const sentBefore = receiver.server.requests.length;
      expect(await round(5 * 86_400_000)).toMatchObject({ state: 'disabled' });
      const ep = (await findWebhookEndpoint(db.db, tenantId, 'ep'))!;
      expect(ep.enabled).toBe(false);
      expect(ep.disabledReason).toBe(`every delivery attempt failed for 5 days (since ${new Date(t0).toISOString()})`);
      expect(receiver.server.requests).toHaveLength(sentBefore);

      // A success clears the streak: a second endpoint that recovers after 4 days is never disabled.
      await insertWebhookEndpoint(db.db, { tenantId, id: 'ep2', url: `${receiver.server.url}/hooks`, events: ['*'], enabled: true, secret: sealWebhookSecret(keys, tenantId, 'ep2', newWebhookSecret()) });
      await recordLifecycleEvent(db.db, { tenantId, type: 'recipient.unsubscribed', recipientId: 'user-3', data: { channel: 'sms' } });
      const t1 = Date.now() + 1000;
      expect(await dispatchWebhooks({ tenantId, endpointId: 'ep2', now: t1 })).toMatchObject({ failed: 1 });
      receiver.state.failing = false;
      expect(await dispatchWebhooks({ tenantId, endpointId: 'ep2', now: t1 + 4 * 86_400_000 })).toMatchObject({ state: 'active', sent: 1 });
      expect(await dispatchWebhooks({ tenantId, endpointId: 'ep2', now: t1 + 6 * 86_400_000 })).toMatchObject({ state: 'active' });
      expect((await findWebhookEndpoint(db.db, tenantId, 'ep2'))!).toMatchObject({ enabled: true, failingSince: null });
    } finally {
      await receiver.server.close();
      await db.close();
    }
  });

  it('a replay while an attempt of the same delivery is in flight is sent again, not overwritten by that attempt', async () => {
    const db = await openTestDatabase();
    const receiver = await startReceiver();
    try {
      const tenantId = 'ten_replay_race';
      await db.db.insert(tenants).values({ id: tenantId, name: 'Acme', webhookSecret: newWebhookSecret() });
      await insertWebhookEndpoint(db.db, { tenantId, id: 'ep', url: `${receiver.server.url}/hooks`, events: ['*'], enabled: true, secret: sealWebhookSecret(keys, tenantId, 'ep', newWebhookSecret()) });
      const since = new Date(Date.now() - 1000);
      await recordLifecycleEvent(db.db, { tenantId, type: 'recipient.unsubscribed', recipientId: 'user-1', data: { channel: 'email' } });
      const { dispatchWebhooks } = createWebhookDispatchActivities({ db: db.db, encryptionKeys: keys, allowedHosts: LOCAL_RECEIVERS });
      const t0 = Date.now() + 1000;

      // The receiver holds its answer to the first attempt; the replay comes while it waits.
      receiver.server.enqueue({ delayMs: 5_000 });
      let firstDone = false;
      const first = dispatchWebhooks({ tenantId, endpointId: 'ep', now: t0 }).finally(() => {
        firstDone = true;
      });
      await until(() => Promise.resolve(receiver.server.requests.length), (n) => n === 1, 10_000, 20);
      expect(await replayWebhookDeliveries(db.db, tenantId, 'ep', since)).toBe(1);
      expect(firstDone).toBe(false);
      expect(await first).toMatchObject({ state: 'active', sent: 1 });

      // The attempt in flight is logged, but the replay stands: the next round sends it again.
      expect(await dispatchWebhooks({ tenantId, endpointId: 'ep', now: t0 + 1 })).toMatchObject({ state: 'active', sent: 1 });
      expect(receiver.server.requests.map((r) => r.status)).toEqual([200, 200]);
      expect(new Set(receiver.server.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(await dispatchWebhooks({ tenantId, endpointId: 'ep', now: t0 + 2 })).toMatchObject({ state: 'active', sent: 0 });
      expect(receiver.server.requests).toHaveLength(2);
    } finally {
      await receiver.server.close();
      await db.close();
    }
  });

  it('moves endpoint secrets under a new first encryption key (a key rotation)', async () => {
    const db = await openTestDatabase();
    try {
      const tenantId = 'ten_rotate';
      const newKeys = parseEncryptionKeys(`new-1:${Buffer.alloc(32, 9).toString('base64')},${TEST_ENCRYPTION_KEYS}`);
      await db.db.insert(tenants).values({ id: tenantId, name: 'Acme', webhookSecret: newWebhookSecret() });
      const plain = newWebhookSecret();
      await insertWebhookEndpoint(db.db, { tenantId, id: 'ep', url: 'https://hooks.example.com/x', events: ['*'], enabled: true, secret: sealWebhookSecret(keys, tenantId, 'ep', plain) });
      expect(await rewrapWebhookSecrets({ db: db.db, encryptionKeys: newKeys })).toEqual({ rewrapped: 1, unreadable: 0 });
      const row = (await findWebhookEndpoint(db.db, tenantId, 'ep'))!;
      expect(row.secret.split('.')[1]).toBe('new-1');
      expect(openWebhookSecret([newKeys[0]], tenantId, 'ep', row.secret)).toBe(plain);
      expect(JSON.stringify(row)).not.toContain(plain);
      expect(await rewrapWebhookSecrets({ db: db.db, encryptionKeys: newKeys })).toEqual({ rewrapped: 0, unreadable: 0 });
    } finally {
      await db.close();
    }
  });
});
