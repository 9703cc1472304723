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
});
