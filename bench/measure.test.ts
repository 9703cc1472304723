import { describe, expect, it } from 'vitest';
import { benchKnobs, benchRuntime, pooled, type PhaseResult } from './measure.js';

const phase = (n: number, wallSeconds: number): PhaseResult => ({
  sent: Array.from({ length: n }, (_, i) => ({ id: `${wallSeconds}-${i}`, dueAt: 0, acceptedAt: 1 })),
  e2e: Array(n).fill(wallSeconds),
  accept: Array(n).fill(1),
  throughput: n / wallSeconds,
  wallSeconds,
});

describe('pooled', () => {
  it('is all requests over all windows: rounds of unequal rates pool to the total rate, not the mean of rates', () => {
    const p = pooled([phase(600, 20), phase(600, 30)]);
    expect(p.sent).toHaveLength(1200);
    expect(p.wallSeconds).toBe(50);
    expect(p.throughput).toBe(24); // 1200 / 50, where the mean of 30 and 20 would be 25
    expect(p.e2e).toHaveLength(1200);
  });
});

describe('benchKnobs', () => {
  it('names BENCH_ROUNDS in the command only for a bench that takes rounds', () => {
    expect(benchKnobs({}).env).toBe('BENCH_N=200 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20');
    expect(benchKnobs({}, { rounds: 3 })).toMatchObject({ ROUNDS: 3, env: 'BENCH_N=200 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20 BENCH_ROUNDS=3' });
    expect(benchKnobs({ BENCH_ROUNDS: '5' }, { rounds: 3 }).ROUNDS).toBe(5);
    expect(() => benchKnobs({ BENCH_ROUNDS: '0' }, { rounds: 3 })).toThrow();
  });

  it('warms up with 10 of each side unless the bench or BENCH_WARMUP says otherwise, naming it then', () => {
    expect(benchKnobs({})).toMatchObject({ WARMUP: 10, env: 'BENCH_N=200 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20' });
    expect(benchKnobs({ BENCH_WARMUP: '50' })).toMatchObject({ WARMUP: 50, env: 'BENCH_N=200 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20 BENCH_WARMUP=50' });
    expect(benchKnobs({}, { rounds: 3, warmup: 200 })).toMatchObject({
      WARMUP: 200,
      env: 'BENCH_N=200 BENCH_CONCURRENCY=16 BENCH_HALF_LOAD_SECONDS=20 BENCH_ROUNDS=3 BENCH_WARMUP=200',
    });
    expect(() => benchKnobs({ BENCH_WARMUP: '0' })).toThrow();
  });
});

describe('benchRuntime', () => {
  it("starts the cluster bench again on the image's Node unless it runs there or BENCH_NODE=machine", () => {
    expect(benchRuntime({}, 'v20.20.2', '24.20.0')).toEqual({ reexec: true, command: 'BENCH_NODE=machine ' });
    expect(benchRuntime({}, 'v24.20.0', '24.20.0')).toEqual({ reexec: false, command: '' });
    expect(benchRuntime({ BENCH_NODE: 'machine' }, 'v20.20.2', '24.20.0')).toEqual({ reexec: false, command: 'BENCH_NODE=machine ' });
    expect(benchRuntime({ BENCH_NODE: 'machine' }, 'v24.20.0', '24.20.0')).toEqual({ reexec: false, command: '' });
    expect(() => benchRuntime({ BENCH_NODE: 'node24' }, 'v20.20.2', '24.20.0')).toThrow();
  });
});
