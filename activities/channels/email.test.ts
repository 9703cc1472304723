import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeResend, resendError, startFakeResend } from '../../test/fakes/resend.js';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { createEmailSender } from './email.js';
import type { ChannelSender } from './types.js';

describe('email channel (Resend SDK against a fake Resend)', () => {
  let resend: FakeResend;
  let sender: ChannelSender;

  beforeEach(async () => {
    resend = await startFakeResend();
    sender = createEmailSender({ apiKey: 're_test_key', baseUrl: resend.url, from: 'Tocsin <n@example.com>' })!;
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await resend.close();
  });

  it('is unconfigured without an API key', () => {
    expect(createEmailSender({ from: 'n@example.com' })).toBeNull();
    expect(createEmailSender({ apiKey: '', from: 'n@example.com' })).toBeNull();
  });

  it('sends the rendered email with the delivery id as idempotency key', async () => {
    const result = await sender.send(sendRequest());

    expect(resend.requests).toHaveLength(1);
    const [req] = resend.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/emails');
    expect(req.headers.authorization).toBe('Bearer re_test_key');
    expect(req.headers['idempotency-key']).toBe('dlv_01HZX3Q8J5');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toEqual({
      from: 'Tocsin <n@example.com>',
      to: 'ann@example.com',
      subject: 'Order 7 shipped',
      html: '<p>Hi Ann</p>',
      text: 'Hi Ann',
    });
    expect(result).toEqual({ provider: 'resend', providerMessageId: [...resend.emails.keys()][0] });
  });

  it('a retried delivery sends one email: Resend answers the same id for the same key', async () => {
    const first = await sender.send(sendRequest());
    const second = await sender.send(sendRequest());
    expect(resend.requests).toHaveLength(2);
    expect(second.providerMessageId).toBe(first.providerMessageId);
    expect(resend.emails.size).toBe(1);
  });

  it('sends a text-only email without an html field', async () => {
    await sender.send(sendRequest({ content: { email: { subject: 'S', text: 'plain' } } }));
    expect(resend.requests[0].body).toEqual({ from: 'Tocsin <n@example.com>', to: 'ann@example.com', subject: 'S', text: 'plain' });
  });

  it('uses the configured base URL, not RESEND_BASE_URL from the environment', async () => {
    vi.stubEnv('RESEND_BASE_URL', 'http://127.0.0.1:9');
    const s = createEmailSender({ apiKey: 're_test_key', baseUrl: `${resend.url}/`, from: 'n@example.com' })!;
    await s.send(sendRequest());
    expect(resend.requests.map((r) => r.path)).toEqual(['/emails']);
  });

  it('fails permanently when the template has no email body, without calling Resend', async () => {
    const err = await rejection(sender.send(sendRequest({ content: { sms: { text: 'x' } } })));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect(resend.requests).toHaveLength(0);
  });

  it('a 503 is retryable', async () => {
    resend.enqueue({ status: 503 });
    const err = (await rejection(sender.send(sendRequest()))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBeUndefined();
  });

  it('a 429 is retried after Retry-After', async () => {
    resend.enqueue({ status: 429, headers: { 'retry-after': '2' } });
    const err = (await rejection(sender.send(sendRequest()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(2000);
  });

  it('a 422 validation error is permanent and names Resend’s error', async () => {
    resend.enqueue({ status: 422, body: resendError(422, 'Invalid `to` field.', 'validation_error') });
    const err = (await rejection(sender.send(sendRequest({ address: 'not-an-email' })))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('validation_error');
    expect(err.message).toContain('422');
  });

  it('a 409 for a concurrent request with the same key is retried', async () => {
    resend.enqueue({ status: 409, body: resendError(409, 'Concurrent request in progress.', 'concurrent_idempotent_requests') });
    const err = await rejection(sender.send(sendRequest()));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
  });

  it('a dropped connection is a plain (retryable) error', async () => {
    resend.enqueue({ drop: true });
    const err = await rejection(sender.send(sendRequest()));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err.message).toMatch(/resend request failed/);
  });

  describe('batch send (broadcasts)', () => {
    const batch = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ to: `u${from + i}@example.com`, subject: `S${from + i}`, text: `hi ${from + i}` }));
    const opts = (key: string) => ({ idempotencyKey: key, signal: new AbortController().signal });

    it('sends up to 100 emails in one call, in order, with the key as Idempotency-Key', async () => {
      const emails = [...batch(99), { to: 'html@example.com', subject: 'H', html: '<p>h</p>', text: 'h' }];
      const result = await sender.sendBatch!(emails, opts('tocsin-broadcast/t/bc_1/0'));
      expect(resend.requests).toHaveLength(1);
      const [req] = resend.requests;
      expect(req.path).toBe('/emails/batch');
      expect(req.headers['idempotency-key']).toBe('tocsin-broadcast/t/bc_1/0');
      expect(req.headers['x-batch-validation']).toBe('strict');
      expect(req.body).toHaveLength(100);
      expect(req.body[0]).toEqual({ from: 'Tocsin <n@example.com>', to: 'u0@example.com', subject: 'S0', text: 'hi 0' });
      expect(req.body[99]).toEqual({ from: 'Tocsin <n@example.com>', to: 'html@example.com', subject: 'H', html: '<p>h</p>', text: 'h' });
      expect(result.provider).toBe('resend');
      expect(result.providerMessageIds).toHaveLength(100);
      expect(result.providerMessageIds.map((id) => (resend.emails.get(id) as { to: string }).to)).toEqual(emails.map((e) => e.to));
    });

    it('a retried batch (same key, same emails) answers the same ids and sends nothing again', async () => {
      const first = await sender.sendBatch!(batch(3), opts('k-1'));
      const again = await sender.sendBatch!(batch(3), opts('k-1'));
      expect(again.providerMessageIds).toEqual(first.providerMessageIds);
      expect(resend.emails.size).toBe(3);
      // Another key is another batch.
      await sender.sendBatch!(batch(3), opts('k-2'));
      expect(resend.emails.size).toBe(6);
    });

    it('the same key with other emails is refused for good, and sends nothing', async () => {
      await sender.sendBatch!(batch(2), opts('k-1'));
      const err = (await rejection(sender.sendBatch!(batch(2, 5), opts('k-1')))) as ApplicationFailure;
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain('409');
      expect(resend.emails.size).toBe(2);
    });

    it('one invalid email refuses the whole batch for good (strict validation): none is sent', async () => {
      const emails = batch(3);
      const err = (await rejection(sender.sendBatch!([emails[0], { ...emails[1], to: undefined as unknown as string }, emails[2]], opts('k-1')))) as ApplicationFailure;
      expect(err.type).toBe('provider_rejected');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain('index 1');
      expect(resend.emails.size).toBe(0);
    });

    it('a 429 is retried after Retry-After; a lost answer is a plain error, and the retry adopts the first answer', async () => {
      resend.enqueue({ status: 429, headers: { 'retry-after': '3' } }, { acceptThen: 'drop' });
      const limited = (await rejection(sender.sendBatch!(batch(2), opts('k-1')))) as ApplicationFailure;
      expect(limited.nonRetryable).toBe(false);
      expect(limited.nextRetryDelay).toBe(3000);
      const lost = await rejection(sender.sendBatch!(batch(2), opts('k-1')));
      expect(lost).not.toBeInstanceOf(ApplicationFailure);
      expect(resend.emails.size).toBe(2);
      const retried = await sender.sendBatch!(batch(2), opts('k-1'));
      expect(new Set(retried.providerMessageIds)).toEqual(new Set(resend.emails.keys()));
      expect(resend.emails.size).toBe(2);
    });

    it('refuses more than 100 emails without calling Resend, and sends an empty batch as nothing', async () => {
      await expect(sender.sendBatch!(batch(101), opts('k-1'))).rejects.toThrow(/at most 100/);
      expect(await sender.sendBatch!([], opts('k-2'))).toEqual({ provider: 'resend', providerMessageIds: [] });
      expect(resend.requests).toHaveLength(0);
    });
  });
});
