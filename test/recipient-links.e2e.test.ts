// One-click unsubscribe end to end, as `npm start` runs it (dev server, worker and API on free
// ports): emails of a notification with a category carry RFC 8058's List-Unsubscribe and
// List-Unsubscribe-Post headers at Resend's fake (single and batch sends) and at a real SMTP
// server (a tenant's SMTP integration); a plain POST of `List-Unsubscribe=One-Click` to the URL
// opts the person out of that category by email, and the next such email is skipped before it
// reaches the provider. A GET of the URL changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../worker/dev-server.js';
import type { Running } from '../runtime/index.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import { startFakeSmtp, type FakeSmtp } from './fakes/smtp.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const FINISHED = ['sent', 'partially_sent', 'failed', 'suppressed'];

describe('one-click unsubscribe end to end', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-unsubscribe-e2e-'));
  let running: Running | undefined;
  let resend: FakeResend;
  let smtp: FakeSmtp;
  let publicBaseUrl: string;
  let acme: { id: string; apiKey: string };

  const request = stackRequests(() => running);
  const api = (key: string) => (method: string, path: string, body?: unknown) => request(method, path, key, body);

  async function notify(key: string, body: Record<string, unknown>) {
    const sent = await api(key)('POST', '/v1/notifications', { template: 'news', data: { title: 'Hello' }, channels: ['email'], ...body });
    expect(sent.status).toBe(202);
    return until(
      () => api(key)('GET', `/v1/notifications/${sent.body.id}`),
      (r) => FINISHED.includes(r.body.status),
    ).then((r) => r.body);
  }
  /** The Resend request of a sent notification's email (its provider message id names the email). */
  const resendRequestOf = (n: { deliveries: Array<{ providerMessageId: string | null }> }) => {
    const id = n.deliveries[0].providerMessageId!;
    return resend.emails.get(id) as { to: string | string[]; headers?: Record<string, string> };
  };
  const unsubscribeUrlOf = (headers: Record<string, string> | undefined) => headers?.['List-Unsubscribe']?.match(/^<(.+)>$/)?.[1];

  beforeAll(async () => {
    quietTemporalLogs();
    [resend, smtp] = await Promise.all([startFakeResend(), startFakeSmtp()]);
    const port = await freePort();
    publicBaseUrl = `http://127.0.0.1:${port}`;
    running = await startTestStack(dataDir, {
      PORT: String(port),
      PUBLIC_BASE_URL: publicBaseUrl,
      TEMPORAL_TASK_QUEUE: 'unsubscribe-e2e',
      RESEND_API_KEY: 're_test_0123456789',
      RESEND_BASE_URL: resend.url,
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
    });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    acme = created.body;
    const call = api(acme.apiKey);
    expect((await call('PUT', '/v1/recipients/ann', { email: 'ann@example.com' })).status).toBe(200);
    expect((await call('PUT', '/v1/recipients/bob', { email: 'bob@example.com' })).status).toBe(200);
    const template = { key: 'news', content: { en: { email: { subject: '{{ title }}', html: '<p>{{ title }}</p>', text: '{{ title }}' } } } };
    expect((await call('POST', '/v1/templates', template)).status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([resend, smtp].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('an email with a category carries both headers; POST One-Click opts out; the next such email is skipped, another category still goes, no category carries neither', async () => {
    const first = await notify(acme.apiKey, { recipient: 'ann', category: 'deals' });
    expect(first.status).toBe('sent');
    const sentFirst = resendRequestOf(first);
    expect(sentFirst.to).toEqual('ann@example.com');
    expect(sentFirst.headers?.['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const url = unsubscribeUrlOf(sentFirst.headers);
    expect(url).toMatch(new RegExp(`^${publicBaseUrl}/unsubscribe/[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));

    // A GET (a mail scanner following the link) changes nothing.
    const before = await api(acme.apiKey)('GET', '/v1/recipients/ann/preferences');
    const page = await fetch(url!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Unsubscribe');
    expect((await api(acme.apiKey)('GET', '/v1/recipients/ann/preferences')).body).toEqual(before.body);

    // The mail provider's one-click POST: no credentials, no cookies.
    const res = await fetch(url!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(res.status).toBe(200);
    await res.text();
    const after = await api(acme.apiKey)('GET', '/v1/recipients/ann/preferences');
    expect(after.body.categories).toEqual({ deals: { channels: { email: false } } });

    const requestsBefore = resend.requests.length;
    const second = await notify(acme.apiKey, { recipient: 'ann', category: 'deals', data: { title: 'Second deal' } });
    expect(second.status).toBe('suppressed');
    expect(second.deliveries).toEqual([expect.objectContaining({ channel: 'email', status: 'skipped' })]);
    expect(resend.requests.length).toBe(requestsBefore);
    expect(resend.requests.some((r) => JSON.stringify(r.body).includes('Second deal'))).toBe(false);

    // Another category still goes, with a link of its own.
    const billing = await notify(acme.apiKey, { recipient: 'ann', category: 'billing' });
    expect(billing.status).toBe('sent');
    const billingUrl = unsubscribeUrlOf(resendRequestOf(billing).headers);
    expect(billingUrl).toMatch(/\/unsubscribe\//);
    expect(billingUrl).not.toBe(url);

    // Transactional (no category): neither header.
    const plain = await notify(acme.apiKey, { recipient: 'ann' });
    expect(plain.status).toBe('sent');
    expect(resendRequestOf(plain).headers).toBeUndefined();
  });

  it('a retried email carries the same link (Resend sees the same body under the delivery’s idempotency key)', async () => {
    // The first attempt is accepted but its answer is lost: the retry repeats the key.
    resend.enqueue({ acceptThen: 'drop' });
    const n = await notify(acme.apiKey, { recipient: 'bob', category: 'alerts', data: { title: 'Retried' } });
    expect(n.status).toBe('sent');
    expect(n.deliveries[0].attempts).toBe(2);
    const tries = resend.requests.filter((r) => r.path === '/emails' && JSON.stringify(r.body).includes('Retried'));
    expect(tries).toHaveLength(2);
    expect(tries[1].rawBody).toBe(tries[0].rawBody);
    expect(tries[1].status).toBe(200);
    expect([...resend.emails.values()].filter((e) => e.subject === 'Retried')).toHaveLength(1);
  });

  it('a broadcast with a category carries the headers in its batch send, one link per person', async () => {
    const call = api(acme.apiKey);
    const b = await call('POST', '/v1/broadcasts', { recipients: ['bob', 'ann'], template: 'news', data: { title: 'Weekly' }, channels: ['email'], category: 'weekly' });
    expect(b.status).toBe(202);
    await until(
      () => call('GET', `/v1/broadcasts/${b.body.id}`),
      (r) => r.body.status === 'completed',
    );
    const weekly = [...resend.emails.values()].filter((e) => e.subject === 'Weekly') as Array<{ to: string; headers?: Record<string, string> }>;
    expect(weekly.map((e) => e.to).sort()).toEqual(['ann@example.com', 'bob@example.com']);
    const urls = weekly.map((e) => unsubscribeUrlOf(e.headers));
    expect(urls.every((u) => u?.startsWith(`${publicBaseUrl}/unsubscribe/`))).toBe(true);
    expect(new Set(urls).size).toBe(2);
    expect(weekly.every((e) => e.headers?.['List-Unsubscribe-Post'] === 'List-Unsubscribe=One-Click')).toBe(true);
  });

  it('over SMTP (a tenant’s SMTP integration) the raw message carries both headers, and only with a category', async () => {
    const created = await request('POST', '/v1/admin/tenants', running!.adminToken, { name: 'Mailco' });
    const mailco = created.body as { apiKey: string };
    const call = api(mailco.apiKey);
    expect((await call('PUT', '/v1/integrations/smtp-main', { channel: 'email', provider: 'smtp', credentials: { url: smtp.url() } })).status).toBe(200);
    expect((await call('PUT', '/v1/recipients/cy', { email: 'cy@example.com' })).status).toBe(200);
    const template = { key: 'news', content: { en: { email: { subject: '{{ title }}', text: '{{ title }}' } } } };
    expect((await call('POST', '/v1/templates', template)).status).toBe(201);

    const withCategory = await notify(mailco.apiKey, { recipient: 'cy', category: 'digest', data: { title: 'Digest' } });
    expect(withCategory.status).toBe('sent');
    expect(withCategory.deliveries[0].provider).toBe('smtp');
    const unfold = (source: string) => source.replace(/\r?\n[ \t]+/g, ' ');
    const mail = smtp.messages.find((m) => m.source.includes(withCategory.deliveries[0].providerMessageId));
    const headers = unfold(mail!.source.split(/\r?\n\r?\n/)[0]);
    const listUnsubscribe = headers.match(/^List-Unsubscribe: (.+)$/im)?.[1];
    expect(listUnsubscribe).toMatch(new RegExp(`^<${publicBaseUrl}/unsubscribe/[\\w-]+\\.[\\w-]+\\.[\\w-]+>$`));
    expect(headers).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/im);

    // The link works: one POST, and the next digest email is skipped.
    const url = listUnsubscribe!.slice(1, -1);
    expect((await fetch(url, { method: 'POST', body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }) })).status).toBe(200);
    const count = smtp.messages.length;
    const skipped = await notify(mailco.apiKey, { recipient: 'cy', category: 'digest' });
    expect(skipped.status).toBe('suppressed');
    expect(smtp.messages.length).toBe(count);

    const plain = await notify(mailco.apiKey, { recipient: 'cy', data: { title: 'Receipt' } });
    expect(plain.status).toBe('sent');
    const plainMail = smtp.messages.find((m) => m.source.includes(plain.deliveries[0].providerMessageId));
    expect(plainMail!.source.split(/\r?\n\r?\n/)[0]).not.toMatch(/^List-Unsubscribe/im);
  });
});
