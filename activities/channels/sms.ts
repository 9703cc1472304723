// SMS and WhatsApp channels: Twilio Messages through the twilio SDK (WhatsApp's numbers are
// `whatsapp:+…` on both ends, otherwise the same API, callbacks and lookups). The SDK's own 429 retries stay off so
// Temporal owns every retry; TWILIO_API_BASE_URL goes through the SDK's pluggable HTTP client.
//
// Twilio has no idempotency key, so a retry first asks Twilio whether an earlier attempt's
// message went out (the Messages list, filtered by To, From and DateSent) and adopts it. Our
// message is recognised by what the list returns: the same To, From and body, created since the
// delivery's first attempt was scheduled, not failed, and not already another delivery's. The
// StatusCallback URL could carry the delivery id, but Twilio's Message resource does not return
// it, so nothing could match on it.
import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { ErrorType } from '../../domain/errors.js';
import { ApplicationFailure } from '@temporalio/common';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, EarlierAttempts, SendRequest } from './types.js';

interface SmsOptions {
  accountSid?: string;
  authToken?: string;
  from?: string;
  /** Replaces https://api.twilio.com (regional endpoints, proxies, tests). */
  apiBaseUrl?: string;
  /** Where Twilio posts status callbacks (delivery receipts). */
  statusCallbackUrl?: string;
  timeoutMs?: number;
}

/** Twilio error codes for a number that is invalid, unreachable or has opted out. */
const INVALID_ADDRESS_CODES = new Set([21211, 21214, 21217, 21408, 21610, 21612, 21614]);

/** Twilio's "Attempt to send to unsubscribed recipient": the person texted STOP to the sending number. */
const TWILIO_UNSUBSCRIBED = 21610;
/** The failures classify() made of a 21610: the delivery activity records a `stop` for the number. */
const optedOut = new WeakSet<object>();
/** Whether a send failed because the number opted out of the sender (Twilio 21610). */
export const isOptedOutFailure = (err: unknown): boolean => typeof err === 'object' && err !== null && optedOut.has(err);

/**
 * How far before the first attempt's scheduled time (Temporal's clock) a message created by
 * Twilio (Twilio's clock, whole seconds) still counts as this delivery's: clock skew.
 */
const SMS_ADOPT_SKEW_MS = 60_000;
/** Messages read at most per lookup (newest first), in pages of this size. */
const LOOKUP_LIMIT = 500;
const LOOKUP_PAGE_SIZE = 100;
/** Statuses of a message that did not reach the phone: sending again is no duplicate. */
const NOT_SENT = new Set(['failed', 'undelivered', 'canceled']);

/** Twilio's API hosts: api.twilio.com and its edge/region variants (api.dublin.ie1.twilio.com). */
const TWILIO_API_HOST = /^api(\.[a-z0-9-]+)*\.twilio\.com$/;

/** The response headers of the request made in the current async context, for Retry-After. */
type HeaderSlot = { headers?: Record<string, unknown> };

/**
 * The SDK's RequestClient with the API origin rewritten to `baseUrl` (path prefix kept) and the
 * response headers handed to the caller's slot: the SDK's RestException does not carry them.
 */
class TocsinRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string | undefined,
    private readonly slot: AsyncLocalStorage<HeaderSlot>,
    timeoutMs: number,
  ) {
    super({ autoRetry: false, timeout: timeoutMs });
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>) {
    let uri = opts.uri;
    if (this.baseUrl) {
      const url = new URL(opts.uri);
      if (TWILIO_API_HOST.test(url.hostname)) uri = `${this.baseUrl}${url.pathname}${url.search}`;
    }
    const res = await super.request({ ...opts, uri });
    const slot = this.slot.getStore();
    if (slot) slot.headers = res.headers as Record<string, unknown>;
    return res;
  }
}

/** RestException and TwilioServiceException both carry the HTTP status and Twilio's code. */
function isTwilioError(err: unknown): err is Error & { status: number; code?: number } {
  return err instanceof Error && typeof (err as { status?: unknown }).status === 'number';
}

function classify(err: unknown, headers: Record<string, unknown> | undefined): Error {
  if (!isTwilioError(err)) {
    // No HTTP answer (connection refused, reset, timeout): retryable. A fresh Error keeps the
    // axios request config (with the Authorization header) out of the failure.
    return new Error(`twilio request failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const detail = `${err.code ?? 'error'}: ${err.message}`;
  if (err.code !== undefined && INVALID_ADDRESS_CODES.has(err.code)) {
    const failure = permanent(ErrorType.InvalidAddress, `twilio answered ${err.status}: ${detail}`);
    if (err.code === TWILIO_UNSUBSCRIBED) optedOut.add(failure);
    return failure;
  }
  const retryAfter = headers?.['retry-after'];
  return httpFailure('twilio', err.status, detail, typeof retryAfter === 'string' ? retryAfter : null);
}

/**
 * A twilio SDK client whose requests go to `apiBaseUrl` (when set) with the SDK's retries off;
 * `slot` receives each response's headers.
 */
export function createTwilioClient(
  opts: Pick<SmsOptions, 'accountSid' | 'authToken' | 'apiBaseUrl' | 'timeoutMs'> & { accountSid: string; authToken: string },
  slot = new AsyncLocalStorage<HeaderSlot>(),
) {
  const httpClient = new TocsinRequestClient(opts.apiBaseUrl?.replace(/\/+$/, ''), slot, opts.timeoutMs ?? 15_000);
  // Empty edge/region/logLevel pin the SDK's fallbacks to TWILIO_EDGE, TWILIO_REGION and
  // TWILIO_LOG_LEVEL in process.env: only our options decide where requests go.
  return twilio(opts.accountSid, opts.authToken, {
    httpClient,
    autoRetry: false,
    env: {},
    edge: '',
    region: '',
    logLevel: '',
  });
}

export function createSmsSender(opts: SmsOptions): ChannelSender | null {
  return createTwilioMessagesSender('sms', opts);
}

/** WhatsApp through Twilio: `from` is the WhatsApp sender number (TWILIO_WHATSAPP_FROM), with or without `whatsapp:`. */
export function createWhatsappSender(opts: SmsOptions): ChannelSender | null {
  return createTwilioMessagesSender('whatsapp', opts);
}

function createTwilioMessagesSender(channel: 'sms' | 'whatsapp', opts: SmsOptions): ChannelSender | null {
  if (!opts.accountSid || !opts.authToken || !opts.from) return null;
  const slot = new AsyncLocalStorage<HeaderSlot>();
  const client = createTwilioClient({ ...opts, accountSid: opts.accountSid, authToken: opts.authToken }, slot);
  /** Twilio's form of a number on this channel. */
  const onChannel = (number: string) => (channel === 'whatsapp' ? `whatsapp:${number.replace(/^whatsapp:/, '')}` : number);
  const from = onChannel(opts.from);

  /**
   * The sid of the message an earlier attempt sent to `to` with `body`, or null. DateSent>
   * narrows by day (Twilio compares whole days); the creation time decides. Of several
   * candidates the oldest unclaimed one is ours: each delivery adopts one message at most.
   */
  async function findEarlier(to: string, body: string, earlier: EarlierAttempts): Promise<string | null> {
    const windowStart = new Date(earlier.since.getTime() - SMS_ADOPT_SKEW_MS);
    const listed = await client.messages.list({ to, from, dateSentAfter: windowStart, pageSize: LOOKUP_PAGE_SIZE, limit: LOOKUP_LIMIT });
    // Twilio lists newest first and dates to the second: reversed, ties stay oldest first.
    const candidates = listed
      .reverse()
      .filter((m) => m.body === body && m.dateCreated >= windowStart && m.direction.startsWith('outbound') && !NOT_SENT.has(m.status))
      .sort((a, b) => a.dateCreated.getTime() - b.dateCreated.getTime());
    for (const m of candidates) {
      if (!(await earlier.claimedElsewhere(m.sid))) return m.sid;
    }
    return null;
  }

  return {
    channel,
    provider: 'twilio',
    adoptsEarlierSends: true,
    async send(req: SendRequest) {
      const body = req.content[channel]?.text;
      if (!body) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no ${channel} text`);
      const to = onChannel(req.address);
      req.signal.throwIfAborted();
      if (req.earlier) {
        const headers: HeaderSlot = {};
        try {
          const sid = await slot.run(headers, () => findEarlier(to, body, req.earlier!));
          if (sid) return { provider: 'twilio', providerMessageId: sid, adopted: true };
        } catch (err) {
          const failure = classify(err, headers.headers);
          // Twilio is unavailable: retry the lookup later. Twilio refuses the lookup for good
          // (an API key without read access): send, at least once, rather than never.
          if (!(failure instanceof ApplicationFailure && failure.nonRetryable)) throw failure;
        }
        req.signal.throwIfAborted();
      }
      const headers: HeaderSlot = {};
      try {
        const message = await slot.run(headers, () =>
          client.messages.create({
            to,
            from,
            body,
            ...(opts.statusCallbackUrl ? { statusCallback: opts.statusCallbackUrl } : {}),
          }),
        );
        return { provider: 'twilio', providerMessageId: message.sid };
      } catch (err) {
        throw classify(err, headers.headers);
      }
    },
  };
}
