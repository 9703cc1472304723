// Provider failures are classified here, once: permanent ones become non-retryable
// ApplicationFailures, transient ones stay retryable (with Retry-After as nextRetryDelay).
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, isRetryableHttpStatus, parseRetryAfter } from '../domain/errors.js';
import type { Channel } from '../domain/types.js';

export function unconfigured(channel: Channel): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.ChannelUnconfigured,
    message: `The ${channel} channel is not configured`,
    nonRetryable: true,
  });
}

export function permanent(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** Classifies a provider's HTTP answer that was not a success. */
export function httpFailure(
  provider: string,
  status: number,
  detail: string,
  retryAfter?: string | null,
  nowMs = Date.now(),
): ApplicationFailure {
  const message = `${provider} answered ${status}${detail ? `: ${detail.slice(0, 500)}` : ''}`;
  if (!isRetryableHttpStatus(status)) return permanent(ErrorType.ProviderRejected, message);
  const delay = parseRetryAfter(retryAfter, nowMs);
  return ApplicationFailure.create({
    type: ErrorType.ProviderUnavailable,
    message,
    nonRetryable: false,
    ...(delay !== undefined ? { nextRetryDelay: Math.max(delay, 1) } : {}),
  });
}

/** The failure type and message of an error thrown by a delivery, for the record. */
export function describeError(err: unknown): { code: string; message: string } {
  let e: unknown = err;
  // Unwrap ActivityFailure → ApplicationFailure as seen by the workflow.
  while (e && typeof e === 'object' && 'cause' in e && (e as any).cause && !(e instanceof ApplicationFailure)) e = (e as any).cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? ErrorType.ProviderUnavailable, message: e.message };
  if (e instanceof Error) return { code: ErrorType.ProviderUnavailable, message: e.message };
  return { code: ErrorType.ProviderUnavailable, message: String(e) };
}
