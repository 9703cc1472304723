// A delivery that ends its run `sent` records that itself (workflows/notification.ts: its
// run's only channel). The send comes first: a record that fails afterwards leaves the send
// standing, answered as not recorded, so the workflow records it and nothing is sent twice.
// A delivery sends without a heartbeat (each would cost the server a write of the run), and one
// that wakes its run first and cannot answers wake_deferred, for the run's local activity to wake it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type DeliverArgs, type WakingDeliverArgs } from '../activities/index.js';
import type { NotificationInput } from '../domain/types.js';
import { createWebhookSender } from '../activities/channels/webhook.js';
import { openDatabase, type Database } from '../db/client.js';
import { createTenant } from '../usecases/tenants.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { LOCAL_RECEIVERS } from './support.js';

describe('a delivery asked to record its run sent', () => {
  let dir: string;
  let database: Database;
  let hook: Awaited<ReturnType<typeof startFakeWebhook>>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tocsin-records-sent-'));
    database = await openDatabase({ dataDir: dir });
    await database.migrate();
    hook = await startFakeWebhook();
  });
  afterAll(async () => {
    await hook?.close();
    await database?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  const args = (tenantId: string, id: string): DeliverArgs => ({
    tenantId,
    notificationId: id,
    deliveryId: `${id}.webhook`,
    channel: 'webhook',
    recipient: { id: 'r1', email: null, phone: null, slack: null, webhookUrl: `${hook.url}/hooks`, pagerRoutingKey: null, whatsapp: null, telegramChatId: null, locale: 'en', timezone: 'UTC', name: null },
    template: { key: 'k', version: 1 },
    content: { webhook: { event: 'e' } },
    data: {},
    category: null,
  });
  const sentIds = (from = 0) => hook.requests.slice(from).map((r) => JSON.parse(r.rawBody).notificationId);
  const webhookActivities = () => createActivities({ db: database.db, senders: { webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) } });

  it('sends without a heartbeat, first attempt or retry', async () => {
    const tenant = await createTenant(database.db, { name: 'h', criticalRatePerMinute: null });
    const activities = webhookActivities();
    const before = hook.requests.length;
    for (const attempt of [1, 2]) {
      const env = new MockActivityEnvironment({ attempt });
      const beats: unknown[] = [];
      env.on('heartbeat', (details: unknown) => beats.push(details));
      expect(await env.run(activities.deliverWebhook, args(tenant.id, `ntf_h${attempt}`))).toMatchObject({ provider: 'webhook', attempt });
      expect(beats).toEqual([]);
    }
    expect(sentIds(before)).toEqual(['ntf_h1', 'ntf_h2']);
  });

  it('answers a send whose record failed as sent and not recorded, and sends it once', async () => {
    const tenant = await createTenant(database.db, { name: 't', criticalRatePerMinute: null });
    const activities = webhookActivities();
    const env = new MockActivityEnvironment({ attempt: 1 });
    const before = hook.requests.length;
    // Without recordSent, nothing is recorded here (and the tenant's signing secret is cached).
    expect(await env.run(activities.deliverWebhook, args(tenant.id, 'ntf_a'))).not.toHaveProperty('recorded');

    // The database goes away between the send and its record.
    await database.close();
    const res = await env.run(activities.deliverWebhook, { ...args(tenant.id, 'ntf_b'), recordSent: [] });
    expect(res).toMatchObject({ provider: 'webhook', attempt: 1, recorded: false });
    expect(sentIds(before)).toEqual(['ntf_a', 'ntf_b']);
  });

  it('a delivery that wakes its run and cannot reach the database answers wake_deferred, not retried, and sends nothing', async () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'tocsin-wake-deferred-'));
    const other = await openDatabase({ dataDir: otherDir });
    await other.migrate();
    const activities = createActivities({ db: other.db, senders: { webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) } });
    await other.close();
    rmSync(otherDir, { recursive: true, force: true });
    const before = hook.requests.length;
    const input: NotificationInput = { tenantId: 'ten_x', notificationId: 'ntf_w', recipientId: 'r1', template: { key: 'k', version: 1 }, data: {}, channels: ['webhook'], strategy: 'all', category: null, priority: 'normal', sendAt: null, retry: { maximumAttempts: 3, initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, expirationSeconds: 60 }, throttle: null };
    const args: WakingDeliverArgs = { channel: 'webhook', deliveryId: 'ntf_w.webhook', wake: { input, at: Date.now(), workflowId: 'w' } };
    const waking = new MockActivityEnvironment({ attempt: 1 }).run(activities.deliverWebhook, args);
    await expect(waking).rejects.toMatchObject({ type: 'wake_deferred', nonRetryable: true });
    expect(hook.requests.length).toBe(before);
  });
});
