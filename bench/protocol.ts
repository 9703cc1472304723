// What bench/run.ts and bench/stack.ts share: the IPC messages and /proc readings.
import { readFileSync } from 'node:fs';

export const BARE_TASK_QUEUE = 'bench-bare';

/** Worker options that shape throughput; copied from the Tocsin worker to the bare one. */
export const TUNING_KEY = /^(max|tuner$|.*[Pp]oll|stickyQueueScheduleToStartTimeout$|reuseV8Context$|workflowThreadPoolSize$|enableNonLocalActivities$)/;

export type StackMessage =
  | { type: 'ready'; apiUrl: string; temporalAddress: string; adminToken: string; database: string; taskQueue: string; tuning: Record<string, unknown>; pids: number[] }
  | { type: 'rss'; rss: number; maxRss: number; children: Array<{ pid: number; name: string; rss: number; maxRss: number }> }
  | { type: 'error'; message: string };

/** Resident and peak resident bytes of a process, from /proc (Linux); null elsewhere. */
export function procMemory(pid: number): { name: string; rss: number; maxRss: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { name: /^Name:\s+(.+)$/m.exec(status)?.[1] ?? '?', rss: kb('VmRSS'), maxRss: kb('VmHWM') };
  } catch {
    return null;
  }
}

