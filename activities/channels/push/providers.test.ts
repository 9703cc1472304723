import { generateKeyPairSync } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeApns, startFakeFcm, startFakeWebPush, type FakeApns, type FakeFcm, type FakeWebPush } from '../../../test/fakes/push.js';
import { rejection } from '../../../test/fakes/send-request.js';
import { selfSignedCertificate } from '../../../test/fakes/tls.js';
import { createApnsProvider } from './apns.js';
import { createFcmProvider } from './fcm.js';
import { DeviceGone, type PushMessage, type PushProvider } from './types.js';
import { createWebPushProvider } from './webpush.js';

const message = (over: Partial<PushMessage> = {}): PushMessage => ({
  title: 'Order 7 shipped',
  body: 'It is on its way.',
  url: 'https://shop.example/orders/7',
  data: { orderId: '7' },
  urgency: 'high',
  collapseKey: 'ntf_01HZX3Q8J4.push',
  ttlSeconds: 3600,
  signal: new AbortController().signal,
  ...over,
});
const APNS_TOKEN = 'a'.repeat(64);

describe('push providers against fakes in their wire formats', () => {
  let fcm: FakeFcm;
  let apns: FakeApns;
  let web: FakeWebPush;
  let fcmProvider: PushProvider;
  let apnsProvider: PushProvider;
  let webProvider: PushProvider;
  const vapid = webpush.generateVAPIDKeys();
  let ca: string;

  beforeAll(async () => {
    const tls = selfSignedCertificate();
    [fcm, apns, web] = await Promise.all([startFakeFcm(), startFakeApns('com.acme.app'), startFakeWebPush(vapid.publicKey, tls)]);
    ca = tls.cert;
    fcmProvider = createFcmProvider({ serviceAccount: fcm.serviceAccount, baseUrl: fcm.url })!;
    apnsProvider = createApnsProvider({ key: apns.key, keyId: apns.keyId, teamId: apns.teamId, topic: 'com.acme.app', baseUrl: apns.url })!;
    webProvider = createWebPushProvider({ publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@acme.example', ca })!;
  });
  afterAll(async () => {
    await apnsProvider?.close?.();
    await Promise.all([fcm.close(), apns.close(), web.close()]);
  });

  it('each is unconfigured without its settings', () => {
    expect(createFcmProvider({})).toBeNull();
    expect(createApnsProvider({ key: 'k', keyId: 'i', teamId: 't' })).toBeNull();
    expect(createWebPushProvider({ publicKey: vapid.publicKey })).toBeNull();
  });

  it('FCM: a service-account token (a verified JWT exchanged at token_uri) and one HTTP v1 message with priority and collapse key', async () => {
    const name = await fcmProvider.send({ token: 'fcm-token-1', subscription: null }, message());
    expect(name).toMatch(/^projects\/tocsin-test\/messages\/0:[0-9a-f]{16}$/);
    expect(fcm.requests.filter((r) => r.path === '/token')).toHaveLength(1);
    expect(fcm.messages).toHaveLength(1);
    expect(fcm.messages[0].accessToken).toMatch(/^ya29\./);
    expect(fcm.messages[0].message).toMatchObject({
      token: 'fcm-token-1',
      notification: { title: 'Order 7 shipped', body: 'It is on its way.' },
      data: { orderId: '7' },
      android: { priority: 'HIGH', collapse_key: 'ntf_01HZX3Q8J4.push', ttl: '3600s' },
      webpush: { headers: { Urgency: 'high' }, fcm_options: { link: 'https://shop.example/orders/7' } },
    });
    // The token is reused, not fetched again.
    await fcmProvider.send({ token: 'fcm-token-2', subscription: null }, message({ urgency: 'normal' }));
    expect(fcm.requests.filter((r) => r.path === '/token')).toHaveLength(1);
    expect(fcm.messages[1].message.android.priority).toBe('NORMAL');
  });

  it('FCM: UNREGISTERED is a gone device; 503 retries', async () => {
    fcm.gone.add('fcm-old');
    expect(await rejection(fcmProvider.send({ token: 'fcm-old', subscription: null }, message()))).toBeInstanceOf(DeviceGone);
    fcm.enqueue({ status: 503, body: { error: { code: 503, status: 'UNAVAILABLE', message: 'busy' } } });
    const busy = (await rejection(fcmProvider.send({ token: 'fcm-token-1', subscription: null }, message()))) as ApplicationFailure;
    expect(busy.nonRetryable).toBe(false);
  });

  it('APNs: HTTP/2 with a verified ES256 provider token, apns-topic, priority 10 and the collapse id', async () => {
    const id = await apnsProvider.send({ token: APNS_TOKEN, subscription: null }, message());
    expect(id).toMatch(/^[0-9A-F-]{36}$/);
    expect(apns.requests).toHaveLength(1);
    const [r] = apns.requests;
    expect(r).toMatchObject({ token: APNS_TOKEN, kid: apns.keyId, claims: { iss: apns.teamId } });
    expect(r.headers).toMatchObject({ 'apns-topic': 'com.acme.app', 'apns-push-type': 'alert', 'apns-priority': '10', 'apns-collapse-id': 'ntf_01HZX3Q8J4.push' });
    expect(r.payload).toEqual({ aps: { alert: { title: 'Order 7 shipped', body: 'It is on its way.' }, sound: 'default' }, url: 'https://shop.example/orders/7', orderId: '7' });
    await apnsProvider.send({ token: APNS_TOKEN, subscription: null }, message({ urgency: 'normal' }));
    expect(apns.requests[1].headers['apns-priority']).toBe('5');
  });

  it('APNs: 410 Unregistered is a gone device', async () => {
    apns.gone.add('b'.repeat(64));
    expect(await rejection(apnsProvider.send({ token: 'b'.repeat(64), subscription: null }, message()))).toBeInstanceOf(DeviceGone);
  });

  it('Web Push: VAPID verified, the aes128gcm body decrypts with the subscription’s keys, Urgency, TTL and Topic set', async () => {
    const sub = web.subscribe('s1');
    await webProvider.send({ token: null, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, message());
    expect(web.received).toHaveLength(1);
    expect(web.received[0]).toMatchObject({
      id: 's1',
      payload: { title: 'Order 7 shipped', body: 'It is on its way.', url: 'https://shop.example/orders/7', data: { orderId: '7' } },
      ttl: '3600',
      urgency: 'high',
      vapidKey: vapid.publicKey,
    });
    expect(web.received[0].topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    web.gone.add('s1');
    expect(await rejection(webProvider.send({ token: null, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, message()))).toBeInstanceOf(DeviceGone);
  });

  it('a wrong key is refused by each fake: the checks are real', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forged = createApnsProvider({ key: other, keyId: apns.keyId, teamId: apns.teamId, topic: 'com.acme.app', baseUrl: apns.url })!;
    const err = (await rejection(forged.send({ token: APNS_TOKEN, subscription: null }, message()))) as ApplicationFailure;
    expect(err.message).toContain('InvalidProviderToken');
    await forged.close?.();
    const otherVapid = webpush.generateVAPIDKeys();
    const sub = web.subscribe('s2');
    const wrong = createWebPushProvider({ ...otherVapid, subject: 'mailto:ops@acme.example', ca })!;
    const refused = (await rejection(wrong.send({ token: null, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, message()))) as ApplicationFailure;
    expect(refused.nonRetryable).toBe(true);
  });
});
