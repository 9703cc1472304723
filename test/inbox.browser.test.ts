// The embeddable inbox (<tocsin-inbox>, GET /inbox.js) in a real browser (Debian's chromium
// through puppeteer-core) over the whole stack as `npm start` runs it, embedded in a page of
// another origin (a second local HTTP server, in CORS_ORIGINS) with a recipient token. It checks
// what a person sees: the unread count, a notification sent through the tenant API appearing in
// the open list without a reload, reading by clicking, archiving, "mark all read" and the
// keyboard (Escape closes, Enter opens).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The page of the embedding site: set once the API and the token are known. */
let html = '<!doctype html><title>not yet</title>';

describe('the embeddable inbox in headless Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-inbox-element-'));
  let site: Server;
  let origin: string;
  let running: Running;
  let browser: Browser;
  const request = stackRequests(() => running);

  beforeAll(async () => {
    quietTemporalLogs();
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    await new Promise<void>((ok) => site.listen(0, '127.0.0.1', ok));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    running = await startTestStack(dataDir, { TEMPORAL_TASK_QUEUE: 'inbox-element', CORS_ORIGINS: origin });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await new Promise((ok) => (site ? site.close(ok) : ok(undefined)));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The element's state as a person sees it, read from its shadow DOM. */
  const seen = (page: Page) =>
    page.evaluate(() => {
      const root = document.querySelector('tocsin-inbox')!.shadowRoot!;
      const badge = root.querySelector<HTMLElement>('.badge')!;
      const bell = root.querySelector('.bell')!;
      return {
        badge: badge.hidden ? null : badge.textContent,
        status: root.querySelector('[aria-live]')!.textContent,
        expanded: bell.getAttribute('aria-expanded'),
        open: !root.querySelector<HTMLElement>('.panel')!.hidden,
        focusedBell: root.activeElement === bell,
        items: [...root.querySelectorAll<HTMLElement>('li')].map((li) => ({
          id: li.dataset.id!,
          unread: li.classList.contains('unread'),
          title: li.querySelector('.title')!.textContent!.replace(/^Unread: /, ''),
          body: li.querySelector('.body')!.textContent,
          time: li.querySelector('time')!.textContent,
        })),
      };
    });
  const waitFor = async <T>(page: Page, pred: (s: Awaited<ReturnType<typeof seen>>) => T, what: string, timeoutMs = 30_000) => {
    try {
      return await until(() => seen(page), (s) => Boolean(pred(s)), timeoutMs, 25);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  };
  const click = (page: Page, selector: string) => page.evaluate((sel) => document.querySelector('tocsin-inbox')!.shadowRoot!.querySelector<HTMLElement>(sel)!.click(), selector);

  it('shows the count, receives a new notification live, reads on click, archives, marks all read, and works from the keyboard', async () => {
    const admin = (method: string, path: string, body?: unknown) => request(method, path, running.adminToken, body);
    const tenant = await admin('POST', '/v1/admin/tenants', { name: 'Acme' });
    expect(tenant.status).toBe(201);
    const call = (method: string, path: string, body?: unknown) => request(method, path, tenant.body.apiKey, body);
    expect((await call('PUT', '/v1/recipients/ann', { name: 'Ann' })).status).toBe(200);
    const template = { key: 'comment', content: { en: { inapp: { title: 'New comment on {{ doc }}', body: '{{ who }} wrote: {{ text }}' } } } };
    expect((await call('POST', '/v1/templates', template)).status).toBe(201);
    const inbox = () => call('GET', '/v1/recipients/ann/inbox');
    /** Sends through the tenant API and answers the inbox item's id once the tenant API shows it, and when it did. */
    const send = async (doc: string) => {
      const r = await call('POST', '/v1/notifications', { recipient: 'ann', template: 'comment', channels: ['inapp'], data: { doc, who: 'Bob', text: `about ${doc}` } });
      expect(r.status).toBe(202);
      const id = `msg_${r.body.id}`;
      await until(inbox, (x) => x.body.data.some((m: { id: string }) => m.id === id), 60_000, 20);
      return { id, shownAt: Date.now() };
    };
    const first = await send('the plan');

    const issued = await call('POST', '/v1/recipients/ann/token', { ttlSeconds: 600 });
    expect(issued.status).toBe(201);
    const api = running.apiUrl!;
    const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme app</title>
      <style>tocsin-inbox { --tocsin-accent: rgb(0, 128, 0); }</style></head>
      <body><header><h1>Acme</h1><script src="${attr(api)}/inbox.js"></script>
      <tocsin-inbox api="${attr(api)}" token="${attr(issued.body.token)}"></tocsin-inbox></header></body></html>`;

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    expect((await page.goto(origin, { waitUntil: 'load' }))?.status()).toBe(200);

    // The bell with one unread, announced politely.
    let s = await waitFor(page, (x) => x.badge === '1', 'the count');
    expect(s).toMatchObject({ status: '1 unread notification', expanded: 'false', open: false });
    // Themed through a custom property.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('tocsin-inbox')!.shadowRoot!.querySelector('.badge')!).backgroundColor)).toBe('rgb(0, 128, 0)');

    // Open the list: title, body, time and the unread mark.
    await click(page, '.bell');
    s = await waitFor(page, (x) => x.open && x.items.length === 1, 'the open list');
    expect(s.expanded).toBe('true');
    expect(s.items[0]).toEqual({ id: first.id, unread: true, title: 'New comment on the plan', body: 'Bob wrote: about the plan', time: expect.stringMatching(/now|second|minute/) });

    // A notification sent now appears in the open list without a reload, within 2 s of its
    // inbox item existing (measured from when the tenant API shows it).
    const second = await send('the budget');
    s = await waitFor(page, (x) => x.items.some((i) => i.id === second.id), 'the live item');
    expect(Date.now() - second.shownAt).toBeLessThan(2000);
    expect(s.items.map((i) => i.id)).toEqual([second.id, first.id]);
    s = await waitFor(page, (x) => x.badge === '2', 'the count of two');
    expect(s.status).toBe('2 unread notifications');

    // Clicking it reads it: the count drops, and the tenant API agrees.
    await click(page, `li[data-id="${second.id}"] .item`);
    s = await waitFor(page, (x) => x.badge === '1' && !x.items.find((i) => i.id === second.id)!.unread, 'read on click');
    const afterRead = await until(inbox, (x) => x.body.data.find((m: { id: string }) => m.id === second.id)?.read === true, 10_000);
    expect(afterRead.body.unread).toBe(1);

    // Archiving the first hides it, here and in the recipient's own list; the tenant sees it archived.
    await click(page, `li[data-id="${first.id}"] .archive`);
    s = await waitFor(page, (x) => x.items.length === 1 && x.badge === null, 'archived');
    expect(s.items[0].id).toBe(second.id);
    expect(s.status).toBe('No unread notifications');
    const archived = await until(inbox, (x) => x.body.data.find((m: { id: string }) => m.id === first.id)?.archived === true, 10_000);
    expect(archived.body.data.find((m: { id: string }) => m.id === first.id).read).toBe(false);

    // The keyboard: Escape closes and gives focus back to the bell; Enter opens again.
    await page.keyboard.press('Escape');
    s = await waitFor(page, (x) => !x.open, 'closed by Escape');
    expect(s).toMatchObject({ expanded: 'false', focusedBell: true });
    await page.keyboard.press('Enter');
    s = await waitFor(page, (x) => x.open, 'opened by Enter');
    expect(s.expanded).toBe('true');

    // Two more arrive while open; "mark all read" clears the count everywhere.
    const third = await send('the roadmap');
    await waitFor(page, (x) => x.items.some((i) => i.id === third.id) && x.badge === '1', 'the third item');
    await click(page, '.read-all');
    s = await waitFor(page, (x) => x.badge === null && x.items.every((i) => !i.unread), 'all read');
    expect((await call('GET', '/v1/recipients/ann/inbox/count')).body.unread).toBe(0);

    // Still the same page: nothing was reloaded, and the browser saw no error (CORS included).
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('serves /inbox.js as cacheable JavaScript', async () => {
    const res = await fetch(`${running.apiUrl}/inbox.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(await res.text()).toContain("customElements.define('tocsin-inbox'");
  });
});
