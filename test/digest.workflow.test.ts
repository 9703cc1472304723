// Digests on the time-skipping server, through the API.
import { afterEach, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '../domain/types.js';
import { seed, startHarness, type Harness } from './harness.js';
import { until } from './until.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function seedDigest(x: Harness) {
  await seed(x);
  const t = await x.call('POST', '/v1/templates', {
    key: 'comments',
    content: {
      en: {
        inapp: { title: '{{ count }} new comments', body: '{% for item in items %}{{ item.author }}: {{ item.text }}\n{% endfor %}' },
        webhook: { event: 'comments.digest', count: '{{ count }}' },
      },
    },
  });
  expect(t.status).toBe(201);
}

const comment = (x: Harness, i: number, digest: Record<string, unknown>) =>
  x.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'comments', data: { author: `a${i}`, text: `t${i}` }, digest });

const notification = (x: Harness, id: string) =>
  until(
    async () => (await x.call('GET', `/v1/notifications/${id}`)).body,
    (n) => TERMINAL_STATUSES.includes(n.status),
  );

describe('digests', () => {
  it('100 concurrent arrivals join one window and give exactly one send of 100 items', async () => {
    h = await startHarness();
    await seedDigest(h);
    const digest = { key: 'comments', windowSeconds: 600, maxItems: 100 };
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => comment(h!, i, digest)));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(202));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [id] = ids;

    // maxItems closed the window at once: no timer had to run.
    expect(await notification(h, id)).toMatchObject({ id, status: 'sent', template: 'comments' });
    expect(h.hook.requests).toHaveLength(1);
    const body = JSON.parse(h.hook.requests[0].rawBody);
    expect(body).toMatchObject({ notificationId: id, content: { event: 'comments.digest', count: '100' }, data: { count: 100 } });
    expect(body.data.items).toHaveLength(100);
    expect(new Set(body.data.items.map((d: any) => d.author))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => `a${i}`)));
    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body.data).toHaveLength(1);
    expect(inbox.body.data[0]).toMatchObject({ notificationId: id, title: '100 new comments' });

    // The window closed: the next arrival opens a new one, with a new id.
    const next = await comment(h, 100, digest);
    expect(next.status).toBe(202);
    expect(next.body.id).not.toBe(id);
  });

  it('closes at windowSeconds with the items in arrival order, and can be cancelled', async () => {
    h = await startHarness();
    await seedDigest(h);
    const digest = { key: 'mentions', windowSeconds: 600 };
    const first = await comment(h, 1, digest);
    expect(first.body).toMatchObject({ status: 'scheduled' });
    await h.env.sleep(300_000);
    for (const i of [2, 3]) expect((await comment(h, i, digest)).body.id).toBe(first.body.id);
    const open = await h.call('GET', `/v1/notifications/${first.body.id}`);
    expect(open.body).toMatchObject({ status: 'scheduled', recipient: 'user-42' });
    expect(h.hook.requests).toHaveLength(0);

    // The timer runs from the first arrival: 300 s more close it.
    await h.env.sleep(300_000);
    expect(await notification(h, first.body.id)).toMatchObject({ status: 'sent' });
    const body = JSON.parse(h.hook.requests[0].rawBody);
    expect(body.data).toEqual({ items: [1, 2, 3].map((i) => ({ author: `a${i}`, text: `t${i}` })), count: 3 });
    // The template looped over the items with {% for %}.
    const inbox = await h.call('GET', '/v1/recipients/user-42/inbox');
    expect(inbox.body.data[0]).toMatchObject({ notificationId: first.body.id, title: '3 new comments', body: 'a1: t1\na2: t2\na3: t3\n' });

    // A new window, cancelled before it closes: nothing is sent, and the next arrival opens another.
    const second = await comment(h, 4, digest);
    expect(second.body.id).not.toBe(first.body.id);
    expect(await h.call('POST', `/v1/notifications/${second.body.id}/cancel`)).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    expect((await h.call('GET', `/v1/notifications/${second.body.id}`)).body).toMatchObject({ status: 'cancelled' });
    const third = await comment(h, 5, digest);
    expect(third.body.id).not.toBe(second.body.id);
    await h.env.sleep(600_000);
    expect(await notification(h, third.body.id)).toMatchObject({ status: 'sent' });
    expect(h.hook.requests).toHaveLength(2);
    expect(JSON.parse(h.hook.requests[1].rawBody).data).toEqual({ items: [{ author: 'a5', text: 't5' }], count: 1 });
  });

  it('50 concurrent arrivals to an open window all answer 202 and join it', async () => {
    h = await startHarness();
    await seedDigest(h);
    const digest = { key: 'busy', windowSeconds: 600 };
    const first = await comment(h, 0, digest);
    expect(first.status).toBe(202);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => comment(h!, i + 1, digest)));
    expect(answers.map((a) => a.status), JSON.stringify(answers.find((a) => a.status !== 202)?.body)).toEqual(Array(50).fill(202));
    expect(new Set(answers.map((a) => a.body.id))).toEqual(new Set([first.body.id]));
    await h.env.sleep(600_000);
    expect(await notification(h, first.body.id)).toMatchObject({ status: 'sent' });
    expect(JSON.parse(h.hook.requests[0].rawBody).data.count).toBe(51);
  });

  it('a window whose items would pass 256 KiB closes early; the next arrival opens a new one; an item past the data bound is refused', async () => {
    h = await startHarness();
    await seedDigest(h);
    const digest = { key: 'large', windowSeconds: 600 };
    // ~60 KiB each: four fit in 256 KiB, the fifth would not.
    const big = (i: number) => h!.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'comments', data: { author: `a${i}`, text: 'x'.repeat(60_000) }, digest });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await big(i));
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(202));
    const ids = answers.map((a) => a.body.id);
    expect(new Set(ids.slice(0, 4)).size).toBe(1);
    expect(ids[4]).not.toBe(ids[0]);

    // The full window went out without waiting for its timer; the new one waits for its own.
    expect(await notification(h, ids[0])).toMatchObject({ status: 'sent' });
    expect(JSON.parse(h.hook.requests[0].rawBody).data.count).toBe(4);
    expect((await h.call('GET', `/v1/notifications/${ids[4]}`)).body).toMatchObject({ status: 'scheduled' });
    await h.env.sleep(600_000);
    expect(await notification(h, ids[4])).toMatchObject({ status: 'sent' });
    expect(JSON.parse(h.hook.requests[1].rawBody).data.count).toBe(1);

    // One item is bounded by the data limit (64 KiB), well inside a window's bound: refused, naming it.
    const huge = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'comments', data: { author: 'z', text: 'x'.repeat(300_000) }, digest });
    expect(huge.status).toBe(400);
    expect(huge.body.errors).toEqual([expect.objectContaining({ path: 'data', message: expect.stringContaining('64 KiB') })]);
  });

  it('checks the request at once: the template against {items, count}, no sendAt', async () => {
    h = await startHarness();
    await seedDigest(h);
    // order-shipped needs `order.id`, which a digest's template never sees.
    const res = await h.call('POST', '/v1/notifications', {
      recipient: 'user-42',
      template: 'order-shipped',
      data: { order: { id: 7 }, name: 'Ann' },
      digest: { key: 'orders', windowSeconds: 60 },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.path)).toContain('data.name');
    // A digest is sent when its window closes.
    const later = await h.call('POST', '/v1/notifications', {
      recipient: 'user-42',
      template: 'comments',
      data: { author: 'a', text: 't' },
      digest: { key: 'c', windowSeconds: 60 },
      sendAt: '2030-01-01T00:00:00Z',
    });
    expect(later).toMatchObject({ status: 400, body: { errors: [{ path: 'sendAt' }] } });
  });
});
