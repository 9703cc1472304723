// Where the Temporal server's time goes, for the cluster bench with BENCH_SERVER_PROFILE=1:
// each node's Go CPU profile (pprof, deploy/temporal/server.yaml `global.pprof`) over the first
// seconds of every max-throughput phase, read with `go tool pprof -top` and told per side as
// milliseconds of server CPU per notification, by area (whose code ran) and by entry point (what
// the server was doing).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Seconds each profile covers, from a phase's start (shorter than a phase of BENCH_N=600). */
export const PROFILE_SECONDS = 10;

/** Starts a CPU profile of `seconds` on every node; resolves to the files written, one per node. */
export async function captureProfiles(addresses: readonly string[], seconds: number, dir: string, tag: string): Promise<string[]> {
  return Promise.all(
    addresses.map(async (address, i) => {
      const res = await fetch(`http://${address}/debug/pprof/profile?seconds=${seconds}`);
      if (!res.ok) throw new Error(`pprof at ${address} answered ${res.status}`);
      const file = join(dir, `${tag}-node${i + 1}.pb.gz`);
      await writeFile(file, Buffer.from(await res.arrayBuffer()));
      return file;
    }),
  );
}

export interface ProfileRow {
  /** Milliseconds in the function itself, and in it with what it called. */
  flat: number;
  cum: number;
}

const duration = (s: string): number => {
  const m = /^([\d.]+)(ns|us|µs|ms|s|min|h)?$/.exec(s);
  if (!m) return NaN;
  const unit = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, min: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? NaN;
  return Number(m[1]) * unit;
};

/** The rows of `go tool pprof -top` output by function name, which it lists once each (milliseconds; the header is skipped). */
export function parsePprofTop(text: string): Map<string, ProfileRow> {
  const rows = new Map<string, ProfileRow>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+[\d.]+%\s+[\d.]+%\s+(\S+)\s+[\d.]+%\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const [flat, cum] = [duration(m[1]), duration(m[2])];
    if (Number.isNaN(flat) || Number.isNaN(cum)) continue;
    rows.set(m[3], { flat, cum });
  }
  return rows;
}

/** Every function of the profiles merged, by `go tool pprof` (Go on PATH); null without Go. */
export async function readProfiles(files: readonly string[]): Promise<Map<string, ProfileRow> | null> {
  try {
    const { stdout } = await execFileAsync('go', ['tool', 'pprof', '-top', '-nodecount=1000000', '-nodefraction=0', '-edgefraction=0', ...files], { maxBuffer: 64 * 2 ** 20 });
    return parsePprofTop(stdout);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whose code ran, by the function's package: the first pattern that matches names the area. */
const AREAS: Array<[string, RegExp]> = [
  ['system calls (network, futexes) and polling', /^syscall\.|^internal\/runtime\/syscall|^internal\/poll|^net\.|^net\/|^os\./],
  ['Go runtime (garbage collection, scheduling, memory)', /^runtime\.|^internal\/runtime/],
  ['protobuf encoding', /^google\.golang\.org\/protobuf|^github\.com\/gogo\/protobuf|^go\.temporal\.io\/api\/.*\.(Marshal|Unmarshal|Size)/],
  ['gRPC and HTTP/2', /^google\.golang\.org\/grpc|^golang\.org\/x\/net\/http2/],
  ['SQL and the PostgreSQL driver', /^database\/sql|^github\.com\/(jackc|lib\/pq|jmoiron)|^go\.temporal\.io\/server\/common\/persistence\/sql/],
  ['persistence layer (serialization, retries, rate limits)', /^go\.temporal\.io\/server\/common\/persistence/],
  ['history service', /^go\.temporal\.io\/server\/service\/history/],
  ['matching service', /^go\.temporal\.io\/server\/service\/matching/],
  ['frontend service', /^go\.temporal\.io\/server\/service\/frontend/],
  ['other server code', /^go\.temporal\.io\//],
];
const OTHER = 'everything else (crypto, compression, reflection, …)';

/** What the server was doing: the largest cumulative time among the functions each pattern matches. */
const ENTRY_POINTS: Array<[string, RegExp]> = [
  ['StartWorkflowExecution', /^go\.temporal\.io\/server\/service\/history\.\(\*Handler\)\.StartWorkflowExecution$/],
  ['RecordWorkflowTaskStarted', /^go\.temporal\.io\/server\/service\/history\.\(\*Handler\)\.RecordWorkflowTaskStarted$/],
  ['RespondWorkflowTaskCompleted', /^go\.temporal\.io\/server\/service\/history\.\(\*Handler\)\.RespondWorkflowTaskCompleted$/],
  ['RespondActivityTaskCompleted', /^go\.temporal\.io\/server\/service\/history\.\(\*Handler\)\.RespondActivityTaskCompleted$/],
  ['transfer queue tasks (dispatch to matching, close)', /^go\.temporal\.io\/server\/service\/history\.\(\*transferQueueActiveTaskExecutor\)\.Execute$/],
  ['visibility queue tasks (records in temporal_visibility)', /^go\.temporal\.io\/server\/service\/history\.\(\*visibilityQueueTaskExecutor\)\.Execute$/],
  ['timer queue tasks (timeouts)', /^go\.temporal\.io\/server\/service\/history\.\(\*timerQueue(Active)?TaskExecutor\)\.Execute$/],
  ['matching: tasks added', /^go\.temporal\.io\/server\/service\/matching\.\(\*Handler\)\.Add(Workflow|Activity)Task$/],
  ['matching: polls answered', /^go\.temporal\.io\/server\/service\/matching\.\(\*Handler\)\.Poll(Workflow|Activity)TaskQueue$/],
];

export interface ServerBreakdown {
  area: Array<{ name: string; tocsin: number; bare: number }>;
  entry: Array<{ name: string; tocsin: number; bare: number }>;
  total: { tocsin: number; bare: number };
}

/** Both sides' profiles as milliseconds of server CPU per notification (`notifications`: those the profiles cover). */
export function serverBreakdown(tocsin: Map<string, ProfileRow>, bare: Map<string, ProfileRow>, notifications: { tocsin: number; bare: number }): ServerBreakdown {
  const byArea = (rows: Map<string, ProfileRow>, n: number) => {
    const out = new Map<string, number>();
    for (const [fn, r] of rows) {
      const area = AREAS.find(([, re]) => re.test(fn))?.[0] ?? OTHER;
      out.set(area, (out.get(area) ?? 0) + r.flat / n);
    }
    return out;
  };
  const byEntry = (rows: Map<string, ProfileRow>, n: number) =>
    new Map(ENTRY_POINTS.map(([name, re]) => [name, Math.max(0, ...[...rows].filter(([fn]) => re.test(fn)).map(([, r]) => r.cum)) / n]));
  const [ta, ba] = [byArea(tocsin, notifications.tocsin), byArea(bare, notifications.bare)];
  const [te, be] = [byEntry(tocsin, notifications.tocsin), byEntry(bare, notifications.bare)];
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    area: [...AREAS.map(([name]) => name), OTHER].map((name) => ({ name, tocsin: ta.get(name) ?? 0, bare: ba.get(name) ?? 0 })),
    entry: ENTRY_POINTS.map(([name]) => ({ name, tocsin: te.get(name) ?? 0, bare: be.get(name) ?? 0 })),
    total: { tocsin: sum(ta), bare: sum(ba) },
  };
}
