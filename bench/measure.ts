// What `npm run bench` measures, on the dev server (bench/run.ts) and on the cluster
// (bench/cluster-run.ts): a phase's throughput and latencies from the receiver's arrivals, and
// the wait between phases.
import type { Client } from '@temporalio/client';
import { closedLoop, openLoop, type Offer, type Sent } from './load.js';
import type { Receiver } from './receiver.js';

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
