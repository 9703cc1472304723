// SMS through Vonage (the SMS API, POST /sms/json) with @vonage/server-sdk: the platform's SMS
// provider when Twilio is not configured. The delivery id goes as `client-ref`, which Vonage
// returns on its delivery receipts. Vonage has no idempotency key and no list of sent messages
// the key can read: a retry after a lost answer may send twice (at least once).
//
// Vonage answers 200 with a per-message `status`: "0" sent; "1" (throttled) and "5" (internal
// error) retry; "7" (number barred), "29" (non-whitelisted destination) and "33" (number
// de-activated) are an invalid address; the rest are permanent. HTTP 429 and 5xx retry.
import { Vonage } from '@vonage/server-sdk';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../domain/errors.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

export const DEFAULT_VONAGE_BASE_URL = 'https://rest.nexmo.com';

interface VonageOptions {
  apiKey?: string;
  apiSecret?: string;
  from?: string;
  /** Replaces https://rest.nexmo.com (tests). */
  baseUrl?: string;
  timeoutMs?: number;
}

const RETRY_STATUSES = new Set(['1', '5']);
const INVALID_ADDRESS_STATUSES = new Set(['7', '29', '33']);

/** One message of the SMS API's answer (the SDK camel-cases its keys). */
interface VonageMessage {
  status: string;
  messageId?: string;
  errorText?: string;
}

/** A per-message status that is not "0", as the failure a delivery records. */
function refusal(m: VonageMessage | undefined): Error {
  const status = m?.status ?? 'unknown';
  const detail = `status ${status}${m?.errorText ? `: ${m.errorText}` : ''}`;
  if (RETRY_STATUSES.has(status)) return ApplicationFailure.create({ type: ErrorType.ProviderUnavailable, message: `vonage answered ${detail}`, nonRetryable: false });
  if (INVALID_ADDRESS_STATUSES.has(status)) return permanent(ErrorType.InvalidAddress, `vonage answered ${detail}`);
  return permanent(ErrorType.ProviderRejected, `vonage answered ${detail}`);
}

function classify(err: unknown): Error {
  const e = err as { response?: unknown; message?: string; getMessages?: () => VonageMessage[] };
  // MessageSendAllFailure: the SDK throws the answer whose only message was refused.
  if (typeof e?.getMessages === 'function') return refusal(e.getMessages()[0]);
  // An HTTP error (VetchError): its response carries the status, whatever fetch made it.
  const res = e?.response as { status?: unknown; statusText?: string; headers?: { get?: (name: string) => string | null } } | undefined;
  if (typeof res?.status === 'number') return httpFailure('vonage', res.status, res.statusText ?? '', res.headers?.get?.('retry-after') ?? null);
  // No HTTP answer. A fresh Error: the SDK's error carries the request, with its credentials.
  return new Error(`vonage request failed: ${e?.message?.slice(0, 200) ?? 'no answer'}`);
}

export function createVonageSender(opts: VonageOptions): ChannelSender | null {
  if (!opts.apiKey || !opts.apiSecret || !opts.from) return null;
  const vonage = new Vonage({ apiKey: opts.apiKey, apiSecret: opts.apiSecret }, { restHost: (opts.baseUrl ?? DEFAULT_VONAGE_BASE_URL).replace(/\/+$/, ''), timeout: opts.timeoutMs ?? 15_000 });
  const from = opts.from;
  return {
    channel: 'sms',
    provider: 'vonage',
    async send(req: SendRequest) {
      const text = req.content.sms?.text;
      if (!text) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no sms text`);
      req.signal.throwIfAborted();
      let answer: { messages?: VonageMessage[] };
      try {
        answer = (await vonage.sms.send({ to: req.address.replace(/^\+/, ''), from, text, clientRef: req.deliveryId })) as { messages?: VonageMessage[] };
      } catch (err) {
        req.signal.throwIfAborted();
        throw classify(err);
      }
      const [message] = answer.messages ?? [];
      if (!message || message.status !== '0') throw refusal(message);
      return { provider: 'vonage', providerMessageId: message.messageId ?? null };
    },
  };
}
