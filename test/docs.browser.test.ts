// The API reference in a real browser (Debian's chromium through puppeteer-core): the API process
// as `npm run api` starts it (no worker; nothing on /docs needs Temporal), and what a person sees
// on /docs: every operation of /openapi.json listed by its summary, with its method and path, and
// a click in the list that brings the operation into view. Everything the page loads comes from
// the API itself (no CDN, no fonts or telemetry from elsewhere). With DOCS_SCREENSHOT=<file.png>
// it also writes a screenshot of the page.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startTocsin, type Running } from '../runtime/index.js';
import { freePort } from '../worker/dev-server.js';
import { TEST_ENCRYPTION_KEYS } from './support.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Document = { paths: Record<string, Partial<Record<(typeof METHODS)[number], { summary: string }>>> };

describe('the API reference in headless Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-docs-'));
  let running: Running;
  let browser: Browser;

  beforeAll(async () => {
    // Temporal's address is a free port nobody listens on: the API connects lazily, and /docs never calls it.
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, TOCSIN_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS });
    running = await startTocsin(config, { api: true, log: () => {} });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every operation of /openapi.json with its summary, method and path, all loaded from the API itself', async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    const api = running.apiUrl!;
    const doc = (await (await fetch(`${api}/openapi.json`)).json()) as Document;
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), path, summary: item[m]!.summary })),
    );
    expect(operations.length).toBeGreaterThan(40);

    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    const scripts: Array<{ status: number; type: string | undefined }> = [];
    page.on('response', (res) => res.url() === `${api}/docs/scalar.js` && scripts.push({ status: res.status(), type: res.headers()['content-type'] }));

    const res = await page.goto(`${api}/docs`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    // Rendered: the last operation of the document has its entry in the list and its request example.
    const last = operations.at(-1)!;
    await page.waitForFunction((text) => document.body.innerText.includes(text), { timeout: 30_000 }, last.summary);
    await page.waitForFunction((path) => [...document.querySelectorAll('.operation-path')].some((e) => e.textContent === path), { timeout: 30_000 }, last.path);

    // Every operation by its summary (the list on the left) …
    const text = await page.evaluate(() => document.body.innerText);
    expect(operations.filter((o) => !text.includes(o.summary)).map((o) => o.summary)).toEqual([]);
    // … and by its method and path (each operation's request example), no more and no fewer.
    const shown = await page.$$eval('.operation-path', (paths) =>
      paths.map((p) => `${p.parentElement!.querySelector('.request-method')?.textContent?.trim().toUpperCase()} ${p.textContent}`),
    );
    expect([...new Set(shown)].sort()).toEqual(operations.map((o) => `${o.method} ${o.path}`).sort());
    expect(shown).toEqual(expect.arrayContaining(['POST /v1/notifications', 'POST /v1/incidents/{id}/acknowledge', 'PUT /v1/schedules/{scheduleId}']));

    // A click on "Send a notification" in the list brings its section into view.
    await page.click('li[data-sidebar-id$="/POST/v1/notifications"] button');
    await page.waitForFunction(() => decodeURIComponent(location.hash).endsWith('POST/v1/notifications'), { timeout: 10_000 });
    await page.waitForFunction(
      (summary) =>
        [...document.querySelectorAll('main h1, main h2, main h3, .section h1, .section h2, .section h3')].some((h) => {
          const r = h.getBoundingClientRect();
          return h.textContent?.trim() === summary && r.top >= 0 && r.bottom <= window.innerHeight;
        }),
      { timeout: 10_000 },
      'Send a notification',
    );

    // The script is the installed package's, and nothing came from another host.
    expect(scripts).toEqual([{ status: 200, type: 'text/javascript; charset=utf-8' }]);
    expect(requests.filter((u) => !u.startsWith(`${api}/`))).toEqual([]);
    expect(requests).toEqual(expect.arrayContaining([`${api}/docs`, `${api}/docs/scalar.js`, `${api}/openapi.json`]));
    expect(errors).toEqual([]);

    const screenshot = process.env.DOCS_SCREENSHOT;
    if (screenshot) await page.screenshot({ path: resolve(screenshot) as `${string}.png` });
  }, 120_000);
});
