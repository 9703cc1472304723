// The operator dashboard in a real browser (Debian's chromium through puppeteer-core) over the
// whole stack as `npm start` runs it: real notifications (one failing), an open incident, and
// what a person sees on /dashboard. With DASHBOARD_SCREENSHOT=docs/dashboard.png it also writes
// the README's screenshot, after adding an hour of earlier deliveries so the charts have a shape.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveries, notifications } from '../db/schema.js';
import type { Running } from '../runtime/index.js';
import { startFakeServer, type FakeServer } from './fakes/server.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { quietTemporalLogs, startTestStack } from './support.js';
import { until } from './until.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function http(base: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

/** Whether the canvas has pixels close to the given colour (a series line was drawn). */
function hasColour(selector: string, [r, g, b]: [number, number, number]) {
  return `(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    if (!c || !c.width || !c.height) return false;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4)
      if (px[i + 3] > 200 && Math.abs(px[i] - ${r}) + Math.abs(px[i + 1] - ${g}) + Math.abs(px[i + 2] - ${b}) < 40) return true;
    return false;
  })()`;
}

describe('the operator dashboard in headless Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-dashboard-'));
  let running: Running;
  let browser: Browser;
  let okHook: FakeServer;
  let goneHook: FakeServer;

  beforeAll(async () => {
    quietTemporalLogs();
    okHook = await startFakeWebhook();
    // A receiver that answers 410: the webhook fails at once (4xx is not retried).
    goneHook = await startFakeServer(() => ({ status: 410, body: { error: 'gone' } }));
    running = await startTestStack(dataDir, { TEMPORAL_TASK_QUEUE: 'dashboard' });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await okHook?.close();
    await goneHook?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows channel rates, the failed delivery with its Temporal UI link, the open incident and drawn charts, and refreshes live', async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    const api = running.apiUrl!;
    const admin = http(api, running.adminToken);
    const tenant = await admin('POST', '/v1/admin/tenants', { name: 'Acme' });
    expect(tenant.status).toBe(201);
    const call = http(api, tenant.body.apiKey);
    expect((await call('PUT', '/v1/recipients/ann', { webhookUrl: `${okHook.url}/hooks`, name: 'Ann' })).status).toBe(200);
    expect((await call('PUT', '/v1/recipients/bob', { webhookUrl: `${goneHook.url}/hooks`, name: 'Bob' })).status).toBe(200);
    const template = { key: 'order-shipped', content: { en: { inapp: { title: 'Order {{ order.id }} shipped', body: 'Hi {{ name }}' }, webhook: { order: '{{ order.id }}' } } } };
    expect((await call('POST', '/v1/templates', template)).status).toBe(201);

    const send = async (recipient: string, order: number) => {
      const r = await call('POST', '/v1/notifications', { recipient, template: 'order-shipped', channels: ['webhook'], data: { order: { id: order }, name: recipient } });
      expect(r.status).toBe(202);
      return r.body.id as string;
    };
    const ok = [await send('ann', 1), await send('ann', 2), await send('ann', 3)];
    const bad = await send('bob', 4);
    for (const id of ok) await until(() => call('GET', `/v1/notifications/${id}`), (r) => r.body.status === 'sent');
    const failed = await until(() => call('GET', `/v1/notifications/${bad}`), (r) => r.body.status === 'failed');
    const errorCode = failed.body.deliveries[0].error.code as string;

    expect((await call('PUT', '/v1/escalation-policies/ops', { steps: [{ channel: 'webhook', target: `${okHook.url}/incidents`, ackTimeoutSeconds: 3600 }] })).status).toBe(200);
    const incident = await call('POST', '/v1/incidents', { policy: 'ops', summary: 'Checkout is down', severity: 'critical' });
    expect(incident.status).toBe(202);
    await until(() => call('GET', `/v1/incidents/${incident.body.id}`), (r) => r.body.timeline?.some((e: any) => e.type === 'notified'));

    const screenshot = process.env.DASHBOARD_SCREENSHOT;
    if (screenshot) await addEarlierHour(running, tenant.body.id);

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    const res = await page.goto(`${api}/dashboard?token=${encodeURIComponent(running.adminToken)}`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    // The token left the address bar: the session is a cookie from here on.
    expect(new URL(page.url()).search).toBe('');
    const cookies = await browser.defaultBrowserContext().cookies();
    expect(cookies.find((c) => c.name === 'tocsin_dashboard')).toMatchObject({ httpOnly: true, path: '/dashboard' });
    await page.waitForSelector('#channels tbody tr[data-channel="webhook"]');

    const cell = (channel: string, col: string) => page.$eval(`#channels tr[data-channel="${channel}"] td[data-col="${col}"]`, (td) => td.textContent);
    const sentBefore = Number(await cell('webhook', 'sent'));
    expect(sentBefore).toBeGreaterThanOrEqual(3);
    if (!screenshot) expect(await cell('webhook', 'failed')).toBe('1');
    expect(await cell('webhook', 'failure-rate')).toMatch(/%$/);
    expect(await page.$eval('#kpi-incidents', (e) => e.textContent)).toBe('1');

    // The failed delivery, with a link to its run in the Temporal UI.
    const failure = await page.$eval(`#failures tr[data-notification="${bad}"]`, (tr) => ({
      recipient: tr.querySelector('[data-col="recipient"]')!.textContent,
      channel: tr.querySelector('[data-col="channel"]')!.textContent,
      error: tr.querySelector('[data-col="error"] code')!.textContent,
      href: tr.querySelector('a.run-link')!.getAttribute('href'),
    }));
    const workflowId = `notification:${tenant.body.id}:${bad}`;
    expect(failure).toEqual({
      recipient: 'bob',
      channel: 'webhook',
      error: errorCode,
      href: `${running.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
    });

    // The open incident.
    const incidentRow = await page.$eval(`#incidents tr[data-incident="${incident.body.id}"]`, (tr) => ({
      summary: tr.querySelector('[data-col="summary"]')!.textContent,
      status: tr.querySelector('[data-col="status"]')!.textContent,
      link: tr.querySelector('a.run-link')?.getAttribute('href'),
    }));
    expect(incidentRow).toMatchObject({ summary: 'Checkout is down', status: 'triggered', link: expect.stringContaining(`${running.uiUrl}/namespaces/default/workflows/`) });

    // Both charts drawn by uPlot, the webhook series (#16a085) among the sent lines.
    expect(await page.$$eval('.chart canvas', (cs) => cs.map((c) => (c as HTMLCanvasElement).width > 0))).toEqual([true, true]);
    expect(await page.evaluate(hasColour('#chart-sent canvas', [22, 160, 133]))).toBe(true);
    expect(await page.evaluate(hasColour('#chart-failed canvas', [22, 160, 133]))).toBe(true);

    // Live: a send after the page loaded shows up without a reload.
    const later = await send('ann', 5);
    await until(() => call('GET', `/v1/notifications/${later}`), (r) => r.body.status === 'sent');
    await page.waitForFunction((n) => Number(document.querySelector('#channels tr[data-channel="webhook"] td[data-col="sent"]')!.textContent) > n, { timeout: 20_000 }, sentBefore);
    expect(await page.$eval('#status', (e) => e.className)).toBe('live');
    expect(errors).toEqual([]);

    if (screenshot) await page.screenshot({ path: resolve(screenshot) as `${string}.png`, fullPage: true });

    // The link opens the run in the Temporal UI (which redirects to the latest run's history).
    const ui = await browser.newPage();
    await ui.goto(failure.href!, { waitUntil: 'domcontentloaded' });
    await ui.waitForFunction((id) => document.body.innerText.includes(id), { timeout: 45_000 }, workflowId);
    expect(ui.url()).toContain(`/workflows/${encodeURIComponent(workflowId)}/`);
  }, 180_000);

  it('refuses a second visit without the token, and a wrong token', async () => {
    const context = await browser.createBrowserContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${running.apiUrl}/dashboard`);
      expect(res?.status()).toBe(401);
      expect(res?.headers()['content-type']).toContain('application/problem+json');
      expect(await page.$('#channels')).toBeNull();
      expect((await page.goto(`${running.apiUrl}/dashboard?token=wrong`))?.status()).toBe(401);
      expect((await page.goto(`${running.apiUrl}/dashboard/data`))?.status()).toBe(401);
      expect(await context.cookies()).toEqual([]);
    } finally {
      await context.close();
    }
    // The bearer header works without a cookie (scripts, curl).
    const data = await fetch(`${running.apiUrl}/dashboard/data`, { headers: { authorization: `Bearer ${running.adminToken}` } });
    expect(data.status).toBe(200);
    expect(await data.json()).toMatchObject({ windowMinutes: 60, openIncidents: { total: 1 } });
    const wrong = await fetch(`${running.apiUrl}/dashboard/data`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });
});

/**
 * For the screenshot only: an hour of earlier deliveries written straight into the database,
 * so the charts show a shape instead of a single minute of real sends.
 */
async function addEarlierHour(running: Running, tenantId: string) {
  const db = running.database.db;
  const channels = ['webhook', 'inapp', 'email'];
  for (let m = 58; m >= 2; m--) {
    const rows = channels.flatMap((channel, ci) => {
      const count = Math.round(6 + 4 * Math.sin((m + ci * 7) / 6) + (channel === 'inapp' ? 8 : 0));
      return Array.from({ length: count }, (_, k) => ({ channel, k, failed: (m * 7 + k * 3 + ci) % (channel === 'email' ? 53 : 131) === 0 }));
    });
    const at = (i: number, lag = 0) => sql`now() - make_interval(mins => ${m}, secs => ${(i % 50) - lag})`;
    const ids = rows.map((_, i) => `shot_${m}_${i}`);
    await db.insert(notifications).values(
      rows.map((r, i) => ({
        id: ids[i],
        tenantId,
        recipientId: 'ann',
        templateKey: 'order-shipped',
        templateVersion: 1,
        priority: 'normal',
        strategy: 'all',
        channels: [r.channel],
        data: {},
        status: r.failed ? 'failed' : 'sent',
        workflowId: `notification:${tenantId}:${ids[i]}`,
        createdAt: at(i),
      })) as never,
    );
    await db.insert(deliveries).values(
      rows.map((r, i) => ({
        id: `${ids[i]}_d`,
        notificationId: ids[i],
        position: 0,
        channel: r.channel,
        status: r.failed ? 'failed' : 'sent',
        attempts: r.failed ? 3 : 1,
        errorCode: r.failed ? 'provider_error' : null,
        sentAt: r.failed ? null : at(i, 0.2 + ((r.k * 37) % 100) / 120),
        updatedAt: at(i),
      })) as never,
    );
  }
}
