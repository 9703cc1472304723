// Upgrade in place to the payload codec: a notification accepted and started by the version
// before it (API client and worker without the codec, so its history holds clear payloads) waits
// on its sendAt timer; the old worker stops, a worker with the codec takes over and finishes it.
// Its history then holds both kinds of payload, and replays with the codec.
import { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createInappSender } from '../activities/channels/inapp.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { createApp } from '../api/app.js';
import type { Database } from '../db/client.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { ENCRYPTED_ENCODING } from '../usecases/payload-codec.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { LOCAL_RECEIVERS, offlineAppDeps, openTestDatabase, testDataConverter, testWorker, timeSkippingEnv, uniqueQueue } from './support.js';
import { until } from './until.js';

let env: TestWorkflowEnvironment;
let db: Database;
let hook: Awaited<ReturnType<typeof startFakeWebhook>>;

beforeAll(async () => {
  env = await timeSkippingEnv();
  db = await openTestDatabase();
  hook = await startFakeWebhook();
});
afterAll(async () => {
  await hook?.close();
  await db?.close();
  await env?.teardown();
});

const encodingOf = (p: { metadata?: Record<string, Uint8Array | null> | null } | null | undefined) =>
  Buffer.from(p?.metadata?.[METADATA_ENCODING_KEY] ?? []).toString();

describe('upgrade in place to the payload codec', () => {
  it('finishes a run that the version without the codec started, and replays its mixed history with the codec', { timeout: 120_000 }, async () => {
    const taskQueue = uniqueQueue('upgrade');
    // The old version: its API's client and its worker have no codec.
    const oldClient = new Client({ connection: env.connection, namespace: env.namespace ?? 'default' });
    const app = createApp(
      offlineAppDeps(db.db, env.connection, { temporal: { client: oldClient, taskQueue, ping: async () => {} }, webhookAllowedHosts: LOCAL_RECEIVERS }),
      { log: () => {} },
    );
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const tenant = await call('POST', '/v1/admin/tenants', 'admin-secret', { name: 'Upgrade' });
    const key = tenant.body.apiKey as string;
    expect((await call('PUT', '/v1/recipients/user-1', key, { webhookUrl: `${hook.url}/hooks`, email: 'alice@example.com' })).status).toBe(200);
    expect((await call('POST', '/v1/templates', key, { key: 'shipped', content: { en: { webhook: { order: '{{ order }}' } } } })).status).toBe(201);

    const oldWorker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      // Nothing sticky: the next workflow task goes to the task queue, where the new worker polls.
      maxCachedWorkflows: 0,
      activities: createActivities({ db: db.db, senders: { inapp: createInappSender(db.db), webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) } }),
    });
    const sendAt = new Date(Number(await env.currentTimeMs()) + 2 * 3600_000).toISOString();
    const accepted = await call('POST', '/v1/notifications', key, { recipient: 'user-1', template: 'shipped', data: { order: 'A-1001' }, channels: ['webhook'], sendAt });
    expect(accepted.status).toBe(202);
    const workflowId = workflowIds.notification(tenant.body.id, accepted.body.id);
    await oldWorker.runUntil(() => until(() => oldClient.workflow.getHandle(workflowId).query<{ status: string }>('status').catch(() => ({ status: 'not started' })), (s) => s.status === 'scheduled', 30_000, 50));
    expect(hook.requests).toHaveLength(0);

    // The new version takes over: a worker with the codec, the suite's client (with the codec) waits.
    const newWorker = await testWorker(env, db, taskQueue);
    const result = await newWorker.runUntil(env.client.workflow.getHandle(workflowId).result());
    expect(result.status).toBe('sent');
    expect(hook.requests).toHaveLength(1);
    expect(JSON.stringify(hook.requests[0].body)).toContain('A-1001');

    const history = await oldClient.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const started = events[0].workflowExecutionStartedEventAttributes!;
    expect(encodingOf(started.input!.payloads![0])).toBe('json/plain');
    const delivery = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverWebhook')!;
    expect(encodingOf(delivery.activityTaskScheduledEventAttributes!.input!.payloads![0])).toBe(ENCRYPTED_ENCODING);
    const completed = events.find((e) => e.workflowExecutionCompletedEventAttributes)!;
    expect(encodingOf(completed.workflowExecutionCompletedEventAttributes!.result!.payloads![0])).toBe(ENCRYPTED_ENCODING);

    // The old client cannot read what the new version wrote; the codec's can.
    await expect(oldClient.workflow.getHandle(workflowId).result()).rejects.toThrow(/binary\/encrypted/);

    const replay = await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: testDataConverter }, history, workflowId);
    expect(replay).toBeUndefined();
  });
});
