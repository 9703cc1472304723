import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeTwilio, startFakeTwilio, twilioError } from '../../test/fakes/twilio.js';
import { createSmsSender, createTwilioClient, createWhatsappSender } from './sms.js';
import type { ChannelSender, EarlierAttempts } from './types.js';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'twilio_auth_token_secret';
const phone = (overrides = {}) => sendRequest({ address: '+14155550123', ...overrides });

describe('sms channel (twilio SDK against a fake Twilio)', () => {
  let twilio: FakeTwilio;
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

  describe('a retry adopts the message an earlier attempt sent (Messages list)', () => {
    const creates = () => twilio.requests.filter((r) => r.method === 'POST');
    const lists = () => twilio.requests.filter((r) => r.method === 'GET');
    /** An earlier attempt started a moment ago; `claimed` are sids other deliveries own. */
    const earlier = (claimed: string[] = [], since = new Date(Date.now() - 1000)): EarlierAttempts => ({
      since,
      claimedElsewhere: async (sid) => claimed.includes(sid),
    });

    it('the fake lists in Twilio’s wire format: newest first, filtered by To, From and DateSent, paged as the SDK follows', async () => {
      for (const [to, body] of [['+14155550123', 'a'], ['+14155550199', 'b'], ['+14155550123', 'c'], ['+14155550123', 'd']]) {
        await sender.send(sendRequest({ address: to, content: { sms: { text: body } } }));
      }
      const client = createTwilioClient({ accountSid: SID, authToken: TOKEN, apiBaseUrl: twilio.url });
      const today = new Date();
      const listed = await client.messages.list({ to: '+14155550123', from: '+15005550006', dateSentAfter: today, pageSize: 2 });
      expect(listed.map((m) => m.body)).toEqual(['d', 'c', 'a']);
      expect(listed[0].sid).toBe(twilio.messages[3].sid);
      expect(listed[0].dateCreated).toBeInstanceOf(Date);
      const gets = lists();
      expect(gets).toHaveLength(2);
      expect(gets[0].query).toMatchObject({ To: '+14155550123', From: '+15005550006', PageSize: '2' });
      expect(gets[0].query['DateSent>']).toBe(today.toISOString().replace(/\.\d{3}Z$/, 'Z'));
      expect(gets[1].query).toMatchObject({ Page: '1', PageSize: '2' });
      expect(gets[1].query.PageToken).toMatch(/^PA/);
      // DateSent> compares whole days: tomorrow's filter finds nothing sent today.
      const tomorrow = await client.messages.list({ dateSentAfter: new Date(Date.now() + 86_400_000) });
      expect(tomorrow).toEqual([]);
    });

    it('an answer lost after Twilio accepted: the retry adopts that message and sends nothing', async () => {
      twilio.enqueue({ acceptThen: 'drop' });
      const lost = await rejection(sender.send(phone()));
      expect(lost).not.toBeInstanceOf(ApplicationFailure);

      const retried = await sender.send(phone({ earlier: earlier() }));
      expect(retried).toEqual({ provider: 'twilio', providerMessageId: twilio.messages[0].sid, adopted: true });
      expect(twilio.messages).toHaveLength(1);
      expect(creates()).toHaveLength(1);
      expect(lists()[0].query).toMatchObject({ To: '+14155550123', From: '+15005550006' });
    });

    it('an answer slower than the client’s timeout: the retry adopts too', async () => {
      const slow = createSmsSender({ accountSid: SID, authToken: TOKEN, from: '+15005550006', apiBaseUrl: twilio.url, timeoutMs: 200 })!;
      twilio.enqueue({ acceptThen: { answerDelayMs: 1000 } });
      expect((await rejection(slow.send(phone()))).message).toMatch(/timeout/i);
      const retried = await slow.send(phone({ earlier: earlier() }));
      expect(retried.adopted).toBe(true);
      expect(retried.providerMessageId).toBe(twilio.messages[0].sid);
      expect(twilio.messages).toHaveLength(1);
    });

    it('nothing went out (a 503): the retry sends', async () => {
      twilio.enqueue({ status: 503 });
      await rejection(sender.send(phone()));
      const retried = await sender.send(phone({ earlier: earlier() }));
      expect(retried.adopted).toBeUndefined();
      expect(twilio.messages).toHaveLength(1);
      expect(retried.providerMessageId).toBe(twilio.messages[0].sid);
    });

    it('never adopts another delivery’s message, another body, another number, or one from before the first attempt', async () => {
      await sender.send(phone());
      const othersSid = twilio.messages[0].sid;
      await sender.send(phone({ content: { sms: { text: 'Order 8 shipped' } } }));
      await sender.send(phone({ address: '+14155550199' }));

      const mine = await sender.send(phone({ earlier: earlier([othersSid]) }));
      expect(mine.adopted).toBeUndefined();
      expect(twilio.messages).toHaveLength(4);

      // The same text sent before this delivery's first attempt (minus the skew) is not ours.
      const late = await sender.send(phone({ earlier: earlier([mine.providerMessageId!], new Date(Date.now() + 5 * 60_000)) }));
      expect(late.adopted).toBeUndefined();
      expect(twilio.messages).toHaveLength(5);
    });

    it('a message Twilio reports failed is sent again', async () => {
      twilio.enqueue({ acceptThen: 'drop' });
      await rejection(sender.send(phone()));
      twilio.messages[0].status = 'undelivered';
      const retried = await sender.send(phone({ earlier: earlier() }));
      expect(retried.adopted).toBeUndefined();
      expect(twilio.messages).toHaveLength(2);
    });

    it('the lookup failing for now (503) is retryable and sends nothing; refused for good (403), it sends', async () => {
      twilio.enqueue({ status: 503 });
      const err = (await rejection(sender.send(phone({ earlier: earlier() })))) as ApplicationFailure;
      expect(err.type).toBe('provider_unavailable');
      expect(err.nonRetryable).toBe(false);
      expect(creates()).toHaveLength(0);

      twilio.enqueue({ status: 403, body: twilioError(403, 20003, 'Permission denied') });
      const sent = await sender.send(phone({ earlier: earlier() }));
      expect(sent.adopted).toBeUndefined();
      expect(twilio.messages).toHaveLength(1);
    });
  });
});

describe('whatsapp channel (Twilio Messages with whatsapp: numbers, against a fake Twilio)', () => {
  let twilio: FakeTwilio;
  let sender: ChannelSender;
  const whatsapp = (overrides = {}) => sendRequest({ address: '+14155550123', content: { whatsapp: { text: 'Order 7 shipped' } }, ...overrides });

  beforeEach(async () => {
    twilio = await startFakeTwilio();
    sender = createWhatsappSender({ accountSid: SID, authToken: TOKEN, from: '+14155238886', apiBaseUrl: twilio.url, statusCallbackUrl: 'http://tocsin.test/v1/receipts/twilio' })!;
  });
  afterEach(() => twilio.close());

  it('is unconfigured without TWILIO_WHATSAPP_FROM', () => {
    expect(createWhatsappSender({ accountSid: SID, authToken: TOKEN })).toBeNull();
  });

  it('creates a Message from and to whatsapp: numbers, with the whatsapp text and the status callback', async () => {
    const result = await sender.send(whatsapp());
    expect(twilio.requests[0].body).toEqual({
      To: 'whatsapp:+14155550123',
      From: 'whatsapp:+14155238886',
      Body: 'Order 7 shipped',
      StatusCallback: 'http://tocsin.test/v1/receipts/twilio',
    });
    expect(result.provider).toBe('twilio');
    // A sender number given with its prefix is not prefixed twice.
    const prefixed = createWhatsappSender({ accountSid: SID, authToken: TOKEN, from: 'whatsapp:+14155238886', apiBaseUrl: twilio.url })!;
    await prefixed.send(whatsapp());
    expect(twilio.requests[1].body.From).toBe('whatsapp:+14155238886');
  });

  it('an answer lost after Twilio accepted: the retry finds that whatsapp: message and sends nothing', async () => {
    twilio.enqueue({ acceptThen: 'drop' });
    await rejection(sender.send(whatsapp()));
    expect(twilio.messages).toHaveLength(1);
    const retried = await sender.send(whatsapp({ earlier: { since: new Date(Date.now() - 1000), claimedElsewhere: async () => false } }));
    expect(retried).toEqual({ provider: 'twilio', providerMessageId: twilio.messages[0].sid, adopted: true });
    expect(twilio.messages).toHaveLength(1);
  });

  it('a template without whatsapp text fails for good without calling Twilio', async () => {
    const err = (await rejection(sender.send(sendRequest({ address: '+14155550123' })))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(err.message).toContain('no whatsapp text');
    expect(twilio.requests).toHaveLength(0);
  });
});
