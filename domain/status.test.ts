import { describe, expect, it } from 'vitest';
import { finalStatus } from './status.js';

describe('finalStatus', () => {
  it('adds delivery outcomes up to the contract statuses', () => {
    expect(finalStatus(['sent', 'skipped'], false)).toBe('sent');
    expect(finalStatus(['sent', 'failed'], false)).toBe('partially_sent');
    expect(finalStatus(['failed', 'skipped'], false)).toBe('failed');
    expect(finalStatus(['skipped', 'skipped'], false)).toBe('suppressed');
    expect(finalStatus(['cancelled', 'cancelled'], true)).toBe('cancelled');
    expect(finalStatus(['sent', 'cancelled'], true)).toBe('partially_sent');
  });
  it('calls a first-success fallback that reached someone sent', () => {
    expect(finalStatus(['failed', 'sent', 'skipped'], false, 'first-success')).toBe('sent');
    expect(finalStatus(['failed', 'failed'], false, 'first-success')).toBe('failed');
  });
});
