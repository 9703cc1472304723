import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import type { FakeServer } from '../../test/fakes/server.js';
import { startFakeTwilio, twilioError } from '../../test/fakes/twilio.js';
import { createSmsSender } from './sms.js';
import type { ChannelSender } from './types.js';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'twilio_auth_token_secret';
const phone = (overrides = {}) => sendRequest({ address: '+14155550123', ...overrides });

describe('sms channel (twilio SDK against a fake Twilio)', () => {
  let twilio: FakeServer;
  let sender: ChannelSender;

  beforeEach(async () => {
    twilio = await startFakeTwilio();
    sender = createSmsSender({
      accountSid: SID,
      authToken: TOKEN,
      from: '+15005550006',
      apiBaseUrl: twilio.url,
      statusCallbackUrl: 'http://tocsin.test/v1/receipts/twilio',
      timeoutMs: 2000,
    })!;
  });
  afterEach(() => twilio.close());

  it('is unconfigured without an account SID, auth token or sender number', () => {
    expect(createSmsSender({})).toBeNull();
    expect(createSmsSender({ accountSid: SID, authToken: TOKEN })).toBeNull();
    expect(createSmsSender({ accountSid: SID, from: '+15005550006' })).toBeNull();
    expect(createSmsSender({ authToken: TOKEN, from: '+15005550006' })).toBeNull();
  });

  it('creates a Message with basic auth, form-encoded, with the status callback', async () => {
    const result = await sender.send(phone());

    expect(twilio.requests).toHaveLength(1);
    const [req] = twilio.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`);
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.body).toEqual({
      To: '+14155550123',
      From: '+15005550006',
      Body: 'Order 7 shipped',
      StatusCallback: 'http://tocsin.test/v1/receipts/twilio',
    });
    expect(result.provider).toBe('twilio');
    expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
  });

  it('omits StatusCallback when no callback URL is configured', async () => {
    const s = createSmsSender({ accountSid: SID, authToken: TOKEN, from: '+15005550006', apiBaseUrl: `${twilio.url}/` })!;
    await s.send(phone());
    expect(twilio.requests[0].body).toEqual({ To: '+14155550123', From: '+15005550006', Body: 'Order 7 shipped' });
  });

  it.each([21211, 21214, 21217, 21408, 21610, 21612, 21614])('Twilio error %i is a permanent invalid_address', async (code) => {
    twilio.enqueue({ status: 400, body: twilioError(400, code, "The 'To' number is not valid.") });
    const err = (await rejection(sender.send(phone()))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('invalid_address');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(String(code));
  });

  it('another 4xx is a permanent provider_rejected', async () => {
    twilio.enqueue({ status: 400, body: twilioError(400, 21602, 'Message body is required.') });
    const err = (await rejection(sender.send(phone()))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(err.nonRetryable).toBe(true);
  });

  it('a 503 is retryable, and the SDK does not retry on its own', async () => {
    twilio.enqueue({ status: 503 });
    const err = (await rejection(sender.send(phone()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(twilio.requests).toHaveLength(1);
  });

  it('a 429 is retried after Retry-After, by Temporal rather than the SDK', async () => {
    twilio.enqueue({ status: 429, headers: { 'retry-after': '2' }, body: twilioError(429, 20429, 'Too Many Requests') });
    const err = (await rejection(sender.send(phone()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(2000);
    expect(twilio.requests).toHaveLength(1);
  });

  it('a dropped connection is a plain retryable error that does not leak the token', async () => {
    twilio.enqueue({ drop: true });
    const err = await rejection(sender.send(phone()));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err.message).toMatch(/^twilio request failed/);
    expect(JSON.stringify(err)).not.toContain(TOKEN);
  });

  it('a response slower than the timeout is a plain retryable error', async () => {
    const slow = createSmsSender({ accountSid: SID, authToken: TOKEN, from: '+1500', apiBaseUrl: twilio.url, timeoutMs: 100 })!;
    twilio.enqueue({ delayMs: 1000 });
    const err = await rejection(slow.send(phone()));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err.message).toMatch(/timeout/i);
  });
});
