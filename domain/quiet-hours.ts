// Quiet hours in the recipient's timezone, correct across midnight and DST changes.
// Pure: uses only Intl, which gives the same answers inside the workflow sandbox.
import type { QuietHours } from './types.js';

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(instantMs: number, timeZone: string): LocalParts {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instantMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour === 24 ? 0 : parts.hour,
    minute: parts.minute,
    second: parts.second,
  };
}

/** UTC offset of `timeZone` at `instantMs`, in milliseconds (local = utc + offset). */
function offsetAt(instantMs: number, timeZone: string): number {
  const p = localParts(instantMs, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

/**
 * The instant at which the wall clock in `timeZone` shows the given local time. A time that
 * falls in a spring-forward gap resolves to the same wall time on the later offset (i.e. just
 * after the gap); an ambiguous fall-back time resolves to its first occurrence.
 */
export function zonedTimeToInstant(
  local: { year: number; month: number; day: number; hour: number; minute: number },
  timeZone: string,
): number {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, 0);
  const first = wall - offsetAt(wall, timeZone);
  const second = wall - offsetAt(first, timeZone);
  // Of the candidates that show the requested wall time, the earliest wins (fall-back).
  const candidates = [first, second, wall - offsetAt(wall - 86_400_000, timeZone), wall - offsetAt(wall + 86_400_000, timeZone)]
    .filter((t) => {
      const p = localParts(t, timeZone);
      return p.hour === local.hour && p.minute === local.minute && p.day === local.day;
    })
    .sort((a, b) => a - b);
  return candidates[0] ?? Math.max(first, second);
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

export const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/**
 * When quiet hours are in force at `nowMs`, the instant they end; otherwise null.
 * A window whose start equals its end is empty.
 */
export function quietHoursRelease(nowMs: number, quiet: QuietHours, fallbackTimeZone: string): number | null {
  const tz = quiet.timezone ?? fallbackTimeZone;
  const start = toMinutes(quiet.start);
  const end = toMinutes(quiet.end);
  if (start === end) return null;
  const local = localParts(nowMs, tz);
  const minute = local.hour * 60 + local.minute;
  const crossesMidnight = start > end;
  const inside = crossesMidnight ? minute >= start || minute < end : minute >= start && minute < end;
  if (!inside) return null;
  // The window ends today, or tomorrow when it crossed midnight and we are before midnight.
  const endsTomorrow = crossesMidnight && minute >= start;
  const day = new Date(Date.UTC(local.year, local.month - 1, local.day + (endsTomorrow ? 1 : 0)));
  return zonedTimeToInstant(
    {
      year: day.getUTCFullYear(),
      month: day.getUTCMonth() + 1,
      day: day.getUTCDate(),
      hour: Math.floor(end / 60),
      minute: end % 60,
    },
    tz,
  );
}
