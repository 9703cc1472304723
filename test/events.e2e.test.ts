// Events, rules, topics and segments end to end, as `npm start` runs them (dev server, worker and
// API on free ports), on the in-app channel: a rule on a topic with a condition, an event posted
// twice under one Idempotency-Key, a refused expression, a segment over 10,000 recipients, and
// broadcasts to a topic and to a segment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { Running } from '../runtime/index.js';
import type { EventInput } from '../domain/events.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { insertEvent } from '../db/events.js';
import { sweepAcceptedEvents } from '../usecases/events.js';
import { fastRetry } from './harness.js';
import { notifications, topicSubscriptions } from '../db/schema.js';
import { quietTemporalLogs, stackRequests, stackTaskQueue, startTestStack } from './support.js';
import { until } from './until.js';

const FINISHED = ['sent', 'partially_sent', 'failed', 'suppressed', 'cancelled'];

describe('events, rules, topics and segments', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-events-e2e-'));
  let running: Running | undefined;
  const request = stackRequests(() => running);
  let apiKey: string;
  let tenantId: string;
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);

  async function tenant(name: string): Promise<{ apiKey: string; id: string }> {
    const created = await request('POST', '/v1/admin/tenants', running!.adminToken, { name });
    expect(created.status).toBe(201);
    return created.body;
  }

  async function post(path: string, body: unknown, headers: Record<string, string> = {}, key = apiKey) {
    const res = await fetch(`${running!.apiUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
  }

  const processed = (id: string, key = apiKey) =>
    until(
      () => request('GET', `/v1/events/${id}`, key),
      (r) => r.body?.status === 'processed',
      120_000,
    ).then((r) => r.body);

  const recipientsOf = async (ids: string[]) => {
    const rows = await running!.database.db.select({ id: notifications.id, recipientId: notifications.recipientId, eventId: notifications.eventId }).from(notifications).where(inArray(notifications.id, ids));
    return rows;
  };

  beforeAll(async () => {
    quietTemporalLogs();
    running = await startTestStack(dataDir, { TEMPORAL_TASK_QUEUE: 'events-e2e' });
    ({ apiKey, id: tenantId } = await tenant('Acme'));
    const template = await api('POST', '/v1/templates', { key: 'shipped', content: { en: { inapp: { title: 'Shipped', body: 'Your order of {{ total }} is on its way' } } } });
    expect(template.status).toBe(201);
    for (const id of ['s1', 's2', 's3', 'other']) expect((await api('PUT', `/v1/recipients/${id}`, { attributes: { plan: id === 's2' ? 'pro' : 'free' } })).status).toBe(200);
    expect((await api('PUT', '/v1/topics/buyers', { name: 'Buyers' })).status).toBe(200);
    const subscribed = await api('POST', '/v1/topics/buyers/subscribers', { recipients: ['s1', 's2', 's3', 's1'] });
    expect(subscribed).toMatchObject({ status: 200, body: { added: 3 } });
  }, 120_000);

  afterAll(async () => {
    await running?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a rule on a topic with `if`: total 150 sends one notification to each subscriber, total 50 none; one Idempotency-Key sends nothing twice', async () => {
    const rule = await api('PUT', '/v1/rules/order-shipped', {
      event: 'order.shipped',
      if: 'event.data.total > 100',
      recipients: { topic: 'buyers' },
      template: 'shipped',
      channels: ['inapp'],
    });
    expect(rule.status).toBe(200);
    expect(rule.body).toMatchObject({ key: 'order-shipped', event: 'order.shipped', if: 'event.data.total > 100', recipients: { topic: 'buyers' }, enabled: true });
    expect((await api('GET', '/v1/rules')).body.data.map((r: any) => r.key)).toEqual(['order-shipped']);

    const body = { name: 'order.shipped', data: { total: 150 } };
    const first = await post('/v1/events', body, { 'idempotency-key': 'order-1001' });
    expect(first.status).toBe(202);
    const event = await processed(first.body.id);
    expect(event).toMatchObject({ id: first.body.id, name: 'order.shipped', status: 'processed', rules: ['order-shipped'], notifications: { count: 3 } });
    const rows = await recipientsOf(event.notifications.ids);
    expect(rows.map((r) => r.recipientId).sort()).toEqual(['s1', 's2', 's3']);
    expect(rows.every((r) => r.eventId === first.body.id)).toBe(true);
    for (const id of event.notifications.ids) {
      const n = await until(() => api('GET', `/v1/notifications/${id}`), (r) => FINISHED.includes(r.body.status));
      expect(n.body).toMatchObject({ status: 'sent', template: 'shipped', deliveries: [{ channel: 'inapp', status: 'sent' }] });
    }

    // The same event under the same key: the same id, the same three notifications, each inbox holds one.
    const again = await post('/v1/events', body, { 'idempotency-key': 'order-1001' });
    expect(again).toMatchObject({ status: 202, body: { id: first.body.id } });
    expect((await processed(first.body.id)).notifications).toEqual(event.notifications);
    const conflict = await post('/v1/events', { ...body, data: { total: 151 } }, { 'idempotency-key': 'order-1001' });
    expect(conflict.status).toBe(409);
    expect(conflict.type).toContain('application/problem+json');
    for (const rid of ['s1', 's2', 's3']) {
      const inbox = (await api('GET', `/v1/recipients/${rid}/inbox?limit=100`)).body.data as Array<{ notificationId: string }>;
      expect(inbox.filter((m) => event.notifications.ids.includes(m.notificationId))).toHaveLength(1);
    }
    const [{ n }] = await running!.database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(notifications)
      .where(eq(notifications.eventId, first.body.id));
    expect(n).toBe(3);

    // The event's whole evaluation run again (as a retried step would be): nothing new is written or sent.
    const connection = await Connection.connect({ address: running!.temporalAddress });
    try {
      const client = new Client({ connection, dataConverter: running!.dataConverter });
      const input: EventInput = { tenantId, eventId: first.body.id, name: 'order.shipped', actor: null, recipients: null, data: { total: 150 }, retry: fastRetry };
      await client.workflow.execute('eventWorkflow', { taskQueue: stackTaskQueue(dataDir, 'events-e2e'), workflowId: `${workflowIds.event(tenantId, first.body.id)}:again`, args: [input] });
    } finally {
      await connection.close();
    }
    expect((await processed(first.body.id)).notifications).toEqual(event.notifications);
    for (const rid of ['s1', 's2', 's3']) {
      const inbox = (await api('GET', `/v1/recipients/${rid}/inbox?limit=100`)).body.data as Array<{ notificationId: string }>;
      expect(inbox.filter((m) => event.notifications.ids.includes(m.notificationId))).toHaveLength(1);
    }

    const small = await post('/v1/events', { name: 'order.shipped', data: { total: 50 } });
    expect(small.status).toBe(202);
    expect(await processed(small.body.id)).toMatchObject({ status: 'processed', rules: [], notifications: { count: 0, ids: [] } });

    // Recipients from the event: `recipients`, else the actor.
    expect((await api('PUT', '/v1/rules/actor-rule', { event: 'comment.added', recipients: { from: 'event' }, template: 'shipped', channels: ['inapp'] })).status).toBe(200);
    const byActor = await processed((await post('/v1/events', { name: 'comment.added', actor: 'other', data: { total: 1 } })).body.id);
    expect((await recipientsOf(byActor.notifications.ids)).map((r) => r.recipientId)).toEqual(['other']);
    const listed = await processed((await post('/v1/events', { name: 'comment.added', actor: 'other', recipients: ['s1', 's3', 'nobody'], data: { total: 1 } })).body.id);
    expect((await recipientsOf(listed.notifications.ids)).map((r) => r.recipientId).sort()).toEqual(['s1', 's3']);

    // A disabled rule matches nothing.
    expect((await api('PUT', '/v1/rules/actor-rule', { event: 'comment.added', recipients: { from: 'event' }, template: 'shipped', enabled: false })).status).toBe(200);
    expect(await processed((await post('/v1/events', { name: 'comment.added', actor: 'other', data: { total: 1 } })).body.id)).toMatchObject({ rules: [], notifications: { count: 0 } });
    expect((await api('DELETE', '/v1/rules/actor-rule')).status).toBe(204);
    expect((await api('GET', '/v1/rules/actor-rule')).status).toBe(404);
  }, 180_000);

  it('a small event (rules from the event, few recipients) is evaluated by the API at once: no event workflow, one send per recipient, a re-post sends nothing twice', async () => {
    expect((await api('PUT', '/v1/rules/liked', { event: 'post.liked', recipients: { from: 'event' }, template: 'shipped', channels: ['inapp'] })).status).toBe(200);
    expect((await api('PUT', '/v1/rules/liked-rich', { event: 'post.liked', if: 'event.data.total > 100', recipients: { from: 'event' }, template: 'shipped', channels: ['inapp'] })).status).toBe(200);
    const body = { name: 'post.liked', recipients: ['s1', 's2', 's1', 'nobody'], data: { total: 150 } };
    const first = await post('/v1/events', body, { 'idempotency-key': 'like-1' });
    expect(first.status).toBe(202);
    // Processed before the answer: read at once, no polling.
    const event = (await api('GET', `/v1/events/${first.body.id}`)).body;
    expect(event).toMatchObject({ id: first.body.id, status: 'processed', rules: ['liked', 'liked-rich'], notifications: { count: 4 } });
    expect(event.processedAt).not.toBeNull();
    const rows = await recipientsOf(event.notifications.ids);
    expect(rows.map((r) => r.recipientId).sort()).toEqual(['s1', 's1', 's2', 's2']);
    for (const id of event.notifications.ids) {
      const n = await until(() => api('GET', `/v1/notifications/${id}`), (r) => FINISHED.includes(r.body.status));
      expect(n.body).toMatchObject({ status: 'sent', deliveries: [{ channel: 'inapp', status: 'sent' }] });
    }
    const connection = await Connection.connect({ address: running!.temporalAddress });
    try {
      const client = new Client({ connection, dataConverter: running!.dataConverter });
      await expect(client.workflow.getHandle(workflowIds.event(tenantId, first.body.id)).describe()).rejects.toThrow(/not found/i);
    } finally {
      await connection.close();
    }

    const again = await post('/v1/events', body, { 'idempotency-key': 'like-1' });
    expect(again).toMatchObject({ status: 202, body: { id: first.body.id } });
    expect((await api('GET', `/v1/events/${first.body.id}`)).body.notifications).toEqual(event.notifications);
    for (const rid of ['s1', 's2']) {
      const inbox = (await api('GET', `/v1/recipients/${rid}/inbox?limit=100`)).body.data as Array<{ notificationId: string }>;
      expect(inbox.filter((m) => event.notifications.ids.includes(m.notificationId))).toHaveLength(2);
    }
    const [{ n }] = await running!.database.db.select({ n: sql<number>`count(*)::int` }).from(notifications).where(eq(notifications.eventId, first.body.id));
    expect(n).toBe(4);
    expect((await api('DELETE', '/v1/rules/liked')).status).toBe(204);
    expect((await api('DELETE', '/v1/rules/liked-rich')).status).toBe(204);
  }, 180_000);

  it('an event left `accepted` without a workflow (its process died mid-evaluation) is completed by the sweep, once; a processed event is not swept', async () => {
    expect((await api('PUT', '/v1/rules/swept', { event: 'post.swept', recipients: { from: 'event' }, template: 'shipped', channels: ['inapp'] })).status).toBe(200);
    // As a crash between the event's row and its evaluation leaves it.
    const id = `evt_swept_${Date.now()}`;
    await insertEvent(running!.database.db, { id, tenantId, name: 'post.swept', actor: 's3', recipients: null, data: { total: 1 }, workflowId: workflowIds.event(tenantId, id) });
    const done = await post('/v1/events', { name: 'post.swept', actor: 's2', data: { total: 2 } });
    expect((await api('GET', `/v1/events/${done.body.id}`)).body.status).toBe('processed');
    expect((await api('GET', `/v1/events/${id}`)).body).toMatchObject({ status: 'accepted', notifications: { count: 0 } });

    const connection = await Connection.connect({ address: running!.temporalAddress });
    try {
      const client = new Client({ connection, dataConverter: running!.dataConverter });
      const sweep = (at: number) => sweepAcceptedEvents({ db: running!.database.db, temporal: { client, taskQueue: stackTaskQueue(dataDir, 'events-e2e') }, retry: fastRetry, now: () => at });
      // Not yet a minute old: left to the request that may still be evaluating it.
      await sweep(Date.now());
      await expect(client.workflow.getHandle(workflowIds.event(tenantId, id)).describe()).rejects.toThrow(/not found/i);
      // More than a day old (a run that failed for good, perhaps gone with its notifications' runs): left alone.
      expect(await sweep(Date.now() + 25 * 3600_000)).toBe(0);
      await expect(client.workflow.getHandle(workflowIds.event(tenantId, id)).describe()).rejects.toThrow(/not found/i);
      // Later, swept twice (two workers): one run.
      const later = Date.now() + 120_000;
      expect(await sweep(later)).toBeGreaterThanOrEqual(1);
      await sweep(later);
      const event = await processed(id);
      expect(event).toMatchObject({ status: 'processed', rules: ['swept'], notifications: { count: 1 } });
      const n = await until(() => api('GET', `/v1/notifications/${event.notifications.ids[0]}`), (r) => FINISHED.includes(r.body.status));
      expect(n.body).toMatchObject({ status: 'sent', recipient: 's3' });
      const inbox = (await api('GET', '/v1/recipients/s3/inbox?limit=100')).body.data as Array<{ notificationId: string }>;
      expect(inbox.filter((m) => m.notificationId === event.notifications.ids[0])).toHaveLength(1);
      // The event processed at once has no run, and the sweep started none.
      await expect(client.workflow.getHandle(workflowIds.event(tenantId, done.body.id)).describe()).rejects.toThrow(/not found/i);
    } finally {
      await connection.close();
    }
    expect((await api('DELETE', '/v1/rules/swept')).status).toBe(204);
  }, 180_000);

  it('a bad CEL expression is a 400 naming the expression and the position', async () => {
    const bad = await api('PUT', '/v1/rules/broken', { event: 'order.shipped', if: 'event.data.total >', recipients: { topic: 'buyers' }, template: 'shipped' });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('event.data.total >');
    expect(bad.body.detail).toMatch(/position \d+/);
    expect(bad.body.errors).toEqual([{ path: 'if', message: expect.stringContaining('event.data.total >') }]);
    const segment = await api('PUT', '/v1/rules/broken', { event: 'x', recipients: { segment: 'recipient.attributes.plan == ' }, template: 'shipped' });
    expect(segment.status).toBe(400);
    expect(segment.body.detail).toContain('recipient.attributes.plan ==');
    expect(segment.body.errors[0].path).toBe('recipients.segment');
    // An undeclared variable and a non-boolean condition are refused too.
    expect((await api('PUT', '/v1/rules/broken', { event: 'x', if: 'recipient.id == "a"', recipients: { from: 'event' }, template: 'shipped' })).status).toBe(400);
    const notBool = await api('PUT', '/v1/rules/broken', { event: 'x', if: 'event.data.total + 1', recipients: { from: 'event' }, template: 'shipped' });
    expect(notBool.status).toBe(400);
    expect(notBool.body.detail).toContain('event.data.total + 1');
    expect((await api('GET', '/v1/rules/broken')).status).toBe(404);
  });

  it('a segment rule over 10,000 recipients sends to exactly the pro ones', async () => {
    const key = (await tenant('Segmented')).apiKey;
    const t = (method: string, path: string, body?: unknown) => request(method, path, key, body);
    expect((await t('POST', '/v1/templates', { key: 'upgrade', content: { en: { inapp: { title: 'Pro news', body: 'For {{ who }}' } } } })).status).toBe(201);
    const pro = new Set<string>();
    for (let page = 0; page < 10; page++) {
      const recipients = Array.from({ length: 1000 }, (_, i) => {
        const n = page * 1000 + i;
        const plan = n % 50 === 7 ? 'pro' : n % 2 ? 'free' : 'team';
        const id = `user-${String(n).padStart(5, '0')}`;
        if (plan === 'pro') pro.add(id);
        return { id, attributes: { plan, n } };
      });
      expect((await t('POST', '/v1/recipients/bulk', { recipients })).status).toBe(200);
    }
    expect(pro.size).toBe(200);
    expect((await t('PUT', '/v1/rules/pro-news', { event: 'news.published', recipients: { segment: 'recipient.attributes.plan == "pro"' }, template: 'upgrade', channels: ['inapp'] })).status).toBe(200);
    const posted = await post('/v1/events', { name: 'news.published', data: { who: 'pros' } }, {}, key);
    expect(posted.status).toBe(202);
    const event = await processed(posted.body.id, key);
    expect(event).toMatchObject({ rules: ['pro-news'], notifications: { count: 200 } });
    const rows = await running!.database.db.select({ recipientId: notifications.recipientId }).from(notifications).where(eq(notifications.eventId, posted.body.id));
    expect(new Set(rows.map((r) => r.recipientId))).toEqual(pro);
    expect(rows).toHaveLength(200);
    // Every one is sent by its own notification workflow.
    await until(
      async () =>
        (
          await running!.database.db
            .select({ n: sql<number>`count(*)::int` })
            .from(notifications)
            .where(and(eq(notifications.eventId, posted.body.id), eq(notifications.status, 'sent')))
        )[0].n,
      (n) => n === 200,
      240_000,
      500,
    );
  }, 400_000);

  it('broadcasts take a topic or a segment, pinned at acceptance', async () => {
    const toTopic = await api('POST', '/v1/broadcasts', { topic: 'buyers', template: 'shipped', data: { total: 1 }, channels: ['inapp'] });
    expect(toTopic).toMatchObject({ status: 202, body: { total: 3 } });
    const toSegment = await api('POST', '/v1/broadcasts', { segment: 'recipient.attributes.plan == "free"', template: 'shipped', data: { total: 1 }, channels: ['inapp'] });
    expect(toSegment).toMatchObject({ status: 202, body: { total: 3 } });
    for (const id of [toTopic.body.id, toSegment.body.id]) {
      const done = await until(() => api('GET', `/v1/broadcasts/${id}`), (r) => r.body.status === 'completed', 60_000);
      expect(done.body).toMatchObject({ sent: 3, failed: 0 });
    }
    const bad = await api('POST', '/v1/broadcasts', { segment: 'recipient.attributes.plan ==', template: 'shipped', data: { total: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('recipient.attributes.plan ==');
    expect((await api('POST', '/v1/broadcasts', { topic: 'nope', template: 'shipped', data: { total: 1 } })).status).toBe(400);
    expect((await api('POST', '/v1/broadcasts', { topic: 'buyers', all: true, template: 'shipped', data: { total: 1 } })).status).toBe(400);
    expect((await api('POST', '/v1/broadcasts', { segment: 'recipient.attributes.plan == "none"', template: 'shipped', data: { total: 1 } })).status).toBe(400);
  }, 120_000);

  it('topics: subscribers in pages, unsubscribe, delete; erasure removes the recipient’s subscriptions', async () => {
    expect((await api('PUT', '/v1/topics/pages', {})).body).toMatchObject({ key: 'pages', name: null, subscribers: 0 });
    const ids = Array.from({ length: 5 }, (_, i) => `page-${i}`);
    expect((await api('POST', '/v1/recipients/bulk', { recipients: ids.map((id) => ({ id })) })).status).toBe(200);
    expect((await api('POST', '/v1/topics/pages/subscribers', { recipients: ids })).body).toEqual({ added: 5 });
    expect((await api('POST', '/v1/topics/pages/subscribers', { recipients: ids.slice(0, 2) })).body).toEqual({ added: 0 });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await api('GET', `/v1/topics/pages/subscribers?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.data);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);
    expect((await api('DELETE', '/v1/topics/pages/subscribers/page-0')).status).toBe(204);
    expect((await api('DELETE', '/v1/topics/pages/subscribers/page-0')).status).toBe(404);
    expect((await api('DELETE', '/v1/recipients/page-1')).status).toBe(202);
    expect((await api('GET', '/v1/topics/pages/subscribers')).body.data).toEqual(['page-2', 'page-3', 'page-4']);
    const left = await running!.database.db.select().from(topicSubscriptions).where(eq(topicSubscriptions.recipientId, 'page-1'));
    expect(left).toEqual([]);
    expect((await api('GET', '/v1/topics/pages')).body).toMatchObject({ subscribers: 3 });
    expect((await api('DELETE', '/v1/topics/pages')).status).toBe(204);
    expect((await api('GET', '/v1/topics/pages')).status).toBe(404);
    expect((await api('GET', '/v1/topics/pages/subscribers')).status).toBe(404);
  });

  it('recipient attributes are stored and bounded', async () => {
    const put = await api('PUT', '/v1/recipients/attr', { attributes: { plan: 'pro', seats: 3, tags: ['a'] } });
    expect(put.body.attributes).toEqual({ plan: 'pro', seats: 3, tags: ['a'] });
    expect((await api('GET', '/v1/recipients/attr')).body.attributes).toEqual({ plan: 'pro', seats: 3, tags: ['a'] });
    expect((await api('PUT', '/v1/recipients/attr', {})).body.attributes).toEqual({});
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    const big = { blob: 'x'.repeat(9000) };
    const deep = { a: { b: { c: { d: { e: 1 } } } } };
    for (const attributes of [many, big, deep, { '': 1 }, []]) {
      const r = await api('PUT', '/v1/recipients/attr', { attributes });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].path).toMatch(/^attributes/);
    }
  });

  it('refuses bad input on every new route with problem+json', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['PUT', '/v1/topics/bad%20key', {}, 400],
      ['PUT', '/v1/topics/t1', { name: 'x'.repeat(201) }, 400],
      ['PUT', '/v1/topics/t1', { extra: 1 }, 400],
      ['POST', '/v1/topics/nope/subscribers', { recipients: ['s1'] }, 404],
      ['POST', '/v1/topics/buyers/subscribers', { recipients: [] }, 400],
      ['POST', '/v1/topics/buyers/subscribers', { recipients: Array.from({ length: 1001 }, (_, i) => `r${i}`) }, 400],
      ['POST', '/v1/topics/buyers/subscribers', { recipients: ['bad id'] }, 400],
      ['DELETE', '/v1/topics/nope', undefined, 404],
      ['GET', '/v1/topics/buyers/subscribers?cursor=!!', undefined, 400],
      ['GET', `/v1/topics/buyers/subscribers?cursor=${Buffer.from('bad id').toString('base64url')}`, undefined, 400],
      ['GET', '/v1/topics/buyers/subscribers?limit=0', undefined, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' } }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' }, template: 'shipped', flow: 'f' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' }, template: 'nope' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' }, flow: 'welcome' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { topic: 'nope' }, template: 'shipped' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'actor' }, template: 'shipped' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' }, template: 'shipped', digest: { key: 'd', windowSeconds: 60 } }, 400],
      ['PUT', '/v1/rules/r1', { event: 'bad name', recipients: { from: 'event' }, template: 'shipped' }, 400],
      ['PUT', '/v1/rules/r1', { event: 'e', if: 'x'.repeat(1001), recipients: { from: 'event' }, template: 'shipped' }, 400],
      ['GET', '/v1/rules/nope', undefined, 404],
      ['GET', `/v1/rules?cursor=${Buffer.from('a\u0000b').toString('base64url')}`, undefined, 400],
      ['DELETE', '/v1/rules/nope', undefined, 404],
      ['POST', '/v1/events', { data: {} }, 400],
      ['POST', '/v1/events', { name: 'e', recipients: Array.from({ length: 1001 }, (_, i) => `r${i}`) }, 400],
      ['POST', '/v1/events', { name: 'e', actor: 'bad id' }, 400],
      ['POST', '/v1/events', { name: 'e', data: [] }, 400],
      ['GET', '/v1/events/evt_nope', undefined, 404],
      ['GET', `/v1/events/${'x'.repeat(65)}`, undefined, 400],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await fetch(`${running!.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect([method, path, res.status]).toEqual([method, path, status]);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      await res.text();
    }
    const flow = await api('PUT', '/v1/rules/r1', { event: 'e', recipients: { from: 'event' }, flow: 'welcome' });
    expect(flow.body.detail).toContain('Flow welcome does not exist');
    const unknown = await api('POST', '/v1/topics/buyers/subscribers', { recipients: ['s1', 'ghost'] });
    expect(unknown.body.detail).toContain('ghost');
    expect((await request('GET', '/v1/events/evt_nope', null)).status).toBe(401);
  });
});
