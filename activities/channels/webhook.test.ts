import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest, TEST_WEBHOOK_SECRET } from '../../test/fakes/send-request.js';
import { type FakeServer, startFakeServer } from '../../test/fakes/server.js';
import { verifyWebhook } from '../../test/fakes/webhook.js';
import { newWebhookSecret } from '../../usecases/ids.js';
import { createWebhookSender, signWebhook } from './webhook.js';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5);

describe('Standard Webhooks signature', () => {
  it('matches the test vector of the Standard Webhooks specification', () => {
    // github.com/standard-webhooks/standard-webhooks, libraries' shared test vector.
    const headers = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', '{"test": 2432232314}', new Date(1614265330_000));
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('tenants get whsec_ secrets that the library takes as they are (32-byte keys)', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    const body = '{"a":1}';
    const signed = signWebhook(secret, 'dlv_1', body, new Date());
    expect(new Webhook(secret).verify(body, signed)).toEqual({ a: 1 });
  });

  it('a secret that is not whsec_ + base64 fails the send at once, nothing signed', async () => {
    const err = (await rejection(
      createWebhookSender({ allowedHosts: '127.0.0.1' }).send(sendRequest({ address: 'http://127.0.0.1:9/x', tenant: { id: 't', webhookSecret: 'whsec_not_base64!' } })),
    )) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('channel_unconfigured');
    expect(err.nonRetryable).toBe(true);
  });
});

describe('webhook channel (against a local receiver)', () => {
  let receiver: FakeServer;
  // The receiver listens on loopback, which the address guard refuses unless allowed.
  const sender = createWebhookSender({ now: () => NOW, timeoutMs: 2000, allowedHosts: '127.0.0.1' });
  // Verified as a receiver would: now, so against a sender whose clock is now.
  const liveSender = createWebhookSender({ timeoutMs: 2000, allowedHosts: '127.0.0.1' });
  const toReceiver = () => sendRequest({ address: `${receiver.url}/hooks/tocsin` });

  beforeEach(async () => {
    receiver = await startFakeServer(() => ({ status: 204 }));
  });
  afterEach(() => receiver.close());

  it('posts the event signed per Standard Webhooks, webhook-id = the delivery id', async () => {
    const result = await sender.send(toReceiver());

    expect(result).toEqual({ provider: 'webhook', providerMessageId: null });
    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/hooks/tocsin');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['webhook-id']).toBe('dlv_01HZX3Q8J5');
    expect(req.headers['webhook-timestamp']).toBe(String(NOW / 1000));
    expect(req.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(Object.keys(req.headers).filter((h) => h.startsWith('tocsin-'))).toEqual([]);
    expect(req.body).toEqual({
      id: 'dlv_01HZX3Q8J5',
      notificationId: 'ntf_01HZX3Q8J4',
      recipient: 'user-42',
      template: 'order-shipped',
      channel: 'webhook',
      content: { orderId: 7 },
      data: { order: { id: 7 } },
    });
    // Sent at NOW, long past: the library refuses it as stale; its signature is the one of NOW.
    expect(() => verifyWebhook(TEST_WEBHOOK_SECRET, req)).toThrow(/too old/);
    expect(req.headers['webhook-signature']).toBe(new Webhook(TEST_WEBHOOK_SECRET).sign('dlv_01HZX3Q8J5', new Date(NOW), req.rawBody));
  });

  it('a receiver verifies it with the library; another secret, a changed body or id do not verify', async () => {
    await liveSender.send(toReceiver());
    const [req] = receiver.requests;
    expect(verifyWebhook(TEST_WEBHOOK_SECRET, req)).toEqual(req.body);
    const refused = (r: typeof req, secret = TEST_WEBHOOK_SECRET) => () => verifyWebhook(secret, r);
    expect(refused(req, `whsec_${randomBytes(24).toString('base64')}`)).toThrow(WebhookVerificationError);
    expect(refused({ ...req, rawBody: req.rawBody.replace('7', '8') })).toThrow(WebhookVerificationError);
    expect(refused({ ...req, headers: { ...req.headers, 'webhook-id': 'dlv_other' } })).toThrow(WebhookVerificationError);
  });

  it('retries carry the same webhook-id, each freshly signed', async () => {
    receiver.enqueue({ status: 503 });
    await rejection(liveSender.send(toReceiver()));
    await liveSender.send(toReceiver());
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual(['dlv_01HZX3Q8J5', 'dlv_01HZX3Q8J5']);
    for (const req of receiver.requests) expect(verifyWebhook(TEST_WEBHOOK_SECRET, req)).toEqual(req.body);
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

describe('webhook channel: address guard', () => {
  let receiver: FakeServer;
  const port = () => new URL(receiver.url).port;
  const send = (sender: ReturnType<typeof createWebhookSender>, address: string) => sender.send(sendRequest({ address }));

  beforeEach(async () => {
    receiver = await startFakeServer(() => ({ status: 204 }));
  });
  afterEach(() => receiver.close());

  it('a name that resolves to a blocked address fails address_blocked, and nothing is sent', async () => {
    // localhost resolves (from /etc/hosts) to loopback: the receiver would answer, were it asked.
    const blocked: string[] = [];
    const sender = createWebhookSender({ timeoutMs: 2000, onBlocked: (m) => blocked.push(m) });
    const err = (await rejection(send(sender, `http://localhost:${port()}/hooks`))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('address_blocked');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/loopback/);
    expect(err.message).toMatch(/WEBHOOK_ALLOWED_HOSTS/);
    expect(blocked).toHaveLength(1);
    expect(receiver.requests).toHaveLength(0);
  });

  it('one blocked address among a name\'s addresses is enough to refuse it', async () => {
    const sender = createWebhookSender({
      timeoutMs: 2000,
      resolve: async () => [
        { address: '93.184.215.14', family: 4 },
        { address: '::ffff:169.254.169.254', family: 6 },
      ],
    });
    const err = (await rejection(send(sender, 'https://hooks.example.com/x'))) as ApplicationFailure;
    expect(err.type).toBe('address_blocked');
    expect(err.message).toMatch(/169\.254\.169\.254 \(linkLocal\)/);
  });

  it('connects to the address that was checked, with the URL\'s host name in the Host header', async () => {
    // receiver.test exists in no DNS: the request can reach the receiver only through the
    // address resolved (and checked) once, never by a second lookup.
    let lookups = 0;
    const sender = createWebhookSender({
      timeoutMs: 2000,
      allowedHosts: '127.0.0.0/8',
      resolve: async () => (lookups++, [{ address: '127.0.0.1', family: 4 }]),
    });
    await send(sender, `http://receiver.test:${port()}/hooks?x=1`);
    expect(lookups).toBe(1);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0].headers.host).toBe(`receiver.test:${port()}`);
    expect(receiver.requests[0].path).toBe('/hooks');
    expect(receiver.requests[0].query).toEqual({ x: '1' });
  });

  it('a host named in the allow list may resolve to loopback', async () => {
    const sender = createWebhookSender({ timeoutMs: 2000, allowedHosts: ['localhost'] });
    await send(sender, `http://localhost:${port()}/hooks`);
    expect(receiver.requests).toHaveLength(1);
  });

  it.each([
    ['a literal loopback address', 'http://127.0.0.1/x'],
    ['an IPv4-mapped IPv6 literal', 'http://[::ffff:127.0.0.1]/x'],
    ['user info', 'https://user:pw@hooks.example.com/x'],
    ['a non-http scheme', 'ftp://hooks.example.com/x'],
  ])('%s fails address_blocked before any lookup', async (_, address) => {
    let lookups = 0;
    const sender = createWebhookSender({ resolve: async () => (lookups++, [{ address: '93.184.215.14', family: 4 }]) });
    const err = (await rejection(send(sender, address))) as ApplicationFailure;
    expect(err.type).toBe('address_blocked');
    expect(err.nonRetryable).toBe(true);
    expect(lookups).toBe(0);
  });
});
