// Email channel: Resend's `emails.send`, with the delivery id as Resend's idempotency key so
// that a retried activity never sends the same email twice; broadcasts send up to 100 at once
// with `batch.send`, one idempotency key per batch.
import { type CreateBatchOptions, type CreateEmailOptions, type ErrorResponse, Resend } from 'resend';
import { ErrorType } from '../../domain/errors.js';
import { httpFailure, permanent } from '../errors.js';
import type { BatchEmail, ChannelSender, SendRequest } from './types.js';

interface EmailOptions {
  apiKey?: string;
  /** Resend's API base (regional endpoints, proxies, tests). Default: https://api.resend.com */
  baseUrl?: string;
  from: string;
}

const DEFAULT_BASE_URL = 'https://api.resend.com';

/** Resend's most emails per batch call. */
export const RESEND_BATCH_LIMIT = 100;

/**
 * Resend answers `{ data, error }` instead of throwing. A missing statusCode means the request
 * never got an answer (network error, abort): retryable. `concurrent_idempotent_requests` (409)
 * means the first attempt with this key is still in flight: retry it too.
 */
function classify(error: ErrorResponse, headers: Record<string, string> | null): Error {
  const detail = `${error.name}: ${error.message}`;
  if (typeof error.statusCode !== 'number') return new Error(`resend request failed: ${detail}`);
  if (error.name === 'concurrent_idempotent_requests') return new Error(`resend answered ${error.statusCode}: ${detail}`);
  return httpFailure('resend', error.statusCode, detail, headers?.['retry-after']);
}

/**
 * The RFC 8058 one-click unsubscribe headers of an email with an unsubscribe URL (an email of a
 * notification with a category); none for one without (transactional email).
 */
export function unsubscribeHeaders(url: string | undefined): Record<string, string> | undefined {
  if (!url) return undefined;
  return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

/** An email's body as the template gives it (html, text or both), or null when it has neither. */
export function emailBody(email: { html?: string; text?: string } | undefined): { html: string; text?: string } | { text: string } | null {
  return email?.html ? { html: email.html, text: email.text || undefined } : email?.text ? { text: email.text } : null;
}

export function createEmailSender(opts: EmailOptions): ChannelSender | null {
  if (!opts.apiKey) return null;
  // The base URL is passed explicitly: without it the SDK falls back to process.env.RESEND_BASE_URL.
  const resend = new Resend(opts.apiKey, { baseUrl: (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '') });
  return {
    channel: 'email',
    provider: 'resend',
    async send(req: SendRequest) {
      const email = req.content.email;
      const body = emailBody(email);
      if (!email || !body) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no email body`);
      req.signal.throwIfAborted();
      const listHeaders = unsubscribeHeaders(req.unsubscribeUrl);
      const payload: CreateEmailOptions = { from: opts.from, to: req.address, subject: email.subject, ...body, ...(listHeaders ? { headers: listHeaders } : {}) };
      const { data, error, headers } = await resend.emails.send(payload, {
        idempotencyKey: req.deliveryId,
        signal: req.signal,
      });
      if (error) throw classify(error, headers);
      return { provider: 'resend', providerMessageId: data.id };
    },
    /**
     * Strict validation (Resend's default): one invalid email refuses the whole batch, and
     * nothing of it is sent. A repeated key with the same body answers the first batch's ids.
     */
    async sendBatch(emails: BatchEmail[], { idempotencyKey, signal }) {
      if (emails.length === 0) return { provider: 'resend', providerMessageIds: [] };
      if (emails.length > RESEND_BATCH_LIMIT) throw new RangeError(`a Resend batch holds at most ${RESEND_BATCH_LIMIT} emails, not ${emails.length}`);
      signal.throwIfAborted();
      const payload: CreateBatchOptions = emails.map((e) => {
        const listHeaders = unsubscribeHeaders(e.unsubscribeUrl);
        const common = { from: opts.from, to: e.to, subject: e.subject, ...(listHeaders ? { headers: listHeaders } : {}) };
        return e.html ? { ...common, html: e.html, text: e.text || undefined } : { ...common, text: e.text ?? '' };
      });
      const { data, error, headers } = await resend.batch.send(payload, { idempotencyKey, signal });
      if (error) throw classify(error, headers);
      const ids = data.data.map((d) => d.id);
      if (ids.length !== emails.length) throw permanent(ErrorType.ProviderRejected, `resend answered ${ids.length} ids for a batch of ${emails.length} emails`);
      return { provider: 'resend', providerMessageIds: ids };
    },
  };
}
