import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeTelegram, startFakeTelegram } from '../../test/fakes/telegram.js';
import { createTelegramSender } from './telegram.js';
import type { ChannelSender } from './types.js';

const TOKEN = '123456789:AAE_secret-bot-token_0123456789abcdef';
const chat = (overrides = {}) => sendRequest({ address: '987654321', content: { telegram: { text: 'Order 7 shipped <b>now</b>' } }, ...overrides });

describe('telegram channel (Bot API sendMessage against a fake Bot API)', () => {
  let telegram: FakeTelegram;
  let sender: ChannelSender;

  beforeEach(async () => {
    telegram = await startFakeTelegram();
    sender = createTelegramSender({ botToken: TOKEN, apiUrl: `${telegram.url}/`, timeoutMs: 2000 })!;
  });
  afterEach(() => telegram.close());

  it('is unconfigured without a bot token', () => {
    expect(createTelegramSender({})).toBeNull();
  });

  it('posts {chat_id, text} as JSON to /bot<token>/sendMessage, as plain text, and answers the message id', async () => {
    const result = await sender.send(chat());
    expect(telegram.requests).toHaveLength(1);
    const [req] = telegram.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/bot${TOKEN}/sendMessage`);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toEqual({ chat_id: '987654321', text: 'Order 7 shipped <b>now</b>' });
    expect(telegram.messages).toEqual([{ token: TOKEN, chatId: '987654321', text: 'Order 7 shipped <b>now</b>', messageId: 1 }]);
    expect(result).toEqual({ provider: 'telegram', providerMessageId: '1' });
  });

  it('a chat that does not exist, or a bot the user blocked, is an invalid address: permanent', async () => {
    telegram.knownChats = new Set(['111']);
    const missing = await rejection(sender.send(chat()));
    expect(missing).toBeInstanceOf(ApplicationFailure);
    expect((missing as ApplicationFailure).type).toBe('invalid_address');
    expect((missing as ApplicationFailure).nonRetryable).toBe(true);
    expect(missing.message).toContain('chat not found');

    telegram.enqueue({ status: 403, body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' } });
    const blocked = (await rejection(sender.send(chat({ address: '111' })))) as ApplicationFailure;
    expect(blocked.type).toBe('invalid_address');
    expect(blocked.nonRetryable).toBe(true);
    expect(telegram.messages).toHaveLength(0);
  });

  it('429 waits the retry_after Telegram gives; 5xx and a dropped connection retry; other 4xx are permanent', async () => {
    telegram.enqueue({ status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } } });
    const limited = (await rejection(sender.send(chat()))) as ApplicationFailure;
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe(7000);

    telegram.enqueue({ status: 502 });
    const down = (await rejection(sender.send(chat()))) as ApplicationFailure;
    expect(down.type).toBe('provider_unavailable');
    expect(down.nonRetryable).toBe(false);

    telegram.enqueue({ drop: true });
    const dropped = await rejection(sender.send(chat()));
    expect(dropped).not.toBeInstanceOf(ApplicationFailure);
    expect(dropped.message).toBe('telegram request failed: no answer');

    const tooLong = (await rejection(sender.send(chat({ content: { telegram: { text: 'x'.repeat(5000) } } })))) as ApplicationFailure;
    expect(tooLong.type).toBe('provider_rejected');
    expect(tooLong.nonRetryable).toBe(true);
    expect(telegram.messages).toHaveLength(0);
  });

  it('never names the bot token in a failure', async () => {
    const unreachable = createTelegramSender({ botToken: TOKEN, apiUrl: 'http://127.0.0.1:1', timeoutMs: 500 })!;
    const errors = [await rejection(unreachable.send(chat()))];
    telegram.enqueue({ status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } });
    errors.push(await rejection(sender.send(chat())));
    for (const err of errors) expect(JSON.stringify({ message: err.message, cause: String(err.cause ?? '') })).not.toContain('secret-bot-token');
    expect((errors[1] as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('a template without telegram text fails for good without calling Telegram', async () => {
    const err = (await rejection(sender.send(sendRequest({ address: '987654321' })))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(telegram.requests).toHaveLength(0);
  });
});
