// The in-app inbox and notification listing, fed by real notification workflows. Each test owns
// its data: a recipient of its own, with the notifications it sends itself, so that tests pass in
// any order (vitest --sequence.shuffle).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIds } from '../domain/workflow-ids.js';
import { seed, startHarness, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  // Streams look on their own only after ten minutes, far past any test here: a message that
  // reaches a stream was woken by the database's notification from the writer of its row.
  h = await startHarness({ inboxStreams: { safetyPollMs: 10 * 60_000, pollMs: 10 * 60_000 } });
  await seed(h);
});
afterAll(() => h.close());

/** A recipient of the test's own, sent one in-app notification per order, oldest first; their ids. */
async function recipientWith(rid: string, orders: number[]): Promise<string[]> {
  expect((await h.call('PUT', `/v1/recipients/${rid}`, {})).status).toBe(200);
  const ids: string[] = [];
  for (const n of orders) {
    const res = await h.call('POST', '/v1/notifications', { recipient: rid, template: 'order-shipped', channels: ['inapp'], data: { order: { id: n }, name: 'Ann' } });
    expect(res.status).toBe(202);
    ids.push(res.body.id);
    await h.handle(res.body.id).result();
  }
  return ids;
}

describe('inbox', () => {
  it('lists newest first with cursor pagination and an unread count', async () => {
    await recipientWith('pages', [1, 2, 3]);
    const first = await h.call('GET', '/v1/recipients/pages/inbox?limit=2');
    expect(first.body.data.map((m: any) => m.title)).toEqual(['Order 3 shipped', 'Order 2 shipped']);
    expect(first.body.unread).toBe(3);
    const second = await h.call('GET', `/v1/recipients/pages/inbox?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((m: any) => m.title)).toEqual(['Order 1 shipped']);
    expect(second.body.nextCursor).toBeNull();
  });

  it('marks read one and all, filters unread, counts, and deletes', async () => {
    await recipientWith('marks', [1, 2, 3]);
    const list = await h.call('GET', '/v1/recipients/marks/inbox');
    const [newest, middle] = list.body.data;
    expect((await h.call('POST', `/v1/recipients/marks/inbox/${newest.id}/read`)).body).toEqual({ updated: 1 });
    expect((await h.call('POST', `/v1/recipients/marks/inbox/${newest.id}/read`)).body).toEqual({ updated: 0 });
    expect((await h.call('GET', '/v1/recipients/marks/inbox/count')).body).toEqual({ total: 3, unread: 2 });
    expect((await h.call('GET', '/v1/recipients/marks/inbox?unread=true')).body.data).toHaveLength(2);
    expect((await h.call('POST', '/v1/recipients/marks/inbox/read-all')).body).toEqual({ updated: 2 });
    expect((await h.call('DELETE', `/v1/recipients/marks/inbox/${middle.id}`)).status).toBe(204);
    expect((await h.call('DELETE', `/v1/recipients/marks/inbox/${middle.id}`)).status).toBe(404);
    expect((await h.call('GET', '/v1/recipients/marks/inbox/count')).body).toEqual({ total: 2, unread: 0 });
    expect((await h.call('GET', '/v1/recipients/someone-else/inbox/count')).body).toEqual({ total: 0, unread: 0 });
  });

  /** Opens the recipient's stream; `until` reads it up to a pattern and answers all it read. */
  async function openStream(rid: string) {
    const res = await h.stream(`/v1/recipients/${rid}/inbox/stream`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += decoder.decode(value);
      }
      return text;
    };
    return { reader, until };
  }

  it('streams an event per new message', { timeout: 20_000 }, async () => {
    expect((await h.call('PUT', '/v1/recipients/streams', {})).status).toBe(200);
    const { reader, until: readUntil } = await openStream('streams');
    let text = '';
    await readUntil(/event: ready/);
    const sent = await h.call('POST', '/v1/notifications', { recipient: 'streams', template: 'order-shipped', channels: ['inapp'], data: { order: { id: 99 }, name: 'Ann' } });
    await h.handle(sent.body.id).result();
    text = await readUntil(/event: message\n(.+\n)*\n/);
    const event = text.split('event: message\n')[1].split('\n\n')[0];
    const data = JSON.parse(event.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
    expect(event).toContain(`id: msg_${sent.body.id}`);
    expect(data).toMatchObject({ notificationId: sent.body.id, title: 'Order 99 shipped', read: false });
    await reader.cancel();
  });

  it('streams the messages a broadcast batch writes', { timeout: 30_000 }, async () => {
    expect((await h.call('PUT', '/v1/recipients/bea', {})).status).toBe(200);
    const { reader, until } = await openStream('bea');
    await until(/event: ready/);
    const res = await h.call('POST', '/v1/broadcasts', { recipients: ['bea'], template: 'order-shipped', data: { order: { id: 500 }, name: 'All' }, channels: ['inapp'] });
    expect(res.status).toBe(202);
    await h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, res.body.id)).result();
    const text = await until(/Order 500 shipped/);
    const data = JSON.parse(text.split('event: message\n')[1].split('\n')[0].slice('data: '.length));
    expect(data).toMatchObject({ title: 'Order 500 shipped', body: 'It is on its way, All.', read: false });
    expect(text).toContain(`id: ${data.id}\n`);
    await reader.cancel();
    expect(h.inboxStreams.count(h.tenantId)).toBe(0);
  });
});

describe('listing notifications', () => {
  it('filters by recipient and status and pages with a cursor', async () => {
    const ids = await recipientWith('listed', [1, 2, 3]);
    const page1 = await h.call('GET', '/v1/notifications?recipient=listed&status=sent&limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.data).toHaveLength(2);
    const page2 = await h.call('GET', `/v1/notifications?recipient=listed&status=sent&limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.nextCursor).toBeNull();
    const all = [...page1.body.data, ...page2.body.data].map((n: any) => n.id);
    expect(all.sort()).toEqual([...ids].sort());
    expect((await h.call('GET', '/v1/notifications?status=held')).body.data).toEqual([]);
    expect((await h.call('GET', '/v1/notifications?recipient=nobody')).body).toEqual({ data: [], nextCursor: null });
  });
});
