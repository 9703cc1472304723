// Flows end to end, as `npm start` runs them (dev server, worker and API on free ports) with the
// Resend fake: in-app, a 5-second wait for the read, email if still unread; and a fetch from a
// local server feeding the next template.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import { startFakeWebhook } from './fakes/webhook.js';
import type { FakeServer } from './fakes/server.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

describe('flows end to end', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-flows-e2e-'));
  let running: Running | undefined;
  let resend: FakeResend;
  let profiles: FakeServer;
  let tenant: { id: string; apiKey: string };
  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, tenant.apiKey, body);
  const finished = (id: string) =>
    until(
      () => api('GET', `/v1/notifications/${id}`),
      (r) => ['sent', 'partially_sent', 'failed', 'suppressed', 'cancelled'].includes(r.body.status),
      60_000,
    ).then((r) => r.body);
  const emailsTo = (to: string) => [...resend.emails.values()].filter((e) => JSON.stringify(e.to).includes(to));

  beforeAll(async () => {
    quietTemporalLogs();
    [resend, profiles] = await Promise.all([startFakeResend(), startFakeWebhook()]);
    running = await startTestStack(dataDir, {
      TEMPORAL_TASK_QUEUE: 'flows-e2e',
      EMAIL_FROM: 'Acme <notifications@acme.example>',
      RESEND_API_KEY: 're_test_0123456789',
      RESEND_BASE_URL: resend.url,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    tenant = created.body;
    const template = await api('POST', '/v1/templates', {
      key: 'nudge',
      content: { en: { inapp: { title: 'Order {{ order }}', body: 'Plan {{ profile.plan | default: "none" }}' }, email: { subject: 'Order {{ order }} waits', text: 'Pay for {{ order }}.' } } },
    });
    expect(template.status).toBe(201);
    const flow = await api('PUT', '/v1/flows/nudge', {
      steps: [
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
        { id: 'wait', type: 'wait', for: 'read', timeoutSeconds: 5 },
        { id: 'check', type: 'branch', if: 'steps.wait.outcome == "timed_out"', then: [{ id: 'email', type: 'send', channels: ['email'], template: 'nudge' }] },
      ],
    });
    expect(flow.body).toEqual({ key: 'nudge', version: 1 });
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([resend?.close(), profiles?.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('read within the 5 seconds (by the recipient’s own API): no email', async () => {
    expect((await api('PUT', '/v1/recipients/reader', { email: 'reader@example.com' })).status).toBe(200);
    const token = await api('POST', '/v1/recipients/reader/token', {});
    expect(token.status).toBe(201);
    const sent = await api('POST', '/v1/notifications', { recipient: 'reader', flow: 'nudge', data: { order: 'R-1' } });
    expect(sent.status).toBe(202);
    const id = sent.body.id;
    await until(
      () => api('GET', `/v1/notifications/${id}`),
      (r) => r.body.steps?.find((s: any) => s.id === 'wait')?.status === 'running',
      30_000,
      25,
    );
    const read = await request('POST', `/v1/me/inbox/msg_${id}/read`, token.body.token);
    expect(read.body).toEqual({ updated: 1 });
    const done = await finished(id);
    expect(done.status).toBe('sent');
    expect(done.steps.find((s: any) => s.id === 'wait').outcome).toBe('matched');
    expect(emailsTo('reader@example.com')).toHaveLength(0);
  });

  it('unread: exactly one email, once the 5 seconds are over', async () => {
    expect((await api('PUT', '/v1/recipients/ignorer', { email: 'ignorer@example.com' })).status).toBe(200);
    const sent = await api('POST', '/v1/notifications', { recipient: 'ignorer', flow: 'nudge', data: { order: 'I-1' } });
    const done = await finished(sent.body.id);
    expect(done.status).toBe('sent');
    const wait = done.steps.find((s: any) => s.id === 'wait');
    expect(wait.outcome).toBe('timed_out');
    // The run's own clock: the wait lasted its timeout.
    expect(Date.parse(wait.endedAt) - Date.parse(wait.startedAt)).toBeGreaterThanOrEqual(5000);
    expect(emailsTo('ignorer@example.com').map((e) => e.subject)).toEqual(['Order I-1 waits']);
    expect(done.deliveries.map((d: any) => [d.channel, d.status])).toEqual([
      ['inapp', 'sent'],
      ['email', 'sent'],
    ]);
  });

  it('a fetch from a local server puts its JSON into data for the next template', async () => {
    profiles.setDefault({ status: 200, body: { plan: 'gold' } });
    const flow = await api('PUT', '/v1/flows/enriched', {
      steps: [
        { id: 'load', type: 'fetch', url: `${profiles.url}/profiles/fetcher`, as: 'profile' },
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
      ],
    });
    expect(flow.status).toBe(200);
    expect((await api('PUT', '/v1/recipients/fetcher', {})).status).toBe(200);
    const sent = await api('POST', '/v1/notifications', { recipient: 'fetcher', flow: 'enriched', data: { order: 'F-1' } });
    expect((await finished(sent.body.id)).status).toBe('sent');
    const inbox = await api('GET', '/v1/recipients/fetcher/inbox');
    expect(inbox.body.data.map((m: any) => [m.title, m.body])).toEqual([['Order F-1', 'Plan gold']]);
    expect(profiles.requests.map((r) => r.path)).toEqual(['/profiles/fetcher']);
  });

  it('a rule names a flow: the event starts it; an order.paid event for the recipient ends its wait with no further send', async () => {
    const flow = await api('PUT', '/v1/flows/pay', {
      steps: [
        { id: 'inapp', type: 'send', channels: ['inapp'], template: 'nudge' },
        { id: 'paid', type: 'wait', for: 'event', event: 'order.paid', if: 'event.data.order == data.order', timeoutSeconds: 3600 },
        { id: 'check', type: 'branch', if: 'steps.paid.outcome == "timed_out"', then: [{ id: 'email', type: 'send', channels: ['email'], template: 'nudge' }] },
      ],
    });
    expect(flow.status).toBe(200);
    expect((await api('PUT', '/v1/rules/nudge-on-order', { event: 'order.placed', recipients: { from: 'event' }, flow: 'pay' })).status).toBe(200);
    expect((await api('PUT', '/v1/rules/unknown-flow', { event: 'order.placed', recipients: { from: 'event' }, flow: 'nope' })).status).toBe(400);
    expect((await api('PUT', '/v1/recipients/payer', { email: 'payer@example.com' })).status).toBe(200);
    const placed = await api('POST', '/v1/events', { name: 'order.placed', actor: 'payer', data: { order: 'P-1' } });
    expect(placed.status).toBe(202);
    const event = await until(
      () => api('GET', `/v1/events/${placed.body.id}`),
      (r) => r.body.status === 'processed',
      60_000,
    );
    expect(event.body.rules).toEqual(['nudge-on-order']);
    expect(event.body.notifications.count).toBe(1);
    const [id] = event.body.notifications.ids;
    await until(
      () => api('GET', `/v1/notifications/${id}`),
      (r) => r.body.steps?.find((s: any) => s.id === 'paid')?.status === 'running',
      60_000,
    );
    // Another order's payment does not end this wait; this order's does.
    expect((await api('POST', '/v1/events', { name: 'order.paid', actor: 'payer', data: { order: 'P-0' } })).status).toBe(202);
    expect((await api('POST', '/v1/events', { name: 'order.paid', actor: 'payer', data: { order: 'P-1' } })).status).toBe(202);
    const done = await finished(id);
    expect(done.status).toBe('sent');
    expect(done.flow).toBe('pay');
    expect(done.steps.find((s: any) => s.id === 'paid').outcome).toBe('matched');
    expect(done.steps.find((s: any) => s.id === 'email').status).toBe('skipped');
    expect(emailsTo('payer@example.com')).toHaveLength(0);
  });
});
