// Priority lanes and tenant fairness take effect on the Temporal dev server (the time-skipping
// test server has no task-queue priority): started with the settings of `npm start`'s dev server
// (worker/dev-server.ts DEV_SERVER_DYNAMIC_CONFIG), through the API, with a worker on it.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createInappSender } from '../activities/channels/inapp.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { registerSearchAttributes } from '../worker/index.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { ADMIN, seed, startHarness, type Harness } from './harness.js';
import { LOCAL_RECEIVERS, localEnv, testDataConverter, uniqueQueue } from './support.js';
import { until } from './until.js';

let h: Harness;
let dev: TestWorkflowEnvironment;
let taskQueue: string;

beforeAll(async () => {
  dev = await localEnv();
  await registerSearchAttributes(dev.connection, dev.namespace ?? 'default');
  taskQueue = uniqueQueue('priority');
  // The API starts runs on the dev server; no worker polls its queue until a test starts one.
  h = await startHarness({ app: { temporal: { client: dev.client, taskQueue, ping: async () => {} } } });
  await seed(h);
});

afterAll(async () => {
  await h?.close();
  await dev?.teardown();
});

const body = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, channels: ['inapp'] };

async function send(priority: string): Promise<string> {
  const res = await h.call('POST', '/v1/notifications', { ...body, priority });
  expect(res.status).toBe(202);
  return workflowIds.notification(h.tenantId, res.body.id);
}

/** Runs a worker that takes two workflow tasks at a time from one poller until `done` resolves. */
async function drain(done: () => Promise<unknown>): Promise<void> {
  // The server hands out the queued tasks in the order it chooses.
  const worker = await Worker.create({
    connection: dev.nativeConnection,
    namespace: dev.namespace ?? 'default',
    taskQueue,
    dataConverter: testDataConverter,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    maxConcurrentWorkflowTaskExecutions: 2,
    maxConcurrentWorkflowTaskPolls: 1,
    activities: createActivities({
      db: h.db.db,
      senders: { inapp: createInappSender(h.db.db), webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) },
    }),
  });
  await worker.runUntil(done);
}

const allCompleted = (ids: string[]) =>
  until(
    async () => Promise.all(ids.map(async (id) => (await dev.client.workflow.getHandle(id).describe()).status.name)),
    (all) => all.every((s) => s === 'COMPLETED'),
    120_000,
    250,
  );

const ms = (t: any) => Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);

/** When the run's first workflow task started (server time), once it has. */
async function firstTaskStarted(workflowId: string): Promise<number> {
  const history = await dev.client.workflow.getHandle(workflowId).fetchHistory();
  const e = history.events?.find((ev) => ev.workflowTaskStartedEventAttributes);
  if (!e) throw new Error(`${workflowId} has not started a workflow task`);
  return ms(e.eventTime);
}

describe('priority and fairness', () => {
  it('starts a notification run with its priority key and the tenant as fairness key', async () => {
    const id = await send('high');
    const info = (await dev.client.workflow.getHandle(id).describe()).raw.workflowExecutionInfo;
    expect(info?.priority).toMatchObject({ priorityKey: 2, fairnessKey: h.tenantId });
    await dev.client.workflow.getHandle(id).terminate('test over');
  });

  it('dispatches a critical send queued behind low ones before most of them, and its delivery in the critical lane', async () => {
    const lows: string[] = [];
    // Nothing polls the queue yet: all of these runs wait in one backlog.
    for (let i = 0; i < 20; i++) lows.push(await send('low'));
    const critical = await send('critical');

    await drain(async () => {
      await allCompleted([critical]);
      await allCompleted(lows);
    });

    const criticalAt = await firstTaskStarted(critical);
    const lowAt = await Promise.all(lows.map(firstTaskStarted));
    const before = lowAt.filter((t) => t < criticalAt).length;
    // FIFO would put it last (20 before it); by priority it goes first (the test server's task
    // queues have one partition: test/support.ts), give or take a task already on its way.
    expect(before).toBeLessThanOrEqual(2);

    // Its delivery activity ran in the critical lane, under the tenant's fairness key.
    const history = await dev.client.workflow.getHandle(critical).fetchHistory();
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
    expect(scheduled?.activityType?.name).toBe('deliverInapp');
    expect(scheduled?.priority).toMatchObject({ priorityKey: 1, fairnessKey: h.tenantId });
  }, 240_000);

  it("dispatches a second tenant's sends queued behind a first tenant's flood among the first, not after it", async () => {
    // Tenant B: its own key, recipient and template, on the same task queue.
    const created = await h.app.request('/v1/admin/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Tenant B' }),
    });
    const tenantB = (await created.json()) as { id: string; apiKey: string };
    const asB = async (method: string, path: string, payload: unknown) => {
      const res = await h.app.request(path, {
        method,
        headers: { authorization: `Bearer ${tenantB.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await asB('PUT', '/v1/recipients/user-42', { timezone: 'UTC' })).status).toBe(200);
    expect(
      (await asB('POST', '/v1/templates', { key: 'order-shipped', content: { en: { inapp: { title: 'Order {{ order.id }}', body: 'Hi {{ name }}' } } } })).status,
    ).toBe(201);

    // Tenant A floods the queue first, all in one lane; then tenant B sends three.
    const flood: string[] = [];
    for (let i = 0; i < 30; i++) flood.push(await send('normal'));
    const fromB: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await asB('POST', '/v1/notifications', { ...body, priority: 'normal' });
      expect(res.status).toBe(202);
      fromB.push(workflowIds.notification(tenantB.id, res.body.id));
      const info = (await dev.client.workflow.getHandle(fromB[i]).describe()).raw.workflowExecutionInfo;
      expect(info?.priority).toMatchObject({ priorityKey: 3, fairnessKey: tenantB.id });
    }

    await drain(async () => {
      await allCompleted(fromB);
      await allCompleted(flood);
    });

    // With the tenant as fairness key the server alternates between the tenants' backlogs.
    const aAt = await Promise.all(flood.map(firstTaskStarted));
    const bAt = await Promise.all(fromB.map(firstTaskStarted));
    // How many of A's runs started before each of B's: 30 each under first come, first served;
    // about 1, 2 and 3 when the two tenants take turns.
    const ahead = bAt.map((b) => aAt.filter((a) => a < b).length);
    expect(Math.max(...ahead)).toBeLessThanOrEqual(6);
  }, 240_000);
});
