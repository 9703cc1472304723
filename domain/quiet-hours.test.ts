import { describe, expect, it } from 'vitest';
import { quietHoursRelease, zonedTimeToInstant } from './quiet-hours.js';

const NY = 'America/New_York';
const quiet = { start: '22:00', end: '07:00', timezone: NY };

describe('quietHoursRelease', () => {
  it('holds a 23:30 event until 07:00 local the next morning', () => {
    // 2026-06-10 23:30 EDT = 2026-06-11 03:30Z
    const release = quietHoursRelease(Date.parse('2026-06-11T03:30:00Z'), quiet, 'UTC');
    expect(new Date(release!).toISOString()).toBe('2026-06-11T11:00:00.000Z'); // 07:00 EDT
  });

  it('releases at 07:00 local on the night clocks spring forward', () => {
    // 2026-03-07 23:30 EST (UTC-5); DST starts 2026-03-08 02:00 → 07:00 is EDT (UTC-4)
    const release = quietHoursRelease(Date.parse('2026-03-08T04:30:00Z'), quiet, 'UTC');
    expect(new Date(release!).toISOString()).toBe('2026-03-08T11:00:00.000Z');
  });

  it('releases at 07:00 local on the night clocks fall back', () => {
    // 2026-10-31 23:30 EDT (UTC-4); DST ends 2026-11-01 02:00 → 07:00 is EST (UTC-5)
    const release = quietHoursRelease(Date.parse('2026-11-01T03:30:00Z'), quiet, 'UTC');
    expect(new Date(release!).toISOString()).toBe('2026-11-01T12:00:00.000Z');
  });

  it('holds an early-morning event until 07:00 the same day', () => {
    const release = quietHoursRelease(Date.parse('2026-06-11T09:00:00Z'), quiet, 'UTC'); // 05:00 EDT
    expect(new Date(release!).toISOString()).toBe('2026-06-11T11:00:00.000Z');
  });

  it('lets daytime events through and treats the end minute as outside', () => {
    expect(quietHoursRelease(Date.parse('2026-06-11T16:00:00Z'), quiet, 'UTC')).toBeNull();
    expect(quietHoursRelease(Date.parse('2026-06-11T11:00:00Z'), quiet, 'UTC')).toBeNull();
  });

  it('handles a same-day window and uses the fallback timezone', () => {
    const q = { start: '12:00', end: '14:00' };
    const release = quietHoursRelease(Date.parse('2026-01-05T12:30:00Z'), q, 'Europe/Berlin'); // 13:30 CET
    expect(new Date(release!).toISOString()).toBe('2026-01-05T13:00:00.000Z');
  });
});

describe('zonedTimeToInstant', () => {
  it('maps a wall time in a spring-forward gap to just after the gap', () => {
    const t = zonedTimeToInstant({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, NY);
    expect(new Date(t).toISOString()).toBe('2026-03-08T07:30:00.000Z'); // 03:30 EDT
  });
  it('maps an ambiguous fall-back wall time to its first occurrence', () => {
    const t = zonedTimeToInstant({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, NY);
    expect(new Date(t).toISOString()).toBe('2026-11-01T05:30:00.000Z'); // 01:30 EDT
  });
});
