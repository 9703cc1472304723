// PostgreSQL stopped under a running stack (DATABASE_URL): the API answers 503 problem+json
// with Retry-After (never a hang) and /readyz 503 while it is down; the workflows' database
// steps retry; once it is back, the refused requests retried with their Idempotency-Keys are
// accepted and everything accepted is sent. The test runs its own cluster (scripts/pg-cluster.ts)
// so that it can stop and start it, wherever PostgreSQL's server binaries are installed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError } from '../db/client.js';
import { postgresBin, startPgCluster, type PgCluster } from '../scripts/pg-cluster.js';
import type { Running } from '../runtime/index.js';
import { awaitFinished, countAtFakes, logged, newClientLog, seedChaosTenant, startProviders, submit, type ChaosChannel, type Providers } from './chaos-kit.js';
import { quietTemporalLogs, startTestStack } from './support.js';

describe('connection errors are told from query errors', () => {
  it('through drizzle’s wrapper, for sockets, postgres.js and SQLSTATEs', () => {
    const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { cause });
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', '08006', '57P01', '57P03', '53300', '57014'])
      expect(isConnectionError(wrapped(Object.assign(new Error(code), { code }))), code).toBe(true);
    for (const code of ['23505', '22P02', '42P01', '40001', undefined])
      expect(isConnectionError(wrapped(Object.assign(new Error(String(code)), { code }))), String(code)).toBe(false);
    expect(isConnectionError(new Error('plain'))).toBe(false);
  });
});

describe.runIf(postgresBin())('PostgreSQL stopped under the API and the worker', () => {
  let dataDir = '';
  const channels: ChaosChannel[] = ['email', 'webhook'];
  let cluster: PgCluster;
  let providers: Providers;
  let running: Running | undefined;
  let apiKey: string;
  const api = () => running!.apiUrl!;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tocsin-db-outage-'));
    quietTemporalLogs();
    cluster = await startPgCluster();
    providers = await startProviders();
    running = await startTestStack(dataDir, {
      ...providers.env,
      DATABASE_URL: cluster.url,
      TEMPORAL_TASK_QUEUE: 'db-outage',
      ADMIN_TOKEN: 'outage-admin',
    });
    apiKey = await seedChaosTenant(api(), 'outage-admin', `${providers.webhook.url}/hook`);
  });
  afterAll(async () => {
    await running?.stop();
    await providers?.close();
    cluster?.destroy();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After while it is down and sends everything accepted once it is back', { timeout: 90_000 }, async () => {
    const log = newClientLog();
    const ids = new Map<number, string>();
    const send = (n: number, deadline: number) => submit(log, api, apiKey, 'db', n, deadline, 500, channels).then((id) => id && ids.set(n, id));
    // Accepted just before the outage: their workflows meet it in their database steps.
    await Promise.all([1, 2, 3, 4, 5].map((n) => send(n, Date.now() + 10_000)));
    expect(ids.size).toBe(5);
    cluster.stop();

    const auth = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    const downAnswers = await Promise.all([
      logged(log, `${api()}/v1/notifications`, { method: 'POST', headers: { ...auth, 'idempotency-key': 'db-6' }, body: JSON.stringify({ recipient: 'chaos', template: 'chaos', data: { n: '6' }, channels }) }),
      logged(log, `${api()}/v1/notifications/${ids.get(1)}`, { headers: auth }),
      logged(log, `${api()}/v1/recipients/chaos`, { method: 'PUT', headers: auth, body: JSON.stringify({ email: 'chaos@example.com' }) }),
      logged(log, `${api()}/v1/admin/tenants`, { method: 'POST', headers: { authorization: 'Bearer outage-admin', 'content-type': 'application/json' }, body: '{"name":"X"}' }),
    ]);
    for (const res of downAnswers) {
      expect(res.status).toBe(503);
      expect(res.headers!.get('content-type')).toBe('application/problem+json');
      expect(Number(res.headers!.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body).toMatchObject({ status: 503, title: 'Service unavailable' });
    }
    const ready = await logged(log, `${api()}/readyz`, {});
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database.ok).toBe(false);
    // Answered, not held: a request without an answer in 15 s is in `log.bad` (no bound on how
    // fast the answer came, which would measure the shared machine, not the code).
    expect(log.bad).toEqual([]);

    // Clients keep sending through the outage, retrying with their keys; it lasts 6 s.
    const during = [6, 7, 8, 9, 10].map((n) => send(n, Date.now() + 40_000));
    await new Promise((r) => setTimeout(r, 6000));
    if (process.env.CHAOS_DEBUG) console.log(new Date().toISOString(), 'starting postgres');
    cluster.start();
    if (process.env.CHAOS_DEBUG) console.log(new Date().toISOString(), 'started postgres');
    await Promise.all(during);
    expect(ids.size).toBe(10);

    const statuses = await awaitFinished(api, apiKey, [...ids.values()], Date.now() + 40_000);
    expect([...statuses.values()].filter((s) => s !== 'sent')).toEqual([]);
    const counts = countAtFakes(providers, ids.keys(), channels);
    expect(counts.email).toMatchObject({ delivered: 10, lost: 0, duplicates: 0 });
    expect(counts.webhook).toMatchObject({ delivered: 10, lost: 0, idsChanged: 0 });
    // Never a 500, a stack or a hang: every 5xx was a clean 503, every request answered.
    expect(log.bad).toEqual([]);
    expect(log.statuses['503']).toBeGreaterThan(5);
  });
});
