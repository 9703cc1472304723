// The hosted preference page in a real browser (Debian's chromium through puppeteer-core) over
// the whole stack as `npm start` runs it: a person opens the link from
// POST /v1/recipients/{rid}/preference-link, turns a channel and a category off, sets quiet
// hours and saves; the tenant's API shows the change. Then again with JavaScript disabled: the
// page is plain HTML forms, so saving works the same.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../worker/dev-server.js';
import type { Running } from '../runtime/index.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the hosted preference page in headless Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-preferences-browser-'));
  let running: Running | undefined;
  let browser: Browser;
  let apiKey: string;
  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);

  beforeAll(async () => {
    quietTemporalLogs();
    const port = await freePort();
    running = await startTestStack(dataDir, { PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}`, TEMPORAL_TASK_QUEUE: 'preferences-browser' });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const tenant = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    apiKey = tenant.body.apiKey;
    for (const id of ['ann', 'bea', 'cy']) expect((await api('PUT', `/v1/recipients/${id}`, { email: `${id}@example.com`, phone: '+14155550123', name: id })).status).toBe(200);
    expect((await api('POST', '/v1/templates', { key: 'note', content: { en: { inapp: { title: 'Hi', body: 'There' } } } })).status).toBe(201);
    // The page offers the categories the tenant's notifications have had.
    for (const category of ['billing', 'marketing']) {
      const n = await api('POST', '/v1/notifications', { recipient: 'ann', template: 'note', channels: ['inapp'], category });
      expect(n.status).toBe(202);
      await until(
        () => api('GET', `/v1/notifications/${n.body.id}`),
        (r) => r.body.status === 'sent',
      );
    }
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The checkbox of a category's row: `on`, or a channel. */
  const categoryBox = async (page: Page, category: string, which: string) => {
    const names = await page.$$eval('input[type=hidden][name^="cat."]', (els) => els.map((e) => [(e as HTMLInputElement).name, (e as HTMLInputElement).value]));
    const row = names.find(([, v]) => v === category)![0];
    return `input[name="${row}.${which}"]`;
  };
  const link = async (recipient: string) => {
    const r = await api('POST', `/v1/recipients/${recipient}/preference-link`);
    expect(r.status).toBe(201);
    return r.body.url as string;
  };
  /**
   * Types a time into a time input from its hours segment (its left edge), as a person would;
   * headless Chromium's locale is en-US, so the input takes hh mm AM/PM.
   */
  async function typeTime(page: Page, selector: string, hhmm: string) {
    const box = (await (await page.$(selector))!.boundingBox())!;
    await page.mouse.click(box.x + 6, box.y + box.height / 2);
    const [h, m] = hhmm.split(':').map(Number);
    await page.keyboard.type(`${String(h % 12 || 12).padStart(2, '0')}${String(m).padStart(2, '0')}${h < 12 ? 'A' : 'P'}`);
  }

  it('turns a channel and a category off and sets quiet hours; the tenant API shows it', async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    const page = await browser.newPage();
    try {
      const res = await page.goto(await link('ann'));
      expect(res!.status()).toBe(200);
      expect(await page.title()).toBe('Notification preferences');
      expect(await page.$eval('h1', (e) => e.textContent)).toBe('Notification preferences');
      // The inline stylesheet is allowed by its hash in the CSP (else the button would be unstyled).
      expect(await page.$eval('button[type=submit]', (e) => getComputedStyle(e).backgroundColor)).toBe('rgb(9, 105, 218)');

      await page.click('input[name="channel.sms"]');
      await page.click(await categoryBox(page, 'marketing', 'on'));
      await page.click('input[name="quiet"]');
      await typeTime(page, 'input[name="quietStart"]', '21:30');
      await typeTime(page, 'input[name="quietEnd"]', '06:45');
      await page.select('select[name="quietTimezone"]', 'Europe/Berlin');
      expect(await page.$eval('input[name="quietStart"]', (e) => (e as HTMLInputElement).value)).toBe('21:30');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);

      expect(await page.$eval('[role=status]', (e) => e.textContent)).toContain('saved');
      // The page shows what was stored.
      expect(await page.$eval('input[name="channel.sms"]', (e) => (e as HTMLInputElement).checked)).toBe(false);
      expect(await page.$eval('input[name="channel.email"]', (e) => (e as HTMLInputElement).checked)).toBe(true);

      const prefs = (await api('GET', '/v1/recipients/ann/preferences')).body;
      expect(prefs.channels).toEqual({ sms: false });
      expect(prefs.categories).toEqual({ marketing: { enabled: false } });
      expect(prefs.quietHours).toEqual({ start: '21:30', end: '06:45', timezone: 'Europe/Berlin' });
    } finally {
      await page.close();
    }
  });

  it('saves the same way with JavaScript disabled', async () => {
    const page = await browser.newPage();
    try {
      await page.setJavaScriptEnabled(false);
      const res = await page.goto(await link('bea'));
      expect(res!.status()).toBe(200);
      await page.click('input[name="channel.sms"]');
      await page.click(await categoryBox(page, 'marketing', 'on'));
      await page.click(await categoryBox(page, 'billing', 'ch.email'));
      await page.click('input[name="quiet"]');
      await typeTime(page, 'input[name="quietStart"]', '23:00');
      await typeTime(page, 'input[name="quietEnd"]', '08:15');
      // The time zone select by keyboard: focus it and type the zone's name.
      await page.focus('select[name="quietTimezone"]');
      await page.keyboard.type('Europe/Paris');
      const [nav] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(nav!.status()).toBe(200);
      expect(await page.content()).toContain('Your preferences were saved.');

      const prefs = (await api('GET', '/v1/recipients/bea/preferences')).body;
      expect(prefs.channels).toEqual({ sms: false });
      expect(prefs.categories).toEqual({ marketing: { enabled: false }, billing: { channels: { email: false } } });
      expect(prefs.quietHours).toEqual({ start: '23:00', end: '08:15', timezone: 'Europe/Paris' });

      // And back: SMS on, quiet hours off.
      await page.click('input[name="channel.sms"]');
      await page.click('input[name="quiet"]');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      const again = (await api('GET', '/v1/recipients/bea/preferences')).body;
      expect(again.channels).toEqual({});
      expect(again.quietHours).toBeNull();
    } finally {
      await page.close();
    }
  });

  it('shows a bad time as a clear message with a 400, keeping what was stored', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(await link('cy'));
      const before = (await api('GET', '/v1/recipients/cy/preferences')).body;
      // A time input holds only valid times; a hand-made form post shows the server's answer.
      await page.$eval('input[name="quietStart"]', (e) => e.setAttribute('type', 'text'));
      await page.click('input[name="quiet"]');
      await page.click('input[name="quietStart"]', { count: 3 });
      await page.keyboard.type('9 pm');
      const [nav] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(nav!.status()).toBe(400);
      expect(await page.$eval('[role=alert]', (e) => e.textContent)).toContain('Quiet hours “From” must be HH:MM');
      expect((await api('GET', '/v1/recipients/cy/preferences')).body).toEqual(before);
    } finally {
      await page.close();
    }
  });

  it('an expired or forged link shows the "link expired" page', async () => {
    const page = await browser.newPage();
    try {
      const url = await link('cy');
      const res = await page.goto(`${url.slice(0, -3)}abc`);
      expect(res!.status()).toBe(401);
      expect(await page.$eval('h1', (e) => e.textContent)).toBe('Link expired');
    } finally {
      await page.close();
    }
  });
});
