// The operator dashboard's per-tenant view in a real browser (Debian's chromium through
// puppeteer-core): a tenant's deliveries of the last 24 hours by status and channel, its
// latency percentiles and latest failed deliveries, the figures GET /v1/analytics/deliveries
// gives, after real notifications (one refused by its webhook receiver) on the time-skipping
// server. The API is the harness's app, served over HTTP on a free port.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, seed, startHarness, type Harness } from './harness.js';
import { until } from './until.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const order = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };

describe('the dashboard’s per-tenant view in headless Chromium', () => {
  let h: Harness;
  let server: ServerType;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    h = await startHarness();
    server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((ok) => server.once('listening', () => ok()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => server?.close(ok));
    await h?.close();
  });

  it('shows the tenant’s deliveries by status and channel, latency and the latest failure', async () => {
    await seed(h);
    const send = async (channels: string[]) => {
      const res = await h.call('POST', '/v1/notifications', { ...order, channels });
      expect(res.status).toBe(202);
      return (await until(() => h.call('GET', `/v1/notifications/${res.body.id}`), (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status))).body;
    };
    await send(['inapp', 'webhook']);
    await send(['inapp', 'webhook']);
    h.hook.setDefault({ status: 400, body: { error: 'no such hook' } });
    const bad = await send(['webhook']);
    h.hook.setDefault(undefined);
    expect(bad.status).toBe('failed');

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1400 });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    const res = await page.goto(`${base}/dashboard?token=${encodeURIComponent(ADMIN)}`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    await page.waitForSelector(`#tenant-choice option[value="${h.tenantId}"]`);
    await page.select('#tenant-choice', h.tenantId);
    await page.waitForSelector('#tenant-channels tbody tr[data-channel="webhook"]');

    const text = (sel: string) => page.$eval(sel, (e) => e.textContent);
    const cell = (channel: string, col: string) => text(`#tenant-channels tr[data-channel="${channel}"] td[data-col="${col}"]`);
    expect(await text('#tenant-status')).toContain('Acme');
    expect(await text('#tenant-sent')).toBe('4');
    expect(await text('#tenant-failed')).toBe('1');
    expect(await cell('inapp', 'sent')).toBe('2');
    expect(await cell('inapp', 'failed')).toBe('0');
    expect(await cell('webhook', 'sent')).toBe('2');
    expect(await cell('webhook', 'failed')).toBe('1');
    expect(await cell('webhook', 'p50')).toMatch(/\d+(\.\d)? (ms|s|min)$/);
    expect(await text('#tenant-latency')).toMatch(/^\d.* · \d.* · \d/);

    const failure = await page.$eval(`#tenant-failures tr[data-notification="${bad.id}"]`, (tr) => ({
      recipient: tr.querySelector('[data-col="recipient"]')!.textContent,
      channel: tr.querySelector('[data-col="channel"]')!.textContent,
      error: tr.querySelector('[data-col="error"] code')!.textContent,
    }));
    expect(failure).toEqual({ recipient: 'user-42', channel: 'webhook', error: 'provider_rejected' });

    // The same figures as the API's.
    const api = await h.call('GET', '/v1/analytics/deliveries?interval=day&groupBy=channel');
    const webhookFailed = api.body.data.filter((r: any) => r.key === 'webhook').reduce((n: number, r: any) => n + r.failed, 0);
    expect(webhookFailed).toBe(1);

    // Unknown tenant: 404, and the admin token is required.
    const unknown = await h.app.request('/dashboard/tenants/nope/data', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(unknown.status).toBe(404);
    const anonymous = await h.app.request(`/dashboard/tenants/${h.tenantId}/data`);
    expect(anonymous.status).toBe(401);
    expect(errors).toEqual([]);
    await page.close();
  });
});
