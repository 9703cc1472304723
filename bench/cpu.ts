// CPU time per process from /proc (Linux), for the cluster bench's breakdown of where the time goes.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux's every architecture). */
const TICKS = 100;

export interface CpuTimes {
  /** utime + stime of the process itself, seconds. */
  self: number;
  /** cutime + cstime: children that exited and were waited for, seconds. */
  children: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces and
 * parentheses itself, so the fields are counted from the last ')'.
 */
export function parseStat(text: string): CpuTimes {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime, stime, cutime, cstime are fields 14–17.
  const [utime, stime, cutime, cstime] = rest.slice(11, 15).map(Number);
  if ([utime, stime, cutime, cstime].some((v) => !Number.isFinite(v))) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  return { self: (utime + stime) / TICKS, children: (cutime + cstime) / TICKS };
}

function readTimes(pid: number): CpuTimes | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** A process's children (every thread's), from /proc/<pid>/task/<tid>/children. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * CPU seconds used so far by each named process: itself only, or for the names in `trees` the
 * whole tree (PostgreSQL's backends under the postmaster): the process, its descendants alive
 * now and its exited, reaped children. A process that is gone reads 0.
 */
export function cpuSeconds(pids: Record<string, number>, trees: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const root = readTimes(pid);
    if (!root) {
      out[name] = 0;
      continue;
    }
    if (!trees.includes(name)) {
      out[name] = root.self;
      continue;
    }
    let total = root.self + root.children;
    const queue = childrenOf(pid);
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      total += readTimes(p)?.self ?? 0;
      queue.push(...childrenOf(p));
    }
    out[name] = total;
  }
  return out;
}

/** b − a per name (names only in b count from 0). */
export function cpuDelta<K extends string>(a: Partial<Record<K, number>>, b: Record<K, number>): Record<K, number> {
  return Object.fromEntries(Object.entries<number>(b).map(([name, v]) => [name, Math.max(0, v - (a[name as K] ?? 0))])) as Record<K, number>;
}

/** The whole machine's CPU time by kind, seconds summed over its cores (/proc/stat's first line). */
export type MachineTimes = {
  /** user + nice + system + irq + softirq: work of any process, ours or not. */
  busy: number;
  /** idle + iowait: no runnable work. */
  idle: number;
  /** steal: the hypervisor ran someone else on this machine's cores. */
  steal: number;
};

/** Parses /proc/stat's aggregate `cpu` line (guest time is already inside user and nice). */
export function parseMachineStat(text: string): MachineTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const f = line?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  if (f.length < 8 || f.some((v) => !Number.isFinite(v))) throw new Error(`not a /proc/stat text: ${text.slice(0, 80)}`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq) / TICKS, idle: (idle + iowait) / TICKS, steal: steal / TICKS };
}

export function machineTimes(): MachineTimes {
  return parseMachineStat(readFileSync('/proc/stat', 'utf8'));
}
