// `npm run bench -- --cluster` (or TOCSIN_CLUSTER=1 npm run bench): bench/run.ts's measure on
// the production shape (scripts/cluster-stack.ts: PostgreSQL, two Temporal server nodes, two
// Tocsin workers, two APIs, each a process), against the bare one-activity workflow run by two
// bare worker processes (bench/bare-worker.ts, the same tuning and payload codec)
// on the same cluster in the same run.
//
//   BENCH_N=600 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20 BENCH_ROUNDS=3 npm run bench -- --cluster
//
// Tocsin's load goes through both APIs in turn, the bare workflow's through two client
// connections to the cluster's balancer in turn; every worker and API reaches the servers through
// that balancer, bare or not. The max-throughput phases run in BENCH_ROUNDS rounds, one of each side a round, which
// side goes first alternating (Tocsin, bare; bare, Tocsin; …), so a change in what else the
// shared machine runs falls on both sides alike; the ratio is that of the rounds pooled. Over
// each max-throughput phase every process's CPU time is sampled from /proc
// (bench/cpu.ts; PostgreSQL with all its backends), and at the end each one's peak RSS (VmHWM).
// Results: printed, and written to bench/results/cluster-<date>.md.
import { rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { createTocsinClient, ok } from '../client/index.js';
import { startCluster, tempDataDir, type Cluster } from '../scripts/cluster-stack.js';
import { IMAGE_NODE_VERSION } from '../scripts/setup-node.mjs';
import { bundleWorkflows } from '../worker/bundle.js';
import { cpuDelta, cpuSeconds, machineTimes, type MachineTimes } from './cpu.js';
import { jsonPoster, pct, type Offer } from './load.js';
import { atCommit, benchKnobs, benchRuntime, closedPhase, measure, openPhase, pooled, settle, sumByKey, writeResults, type PhaseResult } from './measure.js';
import { BARE_TASK_QUEUE, procMemory } from './protocol.js';
import { startReceiver, type Receiver } from './receiver.js';
import { loadConfig } from '../config.js';
import { openDatabase, type Database } from '../db/client.js';
import { encryptionKeys, retrySettings } from '../runtime/index.js';
import { notificationStartOptions, prepareNotification } from '../usecases/accept.js';
import { newId } from '../usecases/ids.js';
import { EncryptionCodec, encryptedDataConverter } from '../usecases/payload-codec.js';
import { captureProfiles, PROFILE_SECONDS, readProfiles, serverBreakdown } from './server-profile.js';
import { stageRows } from './stages.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { STATS_FLUSH_MS, tableWriteReader, writesDelta, type TableWriteReader, type TableWrites } from './table-writes.js';

// A warm-up long enough for the processes' hot code to be optimized and every pooled database
// connection to have prepared its statements: with 10 of each, a run's first round found
// Tocsin's side (more code, more statements) about 4 % slower than its later rounds (runs -24
// to -29 of 2026-12-05; README: "A longer warm-up, and where the rest of the gap lies").
const { N, CONCURRENCY, HALF_SECONDS, ROUNDS, WARMUP, env: knobEnv } = benchKnobs(process.env, { rounds: 3, warmup: 200 });
const root = fileURLToPath(new URL('..', import.meta.url));
// BENCH_TOCSIN_START=direct: a diagnostic of what the API hop costs, not the criterion's measure.
// Tocsin's notification workflow is then started as the API starts it (the same validation and
// start options, in the bench's process) through both frontends in turn, with no HTTP API.
const DIRECT = process.env.BENCH_TOCSIN_START === 'direct';
if (!['api', 'direct', undefined].includes(process.env.BENCH_TOCSIN_START)) throw new Error('BENCH_TOCSIN_START: api (default) or direct');
// The bare workers run under Worker Deployment Versioning when Tocsin's do (the cluster's default;
// TEMPORAL_DEPLOYMENT_NAME= turns it off for both), in a deployment of their own.
// BENCH_BARE_VERSIONING=off: a diagnostic of what versioning costs, the bare side unversioned.
const BARE_UNVERSIONED = process.env.BENCH_BARE_VERSIONING === 'off';
if (!['on', 'off', undefined].includes(process.env.BENCH_BARE_VERSIONING)) throw new Error('BENCH_BARE_VERSIONING: on (default) or off');
// BENCH_SERVER_PROFILE=1: each Temporal node's CPU profile (Go's pprof) over the first
// PROFILE_SECONDS of every max-throughput phase, told per notification (bench/server-profile.ts).
const SERVER_PROFILE = process.env.BENCH_SERVER_PROFILE === '1';
if (!['0', '1', undefined].includes(process.env.BENCH_SERVER_PROFILE)) throw new Error('BENCH_SERVER_PROFILE: 1 or 0 (default)');
// Every process of the run inherits this one's Node: the image's (bench/run.ts), or BENCH_NODE=machine's.
const runtime = benchRuntime(process.env, process.version, IMAGE_NODE_VERSION);
const command = `${runtime.command}${SERVER_PROFILE ? 'BENCH_SERVER_PROFILE=1 ' : ''}${DIRECT ? 'BENCH_TOCSIN_START=direct ' : ''}${BARE_UNVERSIONED ? 'BENCH_BARE_VERSIONING=off ' : ''}${process.env.TEMPORAL_DEPLOYMENT_NAME === '' ? 'TEMPORAL_DEPLOYMENT_NAME= ' : ''}${knobEnv} npm run bench -- --cluster`;
const BENCH = 'bench (load generator, receiver)';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const r2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

const started = Date.now();
const runTag = started.toString(36);
const loadAtStart = loadavg();
const dataDir = tempDataDir('tocsin-cluster-bench-');
let receiver: Receiver | undefined;
let cluster: Cluster | undefined;
let writes: TableWriteReader | undefined;
let directDb: Database | undefined;
const connections: Connection[] = [];
/** The load generator's keep-alive HTTP posters, closed with the rest. */
const posters: Array<{ close(): void }> = [];
let exitCode = 0;
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await receiver?.close().catch(() => {});
    for (const c of connections) await c.close().catch(() => {});
    for (const p of posters) p.close();
    await writes?.close().catch(() => {});
    await directDb?.close().catch(() => {});
    await cluster?.stop().catch((err) => log(`stopping the cluster: ${(err as Error).message}`));
    rmSync(dataDir, { recursive: true, force: true });
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

interface Measured {
  phase: PhaseResult;
  /** CPU seconds per process over the phase. */
  cpu: Record<string, number>;
  /** The whole machine's CPU seconds over the phase by kind (bench/cpu.ts machineTimes). */
  machine: MachineTimes;
  /** Rows written per table over the phase (bench/table-writes.ts). */
  writes: TableWrites;
}

/** Rounds' phases of one side as one: requests, windows and CPU seconds added up. */
function pooledMeasures(ms: Measured[]): Measured {
  return {
    phase: pooled(ms.map((m) => m.phase)),
    cpu: sumByKey(ms.map((m) => m.cpu)),
    machine: sumByKey(ms.map((m) => m.machine)),
    writes: sumByKey(ms.map((m) => m.writes)),
  };
}

/** The result file's section on the Temporal server's CPU by area and entry point (BENCH_SERVER_PROFILE=1). */
async function serverSection(profiles: Record<'Tocsin' | 'bare', { files: string[]; covered: number }>): Promise<string> {
  const [t, b] = await Promise.all([readProfiles(profiles.Tocsin.files), readProfiles(profiles.bare.files)]);
  const head = `## Inside the Temporal server

Both nodes' CPU profiles (Go's pprof, BENCH_SERVER_PROFILE=1) over the first ${PROFILE_SECONDS} s of every max-throughput phase,
in milliseconds of server CPU per notification (the profiles' time over the notifications they cover: each phase's rate
times the seconds profiled).

`;
  if (!t || !b) return `${head}(Not read: \`go tool pprof\` needs Go on PATH.)\n\n`;
  const x = serverBreakdown(t, b, { tocsin: profiles.Tocsin.covered, bare: profiles.bare.covered });
  const signed = (v: number) => (Number(v.toFixed(2)) >= 0 ? `+${Math.abs(v).toFixed(2)}` : v.toFixed(2));
  const row = (r: { name: string; tocsin: number; bare: number }) => `| ${r.name} | ${r.tocsin.toFixed(2)} | ${r.bare.toFixed(2)} | ${signed(r.tocsin - r.bare)} |`;
  return `${head}By area (the code that ran):

| area | Tocsin | bare | difference |
| --- | --- | --- | --- |
${x.area.map(row).join('\n')}
| **all** | **${x.total.tocsin.toFixed(2)}** | **${x.total.bare.toFixed(2)}** | **${signed(x.total.tocsin - x.total.bare)}** |

By entry point (what the server was doing; each includes what it called, so they overlap with the areas):

| entry point | Tocsin | bare | difference |
| --- | --- | --- | --- |
${x.entry.map(row).join('\n')}

`;
}

try {
  receiver = await startReceiver();
  cluster = await startCluster({
    dataDir,
    env: { LOG_LEVEL: 'warn', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
    log: (m) => log(`cluster: ${m}`),
    pprof: SERVER_PROFILE,
    // Both sides' processes on the Node this bench runs on (bench/run.ts chose it: BENCH_NODE).
    node: process.execPath,
  });
  const c = cluster;
  const bareWorker = join(root, 'bench/bare-worker.ts');
  // Prebuilt, as the cluster builds Tocsin's: neither side's workers run webpack.
  const bareBundle = join(dataDir, 'bare-workflows.js');
  writeFileSync(bareBundle, await bundleWorkflows({ workflowsPath: join(root, 'bench/bare-workflow.ts'), preloadModules: [] }));
  // What Tocsin's processes read from the environment the cluster gives them.
  const tocsinConfig = loadConfig({ ...process.env, ...c.tocsinEnv });
  const tocsinVersioned = tocsinConfig.TEMPORAL_DEPLOYMENT_NAME !== undefined;
  const versioned = tocsinVersioned && !BARE_UNVERSIONED;
  const bareEnv = { TEMPORAL_TASK_QUEUE: BARE_TASK_QUEUE, BARE_WORKFLOW_BUNDLE: bareBundle, TEMPORAL_DEPLOYMENT_NAME: versioned ? 'bench-bare' : '', TEMPORAL_BUILD_ID: 'bare' };
  // Through the cluster's balancer, as Tocsin's workers and APIs connect: both sides take the same path to the servers.
  await Promise.all([1, 2].map((n) => c.startWorker(`worker-bare-${n}`, 'balanced', bareEnv, bareWorker)));
  log(`ready: APIs ${c.apiUrls.join(', ')}, Temporal ${c.frontends.join(', ')}, two bare workers polling ${BARE_TASK_QUEUE}`);
  const pids = () => ({ ...c.pids(), [BENCH]: process.pid });
  const rssMb = () => Object.fromEntries(Object.entries(pids()).map(([name, pid]) => [name, Math.round((procMemory(pid)?.rss ?? 0) / 2 ** 20)]));
  const idleRss = rssMb();
  const idlePeak = c.peakRssMb();

  const admin = createTocsinClient({ baseUrl: c.apiUrls[0], token: c.adminToken });
  const tenant = await ok(admin.POST('/v1/admin/tenants', { body: { name: 'bench' } }));
  const apis = c.apiUrls.map((baseUrl) => createTocsinClient({ baseUrl, token: tenant.apiKey }));
  await ok(apis[0].PUT('/v1/recipients/{recipientId}', { params: { path: { recipientId: 'r1' } }, body: { webhookUrl: receiver.url } }));
  await ok(apis[0].POST('/v1/templates', { body: { key: 'bench', content: { en: { webhook: { event: 'bench' } } } } }));
  for (let i = 0; i < c.frontends.length; i++) connections.push(await Connection.connect({ address: c.address }));
  const clients = connections.map((connection) => new Client({ connection, namespace: c.namespace }));

  // Both APIs in turn; both balancer connections in turn.
  const viaApis = c.apiUrls.map((baseUrl) => jsonPoster(`${baseUrl}/v1/notifications`, tenant.apiKey, (n) => ({ recipient: 'r1', template: 'bench', data: { n } })));
  posters.push(...viaApis);
  const viaApi: Offer = (n) => viaApis[n % viaApis.length](n);
  /** Starts Tocsin's notification workflow as the API would, from this process (BENCH_TOCSIN_START=direct). */
  const directStarts = async (): Promise<Offer> => {
    const converter = encryptedDataConverter(new EncryptionCodec(encryptionKeys(tocsinConfig).keys));
    const starters = connections.map((connection) => new Client({ connection, namespace: c.namespace, dataConverter: converter }));
    const db = (directDb = await openDatabase({ url: c.databaseUrl })).db;
    return async (n) => {
      const id = newId('ntf', Date.now());
      const body = { recipient: 'r1', template: 'bench', data: { n }, strategy: 'all' as const, priority: 'normal' as const };
      const input = await prepareNotification(db, tenant.id, body, { id, retry: retrySettings(tocsinConfig) });
      await starters[n % starters.length].workflow.start('notificationWorkflow', notificationStartOptions(input, tocsinConfig.TEMPORAL_TASK_QUEUE));
      return { id, acceptedAt: performance.now() };
    };
  };
  const tocsin = DIRECT ? await directStarts() : viaApi;
  const bare =
    (phase: string): Offer =>
    async (n) => {
      const id = `bare-${runTag}-${phase}-${n}`;
      await clients[n % clients.length].workflow.start('bareWorkflow', { taskQueue: BARE_TASK_QUEUE, workflowId: id, args: [{ id, url: receiver!.url, data: { n } }] });
      return { id, acceptedAt: performance.now() };
    };
  const closed = async (offer: Offer, count: number): Promise<Omit<Measured, 'writes'>> => {
    const [before, machineBefore] = [cpuSeconds(pids(), ['postgres']), machineTimes()];
    const sent = await closedPhase(receiver!, offer, count, CONCURRENCY);
    const cpu = cpuDelta(before, cpuSeconds(pids(), ['postgres']));
    const machine = cpuDelta(machineBefore, machineTimes());
    return { phase: measure(sent, receiver!), cpu, machine };
  };
  const tableWrites = (writes = tableWriteReader(c.databaseUrl));
  const open = (offer: Offer, rate: number) => openPhase(receiver!, offer, rate, HALF_SECONDS);
  const tocsinQueue = c.tocsinEnv.TEMPORAL_TASK_QUEUE ?? 'notifications';

  log(`warm-up: ${WARMUP} of each`);
  await closed(tocsin, WARMUP);
  await closed(bare('warmup'), WARMUP);
  await settle(log, clients[0], tocsinQueue);
  await settle(log, clients[0], BARE_TASK_QUEUE);
  await sleep(STATS_FLUSH_MS);

  const rounds: Array<{ tocsin: Measured; bare: Measured }> = [];
  // The server's profiles by side, and how many notifications they cover (each phase's rate over
  // the profile's seconds, or over the phase when it is shorter).
  const profiles = { Tocsin: { files: [] as string[], covered: 0 }, bare: { files: [] as string[], covered: 0 } };
  for (let r = 1; r <= ROUNDS; r++) {
    const maxOf = async (side: 'Tocsin' | 'bare'): Promise<Measured> => {
      const written = await tableWrites.read();
      const profiling = SERVER_PROFILE ? captureProfiles(c.pprofAddresses, PROFILE_SECONDS, dataDir, `${side}-${r}`) : undefined;
      const m = side === 'Tocsin' ? await closed(tocsin, N) : await closed(bare(`max${r}`), N);
      if (profiling) {
        profiles[side].files.push(...(await profiling));
        profiles[side].covered += m.phase.throughput * Math.min(PROFILE_SECONDS, m.phase.wallSeconds);
      }
      await settle(log, clients[0], side === 'Tocsin' ? tocsinQueue : BARE_TASK_QUEUE);
      log(`  ${side}: ${m.phase.throughput.toFixed(1)}/s`);
      // The counters reach pg_stat_user_tables once each backend flushes them.
      await sleep(STATS_FLUSH_MS);
      return { ...m, writes: writesDelta(written, await tableWrites.read()) };
    };
    const tocsinFirst = r % 2 === 1;
    log(`phase 1, round ${r} of ${ROUNDS}: ${N} of each (${tocsinFirst ? 'Tocsin' : 'bare'} first), ${CONCURRENCY} in flight`);
    const first = await maxOf(tocsinFirst ? 'Tocsin' : 'bare');
    const second = await maxOf(tocsinFirst ? 'bare' : 'Tocsin');
    const round = tocsinFirst ? { tocsin: first, bare: second } : { tocsin: second, bare: first };
    log(`  round ${r}: Tocsin/bare ${r2(round.tocsin.phase.throughput / round.bare.phase.throughput)}×`);
    rounds.push(round);
  }
  const maxTocsin = pooledMeasures(rounds.map((r) => r.tocsin));
  const maxBare = pooledMeasures(rounds.map((r) => r.bare));
  const roundRatios = rounds.map((r) => r.tocsin.phase.throughput / r.bare.phase.throughput);
  log(`phase 1 pooled: ${maxTocsin.phase.throughput.toFixed(1)}/s and ${maxBare.phase.throughput.toFixed(1)}/s (Tocsin/bare ${r2(maxTocsin.phase.throughput / maxBare.phase.throughput)}×)`);

  const rateTocsin = maxTocsin.phase.throughput / 2;
  const rateBare = maxBare.phase.throughput / 2;
  log(`phase 2: Tocsin at ${rateTocsin.toFixed(1)}/s for ${HALF_SECONDS} s`);
  const halfTocsinRun = await open(tocsin, rateTocsin);
  const halfTocsin = measure(halfTocsinRun.sent, receiver);
  await settle(log, clients[0], tocsinQueue);
  log(`phase 2: bare at ${rateBare.toFixed(1)}/s for ${HALF_SECONDS} s`);
  const halfBareRun = await open(bare('half'), rateBare);
  const halfBare = measure(halfBareRun.sent, receiver);
  await settle(log, clients[0], BARE_TASK_QUEUE);
  // Where a half-load notification's time went, from its workflow history (the same stages for both).
  const stages = [
    ...(await stageRows(c.frontends[0], c.namespace, halfTocsin.sent.map((s) => workflowIds.notification(tenant.id, s.id)), 'Tocsin')),
    ...(await stageRows(c.frontends[0], c.namespace, halfBare.sent.map((s) => s.id), 'bare')),
  ].join('\n');
  const peakRss = c.peakRssMb();
  const endRss = rssMb();
  peakRss[BENCH] = Math.round((procMemory(process.pid)?.maxRss ?? 0) / 2 ** 20);

  const cpu = cpus();
  const bareVersioning = versioned
    ? 'under Worker Deployment Versioning as Tocsin\'s workers are, in a deployment of their own'
    : tocsinVersioned
      ? '**unversioned, while Tocsin\'s workers run under Worker Deployment Versioning** (BENCH_BARE_VERSIONING=off: a diagnostic of what versioning costs)'
      : 'unversioned, as Tocsin\'s workers are here (TEMPORAL_DEPLOYMENT_NAME=)';
  const date = new Date(started).toISOString();
  const names = Object.keys(pids());
  const offered = N * ROUNDS;
  const per1000 = (m: Measured, name: string) => (m.cpu[name] ?? 0) * (1000 / offered);
  const sum = (m: Measured) => names.reduce((a, n) => a + (m.cpu[n] ?? 0), 0);
  const busy = (m: Measured) => sum(m) / (m.phase.wallSeconds * cpu.length);
  /** A phase's course: when its last request was accepted, and when half, 90 % and all of it had arrived. */
  const course = (p: PhaseResult) => {
    const first = Math.min(...p.sent.map((x) => x.dueAt));
    const arrived = p.sent.map((x, i) => x.acceptedAt + p.e2e[i] - first).sort((a, b) => a - b);
    const at = (q: number) => (arrived[Math.min(arrived.length - 1, Math.ceil(q * arrived.length) - 1)] / 1000).toFixed(1);
    const accepted = (Math.max(...p.sent.map((x) => x.acceptedAt)) - first) / 1000;
    return `accepted ${accepted.toFixed(1)}, arrived ${at(0.5)} / ${at(0.9)} / ${at(1)}`;
  };
  /** The machine's time over a side's windows: busy in these processes, busy in others, idle, stolen. */
  const machineShare = (m: Measured) => {
    const all = m.machine.busy + m.machine.idle + m.machine.steal;
    const share = (v: number) => `${((Math.max(0, v) * 100) / all).toFixed(0)} %`;
    return `these processes ${share(sum(m))}, others ${share(m.machine.busy - sum(m))}, idle ${share(m.machine.idle)}, stolen ${share(m.machine.steal)}`;
  };
  const breakdown = names
    .map((n) => `| ${n} | ${per1000(maxTocsin, n).toFixed(1)} | ${per1000(maxBare, n).toFixed(1)} |`)
    .join('\n');
  const memory = names.map((n) => `| ${n} | ${idleRss[n] ?? '–'} | ${idlePeak[n] ?? '–'} | ${endRss[n] ?? '–'} | ${peakRss[n] ?? '–'} |`).join('\n');
  const writeRows = [...new Set([...Object.keys(maxTocsin.writes), ...Object.keys(maxBare.writes)])]
    .map((t) => ({ t, tocsin: ((maxTocsin.writes[t] ?? 0) * 1000) / offered, bare: ((maxBare.writes[t] ?? 0) * 1000) / offered }))
    .filter((w) => Math.max(w.tocsin, w.bare) >= 100)
    .sort((a, b) => b.tocsin + b.bare - (a.tocsin + a.bare))
    .map((w) => `| ${w.t} | ${Math.round(w.tocsin)} | ${Math.round(w.bare)} |`)
    .join('\n');
  const top = (m: Measured) => [...names].sort((a, b) => (m.cpu[b] ?? 0) - (m.cpu[a] ?? 0))[0];
  const report = `# Cluster benchmark ${date}

Command: \`${command}\`${atCommit()}

Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 20)} MiB memory, Linux ${release()}, Node ${process.version}; load average at start ${loadAtStart
    .map((l) => l.toFixed(2))
    .join(' ')}, at end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (the machine is shared: the ratio within one run is what compares).
Cluster (scripts/cluster-stack.ts, \`npm run cluster\`'s shape): a private PostgreSQL, two Temporal server nodes (one cluster,
persistence and visibility on PostgreSQL), two Tocsin workers, two Tocsin APIs and two bare
workers (bench/bare-worker.ts: the same tuning, payload codec and prebuilt workflow bundle as Tocsin's; ${bareVersioning}), each a process, all of them
connected through the cluster's TCP balancer (scripts/tcp-balancer.ts), which spreads their connections over both nodes.

Tocsin: ${DIRECT ? '**its notification workflow started directly** (BENCH_TOCSIN_START=direct: the API\'s validation and start options, in the bench\'s process, with no HTTP API; a diagnostic of what the API hop costs, not the criterion\'s measure) through both frontends in turn' : '\`POST /v1/notifications\` over HTTP (node:http, keep-alive) through both APIs in turn'}, one webhook channel to a local receiver. Bare:
\`client.workflow.start\` through two connections to the cluster's balancer in turn (every worker and API, bare or Tocsin's, reaches the servers through it), of a workflow with one activity doing the same POST (Tocsin's webhook
sender) to the same receiver. "Arrived" is when the receiver got the POST. Nothing is measured before a warm-up of ${WARMUP} of each side.

| | Tocsin | bare one-activity workflow | Tocsin / bare |
| --- | --- | --- | --- |
| max throughput (${ROUNDS} × ${N} offered, ${CONCURRENCY} in flight) | ${maxTocsin.phase.throughput.toFixed(1)} /s | ${maxBare.phase.throughput.toFixed(1)} /s | **${r2(maxTocsin.phase.throughput / maxBare.phase.throughput)}×** (criterion ≥ 0.8×, goal 1.0×) |
| the rounds (each side's rate; ratio) | ${rounds.map((r) => r.tocsin.phase.throughput.toFixed(1)).join(', ')} | ${rounds.map((r) => r.bare.phase.throughput.toFixed(1)).join(', ')} | ${roundRatios.map((x) => `${r2(x)}×`).join(', ')} |
| half load, open loop, ${HALF_SECONDS} s | ${rateTocsin.toFixed(1)} /s (${halfTocsin.sent.length} sent) | ${rateBare.toFixed(1)} /s (${halfBare.sent.length} sent) | |
| accept latency p50 (HTTP 202; start call) | ${ms(pct(halfTocsin.accept, 50))} | ${ms(pct(halfBare.accept, 50))} | ${r2(pct(halfTocsin.accept, 50) / pct(halfBare.accept, 50))} |
| accept latency p99 | ${ms(pct(halfTocsin.accept, 99))} | ${ms(pct(halfBare.accept, 99))} | ${r2(pct(halfTocsin.accept, 99) / pct(halfBare.accept, 99))} |
| accepted → arrived p50 | ${ms(pct(halfTocsin.e2e, 50))} | ${ms(pct(halfBare.e2e, 50))} | ${r2(pct(halfTocsin.e2e, 50) / pct(halfBare.e2e, 50))} |
| accepted → arrived p99 | ${ms(pct(halfTocsin.e2e, 99))} | ${ms(pct(halfBare.e2e, 99))} | ${r2(pct(halfTocsin.e2e, 99) / pct(halfBare.e2e, 99))} |

## Where a notification's time goes (half load)

From each half-load run's workflow history (bench/stages.ts): how long its tasks waited for a worker (scheduled → started)
and ran (started → completed), summed over the run, and its start → close; p50 and p95 over the runs:

| side | stage | p50 | p95 |
| --- | --- | --- | --- |
${stages}

## Where the time goes

CPU seconds per 1,000 notifications over the max-throughput phases (from /proc/<pid>/stat, utime + stime of each process
alone; PostgreSQL: the postmaster, every backend and exited children), by process:

| process | Tocsin | bare |
| --- | --- | --- |
${breakdown}
| **sum** | **${((sum(maxTocsin) * 1000) / offered).toFixed(1)}** | **${((sum(maxBare) * 1000) / offered).toFixed(1)}** |

Over the phases' windows (${maxTocsin.phase.wallSeconds.toFixed(1)} s Tocsin, ${maxBare.phase.wallSeconds.toFixed(1)} s bare, all rounds) these processes used
${(busy(maxTocsin) * 100).toFixed(0)} % (Tocsin) and ${(busy(maxBare) * 100).toFixed(0)} % (bare) of the machine's ${cpu.length} cores; the busiest process was
${top(maxTocsin)} (Tocsin) and ${top(maxBare)} (bare). The whole machine over the same windows (/proc/stat): ${machineShare(maxTocsin)} (Tocsin) and
${machineShare(maxBare)} (bare); "others" is what the machine ran besides these processes.

## Rows written per 1,000 notifications

Inserted + updated + deleted rows per table over the max-throughput phases (PostgreSQL's pg_stat_user_tables in the
\`temporal\`, \`temporal_visibility\` and Tocsin's database, read ${STATS_FLUSH_MS / 1000} s after each phase so that every
backend has flushed its counters; tables with at least 100 rows per 1,000 on either side):

| table | Tocsin | bare |
| --- | --- | --- |
${writeRows}

${SERVER_PROFILE ? await serverSection(profiles) : ''}## Memory

Resident set in MB, per process: at idle once everything was started, the peak by then (start-up), at the end, and the peak
over the whole run (VmHWM; for PostgreSQL the postmaster only):

| process | idle | peak before the load | end | peak |
| --- | --- | --- | --- | --- |
${memory}

Each max-throughput phase's course, seconds from its first request (the last request accepted; 50 %, 90 % and all of its
notifications arrived), by round:
${rounds.map((r, i) => `- round ${i + 1}: Tocsin ${course(r.tocsin.phase)}; bare ${course(r.bare.phase)}`).join('\n')}

Details: at max load, accepted → arrived p50/p99 was ${ms(pct(maxTocsin.phase.e2e, 50))} / ${ms(pct(maxTocsin.phase.e2e, 99))} (Tocsin) and
${ms(pct(maxBare.phase.e2e, 50))} / ${ms(pct(maxBare.phase.e2e, 99))} (bare). The load generator fell behind its half-load schedule by at most
${ms(halfTocsinRun.maxLagMs)} (Tocsin) and ${ms(halfBareRun.maxLagMs)} (bare). Duplicate deliveries seen by the receiver: ${receiver.duplicates()}.
The whole run took ${((Date.now() - started) / 1000).toFixed(0)} s.
`;
  const file = writeResults('cluster', date, report);
  log(`wrote ${file}`);
} catch (err) {
  exitCode = 1;
  log(`failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
