// Email over SMTP with nodemailer (SMTP_URL, `smtp://user:pass@host:port` or `smtps://…`): the
// platform's email provider when no Resend key is set. One connection per send, so nothing is
// held open between deliveries.
//
// SMTP has no idempotency key: a retry after a lost answer (the server took the message, the
// connection dropped before its 250) may send twice. Every attempt of a delivery carries the
// same Message-ID (`<delivery id@tocsin>`), so mail systems that drop a repeated Message-ID
// (and any reader's client) see one message.
//
// Failures: a 5xx reply about the mailbox (550, 551, 553) or a rejected recipient is an invalid
// address; other 5xx are permanent; 4xx replies, timeouts and connection errors retry.
import nodemailer from 'nodemailer';
import { ErrorType } from '../../domain/errors.js';
import { permanent } from '../errors.js';
import { emailBody } from './email.js';
import type { ChannelSender, SendRequest } from './types.js';

interface SmtpOptions {
  /** `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start). */
  url?: string;
  from: string;
  timeoutMs?: number;
}

/** Replies about the recipient's mailbox: sending again cannot help. */
const MAILBOX_REPLIES = new Set([550, 551, 553]);

/** A nodemailer error: `responseCode` when the server replied, `code` for the kind. */
type SmtpError = Error & { responseCode?: number; code?: string; response?: string };

function classify(err: unknown): Error {
  const e = err as SmtpError;
  const reply = typeof e?.responseCode === 'number' ? e.responseCode : undefined;
  // The server's reply text, never the connection options (which hold the password).
  const detail = `${reply ?? e?.code ?? 'error'}: ${String(e?.response ?? e?.message ?? err).slice(0, 300)}`;
  if (reply !== undefined && reply >= 500) {
    if (MAILBOX_REPLIES.has(reply) || e.code === 'EENVELOPE') return permanent(ErrorType.InvalidAddress, `smtp answered ${detail}`);
    return permanent(ErrorType.ProviderRejected, `smtp answered ${detail}`);
  }
  return new Error(`smtp send failed: ${detail}`);
}

export function createSmtpSender(opts: SmtpOptions): ChannelSender | null {
  if (!opts.url) return null;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const transport = nodemailer.createTransport({ url: opts.url, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs });
  return {
    channel: 'email',
    provider: 'smtp',
    async send(req: SendRequest) {
      const email = req.content.email;
      const body = emailBody(email);
      if (!email || !body) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no email body`);
      req.signal.throwIfAborted();
      let info: { messageId: string; rejected: unknown[] };
      try {
        // nodemailer's `list` writes List-Unsubscribe (as <url>); the RFC 8058 Post header beside it.
        const unsubscribe = req.unsubscribeUrl
          ? { list: { unsubscribe: req.unsubscribeUrl }, headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } }
          : {};
        info = await transport.sendMail({ from: opts.from, to: req.address, subject: email.subject, ...body, ...unsubscribe, messageId: `<${req.deliveryId}@tocsin>`, signal: req.signal });
      } catch (err) {
        req.signal.throwIfAborted();
        throw classify(err);
      }
      if (info.rejected.length > 0) throw permanent(ErrorType.InvalidAddress, 'smtp refused the recipient');
      return { provider: 'smtp', providerMessageId: info.messageId };
    },
  };
}
