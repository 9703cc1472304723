// Erasure and retention end to end as `npm start` runs them (README: "Erasure and retention"):
// DELETE /v1/recipients/{rid} removes the person at once, cancels what still runs for them and
// deletes the Temporal histories of their runs, so neither the API, the database nor the
// Temporal CLI can show their address or messages afterwards; the daily retention Schedule exists
// and its run deletes what is older than RETENTION_DAYS and nothing else.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { events, inboxMessages, lifecycleEvents, notifications, suppressions, topics, topicSubscriptions } from '../db/schema.js';
import { addressHash } from '../db/suppressions-hash.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import { quietTemporalLogs, stackRequests, stackTaskQueue, startTestStack } from './support.js';
import { until } from './until.js';

const run = promisify(execFile);
const EMAIL = 'erase.me@example.com';
const PHONE = '+14155550999';

describe('erasure and retention', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-erasure-'));
  let running: Running | undefined;
  let resend: FakeResend;
  let connection: Connection;
  let client: Client;
  let apiKey: string;
  let tenantId: string;
  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(inject('temporalCliPath'), [...args, '--address', running!.temporalAddress], { maxBuffer: 64 * 1024 * 1024 });
      return { code: 0, out: stdout + stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  };

  beforeAll(async () => {
    quietTemporalLogs();
    resend = await startFakeResend();
    running = await startTestStack(dataDir, {
      TEMPORAL_TASK_QUEUE: 'erasure-e2e',
      RESEND_API_KEY: 're_test_0123456789',
      RESEND_BASE_URL: resend.url,
      RETENTION_DAYS: '30',
    });
    connection = await Connection.connect({ address: running.temporalAddress });
    client = new Client({ connection, dataConverter: running.dataConverter });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    apiKey = created.body.apiKey;
    tenantId = created.body.id;
    const template = await api('POST', '/v1/templates', {
      key: 'order-shipped',
      content: {
        en: {
          email: { subject: 'Order {{ order.id }} shipped', html: '<p>Order {{ order.id }}</p>', text: 'Order {{ order.id }}' },
          inapp: { title: 'Order {{ order.id }}', body: 'Order {{ order.id }} shipped' },
        },
      },
    });
    expect(template.status).toBe(201);
    const digest = await api('POST', '/v1/templates', { key: 'orders-digest', content: { en: { email: { subject: '{{ count }} orders', text: '{{ count }} orders shipped' } } } });
    expect(digest.status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await connection?.close();
    await running?.stop();
    await resend?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('erases a recipient: at once from the API, then its runs from Temporal, with its scheduled send never sent', async () => {
    const rid = 'erase-me';
    expect((await api('PUT', `/v1/recipients/${rid}`, { email: EMAIL, phone: PHONE, name: 'Erin' })).status).toBe(200);
    const other = 'keep-me';
    expect((await api('PUT', `/v1/recipients/${other}`, { email: 'keep.me@example.com' })).status).toBe(200);

    // One sent email with an inbox item, one send held for later, one open digest window.
    const sent = await api('POST', '/v1/notifications', { recipient: rid, template: 'order-shipped', data: { order: { id: 1 } }, channels: ['email', 'inapp'] });
    expect(sent).toMatchObject({ status: 202 });
    await until(() => api('GET', `/v1/notifications/${sent.body.id}`), (r) => r.body.status === 'sent');
    const sendAt = new Date(Date.now() + 20_000).toISOString();
    const later = await api('POST', '/v1/notifications', { recipient: rid, template: 'order-shipped', data: { order: { id: 2 } }, channels: ['email'], sendAt });
    expect(later).toMatchObject({ status: 202 });
    const digested = await api('POST', '/v1/notifications', { recipient: rid, template: 'orders-digest', data: { order: { id: 3 } }, channels: ['email'], digest: { key: 'orders', windowSeconds: 3600 } });
    expect(digested).toMatchObject({ status: 202 });
    // An event the person acted in, one naming them among others, and a topic subscription.
    expect((await api('POST', '/v1/events', { name: 'profile.viewed', actor: rid, data: { by: 'Erin' } })).status).toBe(202);
    expect((await api('POST', '/v1/events', { name: 'team.changed', recipients: [other, rid], data: {} })).status).toBe(202);
    const othersEvent = await api('POST', '/v1/events', { name: 'team.changed', actor: other, data: {} });
    expect((await api('PUT', '/v1/topics/team', {})).status).toBe(200);
    expect((await api('POST', '/v1/topics/team/subscribers', { recipients: [rid, other] })).body).toEqual({ added: 2 });
    const kept = await api('POST', '/v1/notifications', { recipient: other, template: 'order-shipped', data: { order: { id: 4 } }, channels: ['email'] });
    await until(() => api('GET', `/v1/notifications/${kept.body.id}`), (r) => r.body.status === 'sent');
    await until(() => api('GET', `/v1/notifications/${later.body.id}`), (r) => r.body.status === 'scheduled');
    const db = running!.database.db;
    // A suppression of the person's address, as a STOP or a bounce would have made.
    await db.insert(suppressions).values({ tenantId, channel: 'email', addressHash: addressHash('email', EMAIL), address: EMAIL, reason: 'manual' });
    await db.insert(lifecycleEvents).values({ tenantId, type: 'recipient.unsubscribed', recipientId: rid, data: { channel: 'email' } });

    const runIds = [workflowIds.notification(tenantId, sent.body.id), workflowIds.notification(tenantId, later.body.id), workflowIds.digest(tenantId, rid, 'orders')];
    for (const id of runIds) await client.workflow.getHandle(id).describe();
    expect((await cli('workflow', 'show', '--workflow-id', runIds[0])).code).toBe(0);

    const erased = await api('DELETE', `/v1/recipients/${rid}`);
    expect(erased).toMatchObject({ status: 202, body: { status: 'erasing' } });
    // At once: the recipient and its inbox.
    expect((await api('GET', `/v1/recipients/${rid}`)).status).toBe(404);
    expect((await api('GET', `/v1/recipients/${rid}/inbox`)).status).toBe(404);
    expect((await api('GET', `/v1/recipients/${rid}/preferences`)).status).toBe(404);
    expect((await api('POST', '/v1/notifications', { recipient: rid, template: 'order-shipped', data: { order: { id: 5 } } })).status).toBeGreaterThanOrEqual(400);

    // Within a minute: the erasure run ends, every history of the person's runs is gone.
    const erasure = client.workflow.getHandle(workflowIds.erasure(tenantId, rid));
    await until(() => erasure.describe(), (d) => d.status.name !== 'RUNNING', 60_000, 250);
    expect((await erasure.describe()).status.name).toBe('COMPLETED');
    // The server deletes a history in a task of its own, soon after the request.
    const gone = async (id: string) => client.workflow.getHandle(id).describe().then(() => false, (err) => err instanceof WorkflowNotFoundError);
    await until(() => Promise.all(runIds.map(gone)), (all) => all.every(Boolean), 60_000, 250);
    for (const id of runIds) {
      const shown = await cli('workflow', 'show', '--workflow-id', id);
      expect(shown.code).not.toBe(0);
      expect(shown.out).not.toContain(EMAIL);
    }
    const listed = await cli('workflow', 'list', '--query', `TocsinTenant = '${tenantId}' AND TocsinRecipient = '${rid}'`, '--output', 'json');
    expect(listed.code).toBe(0);
    expect(listed.out).not.toContain(rid);
    // The erasure's own history names ids only.
    const history = JSON.stringify(await erasure.fetchHistory());
    expect(history).not.toContain(Buffer.from(EMAIL).toString('base64'));
    expect(history).not.toContain(EMAIL);

    // The database keeps nothing of them but the suppression's hash.
    for (const id of [sent.body.id, later.body.id, digested.body.id]) expect((await api('GET', `/v1/notifications/${id}`)).status).toBe(404);
    expect(await db.select().from(notifications).where(and(eq(notifications.tenantId, tenantId), eq(notifications.recipientId, rid)))).toEqual([]);
    expect(await db.select().from(inboxMessages).where(eq(inboxMessages.recipientId, rid))).toEqual([]);
    expect(await db.select().from(lifecycleEvents).where(eq(lifecycleEvents.recipientId, rid))).toEqual([]);
    // The events that named the person are gone; another's stays; so do the topic and the other subscriber.
    expect((await db.select({ id: events.id }).from(events).where(eq(events.tenantId, tenantId))).map((e) => e.id)).toEqual([othersEvent.body.id]);
    expect(await db.select({ rid: topicSubscriptions.recipientId }).from(topicSubscriptions).where(eq(topicSubscriptions.tenantId, tenantId))).toEqual([{ rid: other }]);
    expect(await db.select({ key: topics.key }).from(topics).where(eq(topics.tenantId, tenantId))).toEqual([{ key: 'team' }]);
    const [suppression] = await db.select().from(suppressions).where(eq(suppressions.tenantId, tenantId));
    expect(suppression).toMatchObject({ addressHash: addressHash('email', EMAIL), address: null, reason: 'manual' });
    // The other recipient is untouched.
    expect((await api('GET', `/v1/notifications/${kept.body.id}`)).body.status).toBe('sent');
    expect((await api('GET', `/v1/recipients/${other}`)).status).toBe(200);

    // The held send's time passes: nothing more reaches the provider for the erased address.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(sendAt) + 3_000 - Date.now())));
    expect(resend.requests.filter((r) => JSON.stringify(r.body).includes(EMAIL))).toHaveLength(1);
    // Asked again once finished: nothing is left to erase.
    expect((await api('DELETE', `/v1/recipients/${rid}`)).status).toBe(404);
  }, 180_000);

  it('keeps a daily retention Schedule whose run deletes only what is older than RETENTION_DAYS', async () => {
    const schedule = await client.schedule.getHandle(workflowIds.retentionSchedule(stackTaskQueue(dataDir, 'erasure-e2e'))).describe();
    expect(schedule.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 17, end: 17, step: 1 }] });
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', args: [{ days: 30 }] });

    const rid = 'old-timer';
    expect((await api('PUT', `/v1/recipients/${rid}`, { email: 'old.timer@example.com' })).status).toBe(200);
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const sent = await api('POST', '/v1/notifications', { recipient: rid, template: 'order-shipped', data: { order: { id: n } }, channels: ['email', 'inapp'] });
      await until(() => api('GET', `/v1/notifications/${sent.body.id}`), (r) => r.body.status === 'sent');
      ids.push(sent.body.id);
    }
    const db = running!.database.db;
    // The first is made 31 days old; the second stays new.
    await db.execute(sql`update ${notifications} set created_at = now() - interval '31 days' where ${notifications.id} = ${ids[0]}`);
    await db.execute(sql`update ${inboxMessages} set created_at = now() - interval '31 days' where ${inboxMessages.notificationId} = ${ids[0]}`);

    const handle = client.schedule.getHandle(workflowIds.retentionSchedule(stackTaskQueue(dataDir, 'erasure-e2e')));
    await handle.trigger();
    await until(() => api('GET', `/v1/notifications/${ids[0]}`), (r) => r.status === 404, 60_000, 250);
    expect((await api('GET', `/v1/notifications/${ids[1]}`)).body.status).toBe('sent');
    const inbox = await api('GET', `/v1/recipients/${rid}/inbox`);
    expect(inbox.body.data.map((m: { notificationId: string }) => m.notificationId)).toEqual([ids[1]]);
  }, 120_000);
});
