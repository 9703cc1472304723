import { describe, expect, it } from 'vitest';
import { cronTooFrequent } from './schedules.js';

describe('cronTooFrequent', () => {
  it.each([
    '* * * * *',
    '0 9 * * MON-FRI',
    '0 9 * * * 2027',
    '30 * * * * * *',
    '@hourly',
    '@every 1m',
    '@every 90s',
    '@every 1h30m/5m',
    'CRON_TZ=Europe/Berlin 0 9 * * *',
    'every tuesday', // not a cron at all: Temporal refuses it
  ])('%s fires at most once a minute', (cron) => {
    expect(cronTooFrequent(cron)).toBeNull();
  });

  it.each([
    ['* * * * * * *', /seconds field \(\*\)/],
    ['*/5 * * * * * *', /seconds field/],
    ['0,30 * * * * * *', /seconds field/],
    ['@every 10s', /every 10 s/],
    ['@every 0.5m', /every 30 s/],
    ['@every 59999ms', /every 59\.999 s/],
    ['TZ=UTC @every 30s # comment', /every 30 s/],
    ['@every soon', /duration/],
  ])('%s fires more often, or cannot be read', (cron, message) => {
    expect(cronTooFrequent(cron)).toMatch(message);
  });
});
