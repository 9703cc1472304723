// The whole stack as `npm start` runs it: the Temporal dev server (CLI), the database, the
// worker and the HTTP API on free ports, driven over real HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTocsinClient, ok } from '../client/index.js';
import type { Running } from '../runtime/index.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { openTestDatabase, postgresUrl, quietTemporalLogs, startTestStack } from './support.js';
import { until } from './until.js';

const boot = (dataDir: string, env: Record<string, string> = {}) => startTestStack(dataDir, { TEMPORAL_TASK_QUEUE: 'e2e', ...env });

/** The README's curl session, through the typed client (client/). Returns what a restart check needs. */
async function curlSession(running: Running, hookUrl: string) {
  const admin = createTocsinClient({ baseUrl: running.apiUrl!, token: running.adminToken });
  expect((await admin.GET('/readyz')).response.status).toBe(200);
  const tenant = await ok(admin.POST('/v1/admin/tenants', { body: { name: 'Acme' } }));
  const api = createTocsinClient({ baseUrl: running.apiUrl!, token: tenant.apiKey });
  const recipient = await ok(api.PUT('/v1/recipients/{recipientId}', { params: { path: { recipientId: 'user-42' } }, body: { webhookUrl: hookUrl, name: 'Ann' } }));
  expect(recipient).toMatchObject({ id: 'user-42', webhookUrl: hookUrl, locale: 'en', timezone: 'UTC' });
  const template = await api.POST('/v1/templates', {
    body: {
      key: 'order-shipped',
      content: { en: { inapp: { title: 'Order {{ order.id }} shipped', body: 'Hi {{ name }}' }, webhook: { order: '{{ order.id }}' } } },
    },
  });
  expect(template.response.status).toBe(201);
  const sent = await api.POST('/v1/notifications', { body: { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } } });
  expect(sent.response.status).toBe(202);
  const id = sent.data!.id;
  const done = await until(
    () => ok(api.GET('/v1/notifications/{id}', { params: { path: { id } } })),
    (n) => n.status === 'sent',
  );
  expect(done.deliveries.map((d) => [d.channel, d.status])).toEqual([
    ['webhook', 'sent'],
    ['inapp', 'sent'],
  ]);
  const inbox = await ok(api.GET('/v1/recipients/{rid}/inbox', { params: { path: { rid: 'user-42' } } }));
  expect(inbox.data[0]).toMatchObject({ title: 'Order 7 shipped', body: 'Hi Ann', read: false });
  // A client mistake answers the problem the document promises.
  const refused = await api.POST('/v1/notifications', { body: { recipient: 'user-42', template: 'order-shipped', priority: 'urgent' as never } });
  expect(refused.response.status).toBe(400);
  expect(refused.response.headers.get('content-type')).toBe('application/problem+json');
  expect(refused.error?.errors).toEqual([expect.objectContaining({ path: 'priority' })]);
  return { apiKey: tenant.apiKey, tenantId: tenant.id, notificationId: id };
}

describe('the whole stack on embedded defaults (PGlite + dev server)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-e2e-'));
  let running: Running | undefined;
  let hook: Awaited<ReturnType<typeof startFakeWebhook>>;
  beforeAll(async () => {
    quietTemporalLogs();
    hook = await startFakeWebhook();
  });
  afterAll(async () => {
    await running?.stop();
    await hook.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the curl session, shows the run in Temporal by its search attributes, and keeps state across a restart', async () => {
    running = await boot(dataDir);
    const first = await curlSession(running, `${hook.url}/hooks`);
    expect(hook.requests).toHaveLength(1);

    // Findable in the Temporal UI: list by our search attributes.
    const connection = await Connection.connect({ address: running.temporalAddress });
    try {
      const client = new Client({ connection, dataConverter: running.dataConverter });
      const runs = await until(
        async () => {
          const out = [];
          for await (const w of client.workflow.list({ query: `TocsinTenant = "${first.tenantId}" AND TocsinRecipient = "user-42" AND TocsinStatus = "sent"` })) out.push(w);
          return out;
        },
        (r) => r.length === 1,
      );
      expect(runs[0].workflowId).toBe(`notification:${first.tenantId}:${first.notificationId}`);
    } finally {
      await connection.close();
    }

    const adminToken = running.adminToken;
    await running.stop();
    running = await boot(dataDir);
    expect(running.adminToken).toBe(adminToken);
    const api = createTocsinClient({ baseUrl: running.apiUrl!, token: first.apiKey });
    const again = await ok(api.GET('/v1/notifications/{id}', { params: { path: { id: first.notificationId } } }));
    expect(again.status).toBe('sent');
    // Temporal's own state survived too: the finished run is still there.
    const conn = await Connection.connect({ address: running.temporalAddress });
    try {
      const desc = await new Client({ connection: conn, dataConverter: running.dataConverter }).workflow.getHandle(`notification:${first.tenantId}:${first.notificationId}`).describe();
      expect(desc.status.name).toBe('COMPLETED');
    } finally {
      await conn.close();
    }
  });
});

describe.runIf(postgresUrl)('the whole stack on PostgreSQL (DATABASE_URL)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-e2e-pg-'));
  let running: Running | undefined;
  let hook: Awaited<ReturnType<typeof startFakeWebhook>>;
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let url: string;
  beforeAll(async () => {
    quietTemporalLogs();
    hook = await startFakeWebhook();
    database = await openTestDatabase('postgres');
    url = database.url!;
  });
  afterAll(async () => {
    await running?.stop();
    await hook.close();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the curl session', async () => {
    running = await boot(dataDir, { DATABASE_URL: url });
    expect(running.database.kind).toBe('postgres');
    await curlSession(running, `${hook.url}/hooks`);
  });
});
