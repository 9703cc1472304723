import { describe, expect, it } from 'vitest';
import { parsePprofTop, serverBreakdown } from './server-profile.js';

// The shape of `go tool pprof -top` output (Go 1.2x), trimmed.
const TOP = `File: temporal-server
Type: cpu
Duration: 30.03s, Total samples = 8530ms (28.41%)
Showing nodes accounting for 8530ms, 100% of 8530ms total
      flat  flat%   sum%        cum   cum%
     1.35s 15.83% 15.83%      1.35s 15.83%  internal/runtime/syscall/linux.Syscall6
     240ms  2.81% 18.64%      240ms  2.81%  runtime.futex
     110ms  1.29% 19.93%      350ms  4.10%  google.golang.org/protobuf/internal/impl.(*MessageInfo).unmarshalPointerEager
      90µs     0% 19.93%       90µs     0%  memeqbody
         0     0% 19.93%      1.49s 17.47%  go.temporal.io/server/service/history.(*Handler).StartWorkflowExecution
         0     0% 19.93%      1.20s 14.07%  go.temporal.io/server/service/history.(*historyEngineImpl).StartWorkflowExecution
      20ms  0.23% 20.16%       20ms  0.23%  runtime.spanClass.sizeclass (inline)
`;

describe('parsePprofTop', () => {
  it('reads each function row in milliseconds and skips the header', () => {
    const rows = parsePprofTop(TOP);
    expect(rows.size).toBe(7);
    expect(rows.get('internal/runtime/syscall/linux.Syscall6')).toEqual({ flat: 1350, cum: 1350 });
    expect(rows.get('runtime.futex')).toEqual({ flat: 240, cum: 240 });
    expect(rows.get('memeqbody')).toEqual({ flat: 0.09, cum: 0.09 });
    expect(rows.get('go.temporal.io/server/service/history.(*Handler).StartWorkflowExecution')).toEqual({ flat: 0, cum: 1490 });
    expect(rows.get('runtime.spanClass.sizeclass (inline)')).toEqual({ flat: 20, cum: 20 });
  });
});

describe('serverBreakdown', () => {
  it('tells flat time by area and an entry point’s cumulative time, per notification', () => {
    const x = serverBreakdown(parsePprofTop(TOP), parsePprofTop(TOP.replace('1.49s 17.47%', '0.50s 5.86%')), { tocsin: 100, bare: 50 });
    const area = (name: string) => x.area.find((a) => a.name.startsWith(name))!;
    expect(area('system calls')).toMatchObject({ tocsin: 13.5, bare: 27 });
    expect(area('Go runtime')).toMatchObject({ tocsin: 2.6, bare: 5.2 });
    expect(area('protobuf')).toMatchObject({ tocsin: 1.1, bare: 2.2 });
    expect(area('everything else').tocsin).toBeCloseTo(0.0009);
    expect(x.total.tocsin).toBeCloseTo(17.2009);
    expect(x.entry.find((e) => e.name === 'StartWorkflowExecution')).toEqual({ name: 'StartWorkflowExecution', tocsin: 14.9, bare: 10 });
    expect(x.entry.find((e) => e.name.startsWith('transfer queue'))).toMatchObject({ tocsin: 0, bare: 0 });
  });
});
