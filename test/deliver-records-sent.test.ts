// A delivery that ends its run `sent` records that itself (workflows/notification.ts: its
// run's only channel). The send comes first: a record that fails afterwards leaves the send
// standing, answered as not recorded, so the workflow records it and nothing is sent twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type DeliverArgs } from '../activities/index.js';
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

  it('answers a send whose record failed as sent and not recorded, and sends it once', async () => {
    const tenant = await createTenant(database.db, { name: 't', criticalRatePerMinute: null });
    const activities = createActivities({ db: database.db, senders: { webhook: createWebhookSender({ allowedHosts: LOCAL_RECEIVERS }) } });
    const env = new MockActivityEnvironment({ attempt: 1 });
    const args = (id: string): DeliverArgs => ({
      tenantId: tenant.id,
      notificationId: id,
      deliveryId: `${id}.webhook`,
      channel: 'webhook',
      recipient: { id: 'r1', email: null, phone: null, slack: null, webhookUrl: `${hook.url}/hooks`, pagerRoutingKey: null, whatsapp: null, telegramChatId: null, locale: 'en', timezone: 'UTC', name: null },
      template: { key: 'k', version: 1 },
      content: { webhook: { event: 'e' } },
      data: {},
      category: null,
    });
    // Without recordSent, nothing is recorded here (and the tenant's signing secret is cached).
    expect(await env.run(activities.deliverWebhook, args('ntf_a'))).not.toHaveProperty('recorded');

    // The database goes away between the send and its record.
    await database.close();
    const res = await env.run(activities.deliverWebhook, { ...args('ntf_b'), recordSent: [] });
    expect(res).toMatchObject({ provider: 'webhook', attempt: 1, recorded: false });
    expect(hook.requests.map((r) => JSON.parse(r.rawBody).notificationId)).toEqual(['ntf_a', 'ntf_b']);
  });
});
