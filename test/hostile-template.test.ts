// A hostile template: 10,000 variables in one field, the most the parse limit lets one field
// hold (each an item of one list, so that data for them all fits `data`'s bound). It is
// published and previewed through the API (app.request on createApp with PGlite) and sent the
// way a send runs: acceptance through the use-case the API and the schedules call, and the
// delivery's rendering as the delivery activity does it (no Temporal needed: what a send costs
// the event loop happens before a workflow starts and inside the activity). Cost is event-loop
// delay (perf_hooks.monitorEventLoopDelay), never wall time: before variables were found in
// linear time, each send here blocked the loop for 1–4 s.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import { apiConnectionOptions } from '../api/temporal.js';
import type { Database } from '../db/client.js';
import { PARSE_LIMIT, renderContent } from '../domain/templates.js';
import { CHANNELS } from '../domain/types.js';
import { prepareNotification } from '../usecases/accept.js';
import { NotificationBody } from '../usecases/schemas.js';
import { contentFor, loadTemplateVersion } from '../usecases/templates.js';
import { openTestDatabase } from './support.js';

const ADMIN = 'admin-secret';
const VARIABLES = 10_000;
/** Event-loop time one send may block for (issue 18's bound). */
const SEND_BOUND_MS = 100;
const RETRY = { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 };

let db: Database;
let app: ReturnType<typeof createApp>;
let connection: Connection;
let apiKey: string;
let tenantId: string;

async function req(method: string, path: string, body?: unknown, token = apiKey) {
  const res = await app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The longest the event loop was blocked (ms) while `fn` ran, at 1 ms resolution. */
async function loopDelay<T>(fn: () => Promise<T>): Promise<{ result: T; maxMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // The histogram samples from its timer's first turn on: start measuring only then.
  await new Promise((r) => setTimeout(r, 5));
  try {
    const result = await fn();
    // Let the sampling timer fire once after the last synchronous stretch.
    await new Promise((r) => setTimeout(r, 5));
    return { result, maxMs: h.max / 1e6 };
  } finally {
    h.disable();
  }
}

/**
 * `{{v.0}}{{v.1}}…`: `n` distinct variables, items of one list so that data for all of them
 * fits the 64 KiB bound on `data`; 10,000 of them just fit the 100,000-character field.
 */
const manyVariables = (n: number) => Array.from({ length: n }, (_, i) => `{{v.${i}}}`).join('');
const dataFor = (n: number) => ({ v: Array.from({ length: n }, (_, i) => i) });

/** Publish, preview and send a template of `n` variables; the event-loop delay each step cost. */
async function publishAndSend(key: string, n: number, sends: number) {
  const html = manyVariables(n);
  const costs = { publish: 0, preview: 0, accept: [] as number[], render: [] as number[] };
  const published = await loopDelay(() =>
    req('PUT', `/v1/templates/${key}`, { defaultLocale: 'en', content: { en: { email: { subject: 'Your {{v.0}} items', html, text: 'See the HTML part' } } } }),
  );
  expect(published.result.status, JSON.stringify(published.result.body)).toBe(200);
  costs.publish = published.maxMs;
  const data = dataFor(n);
  const preview = await loopDelay(() => req('POST', `/v1/templates/${key}/preview`, { data }));
  expect(preview.result.status, JSON.stringify(preview.result.body).slice(0, 500)).toBe(200);
  expect(preview.result.body.content.email.html).toBe(data.v.join(''));
  costs.preview = preview.maxMs;
  for (let i = 0; i < sends; i++) {
    // Acceptance as POST /v1/notifications and schedule runs do it (variables checked against
    // data), in the API's process…
    const accepted = await loopDelay(() =>
      prepareNotification(db.db, tenantId, NotificationBody.parse({ recipient: 'u1', template: key, data }), { id: `n-${key}-${i}`, retry: RETRY }),
    );
    expect(accepted.result.channels).toEqual(['email']);
    // …then the delivery's rendering, as the delivery activity does it, in a worker's.
    const delivered = await loopDelay(async () => {
      const version = await loadTemplateVersion(db.db, tenantId, key, accepted.result.template.version);
      return renderContent(contentFor(version!, 'en').content, ['email'], accepted.result.data);
    });
    expect((delivered.result.email as { html: string }).html).toBe(data.v.join(''));
    costs.accept.push(accepted.maxMs);
    costs.render.push(delivered.maxMs);
  }
  return costs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

beforeAll(async () => {
  db = await openTestDatabase();
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  app = createApp(
    {
      db: db.db,
      temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
      adminToken: ADMIN,
      channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as any,
      retry: RETRY,
      now: () => Date.now(),
    },
    { log: () => {} },
  );
  const t = await req('POST', '/v1/admin/tenants', { name: 'Hostile' }, ADMIN);
  expect(t.status).toBe(201);
  apiKey = t.body.apiKey;
  tenantId = t.body.id;
  expect((await req('PUT', '/v1/recipients/u1', { email: 'ann@example.com' })).status).toBe(200);
  // Warm the code paths (JIT) with a small template, so what is measured is the template's cost.
  await publishAndSend('warm-up', 500, 3);
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

describe('a 10,000-variable template', () => {
  it('fits the parse limit in one field', () => {
    expect(manyVariables(VARIABLES).length).toBeLessThanOrEqual(PARSE_LIMIT);
  });

  it('publishes, previews and sends, each acceptance blocking the event loop well under 100 ms', async () => {
    const costs = await publishAndSend('hostile', VARIABLES, 5);
    if (process.env.SHOW_COSTS) console.log(costs);
    const shown = JSON.stringify(costs);
    // Each the typical one of five, so that one scheduling hiccup of a shared machine is not
    // taken for the code's cost. Acceptance (the API's part of a send, 1–4 s before variables
    // were found in linear time) and the delivery's rendering (a worker's part: 50–300 ms while
    // LiquidJS's renderer visited each of the 10,000 outputs; now a plain template's outputs
    // are read straight from the data) both within issue 18's bound.
    expect(median(costs.accept), shown).toBeLessThan(SEND_BOUND_MS);
    expect(median(costs.render), shown).toBeLessThan(SEND_BOUND_MS);
  });
});
