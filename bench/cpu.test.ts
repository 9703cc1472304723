import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuDelta, cpuSeconds, machineTimes, parseMachineStat, parseStat } from './cpu.js';

describe('parseStat', () => {
  it('reads utime+stime and cutime+cstime after the command name, whatever it holds', () => {
    const line = '4242 (postgres: a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 123 456789 100 18446744073709551615';
    expect(parseStat(line)).toEqual({ self: 3, children: 0.1 });
  });
  it('refuses a line that is not a stat line', () => {
    expect(() => parseStat('nonsense')).toThrow(/stat/);
  });
});

describe('cpuSeconds', () => {
  it('reads this process, and a gone one as 0', () => {
    const t = cpuSeconds({ me: process.pid, gone: 2 ** 22 + 1 });
    expect(t.me).toBeGreaterThan(0);
    expect(t.gone).toBe(0);
  });
  it('counts a busy child only in a tree', () => {
    // The child spins until it has used 0.3 s of CPU itself, however busy the machine is.
    const child = spawnSync(process.execPath, ['-e', 'while (process.cpuUsage().user + process.cpuUsage().system < 300_000);']);
    expect(child.status).toBe(0);
    const t = cpuSeconds({ self: process.pid, tree: process.pid }, ['tree']);
    expect(t.tree - t.self).toBeGreaterThanOrEqual(0.25);
  });
  it('cpuDelta subtracts per name', () => {
    expect(cpuDelta({ a: 1, b: 2 }, { a: 1.5, b: 2, c: 1 })).toEqual({ a: 0.5, b: 0, c: 1 });
  });
});

describe('parseMachineStat', () => {
  it('sums busy, idle and steal ticks from the aggregate line', () => {
    const text = 'cpu  100 20 30 400 50 6 4 10 0 0\ncpu0 50 10 15 200 25 3 2 5 0 0\n';
    expect(parseMachineStat(text)).toEqual({ busy: 1.6, idle: 4.5, steal: 0.1 });
  });
  it('refuses a text without a cpu line', () => {
    expect(() => parseMachineStat('intr 1 2 3')).toThrow(/proc\/stat/);
  });
  it('reads this machine: every kind counted, busy above zero', () => {
    const t = machineTimes();
    expect(t.busy).toBeGreaterThan(0);
    expect(t.idle).toBeGreaterThanOrEqual(0);
    expect(t.steal).toBeGreaterThanOrEqual(0);
  });
});
