// The notification workflow on the time-skipping test server, driven through the API.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { activityStartTimes, seed, startHarness, waitForState, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const send = (x: Harness, body: Record<string, unknown> = {}, headers?: Record<string, string>) =>
  x.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, ...body }, headers);

/** Moves the test server's clock forward to `iso` (which must be in its future). */
async function skipTo(x: Harness, iso: string) {
  const now = Number(await x.env.currentTimeMs());
  const target = Date.parse(iso);
  if (target <= now) throw new Error(`${iso} is in the test server's past`);
  await x.env.sleep(target - now);
}

describe('notification workflow', () => {
  it('sends in-app and a signed webhook, and reports sent with its deliveries', async () => {
    h = await startHarness();
    await seed(h);
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
    expect(req.headers['tocsin-event-id']).toBe(body.id);
    const [, t, v1] = req.headers['tocsin-signature'].match(/^t=(\d+),v1=([0-9a-f]{64})$/)!;
    const [tenant] = await h.db.db.query.tenants.findMany();
    expect(v1).toBe(createHmac('sha256', tenant.webhookSecret).update(`${t}.${req.rawBody}`).digest('hex'));

    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body).toMatchObject({ unread: 1, data: [{ notificationId: res.body.id, title: 'Order 7 shipped', body: 'It is on its way, Ann.', read: false }] });
  });
});
