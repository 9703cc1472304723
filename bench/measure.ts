// What `npm run bench` measures, on the dev server (bench/run.ts) and on the cluster
// (bench/cluster-run.ts): a phase's throughput and latencies from the receiver's arrivals, and
// the wait between phases.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { closedLoop, openLoop, type Offer, type Sent } from './load.js';
import type { Receiver } from './receiver.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A phase fails when nothing more reaches the receiver for this long. */
export const STALL_MS = 30_000;

export interface PhaseResult {
  sent: Sent[];
  /** accepted → arrived at the receiver, per request. */
  e2e: number[];
  accept: number[];
  throughput: number;
  wallSeconds: number;
}

export function measure(sent: Sent[], receiver: Receiver): PhaseResult {
  const arrivals = sent.map((s) => receiver.arrivals.get(s.id)!);
  const first = Math.min(...sent.map((s) => s.dueAt));
  const last = Math.max(...arrivals);
  return {
    sent,
    e2e: sent.map((s, i) => arrivals[i] - s.acceptedAt),
    accept: sent.map((s) => s.acceptedAt - s.dueAt),
    throughput: sent.length / ((last - first) / 1000),
    wallSeconds: (last - first) / 1000,
  };
}

/** Closed loop of `count` offers, `concurrency` in flight, until every one reached the receiver. */
export async function closedPhase(receiver: Receiver, offer: Offer, count: number, concurrency: number): Promise<Sent[]> {
  const sent = await closedLoop(count, concurrency, offer);
  await receiver.waitFor(sent.map((s) => s.id), STALL_MS);
  return sent;
}

/** Open loop at `rate` per second for `seconds`, until every one reached the receiver. */
export async function openPhase(receiver: Receiver, offer: Offer, rate: number, seconds: number): Promise<{ sent: Sent[]; maxLagMs: number }> {
  const { sent, maxLagMs } = await openLoop(rate, seconds, offer);
  await receiver.waitFor(sent.map((s) => s.id), STALL_MS);
  return { sent, maxLagMs };
}

/** Waits until no workflow on the task queue is running, so one phase does not load the next. */
export async function settle(log: (m: string) => void, client: Client, taskQueue: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    try {
      const { count } = await client.workflow.count(`TaskQueue="${taskQueue}" AND ExecutionStatus="Running"`);
      if (count === 0) return;
    } catch (err) {
      log(`cannot count running workflows (${(err as Error).message}); waiting 2 s instead`);
      await new Promise((r) => setTimeout(r, 2000));
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`workflows on ${taskQueue} still running after 30 s; going on`);
}

/**
 * BENCH_N requests per max-throughput phase, BENCH_CONCURRENCY in flight, BENCH_HALF_LOAD_SECONDS
 * of half load; BENCH_ROUNDS pairs of max-throughput phases where a bench takes rounds (the
 * cluster's: `defaults.rounds`); BENCH_WARMUP requests of each side before anything is measured
 * (`defaults.warmup`, else 10). Rounds and warm-up are named in the command line where the bench
 * sets their defaults or the environment sets them.
 */
export function benchKnobs(env: NodeJS.ProcessEnv = process.env, defaults: { rounds?: number; warmup?: number } = {}) {
  const k = z
    .object({
      BENCH_N: z.coerce.number().int().min(10).default(200),
      BENCH_CONCURRENCY: z.coerce.number().int().min(1).default(16),
      BENCH_HALF_LOAD_SECONDS: z.coerce.number().positive().default(20),
      BENCH_ROUNDS: z.coerce.number().int().min(1).max(20).default(defaults.rounds ?? 1),
      BENCH_WARMUP: z.coerce.number().int().min(1).default(defaults.warmup ?? 10),
    })
    .parse(env);
  const rounds = defaults.rounds === undefined ? '' : ` BENCH_ROUNDS=${k.BENCH_ROUNDS}`;
  const warmup = defaults.warmup === undefined && env.BENCH_WARMUP === undefined ? '' : ` BENCH_WARMUP=${k.BENCH_WARMUP}`;
  return {
    N: k.BENCH_N,
    CONCURRENCY: k.BENCH_CONCURRENCY,
    HALF_SECONDS: k.BENCH_HALF_LOAD_SECONDS,
    ROUNDS: k.BENCH_ROUNDS,
    WARMUP: k.BENCH_WARMUP,
    env: `BENCH_N=${k.BENCH_N} BENCH_CONCURRENCY=${k.BENCH_CONCURRENCY} BENCH_HALF_LOAD_SECONDS=${k.BENCH_HALF_LOAD_SECONDS}${rounds}${warmup}`,
  };
}

/**
 * Which Node the cluster bench runs on: the image's (`image`, the default: the Dockerfile's release,
 * which production runs) or the one that started it (`BENCH_NODE=machine`). `reexec`: this process
 * runs on another release and must start the bench again on the image's. `command`: what the result
 * file's command line names (nothing for the default).
 */
export function benchRuntime(env: NodeJS.ProcessEnv, version: string, imageVersion: string): { reexec: boolean; command: string } {
  const node = z.enum(['image', 'machine']).default('image').parse(env.BENCH_NODE);
  const onImage = version === `v${imageVersion}`;
  return { reexec: node === 'image' && !onImage, command: onImage ? '' : 'BENCH_NODE=machine ' };
}

/** Numbers by name added up across records (CPU seconds per process, rows per table). */
export function sumByKey<K extends string>(all: ReadonlyArray<Partial<Record<K, number>>>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const r of all) for (const [k, n] of Object.entries(r) as Array<[K, number]>) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** Phases of the same load as one: their requests together over their windows added up. */
export function pooled(phases: PhaseResult[]): PhaseResult {
  const sent = phases.flatMap((p) => p.sent);
  const wallSeconds = phases.reduce((a, p) => a + p.wallSeconds, 0);
  return { sent, e2e: phases.flatMap((p) => p.e2e), accept: phases.flatMap((p) => p.accept), throughput: sent.length / wallSeconds, wallSeconds };
}

/** ` at <short commit>` of the checkout the bench runs from, or '' outside git. */
export function atCommit(): string {
  try {
    return ` at ${execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()}`;
  } catch {
    return '';
  }
}

/** Prints the report and writes it to bench/results/<prefix>-<day>[-n].md; returns the file. */
export function writeResults(prefix: string, isoDate: string, report: string): string {
  console.log(report);
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const day = isoDate.slice(0, 10);
  let file = join(dir, `${prefix}-${day}.md`);
  for (let i = 2; existsSync(file); i++) file = join(dir, `${prefix}-${day}-${i}.md`);
  writeFileSync(file, report);
  return file;
}
