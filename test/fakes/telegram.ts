// A fake Telegram Bot API, in its wire format: POST /bot{token}/sendMessage with a JSON (or
// form) body {chat_id, text} → {"ok":true,"result":Message}; errors are
// {"ok":false,"error_code","description"} with `parameters.retry_after` on 429. A chat the fake
// does not know (set `knownChats`) is 400 "Bad Request: chat not found".
import { type FakeServer, type RecordedRequest, type Reply, startFakeServer } from './server.js';

const SEND = /^\/bot(\d+:[A-Za-z0-9_-]+)\/sendMessage$/;

export function telegramError(status: number, description: string, retryAfter?: number) {
  return { ok: false, error_code: status, description, ...(retryAfter !== undefined ? { parameters: { retry_after: retryAfter } } : {}) };
}

export interface FakeTelegram extends FakeServer {
  /** Every message the fake accepted, oldest first, with the bot token it came with. */
  messages: Array<{ token: string; chatId: string; text: string; messageId: number }>;
  /** Chats that exist; unset: every chat exists. */
  knownChats?: Set<string>;
}

export async function startFakeTelegram(): Promise<FakeTelegram> {
  const messages: FakeTelegram['messages'] = [];
  let nextId = 1;
  const fake = {} as FakeTelegram;

  function handle(req: RecordedRequest): Reply {
    const m = SEND.exec(req.path);
    if (req.method !== 'POST' || !m) return { status: 404, body: telegramError(404, 'Not Found') };
    const chatId = req.body?.chat_id === undefined ? '' : String(req.body.chat_id);
    const text = typeof req.body?.text === 'string' ? req.body.text : '';
    if (!chatId) return { status: 400, body: telegramError(400, 'Bad Request: chat_id is empty') };
    if (!text) return { status: 400, body: telegramError(400, 'Bad Request: message text is empty') };
    if (text.length > 4096) return { status: 400, body: telegramError(400, 'Bad Request: message is too long') };
    if (fake.knownChats && !fake.knownChats.has(chatId)) return { status: 400, body: telegramError(400, 'Bad Request: chat not found') };
    const messageId = nextId++;
    messages.push({ token: m[1], chatId, text, messageId });
    return { status: 200, body: { ok: true, result: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: Number(chatId) || chatId, type: 'private' }, text } } };
  }

  const server = await startFakeServer(handle, (status) => telegramError(status, status === 429 ? 'Too Many Requests: retry after 3' : 'Internal Server Error', status === 429 ? 3 : undefined));
  return Object.assign(fake, server, { messages });
}
