// `npm run bench:api-memory`: where an API process's memory goes, on the machine's Node and on the
// image's (README: "An API's memory"). For each Node, a cluster with one worker and no API of its
// own; then API_MEMORY_ROUNDS (2) times: an API started on that Node, measured idle (5 s after
// /readyz) and again 5 s after API_MEMORY_N (600) notifications at 16 at a time. Each reading: the
// resident set split into file-backed pages (the node binary and libraries, shared with every
// other process of that Node) and anonymous ones (smaps_rollup), V8's heap (committed, used), the
// memory V8 allocates with malloc (now and its peak: the compilers' zones) and Node's external
// memory (bench/memory-probe.mjs, preloaded). Writes bench/results/api-memory-<date>.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTocsinClient, ok } from '../client/index.js';
import { startCluster, tempDataDir, tocsinNode, type Cluster } from '../scripts/cluster-stack.js';
import { freePort } from '../worker/dev-server.js';
import { closedLoop, jsonPoster } from './load.js';
import { atCommit, writeResults } from './measure.js';
import { startReceiver } from './receiver.js';

const N = Number(process.env.API_MEMORY_N ?? 600);
const ROUNDS = Number(process.env.API_MEMORY_ROUNDS ?? 2);
const probe = join(import.meta.dirname, 'memory-probe.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[api-memory] ${m}\n`);

interface Reading {
  rss: number;
  file: number;
  anon: number;
  heapTotal: number;
  heapUsed: number;
  malloced: number;
  peakMalloced: number;
  external: number;
}

/** smaps_rollup's resident set, file-backed and anonymous, in MB. */
function rollup(pid: number): Pick<Reading, 'rss' | 'file' | 'anon'> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: Math.round(kb('Rss') / 1024), file: Math.round((kb('Rss') - kb('Anonymous')) / 1024), anon: Math.round(kb('Anonymous') / 1024) };
}

/** One reading: smaps_rollup now, and the probe's line written on SIGWINCH. */
async function read(pid: number, probeFile: string): Promise<Reading> {
  const lines = () => (existsSync(probeFile) ? readFileSync(probeFile, 'utf8').trim().split('\n').filter(Boolean) : []);
  const before = lines().length;
  const pages = rollup(pid);
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 100 && lines().length === before; i++) await sleep(100);
  const last = lines()[before];
  if (!last) throw new Error('the memory probe wrote nothing');
  return { ...pages, ...(JSON.parse(last) as Omit<Reading, 'rss' | 'file' | 'anon'>) };
}

const peakMb = (pid: number) => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/** The result table's rows for one Node: idle and after the load, each round. */
async function measureOn(label: string, nodeBin: string): Promise<string[]> {
  const rows: string[] = [];
  const version = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
  const dataDir = tempDataDir('tocsin-api-memory-');
  const receiver = await startReceiver();
  let cluster: Cluster | undefined;
  try {
    cluster = await startCluster({
      dataDir,
      ui: false,
      apis: 0,
      workers: 1,
      node: nodeBin,
      env: { LOG_LEVEL: 'warn', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
      log: (m) => log(`${label}: cluster: ${m}`),
    });
    for (let round = 1; round <= ROUNDS; round++) {
      const name = `api-memory-${round}`;
      const probeFile = join(dataDir, `${name}.probe`);
      const port = await freePort();
      await cluster.startApi(name, 'balanced', port, { NODE_OPTIONS: `--import=${probe}`, TOCSIN_MEMORY_PROBE: probeFile });
      const pid = cluster.pids()[name];
      await sleep(5000);
      const idle = await read(pid, probeFile);
      const startPeak = peakMb(pid);
      const url = `http://127.0.0.1:${port}`;
      const admin = createTocsinClient({ baseUrl: url, token: cluster.adminToken });
      const tenant = await ok(admin.POST('/v1/admin/tenants', { body: { name: `memory-${round}` } }));
      const api = createTocsinClient({ baseUrl: url, token: tenant.apiKey });
      await ok(api.PUT('/v1/recipients/{recipientId}', { params: { path: { recipientId: 'r1' } }, body: { webhookUrl: receiver.url } }));
      await ok(api.POST('/v1/templates', { body: { key: 'memory', content: { en: { webhook: { event: 'memory' } } } } }));
      const post = jsonPoster(`${url}/v1/notifications`, tenant.apiKey, (n) => ({ recipient: 'r1', template: 'memory', data: { n } }));
      try {
        await closedLoop(N, 16, post);
      } finally {
        post.close();
      }
      await sleep(5000);
      const loaded = await read(pid, probeFile);
      const peak = peakMb(pid);
      log(`${label} round ${round}: idle ${idle.rss} MB, after ${N} requests ${loaded.rss} MB, peak ${peak} MB`);
      const cells = (r: Reading) => `${r.rss} | ${r.file} | ${r.anon} | ${r.heapTotal} / ${r.heapUsed} | ${r.malloced} / ${r.peakMalloced} | ${r.external}`;
      rows.push(`| ${version} | ${round} | idle | ${cells(idle)} | ${startPeak} |`);
      rows.push(`| ${version} | ${round} | after ${N} | ${cells(loaded)} | ${peak} |`);
      await cluster.stopProc(name);
    }
  } finally {
    await cluster?.stop();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

const started = new Date();
// TOCSIN_API_NODE_FLAGS (scripts/cluster-stack.ts) apply: the APIs run as the cluster starts them.
const rows = await measureOn('machine', process.execPath);
const image = tocsinNode({ ...process.env, TOCSIN_NODE: 'image' });
if (image !== process.execPath) rows.push(...(await measureOn('image', image)));
const knobs = [process.env.API_MEMORY_N && `API_MEMORY_N=${N}`, process.env.API_MEMORY_ROUNDS && `API_MEMORY_ROUNDS=${ROUNDS}`].filter(Boolean).join(' ');
const file = writeResults(
  'api-memory',
  started.toISOString(),
  `# An API's memory, on the machine's Node and the image's (${started.toISOString().slice(0, 10)})

Command: \`${knobs ? `${knobs} ` : ''}npm run bench:api-memory\`${atCommit()}. One API process on a cluster with one worker; each
reading 5 s after /readyz (idle) or after ${N} notifications sent to it 16 at a time. MB throughout.
"peak RSS": the highest resident set so far (VmHWM): at idle, that of the start-up.
"file": resident pages backed by files (the node binary, libraries); "anon": the rest (V8's heap,
malloc, stacks). "V8 heap": committed / used. "V8 malloc": now / peak (the compilers' zones, parser).

| Node | round | when | RSS | file | anon | V8 heap | V8 malloc | external | peak RSS |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`,
);
log(`results in ${file}`);
