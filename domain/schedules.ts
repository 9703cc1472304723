// Schedules (api/routes/schedules.ts, workflows/schedule.ts).
import type { RetrySettings } from './types.js';

/** What a schedule's runs send: a notification or a broadcast request, as the API takes them. */
export interface ScheduledRun {
  tenantId: string;
  scheduleId: string;
  cron?: string;
  everySeconds?: number;
  timezone: string;
  notification?: Record<string, unknown>;
  broadcast?: Record<string, unknown>;
  retry: RetrySettings;
}
export interface ScheduledRunResult {
  notificationId?: string;
  broadcastId?: string;
}

/** A schedule fires at most once in this many seconds (README: Schedules). */
export const MIN_SCHEDULE_INTERVAL_SECONDS = 60;

/** Go's duration units, which Temporal's `@every` takes, plus `d`; in seconds. */
const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d))+$/;

/** Seconds in a Go-style duration (`90s`, `1h30m`, `0.5m`), or null when it is not one. */
function durationSeconds(text: string): number | null {
  if (!DURATION.test(text)) return null;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/g)) total += Number(n) * UNIT_SECONDS[unit];
  return total;
}

/**
 * Why a cron string, as Temporal reads it, would fire more often than once a minute, or null.
 * Temporal takes 5 fields (minute … day of week), 6 (… year) or 7 (second, minute, … year),
 * `@hourly`-style names and `@every <duration>[/<phase>]`, after an optional `CRON_TZ=`/`TZ=`
 * and before an optional `# comment`. Other strings are left for Temporal to refuse.
 */
export function cronTooFrequent(cron: string): string | null {
  const text = cron.replace(/#.*$/, '').trim().replace(/^(CRON_TZ|TZ)=\S+\s+/, '');
  const every = /^@every\s+([^/\s]+)(\/\S+)?$/i.exec(text);
  if (every) {
    const seconds = durationSeconds(every[1]);
    if (seconds === null) return 'an @every interval must be a duration such as 5m or 1h30m';
    return seconds < MIN_SCHEDULE_INTERVAL_SECONDS ? `fires every ${seconds} s; at most once a minute is allowed` : null;
  }
  const fields = text.split(/\s+/);
  // Seven fields start with seconds: one second of each minute is once a minute, more is not.
  if (fields.length === 7 && !/^\d{1,2}$/.test(fields[0]))
    return `its seconds field (${fields[0]}) fires more than once a minute; give 5 fields, or one second`;
  return null;
}
