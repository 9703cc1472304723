import { describe, expect, it } from 'vitest';
import { sumByKey } from './measure.js';
import { writesDelta } from './table-writes.js';

describe('table writes', () => {
  it('counts what was written between two readings, leaving out tables without writes and counting new ones whole', () => {
    const before = { 'temporal.history_node': 10, 'temporal_visibility.executions_visibility': 4, 'tocsin.notifications': 7 };
    const after = { 'temporal.history_node': 25, 'temporal_visibility.executions_visibility': 4, 'tocsin.notifications': 9, 'tocsin.deliveries': 3 };
    expect(writesDelta(before, after)).toEqual({ 'temporal.history_node': 15, 'tocsin.notifications': 2, 'tocsin.deliveries': 3 });
  });

  it('adds up the rounds table by table', () => {
    expect(sumByKey([{ a: 1, b: 2 }, { b: 3, c: 4 }])).toEqual({ a: 1, b: 5, c: 4 });
  });
});
