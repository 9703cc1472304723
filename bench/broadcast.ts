// `npm run bench:broadcast`: how long a broadcast to N in-app recipients takes.
//
//   npm run bench:broadcast                             # boots its own stack, as npm start does
//   RECIPIENTS=10000 npm run bench:broadcast
//   TOCSIN_URL=http://127.0.0.1:3000 ADMIN_TOKEN=secret npm run bench:broadcast   # a running stack
//
// Settings (environment): TOCSIN_URL (unset: a fresh stack booted as `npm start` boots it, in
// its own process, on free ports, stopped at the end; results then go to
// bench/results/broadcast-<date>.md), ADMIN_TOKEN (default: the token `npm start` generated in
// DATA_DIR/admin-token), RECIPIENTS (default 100000),
// CONCURRENCY of the setup requests (default 4). It creates a fresh tenant, its recipients
// (in-app only: no provider is involved) through POST /v1/recipients/bulk, 1,000 per call, a
// template and one `all: true` broadcast, polls GET /v1/broadcasts/{id} until it is no longer
// running, and prints the duration and throughput.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startForkedStack, type ForkedStack } from './forked-stack.js';
import { createTocsinClient, ok } from '../client/index.js';

const total = Number(process.env.RECIPIENTS ?? 100_000);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
/** Entries per POST /v1/recipients/bulk: its limit. */
const BULK = 1000;

let base = (process.env.TOCSIN_URL ?? '').replace(/\/$/, '');
let ownToken: string | undefined;

function adminToken(): string {
  if (ownToken) return ownToken;
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  const file = join(process.env.DATA_DIR ?? '.data', 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('Set ADMIN_TOKEN (or run from the folder whose DATA_DIR holds the admin-token that npm start generated)');
}

const client = (token: string) => createTocsinClient({ baseUrl: base, token });

/** Runs `fn` over 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<string> {
  const ready = await fetch(`${base}/readyz`).catch(() => null);
  if (!ready?.ok) throw new Error(`${base}/readyz is not answering 200: is the stack running (npm start)?`);

  const tenant = await ok(client(adminToken()).POST('/v1/admin/tenants', { body: { name: `bench ${new Date().toISOString()}` } }));
  const api = client(tenant.apiKey);

  let t = Date.now();
  await pool(Math.ceil(total / BULK), concurrency, (batch) => {
    const from = batch * BULK;
    const ids = Array.from({ length: Math.min(BULK, total - from) }, (_, k) => from + k);
    return ok(api.POST('/v1/recipients/bulk', { body: { recipients: ids.map((i) => ({ id: `bench-${String(i).padStart(6, '0')}`, name: `Bench ${i}` })) } }));
  });
  console.log(`${total} recipients created in ${seconds(Date.now() - t)}`);
  await ok(
    api.POST('/v1/templates', {
      body: { key: 'bench-launch', content: { en: { inapp: { title: 'Hello {{ name }}', body: 'A broadcast to {{ count }} recipients.' } } } },
    }),
  );

  t = Date.now();
  const accepted = await ok(api.POST('/v1/broadcasts', { body: { all: true, template: 'bench-launch', data: { name: 'there', count: total } } }));
  const acceptMs = Date.now() - t;
  console.log(`broadcast ${accepted.id} accepted in ${acceptMs} ms (total ${accepted.total})`);

  let last: Awaited<ReturnType<typeof progress>>;
  const progress = () => ok(api.GET('/v1/broadcasts/{id}', { params: { path: { id: accepted.id } } }));
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await progress();
    const done = last.sent + last.failed + last.suppressed + last.cancelled;
    console.log(`  ${seconds(Date.now() - t).padStart(8)}  ${String(done).padStart(6)}/${last.total} done (sent ${last.sent}, failed ${last.failed}, suppressed ${last.suppressed}, pending ${last.pending})`);
    if (last.status !== 'running') break;
  }
  const ms = Date.now() - t;
  console.log(`\n${last.status}: ${last.total} recipients in ${seconds(ms)} (accept to completed), ${(last.total / (ms / 1000)).toFixed(1)} notifications/s`);
  console.log(`sent ${last.sent}, failed ${last.failed}, suppressed ${last.suppressed}, cancelled ${last.cancelled}`);
  return `| ${total} | ${acceptMs} ms | **${seconds(ms)}** | ${(last.total / (ms / 1000)).toFixed(0)} /s | ${last.status}: sent ${last.sent}, failed ${last.failed}, suppressed ${last.suppressed}, cancelled ${last.cancelled} |`;
}

let stack: ForkedStack | undefined;
try {
  if (!base) {
    stack = await startForkedStack('broadcast', {}, (m) => console.error(`[bench:broadcast] ${m}`));
    const ready = await stack.ready;
    base = ready.apiUrl;
    ownToken = ready.adminToken;
  }
  const row = await main();
  if (stack) {
    const report = [
      `# Broadcast benchmark ${new Date().toISOString()}`,
      '',
      `Command: \`RECIPIENTS=${total} npm run bench:broadcast\`; ${cpus().length} cores; the stack booted as \`npm start\` boots it (embedded dev server, ${(await stack.ready).database}), in-app recipients only.`,
      '',
      '| recipients | accept (HTTP 202) | accept → completed | throughput | counts |',
      '| --- | --- | --- | --- | --- |',
      row,
      '',
    ].join('\n');
    const day = new Date().toISOString().slice(0, 10);
    let file = join('bench', 'results', `broadcast-${day}.md`);
    for (let i = 2; existsSync(file); i++) file = join('bench', 'results', `broadcast-${day}-${i}.md`);
    writeFileSync(file, report);
    console.error(`[bench:broadcast] wrote ${file}`);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await stack?.stop();
}
process.exit(process.exitCode ?? 0);
