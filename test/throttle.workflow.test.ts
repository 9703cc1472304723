// Throttles on the time-skipping server, through the API; the claim itself on the database.
import { afterEach, describe, expect, it } from 'vitest';
import { createThrottleActivities } from '../activities/throttle.js';
import { throttleClaims } from '../db/schema.js';
import { TERMINAL_STATUSES } from '../domain/types.js';
import { seed, startHarness, type Harness } from './harness.js';
import { openTestDatabase, testDatabaseKinds } from './support.js';
import { until } from './until.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const throttle = { key: 'login-alert', limit: 1, windowSeconds: 3600 };
const send = (x: Harness, body: Record<string, unknown> = {}) =>
  x.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, throttle, ...body });

/** Waits for the notification to finish by polling: awaiting a result would let the server skip time. */
async function finished(x: Harness, res: { status: number; body: any }) {
  expect(res.status).toBe(202);
  return until(
    async () => (await x.call('GET', `/v1/notifications/${res.body.id}`)).body,
    (n) => TERMINAL_STATUSES.includes(n.status),
  );
}

describe('throttles', () => {
  it('1 per hour: the second is suppressed as throttled, critical and other recipients pass, and an hour later it sends again', async () => {
    h = await startHarness();
    await seed(h);
    await h.call('PUT', '/v1/recipients/user-7', { webhookUrl: `${h.hook.url}/hooks` });

    expect(await finished(h, await send(h))).toMatchObject({ status: 'sent' });
    const second = await finished(h, await send(h));
    expect(second).toMatchObject({ status: 'suppressed', reason: 'throttled' });
    expect(second.deliveries.map((d: any) => [d.channel, d.status, d.error?.code])).toEqual([
      ['webhook', 'skipped', 'throttled'],
      ['inapp', 'skipped', 'throttled'],
    ]);
    // critical is never throttled; another recipient has its own window; another key too.
    expect(await finished(h, await send(h, { priority: 'critical' }))).toMatchObject({ status: 'sent' });
    expect(await finished(h, await send(h, { recipient: 'user-7' }))).toMatchObject({ status: 'sent' });
    expect(await finished(h, await send(h, { throttle: { ...throttle, key: 'other' } }))).toMatchObject({ status: 'sent' });
    expect(await finished(h, await send(h))).toMatchObject({ status: 'suppressed', reason: 'throttled' });

    await h.env.sleep(3600 * 1000);
    expect(await finished(h, await send(h))).toMatchObject({ status: 'sent' });
    // Sent: first, critical, user-7, other key, after the hour; each on webhook and in-app.
    expect(h.hook.requests).toHaveLength(5);
    expect((await h.call('GET', '/v1/recipients/user-42/inbox/count')).body).toMatchObject({ total: 4 });
  });
});

describe.each(testDatabaseKinds)('throttle claims on %s', (kind) => {
  it('take exactly `limit` slots under concurrency, and a restarted worker sees them', async () => {
    const db = await openTestDatabase(kind);
    try {
      const claim = (n: number, at: string, acts = createThrottleActivities({ db: db.db })) =>
        acts.claimThrottleSlot({ tenantId: 't', recipientId: 'r', key: 'k', limit: 3, windowSeconds: 60, notificationId: `n${n}`, at });
      const t0 = '2027-01-01T00:00:00.000Z';
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(i, t0)));
      expect(results.filter((r) => r.allowed)).toHaveLength(3);
      expect(await db.db.select().from(throttleClaims)).toHaveLength(3);

      // A retried claim that was taken is still allowed; a new one is not, even after a restart.
      const winner = results.findIndex((r) => r.allowed);
      const restarted = createThrottleActivities({ db: db.db });
      expect(await claim(winner, t0, restarted)).toEqual({ allowed: true });
      expect(await claim(99, '2027-01-01T00:00:59.000Z', restarted)).toEqual({ allowed: false });
      // The window slides: a minute after the claims, there is room again.
      expect(await claim(100, '2027-01-01T00:01:00.000Z', restarted)).toEqual({ allowed: true });
    } finally {
      await db.close();
    }
  });
});
