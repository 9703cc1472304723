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
  /** A push recipient has no device left (each was reported gone). Permanent. */
  NoDevice: 'no_device',
  /** The tenant suppressed the address (a STOP, a bounce, a complaint, by hand): skipped, never sent. */
  Suppressed: 'suppressed',
  /** The address is invalid or unreachable (e.g. Twilio 21211, 21614). Permanent. */
  InvalidAddress: 'invalid_address',
  /** A template or recipient referenced by a pinned input no longer exists. Permanent. */
  NotFound: 'not_found',
  /** Retries ran out (attempts or expiration). */
  RetriesExhausted: 'retries_exhausted',
  /** A stored request (a schedule's notification or broadcast) no longer validates. Permanent. */
  InvalidRequest: 'invalid_request',
  /** The database refused what was to be written (invalid text, too long, a constraint). Permanent. */
  DatabaseRejected: 'database_rejected',
  /** The template failed to render with the data (past a bound: time, memory, output; or a filter error). Permanent. */
  TemplateRenderFailed: 'template_render_failed',
  /**
   * A webhook URL points at (or its name resolves to) an address webhooks may not reach:
   * loopback, private, link-local, … (usecases/webhook-address.ts). Permanent.
   */
  AddressBlocked: 'address_blocked',
  /** A flow's fetch step got an answer larger than it may read (64 KiB). Permanent. */
  ResponseTooLarge: 'response_too_large',
  /** A flow's fetch step got an answer that is not JSON. Permanent. */
  InvalidJson: 'invalid_json',
  /**
   * A delivery that was to wake its run first could not (the database, say): the run wakes in
   * its own step instead, which waits out an outage, and then sends. Never recorded.
   */
  WakeDeferred: 'wake_deferred',
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

/** One field of a request that is wrong, by its path (`data.order.id`, `channels.0`). */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * What a use-case refuses, in its own words; only the HTTP layer turns these into problems
 * (400, 404, 409, 503), and activities into non-retryable failures.
 */
export class RequestError extends Error {
  constructor(
    readonly kind: 'invalid' | 'missing' | 'conflict' | 'unavailable',
    message: string,
    readonly errors: FieldError[] = [],
    /** For `unavailable`: when a retry may succeed. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export const invalidInput = (message: string, errors: FieldError[] = []) => new RequestError('invalid', message, errors);
/** `what` (the tenant's own resource, by the id in the request) does not exist: 404. */
export const missing = (what: string) => new RequestError('missing', `${what} was not found`);
export const conflictWith = (message: string) => new RequestError('conflict', message);
export const unavailable = (message: string, cause: unknown, retryAfterSeconds = 5) =>
  Object.assign(new RequestError('unavailable', message, [], retryAfterSeconds), { cause });
