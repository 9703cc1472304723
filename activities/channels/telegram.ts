// Telegram channel: the Bot API's sendMessage (https://core.telegram.org/bots/api#sendmessage)
// with plain fetch: one POST of {chat_id, text} as JSON. Plain text (no parse_mode), so a
// template's data can never turn into markup. Telegram has no idempotency key and no way to
// list what a bot sent: a retry after a lost answer may send twice (at least once).
//
// Failures: 429 waits the `parameters.retry_after` Telegram gives; a chat that does not exist
// or a bot the user blocked (400 "chat not found", 403) fails the delivery as an invalid
// address; other 4xx are permanent; 5xx and network errors retry. The bot token sits in the
// URL's path, so no error message ever quotes the URL.
import { ErrorType } from '../../domain/errors.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

export const DEFAULT_TELEGRAM_API_URL = 'https://api.telegram.org';

interface TelegramOptions {
  botToken?: string;
  /** Replaces https://api.telegram.org (a local Bot API server, tests). */
  apiUrl?: string;
  timeoutMs?: number;
}

/** What the Bot API answers: `ok`, and either `result` or an error with its code. */
interface BotApiAnswer {
  ok: boolean;
  result?: { message_id?: number };
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/** Descriptions of a 400 that mean the chat cannot be reached at all. */
const UNREACHABLE_CHAT = /chat not found|user not found|chat_id is empty|peer_id_invalid|group chat was (upgraded|deactivated)/i;

export function createTelegramSender(opts: TelegramOptions): ChannelSender | null {
  if (!opts.botToken) return null;
  const endpoint = `${(opts.apiUrl ?? DEFAULT_TELEGRAM_API_URL).replace(/\/+$/, '')}/bot${opts.botToken}/sendMessage`;
  const timeoutMs = opts.timeoutMs ?? 15_000;

  return {
    channel: 'telegram',
    provider: 'telegram',
    async send(req: SendRequest) {
      const text = req.content.telegram?.text;
      if (!text) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no telegram text`);
      req.signal.throwIfAborted();
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ chat_id: req.address, text }),
          signal: AbortSignal.any([req.signal, AbortSignal.timeout(timeoutMs)]),
        });
      } catch (err) {
        req.signal.throwIfAborted();
        // A fresh Error: the cause could name the URL, and the URL holds the token.
        throw new Error(`telegram request failed: ${err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : 'no answer'}`);
      }
      const answer = (await res.json().catch(() => null)) as BotApiAnswer | null;
      if (res.ok && answer?.ok) return { provider: 'telegram', providerMessageId: answer.result?.message_id !== undefined ? String(answer.result.message_id) : null };
      const status = answer?.error_code ?? res.status;
      const detail = answer?.description ?? '';
      if (status === 403 || (status === 400 && UNREACHABLE_CHAT.test(detail))) {
        throw permanent(ErrorType.InvalidAddress, `telegram answered ${status}: ${detail}`);
      }
      const retryAfter = answer?.parameters?.retry_after;
      throw httpFailure('telegram', status, detail, retryAfter !== undefined ? String(retryAfter) : res.headers.get('retry-after'));
    },
  };
}
