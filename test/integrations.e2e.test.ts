// Tenants' own providers end to end, as `npm start` runs them: two email integrations in order
// with failover and a circuit breaker, a permanent refusal that does not fail over, credentials
// sealed (never in clear under DATA_DIR, never answered), and a key rotation that keeps sends
// working. The providers are fake Resend APIs on local ports.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { Writable } from 'node:stream';
import { createLogger } from '../telemetry/log.js';
import { resendError, startFakeResend, type FakeResend } from './fakes/resend.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { filesHolding, quietTemporalLogs, stackRequests, startTestStack, temporalState } from './support.js';
import { until } from './until.js';

const KEY_1 = `one:${randomBytes(32).toString('base64')}`;
const KEY_2 = `two:${randomBytes(32).toString('base64')}`;
const PRIMARY_KEY = `re_primary_${randomBytes(12).toString('hex')}`;
const BACKUP_KEY = `re_backup_${randomBytes(12).toString('hex')}`;
const EMAIL_FROM = 'Acme <notifications@acme.example>';

describe('integrations: a tenant’s own email providers, failover and circuit breakers', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-integrations-'));
  let running: Running | undefined;
  let primary: FakeResend;
  let backup: FakeResend;
  let twilio: FakeTwilio;
  let apiKey: string;

  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);
  async function email(to = 'ann@example.com') {
    const sent = await api('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 } }, channels: ['email'] });
    expect(sent.status).toBe(202);
    const n = await until(
      () => api('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'failed'].includes(r.body.status),
    ).then((r) => r.body);
    return { n, key: `${n.id}.email`, to };
  }
  /** The tenant id in a metrics scrape (one tenant here). */
  const list0 = (metrics: string) => /tocsin_integration_circuit_open\{tenant="([^"]+)"/.exec(metrics)![1];
  /** Requests a fake got for one delivery (Resend's idempotency key is the delivery id). */
  const callsFor = (fake: FakeResend, key: string) => fake.requests.filter((r) => r.headers['idempotency-key'] === key);
  const integration = (id: string, base: FakeResend, apiKeyValue: string, priority: number, settings: Record<string, unknown> = {}) =>
    api('PUT', `/v1/integrations/${id}`, { channel: 'email', provider: 'resend', credentials: { apiKey: apiKeyValue }, settings: { baseUrl: base.url, ...settings }, priority });

  /** Every line the stack logs, at debug level. */
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }) });
  const start = (keys: string) =>
    startTestStack(
      dataDir,
      { TEMPORAL_TASK_QUEUE: 'integrations-e2e', EMAIL_FROM, TOCSIN_ENCRYPTION_KEYS: keys, DELIVERY_INITIAL_INTERVAL_SECONDS: '1', DELIVERY_MAX_INTERVAL_SECONDS: '1' },
      { logger },
    );

  beforeAll(async () => {
    quietTemporalLogs();
    [primary, backup, twilio] = await Promise.all([startFakeResend(), startFakeResend(), startFakeTwilio()]);
    running = await start(KEY_1);
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    apiKey = created.body.apiKey;
    expect((await api('PUT', '/v1/recipients/user-42', { email: 'ann@example.com' })).status).toBe(200);
    const template = await api('POST', '/v1/templates', { key: 'order-shipped', content: { en: { email: { subject: 'Order {{ order.id }} shipped', text: 'On its way.' } } } });
    expect(template.status).toBe(201);
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([primary, backup, twilio].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses what cannot work: a provider of another channel, missing or malformed credentials, a private base URL', async () => {
    const wrongProvider = await api('PUT', '/v1/integrations/x', { channel: 'email', provider: 'twilio', credentials: { accountSid: 'AC', authToken: 't' } });
    expect(wrongProvider.status).toBe(400);
    expect(wrongProvider.body.errors).toEqual([{ path: 'provider', message: "a email integration's provider is one of resend, smtp" }]);
    const missing = await api('PUT', '/v1/integrations/x', { channel: 'sms', provider: 'twilio', credentials: { accountSid: `AC${'0'.repeat(32)}` } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors.map((e: any) => e.path)).toEqual(['credentials.authToken']);
    const privateBase = await api('PUT', '/v1/integrations/x', { channel: 'email', provider: 'resend', credentials: { apiKey: 're_x' }, settings: { baseUrl: 'http://10.1.2.3/' } });
    expect(privateBase.status).toBe(400);
    expect(privateBase.body.errors[0].path).toBe('settings.baseUrl');
    expect((await api('GET', '/v1/integrations')).body.data).toEqual([]);
    expect((await api('DELETE', '/v1/integrations/x')).status).toBe(404);
  });

  it('answers credentials masked, never in clear', async () => {
    const put = await integration('primary', primary, PRIMARY_KEY, 1, { breakerFailures: 3, breakerCooldownSeconds: 3600 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: 'primary', channel: 'email', provider: 'resend', priority: 1, enabled: true, credentials: { apiKey: `re_…${PRIMARY_KEY.slice(-4)}` }, health: { state: 'closed', failures: 0, openedAt: null } });
    expect((await integration('backup', backup, BACKUP_KEY, 2)).status).toBe(200);
    const list = await api('GET', '/v1/integrations');
    expect(list.body.data.map((i: any) => i.id)).toEqual(['primary', 'backup']);
    expect(JSON.stringify(list.body)).not.toContain(PRIMARY_KEY);
    expect(JSON.stringify(list.body)).not.toContain(BACKUP_KEY);
  });

  it('with the first answering 503, every email goes through the second; the first sees only its breaker’s threshold of calls', async () => {
    primary.setDefault({ status: 503 });
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await email());
    for (const { n, key } of sent) {
      expect(n.status).toBe('sent');
      expect(callsFor(backup, key)).toHaveLength(1);
      expect(n.deliveries[0]).toMatchObject({ status: 'sent', provider: 'resend' });
    }
    // Attempt 1 of the first three went to the primary and failed; then its breaker opened
    // (cool-down an hour) and later emails went straight to the backup.
    expect(sent.map(({ key }) => callsFor(primary, key).length)).toEqual([1, 1, 1, 0, 0, 0]);
    expect(sent.map(({ n }) => n.deliveries[0].attempts)).toEqual([2, 2, 2, 1, 1, 1]);
    expect(primary.requests.every((r) => r.headers.authorization === `Bearer ${PRIMARY_KEY}`)).toBe(true);
    expect(backup.requests.every((r) => r.headers.authorization === `Bearer ${BACKUP_KEY}`)).toBe(true);
    const health = await until(
      () => api('GET', '/v1/integrations'),
      (r) => r.body.data[0].health.state === 'open',
    );
    expect(health.body.data[0].health).toMatchObject({ state: 'open', failures: 3, openedAt: expect.any(String) });
    expect(health.body.data[1].health).toMatchObject({ state: 'closed', failures: 0 });
    const metrics = await fetch(`${running!.apiUrl}/metrics`, { headers: { authorization: `Bearer ${running!.adminToken}` } }).then((r) => r.text());
    const tenant = list0(metrics);
    expect(metrics).toContain(`tocsin_integration_circuit_open{tenant="${tenant}",integration="primary",channel="email"} 1`);
    expect(metrics).toContain(`tocsin_integration_circuit_open{tenant="${tenant}",integration="backup",channel="email"} 0`);
  });

  it('after the cool-down one trial call finds the first recovered, and sends return to it', async () => {
    // A short cool-down this time: putting the integration again starts its breaker over.
    expect((await integration('primary', primary, PRIMARY_KEY, 1, { breakerFailures: 2, breakerCooldownSeconds: 2 })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 5_500)); // the workers' cached list of integrations expires (5 s)
    const failing = [await email(), await email()];
    expect(failing.map(({ key }) => callsFor(primary, key).length)).toEqual([1, 1]);
    await until(
      () => api('GET', '/v1/integrations'),
      (r) => r.body.data[0].health.state === 'open',
    );
    primary.setDefault(undefined);
    await new Promise((r) => setTimeout(r, 2_500)); // past the cool-down
    const recovered = [await email(), await email()];
    for (const { n, key } of recovered) {
      expect(n.deliveries[0]).toMatchObject({ status: 'sent', attempts: 1 });
      expect(callsFor(primary, key)).toHaveLength(1);
      expect(callsFor(backup, key)).toHaveLength(0);
    }
    await until(
      () => api('GET', '/v1/integrations'),
      (r) => r.body.data[0].health.state === 'closed',
    );
  });

  it('a permanent refusal (422) fails the delivery without trying the second', async () => {
    primary.enqueue({ status: 422, body: resendError(422, 'Invalid `to` field.', 'validation_error') });
    const { n, key } = await email();
    expect(n.status).toBe('failed');
    expect(n.deliveries[0]).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'provider_rejected' } });
    expect(callsFor(primary, key)).toHaveLength(1);
    expect(callsFor(backup, key)).toHaveLength(0);
  });

  it('a 100-recipient SMS broadcast through an integration with ratePerSecond 10 never has more than 10 calls in any second at the provider', async () => {
    const recipients = Array.from({ length: 100 }, (_, i) => ({ id: `sms-${i}`, phone: `+1415555${String(1000 + i)}` }));
    expect((await api('POST', '/v1/recipients/bulk', { recipients })).status).toBe(200);
    expect((await api('POST', '/v1/templates', { key: 'sms-news', content: { en: { sms: { text: 'News {{ n }}' } } } })).status).toBe(201);
    const put = await api('PUT', '/v1/integrations/sms-twilio', {
      channel: 'sms',
      provider: 'twilio',
      credentials: { accountSid: `AC${'ab'.repeat(16)}`, authToken: 'tw-auth-token-0123456789', from: '+15005550006' },
      settings: { baseUrl: twilio.url, ratePerSecond: 10 },
    });
    expect(put.status).toBe(200);
    const b = await api('POST', '/v1/broadcasts', { recipients: recipients.map((r) => r.id), template: 'sms-news', data: { n: 1 }, channels: ['sms'] });
    expect(b.status).toBe(202);
    const done = await until(
      () => api('GET', `/v1/broadcasts/${b.body.id}`),
      (r) => r.body.status === 'completed',
      120_000,
    );
    expect(done.body).toMatchObject({ total: 100, sent: 100 });
    const creates = twilio.requests.filter((r) => r.method === 'POST').map((r) => r.receivedAt).sort((x, y) => x - y);
    expect(creates).toHaveLength(100);
    expect(new Set(twilio.messages.map((m) => m.to)).size).toBe(100);
    // At most 10 in any window of one second, wherever it starts.
    let busiest = 0;
    for (let i = 0, j = 0; i < creates.length; i++) {
      while (creates[i] - creates[j] >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(10);
    expect(busiest).toBeGreaterThanOrEqual(5);
    // 100 at 10 a second cannot take less than 9 s (rate, not machine speed).
    expect(creates[99] - creates[0]).toBeGreaterThanOrEqual(9_000);
    console.log(`100 SMS through a 10/s integration: ${((creates[99] - creates[0]) / 1000).toFixed(1)} s from the first call to the last, at most ${busiest} in any second`);
  });

  it('a rotated TOCSIN_ENCRYPTION_KEYS re-seals the credentials and sends keep working; no file under DATA_DIR and no log line holds them in clear', async () => {
    await running!.stop();
    running = await start(`${KEY_2},${KEY_1}`);
    const { n, key } = await email();
    expect(n.status).toBe('sent');
    expect(callsFor(primary, key)).toHaveLength(1);

    // Nor in the Temporal server's files (the scan reads what it must: they are there).
    const temporal = temporalState(dataDir);
    expect(temporal.files.length).toBeGreaterThan(0);
    expect(filesHolding(temporal.dir, [PRIMARY_KEY, BACKUP_KEY])).toEqual([]);
    expect(filesHolding(dataDir, [PRIMARY_KEY, BACKUP_KEY])).toEqual([]);
    // Nor any line logged at debug level, the rotation's included.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => /integration credentials: 3 re-sealed under key/.test(l))).toBe(true);
    expect(lines.filter((l) => l.includes(PRIMARY_KEY) || l.includes(BACKUP_KEY))).toEqual([]);
  });
});
