// SMS channel: Twilio Messages through the twilio SDK. The SDK's own 429 retries stay off so
// Temporal owns every retry; TWILIO_API_BASE_URL goes through the SDK's pluggable HTTP client.
import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { ErrorType } from '../../domain/errors.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

export interface SmsOptions {
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
export const INVALID_ADDRESS_CODES = new Set([21211, 21214, 21217, 21408, 21610, 21612, 21614]);

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
    return permanent(ErrorType.InvalidAddress, `twilio answered ${err.status}: ${detail}`);
  }
  const retryAfter = headers?.['retry-after'];
  return httpFailure('twilio', err.status, detail, typeof retryAfter === 'string' ? retryAfter : null);
}

export function createSmsSender(opts: SmsOptions): ChannelSender | null {
  if (!opts.accountSid || !opts.authToken || !opts.from) return null;
  const slot = new AsyncLocalStorage<HeaderSlot>();
  const httpClient = new TocsinRequestClient(opts.apiBaseUrl?.replace(/\/+$/, ''), slot, opts.timeoutMs ?? 15_000);
  // Empty edge/region/logLevel pin the SDK's fallbacks to TWILIO_EDGE, TWILIO_REGION and
  // TWILIO_LOG_LEVEL in process.env: only our options decide where requests go.
  const client = twilio(opts.accountSid, opts.authToken, {
    httpClient,
    autoRetry: false,
    env: {},
    edge: '',
    region: '',
    logLevel: '',
  });
  const from = opts.from;
  return {
    channel: 'sms',
    provider: 'twilio',
    async send(req: SendRequest) {
      const body = req.content.sms?.text;
      if (!body) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no sms text`);
      req.signal.throwIfAborted();
      const headers: HeaderSlot = {};
      try {
        const message = await slot.run(headers, () =>
          client.messages.create({
            to: req.address,
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
