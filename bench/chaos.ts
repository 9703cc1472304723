// `npm run chaos`: each fault against the real stack, with the provider fakes (test/fakes) as
// Resend, Twilio, Slack and the webhook receiver, counting at the fakes what each provider
// received per notification. Writes bench/results/chaos-<date>.md.
//
//   kill        `npm start` SIGKILLed as a whole process tree (node and its dev server) while
//               email, SMS, Slack and webhooks are in flight (every provider answers after
//               1.5 s), started again on the same DATA_DIR; clients retry refused requests with
//               their Idempotency-Key.
//   dev-server  the embedded dev server alone SIGKILLed under `npm start`: Tocsin starts it
//               again on the same state file (worker/dev-server.ts) and carries on.
//   postgres    PostgreSQL stopped for CHAOS_PG_OUTAGE_SECONDS (20) under `npm run api` +
//               `npm run worker` (DATABASE_URL, an external dev server): the API answers 503
//               problem+json with Retry-After, /readyz 503; everything accepted is sent after.
//   providers   the webhook receiver and every provider answering 503 for
//               CHAOS_PROVIDER_OUTAGE_SECONDS (60), under `npm start` and the default retry policy.
//
// CHAOS_SIZE (60) notifications per fault, each to email, SMS, Slack and a webhook, sent at
// CHAOS_RATE (10) per second; CHAOS_FAULTS=kill,postgres picks faults; CHAOS_DEBUG=1 prints
// every request. Loopback only; every request loop is bounded by a deadline.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCli } from '../scripts/setup-temporal.mjs';
import { formatEncryptionKeys, generateEncryptionKey } from '../usecases/payload-codec.js';
import { startPgCluster, type PgCluster } from '../scripts/pg-cluster.js';
import {
  awaitFinished,
  CHAOS_CHANNELS,
  childPids,
  commandLine,
  countAtFakes,
  logged,
  newClientLog,
  repoRoot,
  seedChaosTenant,
  spawnTocsin,
  startProviders,
  submit,
  waitReady,
  type ClientLog,
  type ProviderCount,
  type Providers,
  type TocsinProcess,
  npmStartEnv,
} from '../test/chaos-kit.js';
import { freePort, startDevServer, type DevServer } from '../worker/dev-server.js';

const SIZE = Number(process.env.CHAOS_SIZE ?? 60);
const RATE = Number(process.env.CHAOS_RATE ?? 10);
const PG_OUTAGE_S = Number(process.env.CHAOS_PG_OUTAGE_SECONDS ?? 20);
const PROVIDER_OUTAGE_S = Number(process.env.CHAOS_PROVIDER_OUTAGE_SECONDS ?? 60);
const FAULTS = (process.env.CHAOS_FAULTS ?? 'kill,dev-server,postgres,providers').split(',').map((f) => f.trim());
const ADMIN = 'chaos-admin';

interface Result {
  fault: string;
  accepted: number;
  sent: number;
  counts: Record<string, ProviderCount>;
  client: ClientLog;
  seconds: number;
  notes: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

/**
 * Sends SIZE notifications at RATE per second, each retried with its Idempotency-Key until
 * accepted or `deadlineMs` from now, and calls `fault` once a third of them were sent.
 */
async function drive(run: string, api: () => string, apiKey: string, providers: Providers, fault: () => Promise<void>, deadlineMs = 240_000) {
  const client = newClientLog();
  const ids = new Map<number, string>();
  const deadline = Date.now() + deadlineMs;
  const sends: Promise<unknown>[] = [];
  let faulted: Promise<void> | undefined;
  for (let n = 1; n <= SIZE; n++) {
    sends.push(submit(client, api, apiKey, run, n, deadline).then((id) => id && ids.set(n, id)));
    if (n === Math.ceil(SIZE / 3)) faulted = fault();
    await sleep(1000 / RATE);
  }
  await faulted;
  await Promise.all(sends);
  const statuses = await awaitFinished(api, apiKey, [...ids.values()], Date.now() + 300_000);
  const sent = [...statuses.values()].filter((s) => s === 'sent').length;
  return { client, ids, sent, counts: countAtFakes(providers, ids.keys()) };
}

async function npmStartStack(name: string, providers: Providers, dataDir: string) {
  const { env, api } = await npmStartEnv(providers, dataDir, ADMIN);
  const procs: TocsinProcess[] = [];
  const start = async () => {
    const p = spawnTocsin('scripts/start.ts', env, join(dataDir, `${name}.log`));
    procs.push(p);
    await waitReady(`${api}/readyz`, Date.now() + 120_000, p);
    return p;
  };
  return { api, env, procs, start, stopAll: () => Promise.all(procs.map((p) => p.stop())) };
}

async function killFault(providers: Providers, dataDir: string): Promise<Omit<Result, 'fault' | 'seconds'>> {
  const stack = await npmStartStack('kill', providers, dataDir);
  try {
    const first = await stack.start();
    const apiKey = await seedChaosTenant(stack.api, ADMIN, `${providers.webhook.url}/hook`);
    providers.setDefault({ delayMs: 1500 });
    const notes: string[] = [];
    const { client, ids, sent, counts } = await drive('kill', () => stack.api, apiKey, providers, async () => {
      // Wait (30 s at most) until every channel has requests in flight at its fake.
      const pending = (ch: (typeof CHAOS_CHANNELS)[number]) => providers.byChannel[ch].requests.filter((r) => r.status === undefined).length;
      for (const until = Date.now() + 30_000; Date.now() < until && !CHAOS_CHANNELS.every((ch) => pending(ch) > 0); ) await sleep(50);
      const inFlight = CHAOS_CHANNELS.map((ch) => providers.byChannel[ch].requests.filter((r) => r.status === undefined).length);
      say(`SIGKILL to npm start's process group; in flight at the fakes: ${CHAOS_CHANNELS.map((ch, i) => `${ch} ${inFlight[i]}`).join(', ')}`);
      notes.push(`killed with ${CHAOS_CHANNELS.map((ch, i) => `${inFlight[i]} ${ch}`).join(', ')} requests in flight at the fakes`);
      first.killTree();
      await first.exited;
      await sleep(2000);
      providers.setDefault(undefined);
      const t = Date.now();
      await stack.start();
      notes.push(`restarted, ready again in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      say('npm start is back');
    });
    return { accepted: ids.size, sent, counts, client, notes };
  } finally {
    providers.setDefault(undefined);
    await stack.stopAll();
  }
}

async function devServerFault(providers: Providers, dataDir: string): Promise<Omit<Result, 'fault' | 'seconds'>> {
  const stack = await npmStartStack('dev-server', providers, dataDir);
  try {
    const proc = await stack.start();
    const apiKey = await seedChaosTenant(stack.api, ADMIN, `${providers.webhook.url}/hook`);
    providers.setDefault({ delayMs: 500 });
    const notes: string[] = [];
    const devServer = () => childPids(proc.child.pid!).find((pid) => commandLine(pid).includes('start-dev'));
    const { client, ids, sent, counts } = await drive('dev-server', () => stack.api, apiKey, providers, async () => {
      const pid = devServer();
      if (!pid) throw new Error('no dev server process under npm start');
      say(`SIGKILL to the dev server (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
      const t = Date.now();
      for (;;) {
        const next = devServer();
        if (next && next !== pid) {
          await waitReady(`${stack.api}/readyz`, Date.now() + 60_000, proc);
          notes.push(`dev server started again by Tocsin (pid ${next}); /readyz 200 again after ${((Date.now() - t) / 1000).toFixed(1)} s`);
          break;
        }
        if (Date.now() - t > 60_000) {
          notes.push('the dev server was NOT started again within 60 s');
          break;
        }
        await sleep(100);
      }
      say('the dev server is back');
      providers.setDefault(undefined);
    });
    const restarts = readFileSync(join(dataDir, 'dev-server.log'), 'utf8').split('\n').filter((l) => l.includes('dev server'));
    notes.push(...restarts.map((l) => `npm start said: "${l.trim()}"`));
    return { accepted: ids.size, sent, counts, client, notes };
  } finally {
    providers.setDefault(undefined);
    await stack.stopAll();
  }
}

async function postgresFault(providers: Providers, dataDir: string): Promise<Omit<Result, 'fault' | 'seconds'>> {
  let cluster: PgCluster | undefined;
  let temporal: DevServer | undefined;
  const procs: TocsinProcess[] = [];
  try {
    cluster = await startPgCluster();
    temporal = await startDevServer({ cliPath: ensureCli(), port: await freePort(), uiPort: await freePort(), namespace: 'default', logFile: join(dataDir, 'temporal.log') });
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const env = { ...providers.env, DATA_DIR: dataDir, DATABASE_URL: cluster.url, TEMPORAL_ADDRESS: temporal.address, HOST: '127.0.0.1', PORT: String(port), ADMIN_TOKEN: ADMIN, TOCSIN_ENCRYPTION_KEYS: formatEncryptionKeys([generateEncryptionKey()]) };
    // The worker first: it applies the migrations, then the API starts on a migrated database.
    const worker = spawnTocsin('runtime/worker.ts', env, join(dataDir, 'worker.log'));
    procs.push(worker);
    for (const deadline = Date.now() + 120_000; !readLog(join(dataDir, 'worker.log')).includes('polling'); ) {
      if (Date.now() > deadline || worker.child.exitCode !== null) throw new Error(`npm run worker did not start: ${readLog(join(dataDir, 'worker.log'))}`);
      await sleep(250);
    }
    const apiProc = spawnTocsin('runtime/api.ts', env, join(dataDir, 'api.log'));
    procs.push(apiProc);
    await waitReady(`${api}/readyz`, Date.now() + 60_000, apiProc);
    const apiKey = await seedChaosTenant(api, ADMIN, `${providers.webhook.url}/hook`);
    providers.setDefault({ delayMs: 300 });
    const notes: string[] = [];
    const { client, ids, sent, counts } = await drive('postgres', () => api, apiKey, providers, async () => {
      say(`PostgreSQL stopped for ${PG_OUTAGE_S} s`);
      cluster!.stop();
      const readyz = newClientLog();
      const until = Date.now() + PG_OUTAGE_S * 1000;
      let ready503 = 0;
      let polls = 0;
      while (Date.now() < until) {
        const r = await logged(readyz, `${api}/readyz`, {}, 10_000);
        polls++;
        if (r.status === 503) ready503++;
        await sleep(1000);
      }
      cluster!.start();
      notes.push(`/readyz answered 503 to ${ready503} of ${polls} polls while PostgreSQL was down (slowest ${readyz.maxLatencyMs} ms)`);
      say('PostgreSQL is back');
    });
    return { accepted: ids.size, sent, counts, client, notes };
  } finally {
    providers.setDefault(undefined);
    await Promise.all(procs.map((p) => p.stop()));
    await temporal?.stop();
    cluster?.destroy();
  }
}

async function providersFault(providers: Providers, dataDir: string): Promise<Omit<Result, 'fault' | 'seconds'>> {
  const stack = await npmStartStack('providers', providers, dataDir);
  try {
    await stack.start();
    const apiKey = await seedChaosTenant(stack.api, ADMIN, `${providers.webhook.url}/hook`);
    const notes: string[] = [];
    const { client, ids, sent, counts } = await drive('providers', () => stack.api, apiKey, providers, async () => {
      say(`every provider and the receiver answer 503 for ${PROVIDER_OUTAGE_S} s`);
      providers.setDefault({ status: 503 });
      await sleep(PROVIDER_OUTAGE_S * 1000);
      providers.setDefault(undefined);
      const refused = CHAOS_CHANNELS.map((ch) => `${providers.byChannel[ch].requests.filter((r) => r.status === 503).length} ${ch}`);
      notes.push(`503s answered during the outage: ${refused.join(', ')}`);
      say('providers are back');
    });
    return { accepted: ids.size, sent, counts, client, notes };
  } finally {
    providers.setDefault(undefined);
    await stack.stopAll();
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const RUNS: Record<string, { title: string; run: (p: Providers, dir: string) => Promise<Omit<Result, 'fault' | 'seconds'>> }> = {
  kill: { title: '`npm start` SIGKILLed (whole tree) mid-send, restarted', run: killFault },
  'dev-server': { title: 'embedded dev server SIGKILLed under `npm start`', run: devServerFault },
  postgres: { title: `PostgreSQL stopped ${PG_OUTAGE_S} s under \`npm run api\` + \`npm run worker\``, run: postgresFault },
  providers: { title: `receiver and providers answering 503 for ${PROVIDER_OUTAGE_S} s`, run: providersFault },
};

async function main() {
  const results: Result[] = [];
  for (const fault of FAULTS) {
    const spec = RUNS[fault];
    if (!spec) throw new Error(`unknown fault ${fault}; known: ${Object.keys(RUNS).join(', ')}`);
    const dataDir = mkdtempSync(join(tmpdir(), `tocsin-chaos-${fault}-`));
    const providers = await startProviders();
    const t = Date.now();
    say(`${fault}: ${spec.title}, ${SIZE} notifications × ${CHAOS_CHANNELS.length} channels`);
    try {
      const r = await spec.run(providers, dataDir);
      results.push({ fault: spec.title, seconds: (Date.now() - t) / 1000, ...r });
      say(`${fault}: accepted ${r.accepted}, sent ${r.sent}; ${JSON.stringify(r.counts)}; client ${JSON.stringify(r.client.statuses)}`);
    } catch (err) {
      say(`${fault} FAILED: ${(err as Error).stack}`);
      results.push({ fault: spec.title, seconds: (Date.now() - t) / 1000, accepted: 0, sent: 0, counts: {}, client: newClientLog(), notes: [`the run failed: ${(err as Error).message}`] });
    } finally {
      await providers.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const file = writeResults(results);
  say(`results in ${file}`);
  // The goal (issue 14): nothing lost; no email, SMS or Slack message twice; webhooks repeated
  // only under one id; no 5xx but a clean 503.
  const misses = results.flatMap((r) => [
    ...(r.accepted !== SIZE ? [`${r.fault}: ${r.accepted} of ${SIZE} accepted`] : []),
    ...(r.sent !== r.accepted ? [`${r.fault}: ${r.sent} of ${r.accepted} sent`] : []),
    ...Object.entries(r.counts).flatMap(([ch, c]) => [
      ...(c.lost ? [`${r.fault}: ${c.lost} lost at ${ch}`] : []),
      ...(c.duplicates && ch !== 'webhook' ? [`${r.fault}: ${c.duplicates} ${ch} duplicates`] : []),
      ...(c.idsChanged ? [`${r.fault}: ${c.idsChanged} webhooks repeated under another id`] : []),
    ]),
    ...(r.client.bad.length ? [`${r.fault}: ${r.client.bad.length} bad 5xx answers`] : []),
  ]);
  for (const m of misses) say(`MISSED: ${m}`);
  process.exitCode = misses.length ? 1 : 0;
}

function writeResults(results: Result[]): string {
  const stamp = new Date().toISOString();
  const vars = Object.entries(process.env).filter(([k]) => k.startsWith('CHAOS_')).map(([k, v]) => `${k}=${v} `).join('');
  const lines = [
    `# Chaos run ${stamp}`,
    '',
    `Command: \`${vars}npm run chaos\`; ${cpus().length} cores; ${SIZE} notifications per fault at ${RATE}/s, each to email (Resend), SMS (Twilio), Slack and a webhook, all fakes from test/fakes on loopback; the fault hits once a third were sent; clients retry refused requests and 5xx with the same Idempotency-Key every 0.5 s.`,
    '',
    'Per provider: delivered/lost/duplicates, counted at the fakes per notification (emails that Resend created, SMS that Twilio answered 201, Slack posts answered ok, webhooks answered 200). Webhook duplicates are repeats under the same event id unless "ids changed" says otherwise.',
    '',
    '| fault | accepted | sent | email | SMS | Slack | webhook | client answers | 5xx other than a clean 503 | slowest answer | time |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const cell = (c?: ProviderCount) =>
    c ? `${c.delivered}/${c.lost}/${c.duplicates}${c.idsChanged ? ` (ids changed: ${c.idsChanged})` : c.duplicates && c.idsChanged === 0 ? ' (same id)' : ''}` : '–';
  for (const r of results) {
    const answers = Object.entries(r.client.statuses).map(([s, n]) => `${s}: ${n}`).join(', ');
    lines.push(
      `| ${r.fault} | ${r.accepted}/${SIZE} | ${r.sent} | ${cell(r.counts.email)} | ${cell(r.counts.sms)} | ${cell(r.counts.slack)} | ${cell(r.counts.webhook)} | ${answers} | ${r.client.bad.length} | ${r.client.maxLatencyMs} ms | ${r.seconds.toFixed(0)} s |`,
    );
  }
  lines.push('', 'Notes:', '');
  for (const r of results) for (const n of [...r.notes, ...r.client.bad.slice(0, 5)]) lines.push(`- ${r.fault}: ${n}`);
  lines.push('');
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `chaos-${stamp.slice(0, 10)}.md`);
  writeFileSync(file, lines.join('\n'));
  return file;
}

await main();
