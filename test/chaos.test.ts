// Short fault runs (the long ones are `npm run chaos`, bench/chaos.ts): Tocsin SIGKILLed as a
// whole process tree mid-send and started again on the same DATA_DIR; every provider answering
// 503 for a few seconds; the embedded dev server killed under a running stack. Counted at the
// provider fakes: nothing lost, no email, SMS or Slack message twice, webhooks repeated only
// under one event id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import {
  awaitFinished,
  CHAOS_CHANNELS,
  countAtFakes,
  newClientLog,
  seedChaosTenant,
  spawnTocsin,
  startProviders,
  submit,
  waitReady,
  type Providers,
  type TocsinProcess,
  npmStartEnv,
} from './chaos-kit.js';
import { quietTemporalLogs, startTestStack } from './support.js';
import { until } from './until.js';

describe('npm start SIGKILLed as a whole process tree mid-send, then started again', () => {
  let dataDir = '';
  let providers: Providers;
  const procs: TocsinProcess[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tocsin-chaos-kill-'));
    providers = await startProviders();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await providers?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no notification and sends no email, SMS or Slack message twice', { timeout: 300_000 }, async () => {
    const { env, api } = await npmStartEnv(providers, dataDir, 'chaos-admin');
    const start = () => {
      const p = spawnTocsin('scripts/start.ts', env, join(dataDir, 'tocsin.log'));
      procs.push(p);
      return p;
    };
    const first = start();
    await waitReady(`${api}/readyz`, Date.now() + 90_000, first);
    const apiKey = await seedChaosTenant(api, 'chaos-admin', `${providers.webhook.url}/hook`);

    // Every provider answers after 1.5 s, so deliveries are in flight when the tree dies.
    providers.setDefault({ delayMs: 1500 });
    const log = newClientLog();
    const total = 16;
    const ids = new Map<number, string>();
    const send = (n: number) => submit(log, () => api, apiKey, 'kill', n, Date.now() + 90_000).then((id) => id && ids.set(n, id));
    await Promise.all(Array.from({ length: 12 }, (_, i) => send(i + 1)));
    await until(async () => providers.resend.requests.length + providers.webhook.requests.length, (k) => k >= 4, 30_000);
    first.killTree();
    await first.exited;

    // Clients keep sending while it is down (refused), with their Idempotency-Keys.
    const during = Array.from({ length: total - 12 }, (_, i) => send(13 + i));
    providers.setDefault(undefined);
    const second = start();
    await waitReady(`${api}/readyz`, Date.now() + 90_000, second);
    await Promise.all(during);
    expect(ids.size).toBe(total);

    const statuses = await awaitFinished(() => api, apiKey, [...ids.values()], Date.now() + 100_000);
    expect([...statuses.values()].filter((s) => s !== 'sent')).toEqual([]);
    const counts = countAtFakes(providers, ids.keys());
    for (const ch of CHAOS_CHANNELS) expect(counts[ch], ch).toMatchObject({ delivered: total, lost: 0 });
    // Email by Resend's idempotency key; SMS and Slack by looking up what already went out.
    for (const ch of ['email', 'sms', 'slack'] as const) expect(counts[ch].duplicates, ch).toBe(0);
    // A webhook may arrive twice, under one event id.
    expect(counts.webhook.idsChanged).toBe(0);
    expect(log.bad).toEqual([]);
  });
});

describe('a running stack under provider outages and a dead dev server', () => {
  let dataDir = '';
  let providers: Providers;
  let running: Running | undefined;
  let apiKey: string;
  const api = () => running!.apiUrl!;

  beforeAll(async () => {
    quietTemporalLogs();
    dataDir = mkdtempSync(join(tmpdir(), 'tocsin-chaos-outage-'));
    providers = await startProviders();
    // Its own embedded dev server even under TOCSIN_CLUSTER=1: this suite kills and restarts that
    // server (npm start's supervision); the cluster's faults are `npm run chaos:cluster`'s.
    running = await startTestStack(dataDir, { ...providers.env, TEMPORAL_TASK_QUEUE: 'chaos-outage', ADMIN_TOKEN: 'chaos-admin' }, { embedded: true });
    apiKey = await seedChaosTenant(api(), 'chaos-admin', `${providers.webhook.url}/hook`);
  });
  afterAll(async () => {
    await running?.stop();
    await providers?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers everything after every provider answered 503 for 4 s, each email once', { timeout: 60_000 }, async () => {
    providers.setDefault({ status: 503 });
    const log = newClientLog();
    const ids = new Map<number, string>();
    await Promise.all(Array.from({ length: 10 }, (_, i) => submit(log, api, apiKey, 'outage', i + 1, Date.now() + 20_000).then((id) => id && ids.set(i + 1, id))));
    expect(ids.size).toBe(10);
    await new Promise((r) => setTimeout(r, 4000));
    // The outage was seen: every provider refused at least one request.
    for (const ch of CHAOS_CHANNELS) expect(providers.byChannel[ch].requests.some((r) => r.status === 503), ch).toBe(true);
    providers.setDefault(undefined);

    const statuses = await awaitFinished(api, apiKey, [...ids.values()], Date.now() + 40_000);
    expect([...statuses.values()].filter((s) => s !== 'sent')).toEqual([]);
    const counts = countAtFakes(providers, ids.keys());
    for (const ch of CHAOS_CHANNELS) expect(counts[ch], ch).toMatchObject({ delivered: 10, lost: 0, duplicates: 0 });
    expect(log.bad).toEqual([]);
  });

  it('restarts a killed dev server on its state file and carries on', { timeout: 60_000 }, async () => {
    const pid = running!.devServerPid!()!;
    process.kill(pid, 'SIGKILL');
    // Started again: a new process, the same address.
    await until(async () => running!.devServerPid!(), (p) => p !== undefined && p !== pid, 10_000);
    const log = newClientLog();
    const ids = new Map<number, string>();
    await Promise.all(Array.from({ length: 5 }, (_, i) => submit(log, api, apiKey, 'devserver', i + 1, Date.now() + 40_000).then((id) => id && ids.set(i + 1, id))));
    expect(ids.size).toBe(5);
    const statuses = await awaitFinished(api, apiKey, [...ids.values()], Date.now() + 40_000);
    expect([...statuses.values()].filter((s) => s !== 'sent')).toEqual([]);
    await until(() => fetch(`${api()}/readyz`).then((r) => r.status), (s) => s === 200, 10_000);
    // While the server was down the API answered 503 problem+json with Retry-After, never worse.
    expect(log.bad).toEqual([]);
  });
});
