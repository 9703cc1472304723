import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeServer, startFakeServer } from '../../test/fakes/server.js';
import { createWebhookSender } from './webhook.js';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5);

/** What a receiver does: recompute the HMAC over "<t>.<raw body>" and compare in constant time. */
function verify(secret: string, header: string, rawBody: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('webhook channel (against a local receiver)', () => {
  let receiver: FakeServer;
  const sender = createWebhookSender({ now: () => NOW, timeoutMs: 2000 });
  const toReceiver = () => sendRequest({ address: `${receiver.url}/hooks/tocsin` });

  beforeEach(async () => {
    receiver = await startFakeServer(() => ({ status: 204 }));
  });
  afterEach(() => receiver.close());

  it('posts the signed event with Tocsin-Event-Id = delivery id', async () => {
    const result = await sender.send(toReceiver());

    expect(result).toEqual({ provider: 'webhook', providerMessageId: null });
    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks/tocsin');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['tocsin-event-id']).toBe('dlv_01HZX3Q8J5');
    expect(req.body).toEqual({
      id: 'dlv_01HZX3Q8J5',
      notificationId: 'ntf_01HZX3Q8J4',
      recipient: 'user-42',
      template: 'order-shipped',
      channel: 'webhook',
      content: { orderId: 7 },
      data: { order: { id: 7 } },
    });
    const signature = req.headers['tocsin-signature'];
    expect(signature).toMatch(new RegExp(`^t=${NOW / 1000},v1=[0-9a-f]{64}$`));
    expect(verify('whsec_test_secret', signature, req.rawBody)).toBe(true);
    expect(verify('another_secret', signature, req.rawBody)).toBe(false);
    expect(verify('whsec_test_secret', signature, req.rawBody.replace('7', '8'))).toBe(false);
  });

  it('a 503 is retryable', async () => {
    receiver.enqueue({ status: 503, body: 'down' });
    const err = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
  });

  it('a 400 fails at once', async () => {
    receiver.enqueue({ status: 400, body: { error: 'bad' } });
    const err = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(err.nonRetryable).toBe(true);
  });

  it('408 and 429 are retried; 429 after Retry-After', async () => {
    receiver.enqueue({ status: 408 }, { status: 429, headers: { 'retry-after': '2' } });
    const timeout = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    const limited = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    expect([timeout.nonRetryable, limited.nonRetryable]).toEqual([false, false]);
    expect(limited.nextRetryDelay).toBe(2000);
  });

  it('a Retry-After date counts from now', async () => {
    receiver.enqueue({ status: 503, headers: { 'retry-after': new Date(NOW + 30_000).toUTCString() } });
    const err = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    expect(err.nextRetryDelay).toBe(30_000);
  });

  it('does not follow a redirect', async () => {
    receiver.enqueue({ status: 302, headers: { location: `${receiver.url}/elsewhere` }, body: '' });
    const err = (await rejection(sender.send(toReceiver()))) as ApplicationFailure;
    expect(err.type).toBe('provider_rejected');
    expect(err.nonRetryable).toBe(true);
    expect(receiver.requests.map((r) => r.path)).toEqual(['/hooks/tocsin']);
  });

  it('a dropped connection is a plain retryable error', async () => {
    receiver.enqueue({ drop: true });
    const err = await rejection(sender.send(toReceiver()));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
  });
});
