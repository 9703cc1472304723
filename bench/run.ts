// `npm run bench`: Tocsin's notification path against a bare one-activity Temporal workflow,
// in one run, on one dev server, with the same worker settings, both ending in the same
// HTTP POST to the same local webhook receiver.
//
//   npm run bench
//   BENCH_N=1000 BENCH_CONCURRENCY=32 BENCH_HALF_LOAD_SECONDS=60 npm run bench
//
// bench/stack.ts boots Tocsin as `npm start` does (embedded dev server, PGlite or
// DATABASE_URL) on free ports in a temporary DATA_DIR, in its own process, plus the bare
// workflow's worker. This process is the client: it drives Tocsin over HTTP and the bare
// workflow through the Temporal client, and runs the webhook receiver.
//
// Phase 1, maximum throughput: BENCH_N requests, BENCH_CONCURRENCY in flight; throughput is
// arrivals at the receiver / (last arrival − first request).
// Phase 2, half load: open loop at half of each one's phase-1 throughput for
// BENCH_HALF_LOAD_SECONDS; accept latency (HTTP 202 round trip; workflow start call) from
// each request's due time, and accepted → arrived at the receiver.
// Phase 1 also runs the events case: BENCH_N `POST /v1/events` through one rule with one
// recipient, the same template and receiver, as a ratio to the notifications' throughput.
// Results: printed, and written to bench/results/notifications-<date>.md.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createTocsinClient, ok } from '../client/index.js';
import { jsonPoster, pct, type Offer } from './load.js';
import { startForkedStack, type ForkedStack, type Rss } from './forked-stack.js';
import { BARE_TASK_QUEUE } from './protocol.js';
import { eventNotificationId } from '../domain/events.js';
import { startReceiver, type Receiver } from './receiver.js';
import { atCommit, benchKnobs, benchRuntime, closedPhase, measure, openPhase, settle, writeResults } from './measure.js';
import { ensureNode, IMAGE_NODE_VERSION } from '../scripts/setup-node.mjs';

// On the production shape instead (bench/cluster-run.ts, which exits when done):
// `npm run bench -- --cluster` or `TOCSIN_CLUSTER=1 npm run bench`. It runs on the production
// runtime, the image's Node (fetched once by scripts/setup-node.mjs), unless BENCH_NODE=machine:
// this process starts it again on that Node, and every process the run starts inherits it.
if (process.argv.includes('--cluster') || process.env.TOCSIN_CLUSTER === '1') {
  if (benchRuntime(process.env, process.version, IMAGE_NODE_VERSION).reexec) {
    const node = join(ensureNode(), 'node');
    process.stderr.write(`[bench] the cluster bench runs on the image's Node ${IMAGE_NODE_VERSION} (BENCH_NODE=machine: on this one, ${process.version})\n`);
    const r = spawnSync(node, ['--import', 'tsx', ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  await import('./cluster-run.js');
}

const { N, CONCURRENCY, HALF_SECONDS, WARMUP, env: knobEnv } = benchKnobs();
const command = `${knobEnv} npm run bench`;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);

const started = Date.now();
const runTag = started.toString(36);
let receiver: Receiver | undefined;
let connection: Connection | undefined;
/** The load generator's keep-alive HTTP posters, closed with the rest. */
const posters: Array<{ close(): void }> = [];
let stack: ForkedStack | undefined;
let exitCode = 0;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= stopEverything());
async function stopEverything() {
  await receiver?.close().catch(() => {});
  await connection?.close().catch(() => {});
  for (const p of posters) p.close();
  if (stack) await stack.stop().catch((err) => log(`stopping the stack: ${(err as Error).message}`));
}

try {
  receiver = await startReceiver();
  // Sends to the local receiver must be allowed once webhook addresses are guarded.
  stack = await startForkedStack('bench', { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' }, log);
  const ready = await stack.ready;
  log(`ready: API ${ready.apiUrl}, Temporal ${ready.temporalAddress}, ${ready.database}; worker tuning ${JSON.stringify(ready.tuning)}`);
  const rssSamples: Rss[] = [];
  const sample = async () => {
    const s = await stack!.rss();
    if (s) rssSamples.push(s);
  };
  await sample();

  const tenant = await ok(createTocsinClient({ baseUrl: ready.apiUrl, token: 'bench' }).POST('/v1/admin/tenants', { body: { name: 'bench' } }));
  const api = createTocsinClient({ baseUrl: ready.apiUrl, token: tenant.apiKey });
  await ok(api.PUT('/v1/recipients/{recipientId}', { params: { path: { recipientId: 'r1' } }, body: { webhookUrl: receiver.url } }));
  await ok(api.POST('/v1/templates', { body: { key: 'bench', content: { en: { webhook: { event: 'bench' } } } } }));
  // The same send as a one-step flow (README: "Flows"): what the flow interpreter costs over the notification workflow.
  await ok(api.PUT('/v1/flows/{key}', { params: { path: { key: 'bench' } }, body: { steps: [{ id: 'send', type: 'send', channels: ['webhook'], template: 'bench' }] } }));

  connection = await Connection.connect({ address: ready.temporalAddress });
  const client = new Client({ connection });

  const tocsin = jsonPoster(`${ready.apiUrl}/v1/notifications`, tenant.apiKey, (n) => ({ recipient: 'r1', template: 'bench', data: { n } }));
  // The events case: one rule, one recipient (the actor), the same template and receiver; the
  // receiver sees the notification, whose id is the event's rule and recipient's.
  await ok(api.PUT('/v1/rules/{key}', { params: { path: { key: 'bench-rule' } }, body: { event: 'bench.event', recipients: { from: 'event' }, template: 'bench', channels: ['webhook'] } }));
  const events = jsonPoster(`${ready.apiUrl}/v1/events`, tenant.apiKey, (n) => ({ name: 'bench.event', actor: 'r1', data: { n } }), (id) => eventNotificationId(id, 'bench-rule', 'r1'));
  const byFlow = jsonPoster(`${ready.apiUrl}/v1/notifications`, tenant.apiKey, (n) => ({ recipient: 'r1', flow: 'bench', data: { n } }));
  posters.push(tocsin, events, byFlow);
  const bare =
    (phase: string): Offer =>
    async (n) => {
      const id = `bare-${runTag}-${phase}-${n}`;
      await client.workflow.start('bareWorkflow', { taskQueue: BARE_TASK_QUEUE, workflowId: id, args: [{ id, url: receiver!.url, data: { n } }] });
      return { id, acceptedAt: performance.now() };
    };

  const closed = (offer: Offer, count: number) => closedPhase(receiver!, offer, count, CONCURRENCY);
  const open = (offer: Offer, rate: number) => openPhase(receiver!, offer, rate, HALF_SECONDS);

  log(`warm-up: ${WARMUP} of each`);
  await closed(tocsin, WARMUP);
  await closed(byFlow, WARMUP);
  await closed(bare('warmup'), WARMUP);
  await closed(events, WARMUP);
  await settle(log, client, ready.taskQueue);
  await settle(log, client, BARE_TASK_QUEUE);

  log(`phase 1: ${N} Tocsin notifications, ${CONCURRENCY} in flight`);
  const maxTocsin = measure(await closed(tocsin, N), receiver);
  await sample();
  await settle(log, client, ready.taskQueue);
  log(`  ${maxTocsin.throughput.toFixed(1)}/s; now ${N} one-step flows`);
  const maxFlow = measure(await closed(byFlow, N), receiver);
  await sample();
  await settle(log, client, ready.taskQueue);
  log(`  ${maxFlow.throughput.toFixed(1)}/s; now ${N} bare workflows`);
  const maxBare = measure(await closed(bare('max'), N), receiver);
  await sample();
  await settle(log, client, BARE_TASK_QUEUE);
  log(`  ${maxBare.throughput.toFixed(1)}/s; now ${N} events through one rule`);
  const maxEvents = measure(await closed(events, N), receiver);
  await sample();
  await settle(log, client, ready.taskQueue);
  log(`  ${maxEvents.throughput.toFixed(1)}/s (${(maxEvents.throughput / maxTocsin.throughput).toFixed(2)}× notifications)`);

  const rateTocsin = maxTocsin.throughput / 2;
  const rateBare = maxBare.throughput / 2;
  log(`phase 2: Tocsin at ${rateTocsin.toFixed(1)}/s for ${HALF_SECONDS} s`);
  const halfTocsinRun = await open(tocsin, rateTocsin);
  const halfTocsin = measure(halfTocsinRun.sent, receiver);
  await sample();
  await settle(log, client, ready.taskQueue);
  // The flow at the template's half-load rate: the same offered load, so latencies compare.
  log(`phase 2: one-step flow at ${rateTocsin.toFixed(1)}/s for ${HALF_SECONDS} s`);
  const halfFlowRun = await open(byFlow, rateTocsin);
  const halfFlow = measure(halfFlowRun.sent, receiver);
  await sample();
  await settle(log, client, ready.taskQueue);
  log(`phase 2: bare at ${rateBare.toFixed(1)}/s for ${HALF_SECONDS} s`);
  const halfBareRun = await open(bare('half'), rateBare);
  const halfBare = measure(halfBareRun.sent, receiver);
  await sample();
  await settle(log, client, BARE_TASK_QUEUE);

  const peak = rssSamples.reduce((a, s) => Math.max(a, s.maxRss, s.rss), 0);
  const end = rssSamples.at(-1)!;
  const devServer = end.children.find((c) => c.name.startsWith('temporal'));
  const r2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
  const cpu = cpus();
  const date = new Date(started).toISOString();
  const report = `# Notification benchmark ${date}

Command: \`${command}\`${atCommit()}

Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${mib(totalmem())} memory, Linux ${release()}, Node ${process.version}; load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (the machine may be shared).
Database: ${ready.database}. Temporal: the embedded dev server (\`temporal server start-dev\`, SQLite). Both workers in one process with the API, tuning ${Object.keys(ready.tuning).length ? `\`${JSON.stringify(ready.tuning)}\`` : 'the SDK defaults'} for both.

Tocsin: \`POST /v1/notifications\` over HTTP (node:http, keep-alive), one webhook channel to a local receiver. Bare: \`client.workflow.start\` of a
workflow with one activity doing the same POST (Tocsin's webhook sender) to the same receiver. "Arrived" is when the
receiver got the POST.

| | Tocsin | bare one-activity workflow | Tocsin / bare |
| --- | --- | --- | --- |
| max throughput (${N} offered, ${CONCURRENCY} in flight) | ${maxTocsin.throughput.toFixed(1)} /s | ${maxBare.throughput.toFixed(1)} /s | **${r2(maxTocsin.throughput / maxBare.throughput)}×** |
| events: max throughput, \`POST /v1/events\` through one rule to one recipient (${N} offered, ${CONCURRENCY} in flight) | ${maxEvents.throughput.toFixed(1)} /s | | **${r2(maxEvents.throughput / maxTocsin.throughput)}× Tocsin notifications** (goal ≥ 0.8×) |
| half load, open loop, ${HALF_SECONDS} s | ${rateTocsin.toFixed(1)} /s (${halfTocsin.sent.length} sent) | ${rateBare.toFixed(1)} /s (${halfBare.sent.length} sent) | |
| accept latency p50 (HTTP 202; start call) | ${ms(pct(halfTocsin.accept, 50))} | ${ms(pct(halfBare.accept, 50))} | ${r2(pct(halfTocsin.accept, 50) / pct(halfBare.accept, 50))} |
| accept latency p99 | ${ms(pct(halfTocsin.accept, 99))} | ${ms(pct(halfBare.accept, 99))} | ${r2(pct(halfTocsin.accept, 99) / pct(halfBare.accept, 99))} |
| accepted → arrived p50 | ${ms(pct(halfTocsin.e2e, 50))} | ${ms(pct(halfBare.e2e, 50))} | ${r2(pct(halfTocsin.e2e, 50) / pct(halfBare.e2e, 50))} |
| accepted → arrived p99 | ${ms(pct(halfTocsin.e2e, 99))} | ${ms(pct(halfBare.e2e, 99))} | ${r2(pct(halfTocsin.e2e, 99) / pct(halfBare.e2e, 99))} |

A one-step flow (\`"flow":"bench"\`: one \`send\` step, the same template and webhook), against the same notification by template:

| | by template | one-step flow | flow / template |
| --- | --- | --- | --- |
| max throughput (${N} offered, ${CONCURRENCY} in flight) | ${maxTocsin.throughput.toFixed(1)} /s | ${maxFlow.throughput.toFixed(1)} /s | **${r2(maxFlow.throughput / maxTocsin.throughput)}×** |
| half load, open loop, ${HALF_SECONDS} s, both at ${rateTocsin.toFixed(1)} /s | ${halfTocsin.sent.length} sent | ${halfFlow.sent.length} sent | |
| accept latency p50 / p99 | ${ms(pct(halfTocsin.accept, 50))} / ${ms(pct(halfTocsin.accept, 99))} | ${ms(pct(halfFlow.accept, 50))} / ${ms(pct(halfFlow.accept, 99))} | ${r2(pct(halfFlow.accept, 50) / pct(halfTocsin.accept, 50))} / ${r2(pct(halfFlow.accept, 99) / pct(halfTocsin.accept, 99))} |
| accepted → arrived p50 / p99 | ${ms(pct(halfTocsin.e2e, 50))} / ${ms(pct(halfTocsin.e2e, 99))} | ${ms(pct(halfFlow.e2e, 50))} / ${ms(pct(halfFlow.e2e, 99))} | ${r2(pct(halfFlow.e2e, 50) / pct(halfTocsin.e2e, 50))} / ${r2(pct(halfFlow.e2e, 99) / pct(halfTocsin.e2e, 99))} |

| process | RSS at end | peak RSS |
| --- | --- | --- |
| API + both workers + ${ready.database === 'pglite' ? 'PGlite' : 'postgres.js'} (\`npm start\`'s process) | ${mib(end.rss)} | ${mib(peak)} |
| Temporal dev server | ${devServer ? mib(devServer.rss) : 'n/a'} | ${devServer ? mib(devServer.maxRss) : 'n/a'} |

Details: phase 1 took ${maxTocsin.wallSeconds.toFixed(1)} s (Tocsin) and ${maxBare.wallSeconds.toFixed(1)} s (bare), from the first request to the last
arrival; at max load, accepted → arrived p50/p99 was ${ms(pct(maxTocsin.e2e, 50))} / ${ms(pct(maxTocsin.e2e, 99))} (Tocsin) and
${ms(pct(maxBare.e2e, 50))} / ${ms(pct(maxBare.e2e, 99))} (bare), accept p50/p99 ${ms(pct(maxTocsin.accept, 50))} / ${ms(pct(maxTocsin.accept, 99))} (Tocsin) and
${ms(pct(maxBare.accept, 50))} / ${ms(pct(maxBare.accept, 99))} (bare). Half-load latencies count from each request's due time; the load
generator fell behind its schedule by at most ${ms(halfTocsinRun.maxLagMs)} (Tocsin) and ${ms(halfBareRun.maxLagMs)} (bare). Duplicate
deliveries seen by the receiver: ${receiver.duplicates()}. The whole run took ${((Date.now() - started) / 1000).toFixed(0)} s.
`;
  const file = writeResults('notifications', date, report);
  log(`wrote ${file}`);
} catch (err) {
  exitCode = 1;
  log(`failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
