// The one table of failure types. Activities throw ApplicationFailure with one of these as
// `type`; the workflow and the API read them back from there.
export const ErrorType = {
  /** The channel's provider credentials are not configured. Permanent. */
  ChannelUnconfigured: 'channel_unconfigured',
  /** The provider rejected the request (4xx other than 408/429). Permanent. */
  ProviderRejected: 'provider_rejected',
  /** The provider failed or was unreachable (5xx, 408, 429, network). Retried. */
  ProviderUnavailable: 'provider_unavailable',
  /** The recipient has no address for the channel. Permanent. */
  NoAddress: 'no_address',
  /** The address is invalid or unreachable (e.g. Twilio 21211, 21614). Permanent. */
  InvalidAddress: 'invalid_address',
  /** A template or recipient referenced by a pinned input no longer exists. Permanent. */
  NotFound: 'not_found',
  /** Retries ran out (attempts or expiration). */
  RetriesExhausted: 'retries_exhausted',
  /** A stored request (a schedule's notification or broadcast) no longer validates. Permanent. */
  InvalidRequest: 'invalid_request',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** HTTP statuses a provider may answer that are worth retrying. */
export function isRetryableHttpStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds from `nowMs`. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
