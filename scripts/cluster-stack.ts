// The production shape on one machine, without Docker (issue 24, contract "Production
// topology"): PostgreSQL, two Temporal server processes forming one cluster on it (persistence
// and advanced visibility), the Web UI, two workers and two API processes, each a process of
// its own, and a loopback TCP balancer in front of both frontends (scripts/tcp-balancer.ts) that
// the UI, workers and APIs connect through. `npm run cluster` (scripts/cluster.ts), the cluster
// smoke test, the rolling deploy (scripts/rolling-deploy.ts) and `TOCSIN_CLUSTER=1 npm test`
// (test/global-setup.ts, Temporal part only) all start it through here. ../shared/temporal-cluster.md has the
// facts this relies on (ports, schema tool, membership, pitfalls).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import postgres from 'postgres';
import { loadConfig } from '../config.js';
import { encryptionKeys } from '../runtime/index.js';
import { formatEncryptionKeys } from '../usecases/payload-codec.js';
import { bundleProcesses } from './bundle-processes.js';
import { freePort } from '../worker/dev-server.js';
import { registerSearchAttributes } from '../worker/index.js';
import { postgresBin } from './pg-cluster.js';
import { clusterBinaries, ensureCluster } from './setup-cluster.mjs';
import { ensureNode, IMAGE_NODE_VERSION } from './setup-node.mjs';
import { childPartitionTasks } from './task-partitions.js';
import { startTcpBalancer, type TcpBalancer } from './tcp-balancer.js';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_CONFIG = join(root, 'deploy/temporal/server.yaml');
export const DYNAMIC_CONFIG = join(root, 'temporal/dynamicconfig.yaml');

/** temporal/dynamicconfig.yaml with its task queues read from and written to the given numbers of partitions. */
export function withPartitions(partitions: { read: number; write: number }): string {
  let text = readFileSync(DYNAMIC_CONFIG, 'utf8');
  for (const [kind, n] of [['Read', partitions.read], ['Write', partitions.write]] as const) {
    const setting = new RegExp(`^(matching\\.numTaskqueue${kind}Partitions:\\n\\s+- value: )\\d+$`, 'm');
    if (!setting.test(text)) throw new Error(`${DYNAMIC_CONFIG} sets no matching.numTaskqueue${kind}Partitions`);
    text = text.replace(setting, `$1${n}`);
  }
  return text;
}

export interface ClusterOptions {
  /** Where everything lives (PostgreSQL's data, logs, admin token, keys). Kept across restarts. */
  dataDir: string;
  /** An existing PostgreSQL instead of the private one: Tocsin's database; Temporal's two go beside it. */
  databaseUrl?: string;
  /**
   * The frontend address clients use (TEMPORAL_DEV_PORT): the balancer in front of both nodes;
   * 0 or unset: free-picked. The nodes' own ports are free-picked.
   */
  frontendPort?: number;
  uiPort?: number;
  /**
   * Each API's port in order (`npm run cluster`: PORT and PORT + 1; a test restarting on the same
   * ports: ports it picked free); an API without one, or with 0, listens on a free-picked port.
   */
  apiPorts?: readonly number[];
  namespace?: string;
  /** Extra environment for every worker and API (channel providers, log level…). */
  env?: Record<string, string>;
  /** Environment for the initial workers only, one object per worker (e.g. a build id). */
  workerEnv?: Array<Record<string, string>>;
  workers?: number;
  apis?: number;
  log?: (msg: string) => void;
  /** Aborted while starting: what has started is stopped, and startCluster rejects. */
  signal?: AbortSignal;
  /**
   * Only Temporal: PostgreSQL, both nodes, the balancer, the namespace and search attributes; no
   * UI, workers or APIs (`TOCSIN_CLUSTER=1 npm test` runs Tocsin in its test processes).
   */
  temporalOnly?: boolean;
  /** Start the Web UI; default: unless temporalOnly. */
  ui?: boolean;
  /** The servers' dynamic config file; default: temporal/dynamicconfig.yaml, as compose's. */
  dynamicConfig?: string;
  /** Each node serves Go's pprof on 127.0.0.1, on a free-picked port (`pprofAddresses`). */
  pprof?: boolean;
  /** The Node binary that runs Tocsin's workers and APIs; default: tocsinNode(), the image's. */
  node?: string;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process exits (with its code or signal). */
  exited: Promise<number | string>;
}

export interface Cluster {
  dataDir: string;
  namespace: string;
  /** Node frontends, node 1 first. */
  frontends: string[];
  /** Each node's pprof (host:port, node 1 first) when started with `pprof`; else empty. */
  pprofAddresses: string[];
  /** The balancer's address in front of both frontends: what the UI, workers and APIs connect to. */
  address: string;
  balancer: TcpBalancer;
  apiUrls: string[];
  uiUrl: string;
  adminToken: string;
  adminTokenFile: string;
  databaseUrl: string;
  /** The environment every Tocsin process gets (TOCSIN_ENCRYPTION_KEYS included). */
  tocsinEnv: Record<string, string>;
  procs: Map<string, Proc>;
  /** Starts a worker on node `node` (0 or 1; 'balanced': through the balancer) with extra env (and another entry point); resolves once it polls. */
  startWorker(name: string, node: Node, env?: Record<string, string>, entry?: string): Promise<Proc>;
  /** Starts an API on node `node` (or through the balancer) at `port`; resolves once /readyz answers 200. */
  startApi(name: string, node: Node, port: number, env?: Record<string, string>): Promise<Proc>;
  /** Stops one process: SIGTERM (or the signal given), then SIGKILL after `graceMs`. */
  stopProc(name: string, signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Restarts Temporal server node `node` (SIGTERM, wait, start) and waits for its frontend. */
  restartNode(node: number): Promise<void>;
  /** Stops (fast) and, after `outageMs`, starts PostgreSQL again on the same data and port; only for the private cluster. */
  restartPostgres(outageMs?: number): Promise<void>;
  /** Every process's id, by name (PostgreSQL's postmaster as "postgres"). */
  pids(): Record<string, number>;
  /** Each running process's peak resident set so far (VmHWM, MB), by name; PostgreSQL: the postmaster only. */
  peakRssMb(): Record<string, number>;
  /** Stops everything in order: APIs, workers, UI, servers one at a time, PostgreSQL. */
  stop(): Promise<void>;
}

/** A server node by index (pinned to its frontend), or 'balanced': through the balancer to whichever is up. */
export type Node = number | 'balanced';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * V8 flags of the Tocsin processes the cluster starts (README: "Throughput and memory on the cluster"): young
 * generation semi-spaces of at most 2 MB instead of 16 MB, which V8 otherwise grows to and keeps
 * once a burst of requests or workflow tasks has passed (about 55 MB of resident set per process).
 */
export const TOCSIN_NODE_FLAGS = ['--max-semi-space-size=2'];

/**
 * And for the APIs: optimized code compiled on the main thread instead of a background one. On
 * Node 24 the optimizing compilers' malloc'd memory, freed after a burst of requests, stays
 * resident in the background threads' malloc arenas (a peak of 30-35 MB against Node 20's 8-12);
 * compiled on the main thread it is reused. No measurable CPU cost per request (README: "An API's memory").
 */
export const TOCSIN_API_NODE_FLAGS = ['--no-concurrent-recompilation'];

/**
 * The Node that runs the cluster's workers and APIs: the production runtime, the Dockerfile's
 * (fetched once by scripts/setup-node.mjs), unless TOCSIN_NODE=machine keeps this process's.
 */
export function tocsinNode(env: NodeJS.ProcessEnv = process.env): string {
  const which = env.TOCSIN_NODE || 'image';
  if (which !== 'image' && which !== 'machine') throw new Error(`TOCSIN_NODE is image (the default) or machine, not ${which}`);
  if (which === 'machine' || process.version === `v${IMAGE_NODE_VERSION}`) return process.execPath;
  return join(ensureNode(env), 'node');
}

/**
 * A new temporary DATA_DIR for a cluster that a test, bench or script starts (it removes it when
 * done). The private PostgreSQL runs as user postgres when this runs as root: it must reach it.
 */
export function tempDataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const picked = new Set<number>();
/**
 * A free loopback port below 32768: Temporal stores each node's membership port in a smallint
 * column (cluster_membership.rpc_port), and the kernel's ephemeral ports lie above it.
 */
export async function pickServerPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (picked.has(port)) continue;
    const free = await new Promise<boolean>((ok) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', () => ok(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
    });
    if (free) {
      picked.add(port);
      return port;
    }
  }
  throw new Error('no free port between 20000 and 32000');
}

/** The private PostgreSQL cluster under dataDir (Debian's binaries), run as `postgres` when root. */
class PrivatePostgres {
  readonly data: string;
  readonly sockets: string;
  readonly logFile: string;
  port = 0;
  private asRoot = process.getuid?.() === 0;
  constructor(
    dir: string,
    private bin: string,
  ) {
    this.data = join(dir, 'data');
    this.sockets = join(dir, 'run');
    this.logFile = join(dir, 'postgres.log');
    mkdirSync(this.sockets, { recursive: true });
    if (this.asRoot) {
      try {
        execFileSync('id', ['postgres'], { stdio: 'ignore' });
      } catch {
        execFileSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'ignore' });
      }
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      for (const d of [dir, this.sockets]) chownSync(d, uid, -1);
      if (existsSync(this.data)) chownSync(this.data, uid, -1);
    }
  }
  run(tool: string, args: string[], stdio: 'ignore' | 'pipe' = 'ignore'): string {
    const [cmd, argv] = this.asRoot ? ['runuser', ['-u', 'postgres', '--', join(this.bin, tool), ...args]] : [join(this.bin, tool), args];
    return execFileSync(cmd as string, argv as string[], { stdio: ['ignore', stdio === 'pipe' ? 'pipe' : 'ignore', 'pipe'] })?.toString() ?? '';
  }
  get initialized() {
    return existsSync(join(this.data, 'PG_VERSION'));
  }
  init() {
    this.run('initdb', ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  }
  running(): boolean {
    try {
      this.run('pg_ctl', ['-D', this.data, 'status']);
      return true;
    } catch {
      return false;
    }
  }
  async start(port?: number) {
    // A previous run killed before it could stop PostgreSQL: stop that postmaster (ours, on our data).
    if (this.running()) this.run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
    this.port = port ?? (this.port || (await freePort()));
    // Two idle Temporal nodes hold ~90 connections, the four Tocsin processes more: 200.
    const options = `-p ${this.port} -k ${this.sockets} -c listen_addresses=127.0.0.1 -c max_connections=300`;
    this.run('pg_ctl', ['-D', this.data, '-l', this.logFile, '-w', '-t', '60', '-o', options, 'start']);
  }
  /** Stops the server and waits for the postmaster to be gone (pg_ctl returns once its pid file is). */
  async stop() {
    if (!this.running()) return;
    const pid = this.pid();
    this.run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
    for (let i = 0; pid && i < 200 && isAlive(pid); i++) await sleep(50);
  }
  pid(): number | undefined {
    try {
      return Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  }
  psql(db: string, sql: string): string {
    return this.run('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', db, '-tAc', sql], 'pipe').trim();
  }
}

function onExit(child: ChildProcess): Promise<number | string> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) return r(child.exitCode ?? child.signalCode!);
    child.once('exit', (code, signal) => r(code ?? signal ?? 'exit'));
  });
}

/** Resolves when `fn` stops throwing, or rejects with its last error after `timeoutMs`. */
async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs: number, everyMs = 250, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new Error(`${what}: aborted`);
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline || (err as { fatal?: boolean }).fatal) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(everyMs);
    }
  }
}

async function getSystemInfo(address: string): Promise<void> {
  // Lazy, then connected inside the try: a connect that fails is closed too (Connection.connect
  // leaves it open, and its channel would keep the process alive after stop()).
  const conn = Connection.lazy({ address, connectTimeout: 2000 });
  try {
    await conn.ensureConnected();
    await conn.workflowService.getSystemInfo({});
  } finally {
    await conn.close();
  }
}

/** The admin token: ADMIN_TOKEN, or the one in DATA_DIR/admin-token (generated once, as startTocsin does). */
function adminTokenFile(dataDir: string): { token: string; file: string } {
  const file = join(dataDir, 'admin-token');
  if (!existsSync(file)) writeFileSync(file, `adm_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  return { token: readFileSync(file, 'utf8').trim(), file };
}

/**
 * Throws (fatal to retry()) when `proc` has exited while starting, with its log's last lines in the
 * message: a test's temporary directory, and the log with it, is gone by the time anyone reads the failure.
 */
function throwIfExited(proc: Pick<Proc, 'name' | 'logFile' | 'child'>): void {
  if (proc.child.exitCode === null && proc.child.signalCode === null) return;
  let tail = '';
  try {
    tail = readFileSync(proc.logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n').slice(-3000);
  } catch {
    // No log yet: the message names the file.
  }
  throw Object.assign(new Error(`${proc.name} exited; see ${proc.logFile}${tail ? `. Its last lines:\n${tail}` : ''}`), { fatal: true });
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[cluster] ${m}\n`));
  const dataDir = resolve(opts.dataDir);
  const namespace = opts.namespace ?? 'default';
  const clusterDir = join(dataDir, 'cluster');
  const logs = join(clusterDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const procs = new Map<string, Proc>();
  const stops: Array<() => Promise<void>> = [];
  let pg: PrivatePostgres | undefined;
  const t0 = Date.now();
  const step = (m: string) => {
    log(`${m} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (opts.signal?.aborted) throw new Error('startCluster: aborted');
  };

  const spawnProc = (name: string, cmd: string, args: string[], env: Record<string, string>): { proc: Proc } => {
    const logFile = join(logs, `${name}.log`);
    const out: WriteStream = createWriteStream(logFile, { flags: 'a' });
    // Its own process group: a Ctrl+C on the terminal reaches this script only, which then
    // stops the children in order.
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    const exited = onExit(child).then((r) => {
      out.end();
      return r;
    });
    const proc = { name, child, logFile, exited };
    procs.set(name, proc);
    return { proc };
  };

  const stopProc = async (name: string, signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000) => {
    const p = procs.get(name);
    if (!p) return;
    procs.delete(name);
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill(signal);
      const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        log(`${name} did not stop within ${graceMs / 1000} s: SIGKILL`);
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
  };

  // This process ending without stop() (an uncaught error, process.exit) takes its children along.
  const killAll = () => {
    for (const p of procs.values()) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  stops.push(async () => void process.off('exit', killAll));
  const stop = async () => {
    const order = (prefix: string) => [...procs.keys()].filter((n) => n.startsWith(prefix));
    for (const n of order('api')) await stopProc(n, 'SIGTERM', 15_000);
    for (const n of order('worker')) await stopProc(n, 'SIGTERM', 30_000);
    for (const n of order('ui')) await stopProc(n, 'SIGTERM', 10_000);
    // One node at a time: a SIGTERMed node leaves the ring cleanly (~3 s) and the other takes its shards.
    for (const n of order('temporal')) await stopProc(n, 'SIGTERM', 30_000);
    for (const n of [...procs.keys()]) await stopProc(n, 'SIGKILL', 5_000);
    for (const s of stops.reverse()) await s().catch((err) => log(`while stopping: ${(err as Error).message}`));
    stops.length = 0;
  };

  try {
    // 1. Binaries (built once into ~/.cache/tocsin; minutes the first time).
    const bins = clusterBinaries();
    if (!existsSync(bins.server) || !existsSync(bins.sqlTool) || !existsSync(bins.ui)) log('building the Temporal server, its schema tool and the Web UI (once)…');
    ensureCluster();
    step('binaries ready');

    // 2. PostgreSQL.
    let db: { host: string; port: number; user: string; password: string; tocsinUrl: string };
    if (opts.databaseUrl) {
      const u = new URL(opts.databaseUrl);
      db = { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), tocsinUrl: opts.databaseUrl };
    } else {
      const bin = postgresBin();
      if (!bin) throw new Error('No PostgreSQL server binaries under /usr/lib/postgresql (Debian: apt-get install postgresql), and no DATABASE_URL');
      checkDataDirReachable(clusterDir);
      pg = new PrivatePostgres(join(clusterDir, 'postgres'), bin);
      const fresh = !pg.initialized;
      if (fresh) pg.init();
      await pg.start(await freePort());
      const thePg = pg;
      stops.push(async () => thePg.stop());
      if (!thePg.psql('postgres', "select 1 from pg_database where datname = 'tocsin'")) thePg.psql('postgres', 'create database tocsin');
      db = { host: '127.0.0.1', port: pg.port, user: 'postgres', password: '', tocsinUrl: `postgres://postgres@127.0.0.1:${pg.port}/tocsin` };
      step(`PostgreSQL ${fresh ? 'initialized and ' : ''}started on 127.0.0.1:${pg.port}`);
    }

    // 3. Temporal's schemas, created or updated (idempotent).
    const sqlTool = (dbName: string, ...args: string[]) =>
      execFileSync(bins.sqlTool, ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user, '--pw', db.password, '--db', dbName, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }).toString();
    for (const [dbName, schema] of [
      ['temporal', 'postgresql/v12/temporal'],
      ['temporal_visibility', 'postgresql/v12/visibility'],
    ] as const) {
      try {
        sqlTool(dbName, 'create-database');
      } catch (err) {
        if (!/already exists/.test(String((err as { stderr?: Buffer }).stderr ?? err))) throw err;
      }
      // Version 0.0 once (it creates the version table); later runs only update.
      try {
        sqlTool(dbName, 'setup-schema', '-v', '0.0');
      } catch (err) {
        if (!/already exists/.test(String((err as { stderr?: Buffer }).stderr ?? err))) throw err;
      }
      sqlTool(dbName, 'update-schema', '--schema-name', schema);
    }
    step('Temporal schemas (temporal, temporal_visibility) up to date');
    // No node of this cluster runs yet (its `temporal` database is its own): forget its last
    // run's membership. A starting node's services each join every address that heartbeated in
    // the last 20 s (cluster_membership). On a restart within that time, node 1's matching
    // service, the first of its services to start, saw only the stopped nodes' addresses and
    // itself: its join ran out its 30 s and was retried 10 s later, and until then matching ran on
    // node 2 alone, or, when node 2's matching had joined node 1's unready one, on neither ("Not
    // enough hosts to serve the request"). With the table empty, node 1's matching starts the ring
    // and everything else joins it.
    const temporalDb = postgres({ host: db.host, port: db.port, user: db.user, password: db.password || undefined, database: 'temporal', max: 1, onnotice: () => {} });
    let dynamicConfig = opts.dynamicConfig ?? DYNAMIC_CONFIG;
    let draining = false;
    try {
      await temporalDb`delete from cluster_membership`;
      // The dynamic config: compose's file, one partition per task queue. A cluster that ran with
      // more may have left tasks in the others: the nodes read those partitions too until none is
      // left (scripts/task-partitions.ts), through a copy of the file they reread every 10 s.
      const left = opts.dynamicConfig ? undefined : await childPartitionTasks(temporalDb);
      if (left?.waiting) {
        draining = true;
        const copy = (dynamicConfig = join(clusterDir, 'dynamicconfig.yaml'));
        writeFileSync(copy, withPartitions({ read: left.partitions, write: 1 }));
        log(`${left.waiting} tasks wait in task queue partitions of an earlier configuration: reading ${left.partitions} partitions per task queue until they are dispatched`);
        log(`  waiting by partition: ${Object.entries(left.queues).map(([q, n]) => `${q} ${n}`).join(', ')}`);
        const check = setInterval(() => {
          void childPartitionTasks(temporalDb)
            .then(({ waiting }) => {
              if (waiting > 0) return;
              clearInterval(check);
              writeFileSync(copy, readFileSync(DYNAMIC_CONFIG, 'utf8'));
              log('the tasks of the earlier partitions are dispatched: one partition per task queue');
            })
            // PostgreSQL restarting, say: the next check counts again.
            .catch((err) => log(`counting the tasks of the earlier partitions: ${(err as Error).message}; again in 10 s`));
        }, 10_000);
        check.unref();
        stops.push(async () => {
          clearInterval(check);
          await temporalDb.end();
        });
      }
    } finally {
      if (!draining) await temporalDb.end();
    }

    // 4. Two Temporal server nodes, one cluster.
    const frontends: string[] = [];
    const pprofAddresses: string[] = [];
    const nodeEnvs: Array<Record<string, string>> = [];
    for (let i = 0; i < 2; i++) {
      const port = async () => String(await pickServerPort());
      const env: Record<string, string> = {
        TEMPORAL_DB_HOST: db.host,
        TEMPORAL_DB_PORT: String(db.port),
        TEMPORAL_DB_USER: db.user,
        TEMPORAL_DB_PASSWORD: db.password,
        TEMPORAL_DYNAMIC_CONFIG: dynamicConfig,
        TEMPORAL_FRONTEND_PORT: await port(),
        TEMPORAL_FRONTEND_HTTP_PORT: await port(),
        TEMPORAL_FRONTEND_MEMBERSHIP_PORT: await port(),
        TEMPORAL_HISTORY_PORT: await port(),
        TEMPORAL_HISTORY_MEMBERSHIP_PORT: await port(),
        TEMPORAL_MATCHING_PORT: await port(),
        TEMPORAL_MATCHING_MEMBERSHIP_PORT: await port(),
        TEMPORAL_WORKER_PORT: await port(),
        TEMPORAL_WORKER_MEMBERSHIP_PORT: await port(),
        ...(opts.pprof ? { TEMPORAL_PPROF_PORT: await port() } : {}),
      };
      nodeEnvs.push(env);
      frontends.push(`127.0.0.1:${env.TEMPORAL_FRONTEND_PORT}`);
      if (env.TEMPORAL_PPROF_PORT) pprofAddresses.push(`127.0.0.1:${env.TEMPORAL_PPROF_PORT}`);
    }
    const startNode = async (i: number) => {
      const { proc } = spawnProc(`temporal-${i + 1}`, bins.server, ['--config-file', SERVER_CONFIG, '--allow-no-auth', 'start'], nodeEnvs[i]);
      await retry(`Temporal node ${i + 1} at ${frontends[i]}`, async () => {
        throwIfExited(proc);
        await getSystemInfo(frontends[i]);
      }, 60_000, 250, opts.signal);
    };
    for (let i = 0; i < 2; i++) {
      await startNode(i);
      step(`Temporal node ${i + 1} serving on ${frontends[i]}`);
    }
    const balancer = await startTcpBalancer({ targets: frontends, port: opts.frontendPort || 0 });
    stops.push(balancer.close);
    const address = balancer.address;
    const nodeAddress = (node: Node) => (node === 'balanced' ? address : frontends[node]);
    step(`balancer on ${address} in front of both frontends`);

    // 5. The namespace and the search attributes (a fresh server has neither).
    const conn = await Connection.connect({ address: frontends[0] });
    try {
      try {
        await conn.workflowService.describeNamespace({ namespace });
      } catch {
        await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('30 days') });
      }
      // Right after the namespace is created a node may not know it yet ("Namespace … is not found").
      await retry('search attributes', () => registerSearchAttributes(conn, namespace), 30_000, 500);
    } finally {
      await conn.close();
    }
    step(`namespace ${namespace} and search attributes registered`);

    // 6. The Web UI.
    const uiPort = opts.uiPort || (await freePort());
    // Each API's port not given is picked on its own: the port after a free one may be taken.
    const apiPorts = await Promise.all([0, 1].map(async (i) => opts.apiPorts?.[i] || (await freePort())));
    const apiBase = apiPorts[0];
    const uiUrl = `http://127.0.0.1:${uiPort}`;
    const { token, file: tokenFile } = adminTokenFile(dataDir);
    if (opts.ui ?? !opts.temporalOnly) {
      const ui = spawnProc(
        'ui',
        bins.ui,
        ['--root', join(root, 'deploy/temporal'), '--config', 'ui', '--env', 'cluster', 'start'],
        { TEMPORAL_ADDRESS: address, TEMPORAL_UI_PORT: String(uiPort), TEMPORAL_NAMESPACE: namespace, TEMPORAL_CODEC_ENDPOINT: `http://127.0.0.1:${apiBase}/codec` },
      );
      await retry('Web UI', async () => void (await fetch(uiUrl)).arrayBuffer(), 30_000).catch((err) => {
        throwIfExited(ui.proc);
        throw err;
      });
      step(`Web UI on ${uiUrl}`);
    }

    // 7. Tocsin: two workers and two APIs, through the balancer (none with temporalOnly).
    const keys = encryptionKeys(loadConfig({ ...process.env, DATA_DIR: dataDir, TEMPORAL_ADDRESS: '' })).keys;
    const nodeBin = opts.temporalOnly ? process.execPath : (opts.node ?? tocsinNode());
    const tocsinEnv: Record<string, string> = {
      DATA_DIR: dataDir,
      DATABASE_URL: db.tocsinUrl,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_UI_URL: uiUrl,
      TOCSIN_ENCRYPTION_KEYS: process.env.TOCSIN_ENCRYPTION_KEYS || formatEncryptionKeys(keys),
      TEMPORAL_DEPLOYMENT_NAME: process.env.TEMPORAL_DEPLOYMENT_NAME ?? 'tocsin',
      PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL || `http://127.0.0.1:${apiBase}`,
      LOG_FORMAT: 'json',
      ...opts.env,
    };
    // The workflow bundle, built once here in a process of its own, so no worker runs webpack
    // (its peak is most of a worker's resident set); rebuilt at every start, so always current.
    // Awaited, not run synchronously: the balancer in this process keeps piping meanwhile.
    if (!tocsinEnv.WORKFLOW_BUNDLE && !opts.temporalOnly) {
      tocsinEnv.WORKFLOW_BUNDLE = join(clusterDir, 'workflows.js');
      await execFileAsync(nodeBin, ['--import', 'tsx', join(root, 'scripts/bundle-workflows.ts'), tocsinEnv.WORKFLOW_BUNDLE], {
        cwd: root,
        env: { ...process.env, ...tocsinEnv },
        signal: opts.signal,
      });
      step('workflow bundle built');
    }
    const taskQueue = tocsinEnv.TEMPORAL_TASK_QUEUE || process.env.TEMPORAL_TASK_QUEUE || 'notifications';
    // Tocsin's own processes run compiled (scripts/bundle-processes.ts); another entry (a bench's
    // bare worker, a rolling deploy's build B) runs through tsx.
    const processes = opts.temporalOnly ? undefined : await bundleProcesses();
    if (processes) step(`API and worker compiled; they run on Node ${execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim()}`);
    const entryArgs = (entry: string) => (entry.endsWith('.ts') ? ['--import', 'tsx', entry] : processes ? ['--import', processes.preload, entry] : [entry]);
    const startWorker = async (name: string, node: Node, env: Record<string, string> = {}, entry = processes?.worker ?? join(root, 'runtime/worker.ts')) => {
      const { proc } = spawnProc(name, nodeBin, [...TOCSIN_NODE_FLAGS, ...entryArgs(entry)], { ...tocsinEnv, TEMPORAL_ADDRESS: nodeAddress(node), ...env });
      // Ready once the server lists it among its task queue's pollers (its identity is pid@host),
      // whatever LOG_LEVEL hides; a worker given another TEMPORAL_TASK_QUEUE polls that one.
      const queue = env.TEMPORAL_TASK_QUEUE ?? taskQueue;
      const conn = await Connection.connect({ address: nodeAddress(node) });
      try {
        await retry(`${name} polling ${queue}`, async () => {
          throwIfExited(proc);
          const { pollers } = await conn.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue }, taskQueueType: 1 });
          if (!pollers?.some((p) => p.identity?.startsWith(`${proc.child.pid}@`))) throw new Error('not among the pollers yet');
        }, 300_000, 500, opts.signal);
      } finally {
        await conn.close();
      }
      return proc;
    };
    const startApi = async (name: string, node: Node, port: number, env: Record<string, string> = {}) => {
      const { proc } = spawnProc(
        name,
        nodeBin,
        [...TOCSIN_NODE_FLAGS, ...TOCSIN_API_NODE_FLAGS, ...entryArgs(processes?.api ?? join(root, 'runtime/api.ts'))],
        { ...tocsinEnv, TEMPORAL_ADDRESS: nodeAddress(node), HOST: '127.0.0.1', PORT: String(port), ...env },
      );
      await retry(`${name} /readyz`, async () => {
        throwIfExited(proc);
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      }, 120_000, 250, opts.signal);
      return proc;
    };
    const workers = opts.temporalOnly ? 0 : (opts.workers ?? 2);
    const apis = opts.temporalOnly ? 0 : (opts.apis ?? 2);
    // The first worker migrates Tocsin's database alone; the others find nothing left to do.
    if (workers > 0) await startWorker('worker-1', 'balanced', opts.workerEnv?.[0]);
    await Promise.all(Array.from({ length: Math.max(0, workers - 1) }, (_, i) => startWorker(`worker-${i + 2}`, 'balanced', opts.workerEnv?.[i + 1])));
    step(`${workers} workers polling`);
    const apiUrls: string[] = [];
    await Promise.all(
      Array.from({ length: apis }, async (_, i) => {
        const port = apiPorts[i] ?? (await freePort());
        await startApi(`api-${i + 1}`, 'balanced', port);
        apiUrls[i] = `http://127.0.0.1:${port}`;
      }),
    );
    step(`${apis} APIs ready`);

    const restartNode = async (node: number) => {
      await stopProc(`temporal-${node + 1}`, 'SIGTERM', 30_000);
      await startNode(node);
    };
    const restartPostgres = async (outageMs = 0) => {
      if (!pg) throw new Error('restartPostgres: only the private PostgreSQL can be restarted');
      await pg.stop();
      await sleep(outageMs);
      await pg.start(pg.port);
    };
    const pids = () => {
      const out: Record<string, number> = {};
      for (const [n, p] of procs) if (p.child.pid) out[n] = p.child.pid;
      const pgPid = pg?.pid();
      if (pgPid) out.postgres = pgPid;
      return out;
    };
    const peakRssMb = () => {
      const out: Record<string, number> = {};
      for (const [name, pid] of Object.entries(pids())) {
        try {
          const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
          if (kb) out[name] = Math.round(kb / 1024);
        } catch {
          // gone, or no /proc here
        }
      }
      return out;
    };
    return {
      dataDir,
      namespace,
      frontends,
      pprofAddresses,
      address,
      balancer,
      apiUrls,
      uiUrl,
      adminToken: process.env.ADMIN_TOKEN || token,
      adminTokenFile: tokenFile,
      databaseUrl: db.tocsinUrl,
      tocsinEnv,
      procs,
      startWorker,
      startApi,
      stopProc,
      restartNode,
      restartPostgres,
      pids,
      peakRssMb,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether a directory can be reached by PostgreSQL's user (root runs it as `postgres`). */
export function checkDataDirReachable(dir: string) {
  if (process.getuid?.() !== 0) return;
  let d = resolve(dir);
  while (d !== '/') {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) {
      throw new Error(`${d} is not searchable by others (mode ${(statSync(d).mode & 0o777).toString(8)}): the private PostgreSQL runs as user postgres and must reach ${dir}. chmod o+x it or choose another DATA_DIR.`);
    }
    d = resolve(d, '..');
  }
}
