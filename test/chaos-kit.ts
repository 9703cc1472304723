// Plumbing for fault runs (test/chaos.test.ts, test/db-outage.test.ts, `npm run chaos`): the
// provider fakes with their settings, Tocsin as a separate process tree that can be SIGKILLed,
// a client that retries refused requests with their Idempotency-Key, and the counts at the
// fakes of what each provider received per notification.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../worker/dev-server.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import type { FakeServer, ScriptedResponse } from './fakes/server.js';
import { startFakeSlack } from './fakes/slack.js';
import { startFakeTwilio } from './fakes/twilio.js';
import { startFakeWebhook } from './fakes/webhook.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export type ChaosChannel = 'email' | 'sms' | 'slack' | 'webhook';
export const CHAOS_CHANNELS: ChaosChannel[] = ['email', 'sms', 'slack', 'webhook'];

export interface Providers {
  resend: FakeResend;
  twilio: FakeServer;
  slack: FakeServer;
  webhook: FakeServer;
  byChannel: Record<ChaosChannel, FakeServer>;
  /** The provider settings (and the webhook allow list) that point Tocsin at the fakes. */
  env: Record<string, string>;
  /** A standing answer for every provider (a delay: requests in flight; a 503: an outage). */
  setDefault(response: ScriptedResponse | undefined, channels?: ChaosChannel[]): void;
  close(): Promise<void>;
}

export async function startProviders(): Promise<Providers> {
  const [resend, twilio, slack, webhook] = await Promise.all([startFakeResend(), startFakeTwilio(), startFakeSlack(), startFakeWebhook()]);
  const byChannel = { email: resend, sms: twilio, slack, webhook };
  return {
    resend,
    twilio,
    slack,
    webhook,
    byChannel,
    env: {
      RESEND_API_KEY: 're_chaos_0123456789',
      RESEND_BASE_URL: resend.url,
      TWILIO_ACCOUNT_SID: `AC${randomBytes(16).toString('hex')}`,
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      TWILIO_FROM: '+15005550006',
      TWILIO_API_BASE_URL: twilio.url,
      SLACK_BOT_TOKEN: 'xoxb-chaos-0123456789',
      SLACK_API_URL: `${slack.url}/api/`,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    },
    setDefault(response, channels = CHAOS_CHANNELS) {
      for (const ch of channels) byChannel[ch].setDefault(response);
    },
    close: () => Promise.all(Object.values(byChannel).map((f) => f.close())).then(() => {}),
  };
}

/** The tenant, recipient and template a fault run sends with: one message per channel, numbered. */
/** The environment of an `npm start` on free ports in `dataDir` (PGlite), against the fakes; its API's URL. */
export async function npmStartEnv(providers: Providers, dataDir: string, adminToken: string): Promise<{ env: Record<string, string>; api: string }> {
  const port = await freePort();
  const env = {
    ...providers.env,
    DATA_DIR: dataDir,
    DATABASE_URL: '',
    HOST: '127.0.0.1',
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    ADMIN_TOKEN: adminToken,
  };
  return { env, api: `http://127.0.0.1:${port}` };
}

export async function seedChaosTenant(apiUrl: string, adminToken: string, webhookUrl: string): Promise<string> {
  const call = async (token: string, method: string, path: string, body: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text);
  };
  const { apiKey } = await call(adminToken, 'POST', '/v1/admin/tenants', { name: 'Chaos' });
  await call(apiKey, 'PUT', '/v1/recipients/chaos', { email: 'chaos@example.com', phone: '+14155550123', slack: 'C0CHAOS0001', webhookUrl, name: 'Chaos' });
  await call(apiKey, 'POST', '/v1/templates', {
    key: 'chaos',
    content: {
      en: {
        email: { subject: 'Chaos #{{ n }}', text: 'Chaos #{{ n }}' },
        sms: { text: 'Chaos #{{ n }}' },
        slack: { text: 'Chaos #{{ n }}' },
        webhook: { event: 'chaos', n: '{{ n }}' },
      },
    },
  });
  return apiKey;
}

/** What the client saw: every answer's status, the slowest answer, and any 5xx that was not a clean 503. */
export interface ClientLog {
  statuses: Record<string, number>;
  maxLatencyMs: number;
  /** 5xx answers other than 503 problem+json with Retry-After (a 500, a stack, a missing header). */
  bad: string[];
}

export const newClientLog = (): ClientLog => ({ statuses: {}, maxLatencyMs: 0, bad: [] });

/** One request, logged: status 0 for a refused or broken connection, 'timeout' past `timeoutMs`. */
export async function logged(log: ClientLog, url: string, init: RequestInit, timeoutMs = 15_000): Promise<{ status: number; body: any; headers?: Headers }> {
  const started = Date.now();
  let out: { status: number; body: any; headers?: Headers };
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {}
    out = { status: res.status, body, headers: res.headers };
    if (res.status >= 500 && new URL(url).pathname !== '/readyz') {
      const clean =
        res.status === 503 && res.headers.get('content-type') === 'application/problem+json' && res.headers.get('retry-after') && !/\n\s+at /.test(text);
      if (!clean) log.bad.push(`${init.method ?? 'GET'} ${new URL(url).pathname}: ${res.status} ${text.slice(0, 200)}`);
    }
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    if (timedOut) log.bad.push(`${init.method ?? 'GET'} ${new URL(url).pathname}: no answer within ${timeoutMs} ms`);
    out = { status: timedOut ? -1 : 0, body: null };
  }
  const key = out.status === 0 ? 'refused' : out.status === -1 ? 'timeout' : String(out.status);
  log.statuses[key] = (log.statuses[key] ?? 0) + 1;
  log.maxLatencyMs = Math.max(log.maxLatencyMs, Date.now() - started);
  if (process.env.CHAOS_DEBUG) console.log(new Date(started).toISOString(), init.method ?? 'GET', new URL(url).pathname, key, `${Date.now() - started} ms`, out.status >= 500 ? JSON.stringify(out.body).slice(0, 120) : '');
  return out;
}

/**
 * Sends notification `n` (channels: all four) until it is accepted, retrying refused
 * connections, 5xx and 429 with the same Idempotency-Key, every `everyMs`, until `deadline`.
 * Returns the notification id, or undefined when it was never accepted.
 */
export async function submit(
  log: ClientLog,
  api: () => string,
  apiKey: string,
  run: string,
  n: number,
  deadline: number,
  everyMs = 500,
  channels: ChaosChannel[] = CHAOS_CHANNELS,
): Promise<string | undefined> {
  const body = JSON.stringify({ recipient: 'chaos', template: 'chaos', data: { n: String(n) }, channels });
  for (;;) {
    const res = await logged(log, `${api()}/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `${run}-${n}` },
      body,
    });
    if (res.status === 202) return res.body.id as string;
    if (res.status > 0 && res.status < 500 && res.status !== 429) throw new Error(`notification ${n} refused for good: ${res.status} ${JSON.stringify(res.body)}`);
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const TERMINAL = new Set(['sent', 'partially_sent', 'failed', 'cancelled', 'suppressed']);

/** Polls every accepted notification until each is finished or `deadline`; returns the statuses. */
export async function awaitFinished(api: () => string, apiKey: string, ids: string[], deadline: number): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  let open = ids;
  while (open.length) {
    const next: string[] = [];
    for (const id of open) {
      try {
        const res = await fetch(`${api()}/v1/notifications/${id}`, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(5000) });
        const body = res.ok ? ((await res.json()) as { status: string }) : undefined;
        if (body) statuses.set(id, body.status);
        if (!body || !TERMINAL.has(body.status)) next.push(id);
      } catch {
        next.push(id);
      }
    }
    open = next;
    if (!open.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return statuses;
}

/** Per provider: messages it accepted, notifications with none (lost), extra messages (duplicates). */
export interface ProviderCount {
  messages: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Webhooks: deliveries whose repeats carried more than one event id (should be 0). */
  idsChanged?: number;
}

/** The number `n` a message at a fake carries ("Chaos #n" or the webhook's `n`), per channel. */
function messagesByN(p: Providers, channel: ChaosChannel): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (n: string | undefined, id: string) => {
    if (n === undefined) return;
    out.set(n, [...(out.get(n) ?? []), id]);
  };
  const num = (text: unknown) => (typeof text === 'string' ? /Chaos #(\d+)/.exec(text)?.[1] : undefined);
  switch (channel) {
    case 'email':
      // Resend answers a repeated Idempotency-Key with the first email: only new emails count.
      for (const [id, email] of p.resend.emails) add(num(email.subject), id);
      break;
    case 'sms':
      for (const r of p.twilio.requests) if (r.method === 'POST' && r.path.endsWith('/Messages.json') && r.status === 201) add(num(r.body?.Body), '');
      break;
    case 'slack':
      for (const r of p.slack.requests) if (r.path === '/api/chat.postMessage' && r.status === 200) add(num(r.body?.text), '');
      break;
    case 'webhook':
      for (const r of p.webhook.requests)
        if (r.status === 200) add(r.body?.content?.n ?? r.body?.data?.n, r.headers['webhook-id'] ?? r.headers['tocsin-event-id'] ?? r.body?.id ?? '');
      break;
  }
  return out;
}

export function countAtFakes(p: Providers, accepted: Iterable<number>, channels: ChaosChannel[] = CHAOS_CHANNELS): Record<string, ProviderCount> {
  const wanted = new Set([...accepted].map(String));
  const out: Record<string, ProviderCount> = {};
  for (const ch of channels) {
    const byN = messagesByN(p, ch);
    const count: ProviderCount = { messages: 0, delivered: 0, lost: 0, duplicates: 0 };
    if (ch === 'webhook') count.idsChanged = 0;
    for (const [n, ids] of byN) {
      if (!wanted.has(n)) continue;
      count.messages += ids.length;
      count.delivered += 1;
      count.duplicates += ids.length - 1;
      if (ch === 'webhook' && new Set(ids).size > 1) count.idsChanged! += 1;
    }
    count.lost = wanted.size - count.delivered;
    out[ch] = count;
  }
  return out;
}

/** Tocsin as its own process group (`npm start`, `npm run api`, `npm run worker`), so that a SIGKILL takes the whole tree. */
export interface TocsinProcess {
  child: ChildProcess;
  /** SIGKILL to the process group: the node process and the dev server it started. */
  killTree(): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function spawnTocsin(script: string, env: Record<string, string>, logFile: string): TocsinProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {}
  };
  return {
    child,
    exited,
    killTree: () => group('SIGKILL'),
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return group('SIGKILL');
      const timer = setTimeout(() => group('SIGKILL'), graceMs);
      group('SIGTERM');
      await exited;
      clearTimeout(timer);
      // Whatever the process left behind in its group.
      group('SIGKILL');
    },
  };
}

/** Waits until GET `url` answers 200 (or `deadline`). */
export async function waitReady(url: string, deadline: number, proc?: TocsinProcess): Promise<void> {
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) throw new Error(`the Tocsin process exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${url} was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} was not ready in time`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The child processes of `pid` (Linux /proc), e.g. the dev server `npm start` runs. */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** The command line of a process (Linux /proc), '' when it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}
