// Provider failures are classified here, once: permanent ones become non-retryable
// ApplicationFailures, transient ones stay retryable (with Retry-After as nextRetryDelay).
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, isRetryableHttpStatus, parseRetryAfter } from '../domain/errors.js';
import { cleanText } from '../domain/text.js';
import type { Channel } from '../domain/types.js';

export function unconfigured(channel: Channel): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.ChannelUnconfigured,
    message: `The ${channel} channel is not configured`,
    nonRetryable: true,
  });
}

/** A failure for good; its message (often quoting a provider) is cleaned to be storable. */
export function permanent(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message: cleanText(message), nonRetryable: true });
}

/** Classifies a provider's HTTP answer that was not a success; its body is quoted cleaned and capped. */
export function httpFailure(
  provider: string,
  status: number,
  detail: string,
  retryAfter?: string | null,
  nowMs = Date.now(),
): ApplicationFailure {
  const message = `${provider} answered ${status}${detail ? `: ${cleanText(detail, 500)}` : ''}`;
  if (!isRetryableHttpStatus(status)) return permanent(ErrorType.ProviderRejected, message);
  const delay = parseRetryAfter(retryAfter, nowMs);
  return ApplicationFailure.create({
    type: ErrorType.ProviderUnavailable,
    message,
    nonRetryable: false,
    ...(delay !== undefined ? { nextRetryDelay: Math.max(delay, 1) } : {}),
  });
}

/** The failure type and message of an error thrown by a delivery, for the record: cleaned, so it can be stored. */
export function describeError(err: unknown): { code: string; message: string } {
  let e: unknown = err;
  // Unwrap ActivityFailure → ApplicationFailure as seen by the workflow.
  while (e && typeof e === 'object' && 'cause' in e && (e as any).cause && !(e instanceof ApplicationFailure)) e = (e as any).cause;
  const described =
    e instanceof ApplicationFailure
      ? { code: e.type ?? ErrorType.ProviderUnavailable, message: e.message }
      : { code: ErrorType.ProviderUnavailable, message: e instanceof Error ? e.message : String(e) };
  return { code: cleanText(described.code, 100), message: cleanText(described.message) };
}

/** PostgreSQL's SQLSTATE of an error, through drizzle's wrapper (`cause`) if need be. */
function sqlState(err: unknown): string | undefined {
  for (let e: any = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/**
 * Classifies a database error, once for every activity: a data error (invalid byte sequence,
 * value too long, constraint violation: SQLSTATE classes 22 and 23, or a program limit, 54)
 * fails for good, since writing the same thing again fails again; anything else (a lost
 * connection, a restart, a lock timeout) stays retryable.
 */
function classifyDatabaseError(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const state = sqlState(err);
  if (!state || !/^(22|23|54)/.test(state)) return err;
  const message = err instanceof Error ? (((err as { cause?: Error }).cause?.message ?? err.message) as string) : String(err);
  return ApplicationFailure.create({ type: ErrorType.DatabaseRejected, message: `The database refused the data (${state}): ${cleanText(message, 300)}`, nonRetryable: true });
}

/** Every function of an activity object, with database errors classified. */
export function withDatabaseErrorsClassified<T extends Record<string, (...args: any[]) => Promise<any>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          throw classifyDatabaseError(err);
        }
      },
    ]),
  ) as T;
}
