// `npm run chaos:cluster`: faults on the production shape (scripts/cluster-stack.ts: two Temporal
// nodes on PostgreSQL, two workers, two APIs), with the provider fakes of `npm run chaos`
// (test/chaos-kit.ts) counting what each provider received per notification. Clients send
// through both APIs in turn and retry refused connections, 5xx and 429 with the same
// Idempotency-Key, so a retry may land on the other API. Writes bench/results/cluster-chaos-<date>.md.
//
//   worker    worker 1 SIGKILLed while sends are in flight (every provider answers after 1.5 s),
//             started again.
//   node      Temporal node 2 SIGKILLed and started again (its worker and API wait for it).
//   postgres  PostgreSQL stopped for CLUSTER_CHAOS_PG_OUTAGE_SECONDS (15) and started again, then
//             the Temporal nodes restarted one at a time (temporalio/temporal#9987).
//   api       API 2 SIGKILLed while clients send through both, started again.
//
// CLUSTER_CHAOS_SIZE (40) notifications per fault to email, SMS, Slack and a webhook at
// CLUSTER_CHAOS_RATE (5) per second; CLUSTER_CHAOS_FAULTS=worker,api picks faults;
// CLUSTER_CHAOS_CHANNELS=sms sends each notification on those channels only (one channel: the
// delivery records the run's end itself), and names the results file after them.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, tempDataDir, type Cluster } from '../scripts/cluster-stack.js';
import { awaitFinished, CHAOS_CHANNELS, countAtFakes, newClientLog, repoRoot, seedChaosTenant, startProviders, submit, type ChaosChannel, type ClientLog, type ProviderCount } from '../test/chaos-kit.js';

const SIZE = Number(process.env.CLUSTER_CHAOS_SIZE ?? 40);
const RATE = Number(process.env.CLUSTER_CHAOS_RATE ?? 5);
const PG_OUTAGE_S = Number(process.env.CLUSTER_CHAOS_PG_OUTAGE_SECONDS ?? 15);
const FAULTS = (process.env.CLUSTER_CHAOS_FAULTS ?? 'worker,node,postgres,api').split(',').map((f) => f.trim());
const CHANNELS = (process.env.CLUSTER_CHAOS_CHANNELS ?? CHAOS_CHANNELS.join(',')).split(',').map((c) => c.trim()) as ChaosChannel[];
const unknownChannel = CHANNELS.find((c) => !CHAOS_CHANNELS.includes(c));
if (unknownChannel !== undefined || CHANNELS.length === 0) throw new Error(`CLUSTER_CHAOS_CHANNELS: one or more of ${CHAOS_CHANNELS.join(', ')}`);
const allChannels = CHANNELS.length === CHAOS_CHANNELS.length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const lines: string[] = [];
const say = (m: string) => {
  const line = `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`;
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

interface Result {
  fault: string;
  accepted: number;
  sent: number;
  counts: Record<string, ProviderCount>;
  client: ClientLog;
  seconds: number;
}

async function main() {
  const dataDir = tempDataDir('tocsin-cluster-chaos-');
  const providers = await startProviders();
  let cluster: Cluster | undefined;
  const results: Result[] = [];
  try {
    cluster = await startCluster({
      dataDir,
      env: { ...providers.env, LOG_LEVEL: 'warn', DELIVERY_INITIAL_INTERVAL_SECONDS: '1' },
      log: (m) => say(`cluster: ${m}`),
    });
    const c = cluster;
    const apiPort = (i: number) => Number(new URL(c.apiUrls[i]).port);
    const apiKey = await seedChaosTenant(c.apiUrls[0], c.adminToken, `${providers.webhook.url}/hooks`);
    let rr = 0;
    // Round robin per request: a retry goes to the other API.
    const api = () => c.apiUrls[rr++ % c.apiUrls.length];

    const faults: Record<string, () => Promise<void>> = {
      worker: async () => {
        await c.stopProc('worker-1', 'SIGKILL', 5000);
        say('worker-1 SIGKILLed');
        await sleep(3000);
        await c.startWorker('worker-1', 0);
        say('worker-1 polling again');
      },
      node: async () => {
        await c.stopProc('temporal-2', 'SIGKILL', 5000);
        say('temporal-2 SIGKILLed');
        await sleep(3000);
        await c.restartNode(1);
        say('temporal-2 serving again');
      },
      postgres: async () => {
        say(`PostgreSQL stopped for ${PG_OUTAGE_S} s`);
        await c.restartPostgres(PG_OUTAGE_S * 1000);
        say('PostgreSQL started again; restarting the Temporal nodes one at a time');
        await c.restartNode(0);
        await c.restartNode(1);
        say('both nodes serving again');
      },
      api: async () => {
        await c.stopProc('api-2', 'SIGKILL', 5000);
        say('api-2 SIGKILLed');
        await sleep(5000);
        await c.startApi('api-2', 1, apiPort(1));
        say('api-2 ready again');
      },
    };

    let base = 0;
    for (const fault of FAULTS) {
      if (!faults[fault]) throw new Error(`unknown fault ${fault}`);
      const started = Date.now();
      const client = newClientLog();
      // Sends in flight while the worker dies: every provider answers after 1.5 s.
      providers.setDefault(fault === 'worker' ? { delayMs: 1500 } : undefined);
      const run = `${fault}-${Date.now()}`;
      const deadline = Date.now() + 600_000;
      const accepted = new Map<number, string>();
      const sends: Array<Promise<void>> = [];
      const load = (async () => {
        for (let k = 0; k < SIZE; k++) {
          const n = base + k;
          sends.push(
            submit(client, api, apiKey, run, n, deadline, undefined, CHANNELS).then((id) => {
              if (id) accepted.set(n, id);
            }),
          );
          await sleep(1000 / RATE);
        }
      })();
      await sleep((SIZE / RATE / 3) * 1000);
      await faults[fault]();
      await load;
      await Promise.all(sends);
      const statuses = await awaitFinished(api, apiKey, [...accepted.values()], Date.now() + 600_000);
      // Late duplicates would arrive after "sent": give them a few seconds.
      await sleep(5000);
      const counts = countAtFakes(providers, accepted.keys(), CHANNELS);
      const sent = [...statuses.values()].filter((s) => s === 'sent').length;
      const r: Result = { fault, accepted: accepted.size, sent, counts, client, seconds: Math.round((Date.now() - started) / 1000) };
      results.push(r);
      say(
        `${fault}: ${r.accepted}/${SIZE} accepted, ${sent} sent; ` +
          Object.entries(counts)
            .map(([ch, k]) => `${ch} lost ${k.lost} dup ${k.duplicates}${ch === 'webhook' ? ` (ids changed ${k.idsChanged ?? 0})` : ''}`)
            .join(', ') +
          `; client saw ${JSON.stringify(client.statuses)}, bad answers ${client.bad.length}`,
      );
      base += SIZE;
    }
    say(`peak RSS (MB): ${Object.entries(c.peakRssMb()).map(([n, mb]) => `${n} ${mb}`).join(', ')}`);
  } finally {
    await cluster?.stop();
    await providers.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  // Webhooks are at least once under one stable id (README: delivery guarantees): a repeat under
  // the same webhook-id is what a receiver de-duplicates; a repeat under another id is a duplicate.
  const seen = (ch: string, k: ProviderCount) => (ch === 'webhook' ? (k.idsChanged ?? 0) : k.duplicates);
  const ok = results.every((r) => r.accepted === SIZE && r.sent === SIZE && Object.entries(r.counts).every(([ch, k]) => k.lost === 0 && seen(ch, k) === 0) && r.client.bad.length === 0);
  const date = new Date().toISOString().slice(0, 10);
  const file = join(repoRoot, 'bench/results', `cluster-chaos-${date}${allChannels ? '' : `-${CHANNELS.join('-')}`}.md`);
  mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
  const table = results
    .map((r) => `| ${r.fault} | ${r.accepted}/${SIZE} | ${r.sent} | ${Object.values(r.counts).reduce((a, k) => a + k.lost, 0)} | ${Object.entries(r.counts).reduce((a, [ch, k]) => a + seen(ch, k), 0)} ${r.counts.webhook ? `(webhook repeats under the same id: ${r.counts.webhook.duplicates})` : ''} | ${JSON.stringify(r.client.statuses)} | ${r.client.bad.length} | ${r.seconds} |`)
    .join('\n');
  writeFileSync(
    file,
    `# Faults on the production shape (${date})\n\nCommand: \`npm run chaos:cluster\` (CLUSTER_CHAOS_SIZE=${SIZE}, CLUSTER_CHAOS_RATE=${RATE}, CLUSTER_CHAOS_PG_OUTAGE_SECONDS=${PG_OUTAGE_S}, CLUSTER_CHAOS_FAULTS=${FAULTS.join(',')}, CLUSTER_CHAOS_CHANNELS=${CHANNELS.join(',')}).\n` +
      `Two Temporal 1.32.2 nodes on PostgreSQL 15, two workers, two APIs; each notification to ${CHANNELS.join(', ')}, counted at the fakes. ` +
      'Clients alternate between the APIs and retry with the same Idempotency-Key. "Bad answers": 5xx other than 503 problem+json with Retry-After, or no answer within 15 s.\n\n' +
      `Result: **${ok ? 'OK' : 'FAILED'}**\n\n| fault | accepted | sent | lost (all providers) | duplicates a provider sees | client statuses | bad answers | seconds |\n|---|---|---|---|---|---|---|---|\n${table}\n\n` +
      '```\n' + lines.join('\n') + '\n```\n' +
      (results.some((r) => r.client.bad.length) ? `\nBad answers:\n\n${results.flatMap((r) => r.client.bad.map((b) => `- ${r.fault}: ${b}`)).join('\n')}\n` : ''),
  );
  say(`wrote ${file}`);
  if (!ok) process.exitCode = 1;
}

await main();
