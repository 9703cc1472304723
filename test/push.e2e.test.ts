// Push end to end, as `npm start` runs it: a recipient's devices through the API, and one
// notification reaching FCM (HTTP v1 with a service-account token), APNs (HTTP/2 with a p8
// provider token) and a Web Push service (VAPID, aes128gcm that the fake decrypts) exactly once
// each; a device its provider reports gone is removed at once; push to a recipient without a
// device is skipped `no_device`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../runtime/index.js';
import { startFakeApns, startFakeFcm, startFakeWebPush, type FakeApns, type FakeFcm, type FakeWebPush, type TestSubscription } from './fakes/push.js';
import { selfSignedCertificate } from './fakes/tls.js';
import { quietTemporalLogs, stackRequests, startTestStack } from './support.js';
import { until } from './until.js';

const TOPIC = 'com.acme.app';
const APNS_TOKEN = 'c0ffee'.repeat(10) + 'abcd';

describe('push through FCM, APNs and Web Push end to end', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-push-'));
  const vapid = webpush.generateVAPIDKeys();
  let running: Running | undefined;
  let fcm: FakeFcm;
  let apns: FakeApns;
  let web: FakeWebPush;
  let sub: TestSubscription;
  let apiKey: string;

  const request = stackRequests(() => running);
  const api = (method: string, path: string, body?: unknown) => request(method, path, apiKey, body);
  async function notify(recipient: string, priority = 'high') {
    const sent = await api('POST', '/v1/notifications', { recipient, template: 'order-shipped', data: { order: { id: 7 } }, channels: ['push'], priority });
    expect(sent.status).toBe(202);
    return until(
      () => api('GET', `/v1/notifications/${sent.body.id}`),
      (r) => ['sent', 'failed', 'suppressed'].includes(r.body.status),
    ).then((r) => r.body);
  }

  beforeAll(async () => {
    quietTemporalLogs();
    const tls = selfSignedCertificate();
    [fcm, apns, web] = await Promise.all([startFakeFcm(), startFakeApns(TOPIC), startFakeWebPush(vapid.publicKey, tls)]);
    running = await startTestStack(dataDir, {
      TEMPORAL_TASK_QUEUE: 'push-e2e',
      FCM_SERVICE_ACCOUNT: fcm.serviceAccount,
      FCM_BASE_URL: fcm.url,
      APNS_KEY: apns.key,
      APNS_KEY_ID: apns.keyId,
      APNS_TEAM_ID: apns.teamId,
      APNS_TOPIC: TOPIC,
      APNS_BASE_URL: apns.url,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:ops@acme.example',
      WEBPUSH_CA: tls.cert,
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
    });
    const created = await request('POST', '/v1/admin/tenants', running.adminToken, { name: 'Acme' });
    apiKey = created.body.apiKey;
    for (const id of ['user-42', 'user-7']) expect((await api('PUT', `/v1/recipients/${id}`, { name: 'Ann' })).status).toBe(200);
    const template = await api('POST', '/v1/templates', {
      key: 'order-shipped',
      content: { en: { push: { title: 'Order {{ order.id }} shipped', body: 'On its way.', url: 'https://shop.example/orders/{{ order.id }}', data: { orderId: '{{ order.id }}' } } } },
    });
    expect(template.status).toBe(201);
    sub = web.subscribe('browser-1');
  });

  afterAll(async () => {
    await running?.stop();
    await Promise.all([fcm, apns, web].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers devices per recipient, and refuses a malformed one or a private Web Push endpoint', async () => {
    expect((await api('PUT', '/v1/recipients/user-42/devices/phone-android', { provider: 'fcm', token: 'fcm-token-1', platform: 'android' })).status).toBe(200);
    expect((await api('PUT', '/v1/recipients/user-42/devices/phone-ios', { provider: 'apns', token: APNS_TOKEN, platform: 'ios' })).status).toBe(200);
    const browser = await api('PUT', '/v1/recipients/user-42/devices/browser', { provider: 'webpush', subscription: { endpoint: sub.endpoint, keys: sub.keys } });
    expect(browser.status).toBe(200);
    expect(browser.body).toMatchObject({ id: 'browser', provider: 'webpush', subscription: { endpoint: sub.endpoint } });
    const list = await api('GET', '/v1/recipients/user-42/devices');
    expect(list.body.data.map((d: any) => d.id).sort()).toEqual(['browser', 'phone-android', 'phone-ios']);

    const noToken = await api('PUT', '/v1/recipients/user-42/devices/x', { provider: 'apns' });
    expect(noToken.status).toBe(400);
    expect(noToken.body.errors.map((e: any) => e.path)).toEqual(['token']);
    const privateEndpoint = await api('PUT', '/v1/recipients/user-42/devices/x', { provider: 'webpush', subscription: { endpoint: 'https://10.0.0.5/push/1', keys: sub.keys } });
    expect(privateEndpoint.status).toBe(400);
    expect(privateEndpoint.body.errors[0].path).toBe('subscription.endpoint');
    expect((await api('PUT', '/v1/recipients/nobody/devices/x', { provider: 'fcm', token: 't' })).status).toBe(404);
    expect((await api('DELETE', '/v1/recipients/user-42/devices/x')).status).toBe(404);
  });

  it('one notification reaches each device exactly once, in each provider’s wire format', async () => {
    const n = await notify('user-42');
    expect(n.status).toBe('sent');
    expect(n.deliveries[0]).toMatchObject({ channel: 'push', status: 'sent', attempts: 1 });
    expect(fcm.messages).toHaveLength(1);
    expect(fcm.messages[0].message).toMatchObject({ token: 'fcm-token-1', notification: { title: 'Order 7 shipped', body: 'On its way.' }, data: { orderId: '7' }, android: { priority: 'HIGH', collapse_key: `${n.id}.push` } });
    expect(apns.requests).toHaveLength(1);
    expect(apns.requests[0]).toMatchObject({ token: APNS_TOKEN, kid: apns.keyId, headers: { 'apns-topic': TOPIC, 'apns-priority': '10', 'apns-collapse-id': `${n.id}.push` } });
    expect(apns.requests[0].payload.aps.alert).toEqual({ title: 'Order 7 shipped', body: 'On its way.' });
    expect(web.received).toHaveLength(1);
    expect(web.received[0]).toMatchObject({ id: 'browser-1', urgency: 'high', payload: { title: 'Order 7 shipped', body: 'On its way.', url: 'https://shop.example/orders/7', data: { orderId: '7' } } });
  });

  it('a device its provider reports gone is removed at once; the others still get the push', async () => {
    fcm.gone.add('fcm-token-1');
    const n = await notify('user-42', 'normal');
    expect(n.status).toBe('sent');
    expect(apns.requests.at(-1)!.headers['apns-priority']).toBe('5');
    expect(web.received.at(-1)!.urgency).toBe('normal');
    const list = await api('GET', '/v1/recipients/user-42/devices');
    expect(list.body.data.map((d: any) => d.id).sort()).toEqual(['browser', 'phone-ios']);
  });

  it('an escalation step pushes to the on-call recipient’s devices, critical as high urgency', async () => {
    const policy = await api('PUT', '/v1/escalation-policies/on-call', { steps: [{ channel: 'push', target: 'user-42', ackTimeoutSeconds: 300 }] });
    expect(policy.status).toBe(200);
    const [apnsBefore, webBefore] = [apns.requests.length, web.received.length];
    const incident = await api('POST', '/v1/incidents', { policy: 'on-call', summary: 'Disk full on db-1', severity: 'critical' });
    expect(incident.status).toBe(202);
    await until(
      () => api('GET', `/v1/incidents/${incident.body.id}`),
      (r) => r.body.timeline.some((e: any) => e.type === 'notified'),
    );
    expect(apns.requests.slice(apnsBefore)).toHaveLength(1);
    expect(apns.requests.at(-1)!).toMatchObject({
      headers: { 'apns-priority': '10', 'apns-collapse-id': `incident-${incident.body.id}` },
      payload: { aps: { alert: { title: 'Tocsin [critical] Disk full on db-1' } }, incidentId: incident.body.id },
    });
    expect(web.received.slice(webBefore)).toHaveLength(1);
    expect(web.received.at(-1)!).toMatchObject({ urgency: 'high', payload: { title: 'Tocsin [critical] Disk full on db-1' } });
    expect((await api('POST', `/v1/incidents/${incident.body.id}/resolve`, { by: 'ann' })).status).toBe(200);
  });

  it('push to a recipient without a device is skipped no_device, and so is one whose every device turns out gone', async () => {
    const none = await notify('user-7');
    expect(none.deliveries[0]).toMatchObject({ channel: 'push', status: 'skipped', error: { code: 'no_device' } });
    expect(none.status).toBe('suppressed');

    expect((await api('PUT', '/v1/recipients/user-7/devices/old', { provider: 'fcm', token: 'fcm-stale' })).status).toBe(200);
    fcm.gone.add('fcm-stale');
    const stale = await notify('user-7');
    expect(stale.deliveries[0]).toMatchObject({ channel: 'push', status: 'skipped', error: { code: 'no_device' } });
    expect(stale.status).toBe('suppressed');
    expect(fcm.requests.filter((r) => JSON.stringify(r.body).includes('fcm-stale'))).toHaveLength(1);
    expect((await api('GET', '/v1/recipients/user-7/devices')).body.data).toEqual([]);
  });
  it("a tenant's own FCM integration takes its devices' pushes in place of the platform's, its credentials masked", async () => {
    const own = await startFakeFcm('globex-app');
    try {
      const other = await request('POST', '/v1/admin/tenants', running!.adminToken, { name: 'Globex' });
      const call = (method: string, path: string, body?: unknown) => request(method, path, other.body.apiKey, body);
      expect((await call('PUT', '/v1/recipients/g-1', { name: 'Gia' })).status).toBe(200);
      expect((await call('POST', '/v1/templates', { key: 'hello', content: { en: { push: { title: 'Hello', body: 'From Globex' } } } })).status).toBe(201);
      expect((await call('PUT', '/v1/recipients/g-1/devices/pixel', { provider: 'fcm', token: 'globex-token' })).status).toBe(200);

      const bad = await call('PUT', '/v1/integrations/bad', { channel: 'push', provider: 'apns', credentials: { key: 'not a key', keyId: 'short', teamId: 'ABCDE12345', topic: 'com.globex' } });
      expect(bad.status).toBe(400);
      expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['credentials.key', 'credentials.keyId']);
      const put = await call('PUT', '/v1/integrations/own-fcm', { channel: 'push', provider: 'fcm', credentials: { serviceAccount: own.serviceAccount }, settings: { baseUrl: own.url } });
      expect(put.status).toBe(200);
      const privateKey = JSON.parse(own.serviceAccount).private_key as string;
      expect(JSON.stringify(put.body)).not.toContain(privateKey.slice(60, 120));
      expect(JSON.stringify((await call('GET', '/v1/integrations')).body)).not.toContain(privateKey.slice(60, 120));

      const send = async () => {
        const sent = await call('POST', '/v1/notifications', { recipient: 'g-1', template: 'hello', data: {}, channels: ['push'] });
        expect(sent.status).toBe(202);
        return until(() => call('GET', `/v1/notifications/${sent.body.id}`), (r) => ['sent', 'failed', 'suppressed'].includes(r.body.status)).then((r) => r.body);
      };
      const platformBefore = fcm.messages.length;
      expect((await send()).status).toBe('sent');
      expect(own.messages.map((m) => m.message.token)).toEqual(['globex-token']);
      expect(fcm.messages.length).toBe(platformBefore);

      // Without it, the platform's FCM takes them again (a worker reads integrations again within 5 s).
      expect((await call('DELETE', '/v1/integrations/own-fcm')).status).toBe(204);
      await new Promise((r) => setTimeout(r, 5_500));
      expect((await send()).status).toBe('sent');
      expect(own.messages).toHaveLength(1);
      expect(fcm.messages.slice(platformBefore).map((m) => m.message.token)).toEqual(['globex-token']);
    } finally {
      await own.close();
    }
  });
});
