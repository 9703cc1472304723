import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeVonage, startFakeVonage } from '../../test/fakes/vonage.js';
import type { ChannelSender } from './types.js';
import { createVonageSender } from './vonage.js';

const KEY = 'abcd1234';
const SECRET = 'vonage-secret-XYZ987';

describe('sms through Vonage (@vonage/server-sdk against a fake SMS API)', () => {
  let vonage: FakeVonage;
  let sender: ChannelSender;

  beforeEach(async () => {
    vonage = await startFakeVonage();
    sender = createVonageSender({ apiKey: KEY, apiSecret: SECRET, from: 'Acme', baseUrl: vonage.url, timeoutMs: 2000 })!;
  });
  afterEach(() => vonage.close());

  it('is unconfigured without a key, secret or sender', () => {
    expect(createVonageSender({ apiKey: KEY, apiSecret: SECRET })).toBeNull();
    expect(createVonageSender({ apiKey: KEY, from: 'Acme' })).toBeNull();
  });

  it('posts to /sms/json with basic auth, the number without its +, and the delivery id as client-ref', async () => {
    const result = await sender.send(sendRequest({ address: '+14155550123' }));
    expect(vonage.requests).toHaveLength(1);
    expect(vonage.requests[0].path).toBe('/sms/json');
    expect(vonage.messages).toEqual([
      { to: '14155550123', from: 'Acme', text: 'Order 7 shipped', clientRef: 'dlv_01HZX3Q8J5', messageId: expect.any(String), auth: `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}` },
    ]);
    expect(result).toEqual({ provider: 'vonage', providerMessageId: vonage.messages[0].messageId });
  });

  it('a throttled or internal-error status retries; a barred number is an invalid address; another status is permanent', async () => {
    vonage.refuse('1', 'Throughput Rate Exceeded');
    const throttled = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(throttled.nonRetryable).toBe(false);
    expect(throttled.message).toContain('Throughput Rate Exceeded');

    vonage.refuse('7', 'Number barred');
    const barred = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(barred.type).toBe('invalid_address');
    expect(barred.nonRetryable).toBe(true);

    vonage.refuse('15', 'Illegal Sender Address - rejected');
    const sender15 = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(sender15.type).toBe('provider_rejected');
    expect(sender15.nonRetryable).toBe(true);
    expect(vonage.messages).toHaveLength(0);
  });

  it('HTTP 429 and 5xx retry, 401 is permanent, and no failure carries the secret', async () => {
    vonage.enqueue({ status: 429, headers: { 'retry-after': '2' } });
    const limited = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe(2000);

    vonage.enqueue({ status: 503 });
    const down = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(down.type).toBe('provider_unavailable');

    vonage.enqueue({ status: 401 });
    const unauthorized = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(unauthorized.nonRetryable).toBe(true);

    const unreachable = createVonageSender({ apiKey: KEY, apiSecret: SECRET, from: 'Acme', baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 })!;
    const gone = await rejection(unreachable.send(sendRequest({ address: '+14155550123' })));
    expect(gone).not.toBeInstanceOf(ApplicationFailure);
    for (const err of [limited, down, unauthorized, gone]) expect(JSON.stringify({ m: err.message, c: String(err.cause ?? '') })).not.toContain(SECRET);
    expect(vonage.messages).toHaveLength(0);
  });
});
