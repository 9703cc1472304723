// The production shape's smoke (issue 24; `npm run test:cluster`): `npm run cluster`'s stack
// (scripts/cluster-stack.ts: PostgreSQL, two Temporal server nodes on it, the Web UI, two
// workers, two APIs; binaries built first when they are not cached) on free ports in a temporary
// DATA_DIR. One notification on every channel (push to FCM, APNs and Web Push devices included)
// through each API, each provider's fake receiving it exactly once; the search attributes found
// on PostgreSQL's visibility store through either node; node 1 stopped, and clients through the
// balancer still starting workflows and the APIs and workers sending on node 2; a stop and a
// restart on the same data that keeps everything; every process stopped at the end. Not part of `npm test`: a cold run builds the Temporal server (minutes).
import { randomBytes } from 'node:crypto';
import { readlinkSync, realpathSync, rmSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, tempDataDir, tocsinNode, type Cluster } from '../scripts/cluster-stack.js';
import { freePort } from '../worker/dev-server.js';
import { startFakePagerDuty, type FakePagerDuty } from './fakes/pagerduty.js';
import { startFakeApns, startFakeFcm, startFakeWebPush, type FakeApns, type FakeFcm, type FakeWebPush, type TestSubscription } from './fakes/push.js';
import { startFakeResend, type FakeResend } from './fakes/resend.js';
import type { FakeServer } from './fakes/server.js';
import { startFakeSlack } from './fakes/slack.js';
import { startFakeTelegram, type FakeTelegram } from './fakes/telegram.js';
import { selfSignedCertificate } from './fakes/tls.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { LOCAL_RECEIVERS } from './support.js';
import { until } from './until.js';

import { CHANNELS as ALL_CHANNELS } from '../domain/types.js';

const CHANNELS = ['email', 'sms', 'whatsapp', 'telegram', 'slack', 'webhook', 'inapp', 'pager', 'push'];
const APNS_TOPIC = 'com.acme.app';
const APNS_TOKEN = 'c0ffee'.repeat(10) + 'abcd';
const TWILIO_ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const RECIPIENT = {
  name: 'Ann',
  email: 'ann@example.com',
  phone: '+14155550123',
  whatsapp: '+14155550124',
  telegramChatId: '987654321',
  slack: 'C0123456789',
  pagerRoutingKey: 'R0UTINGKEY0000000000000000000001',
};

/** Whether a process id is still alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run cluster: the production shape', () => {
  const dataDir = tempDataDir('tocsin-cluster-smoke-');
  let cluster: Cluster | undefined;
  let resend: FakeResend, twilio: FakeTwilio, slack: FakeServer, pagerduty: FakePagerDuty, hook: FakeServer, telegram: FakeTelegram;
  let fcm: FakeFcm, apns: FakeApns, web: FakeWebPush, browser: TestSubscription;
  const vapid = webpush.generateVAPIDKeys();
  let tenant: { id: string; apiKey: string };
  const sent: string[] = [];
  let env: Record<string, string>;
  let ports: { frontendPort: number; uiPort: number; apiPorts: number[] };

  const request = async (base: string, method: string, path: string, token: string | null, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  beforeAll(async () => {
    const tls = selfSignedCertificate();
    [resend, twilio, slack, pagerduty, hook, telegram, fcm, apns, web] = await Promise.all([
      startFakeResend(),
      startFakeTwilio(),
      startFakeSlack(),
      startFakePagerDuty(),
      startFakeWebhook(),
      startFakeTelegram(),
      startFakeFcm(),
      startFakeApns(APNS_TOPIC),
      startFakeWebPush(vapid.publicKey, tls),
    ]);
    browser = web.subscribe('browser-1');
    env = {
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOWED_HOSTS: LOCAL_RECEIVERS.join(','),
      DELIVERY_INITIAL_INTERVAL_SECONDS: '1',
      EMAIL_FROM: 'Acme <notifications@acme.example>',
      RESEND_API_KEY: 're_test_0123456789',
      RESEND_BASE_URL: resend.url,
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      TWILIO_FROM: '+15005550006',
      TWILIO_WHATSAPP_FROM: '+15005550007',
      TWILIO_API_BASE_URL: twilio.url,
      TELEGRAM_BOT_TOKEN: '123456:telegram-test-token',
      TELEGRAM_API_URL: telegram.url,
      SLACK_BOT_TOKEN: 'xoxb-test-0123456789',
      SLACK_API_URL: `${slack.url}/api/`,
      PAGERDUTY_EVENTS_URL: pagerduty.eventsUrl,
      // Push, as test/push.e2e.test.ts configures it: the SDKs pointed at the local fakes.
      FCM_SERVICE_ACCOUNT: fcm.serviceAccount,
      FCM_BASE_URL: fcm.url,
      APNS_KEY: apns.key,
      APNS_KEY_ID: apns.keyId,
      APNS_TEAM_ID: apns.teamId,
      APNS_TOPIC,
      APNS_BASE_URL: apns.url,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: 'mailto:ops@acme.example',
      WEBPUSH_CA: tls.cert,
    };
    // Each API's port picked free, and kept for the restart.
    ports = { frontendPort: await freePort(), uiPort: await freePort(), apiPorts: [await freePort(), await freePort()] };
    const started = Date.now();
    cluster = await startCluster({ dataDir, ...ports, env, log: (m) => process.stderr.write(`[cluster] ${m}\n`) });
    process.stderr.write(`[cluster smoke] cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }, 1_800_000);

  afterAll(async () => {
    await cluster?.stop();
    await Promise.all([resend, twilio, slack, pagerduty, hook, telegram, fcm, apns, web].map((f) => f?.close()));
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('runs two Temporal nodes, two workers and two APIs, each API ready and every channel configured', async () => {
    const c = cluster!;
    expect(c.frontends).toHaveLength(2);
    expect(c.apiUrls).toHaveLength(2);
    expect([...c.procs.keys()].sort()).toEqual(['api-1', 'api-2', 'temporal-1', 'temporal-2', 'ui', 'worker-1', 'worker-2']);
    // Tocsin's processes run on the Node TOCSIN_NODE names (unset: the image's, as
    // scripts/setup-node.test.ts checks), whatever Node runs this test.
    const tocsinBin = realpathSync(tocsinNode());
    for (const name of ['api-1', 'api-2', 'worker-1', 'worker-2']) expect(readlinkSync(`/proc/${c.pids()[name]}/exe`), name).toBe(tocsinBin);
    // The smoke covers every channel Tocsin has.
    expect([...CHANNELS].sort()).toEqual([...ALL_CHANNELS].sort());
    // Clients use the balancer's address (TEMPORAL_DEV_PORT), not a node's.
    expect(c.address).toBe(`127.0.0.1:${ports.frontendPort}`);
    expect(c.frontends).not.toContain(c.address);
    for (const url of c.apiUrls) {
      const ready = await request(url, 'GET', '/readyz', null);
      expect(ready.status).toBe(200);
      for (const ch of CHANNELS) expect(ready.body.channels[ch], ch).toBe('configured');
    }
    // The Web UI serves its app.
    const ui = await fetch(c.uiUrl);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
    // Both nodes answer as one cluster: the namespace created through node 1 is known to node 2.
    const conn = await Connection.connect({ address: c.frontends[1] });
    try {
      const ns = await conn.workflowService.describeNamespace({ namespace: c.namespace });
      expect(ns.namespaceInfo?.name).toBe(c.namespace);
    } finally {
      await conn.close();
    }
  });

  it('sends one notification on every channel through each API, each provider receiving it exactly once', async () => {
    const c = cluster!;
    const created = await request(c.apiUrls[0], 'POST', '/v1/admin/tenants', c.adminToken, { name: 'Acme' });
    expect(created.status).toBe(201);
    tenant = created.body;
    const api = (i: number, method: string, path: string, body?: unknown) => request(c.apiUrls[i], method, path, tenant.apiKey, body);
    expect((await api(1, 'PUT', '/v1/recipients/user-42', { ...RECIPIENT, webhookUrl: `${hook.url}/hooks` })).status).toBe(200);
    // Push goes to the recipient's devices: one of each provider.
    expect((await api(0, 'PUT', '/v1/recipients/user-42/devices/phone-android', { provider: 'fcm', token: 'fcm-token-1', platform: 'android' })).status).toBe(200);
    expect((await api(1, 'PUT', '/v1/recipients/user-42/devices/phone-ios', { provider: 'apns', token: APNS_TOKEN, platform: 'ios' })).status).toBe(200);
    expect((await api(0, 'PUT', '/v1/recipients/user-42/devices/browser', { provider: 'webpush', subscription: { endpoint: browser.endpoint, keys: browser.keys } })).status).toBe(200);
    const template = await api(0, 'POST', '/v1/templates', {
      key: 'order-shipped',
      content: {
        en: {
          email: { subject: 'Order {{ order.id }} shipped', html: '<p>Order {{ order.id }}</p>', text: 'Order {{ order.id }}' },
          sms: { text: 'Order {{ order.id }} shipped (SMS)' },
          whatsapp: { text: 'Order {{ order.id }} shipped (WhatsApp)' },
          telegram: { text: 'Order {{ order.id }} shipped (Telegram)' },
          slack: { text: 'Order *{{ order.id }}* shipped' },
          webhook: { event: 'order.shipped', order: '{{ order.id }}' },
          inapp: { title: 'Order {{ order.id }} shipped', body: 'It is on its way.' },
          pager: { summary: 'Order {{ order.id }} shipped' },
          push: { title: 'Order {{ order.id }} shipped (push)', body: 'On its way.' },
        },
      },
    });
    expect(template.status).toBe(201);

    for (const i of [0, 1]) {
      const res = await api(i, 'POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 + i } }, channels: CHANNELS });
      expect(res.status).toBe(202);
      sent.push(res.body.id);
    }
    for (const [i, id] of sent.entries()) {
      // Read through the other API: both serve the same database and cluster.
      const n = (await until(() => api(1 - i, 'GET', `/v1/notifications/${id}`), (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status), 120_000, 250)).body;
      expect(n.status).toBe('sent');
      expect(n.deliveries.map((d: { channel: string }) => d.channel).sort()).toEqual([...CHANNELS].sort());
      for (const d of n.deliveries) expect(d, d.channel).toMatchObject({ status: 'sent', attempts: 1, error: null });

      expect(resend.requests.filter((r) => r.headers['idempotency-key'] === `${id}.email`)).toHaveLength(1);
      expect(twilio.requests.filter((r) => r.body?.Body === `Order ${7 + i} shipped (SMS)`)).toHaveLength(1);
      expect(twilio.requests.filter((r) => r.body?.Body === `Order ${7 + i} shipped (WhatsApp)`)).toHaveLength(1);
      expect(telegram.messages.filter((m) => m.text === `Order ${7 + i} shipped (Telegram)`)).toHaveLength(1);
      expect(slack.requests.filter((r) => r.path === '/api/chat.postMessage' && r.body?.text === `Order *${7 + i}* shipped`)).toHaveLength(1);
      expect(pagerduty.requests.filter((r) => r.body?.dedup_key === `${id}.pager`)).toHaveLength(1);
      expect(hook.requests.filter((r) => r.headers['webhook-id'] === `${id}.webhook`)).toHaveLength(1);
      expect(fcm.messages.filter((m) => m.message.android?.collapse_key === `${id}.push`).map((m) => m.message.token)).toEqual(['fcm-token-1']);
      expect(apns.requests.filter((r) => r.headers['apns-collapse-id'] === `${id}.push`).map((r) => r.token)).toEqual([APNS_TOKEN]);
      expect(web.received.filter((r) => r.payload.title === `Order ${7 + i} shipped (push)`).map((r) => r.id)).toEqual(['browser-1']);
      const inbox = await api(i, 'GET', '/v1/recipients/user-42/inbox');
      expect(inbox.body.data.filter((m: { notificationId: string }) => m.notificationId === id)).toHaveLength(1);
    }
  });

  /** The runs of this tenant's notifications that the visibility store lists by search attribute. */
  async function listByAttributes(address: string): Promise<string[]> {
    const connection = await Connection.connect({ address });
    try {
      const client = new Client({ connection, namespace: cluster!.namespace });
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `TocsinTenant = '${tenant.id}' AND TocsinTemplate = 'order-shipped' AND ExecutionStatus = 'Completed'` })) ids.push(w.workflowId);
      return ids.sort();
    } finally {
      await connection.close();
    }
  }

  it('finds the runs by search attribute on the PostgreSQL visibility store, through either node', async () => {
    const c = cluster!;
    const expected = sent.map((id) => `notification:${tenant.id}:${id}`).sort();
    for (const address of c.frontends) expect(await until(() => listByAttributes(address), (ids) => ids.length === 2, 30_000, 500)).toEqual(expected);
    // The rows themselves, in temporal_visibility: the custom search attributes live in PostgreSQL.
    const url = new URL(c.databaseUrl);
    url.pathname = '/temporal_visibility';
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      // Custom attributes are stored under their database aliases (Keyword01…): match the value.
      const rows = await sql`select workflow_id from executions_visibility where search_attributes::text like ${`%"${tenant.id}"%`} and workflow_id like 'notification:%' order by workflow_id`;
      expect(rows.map((r) => r.workflow_id)).toEqual(expected);
    } finally {
      await sql.end();
    }
  });

  it('with node 1 stopped, a client through the balancer still starts workflows, and the APIs and workers send on node 2', async () => {
    const c = cluster!;
    const api = (i: number, method: string, path: string, body?: unknown) => request(c.apiUrls[i], method, path, tenant.apiKey, body);
    expect((await api(0, 'POST', '/v1/templates', { key: 'failover', content: { en: { inapp: { title: 'Still here', body: 'Sent while node 1 was down.' } } } })).status).toBe(201);
    // SIGTERM: the node leaves the ring cleanly and node 2 takes its shards (a SIGKILLed node
    // stalls the other for about a minute until membership notices; temporal-cluster.md).
    await c.stopProc('temporal-1');
    const node1Piped = c.balancer.accepted[0];
    const node2Piped = c.balancer.accepted[1];
    try {
      // A new client: its connection can only reach node 2 through the balancer.
      const connection = await Connection.connect({ address: c.address });
      try {
        const client = new Client({ connection, namespace: c.namespace });
        const probe = `balancer-probe-${randomBytes(4).toString('hex')}`;
        const handle = await client.workflow.start('balancerProbe', { taskQueue: probe, workflowId: probe });
        expect((await handle.describe()).status.name).toBe('RUNNING');
        await handle.terminate('probe done');
        expect((await handle.describe()).status.name).toBe('TERMINATED');
      } finally {
        await connection.close();
      }
      // The APIs and workers reconnect through the balancer: notifications start and are sent.
      for (const i of [0, 1]) {
        const res = await api(i, 'POST', '/v1/notifications', { recipient: 'user-42', template: 'failover', data: {}, channels: ['inapp'] });
        expect(res.status).toBe(202);
        const n = (await until(() => api(1 - i, 'GET', `/v1/notifications/${res.body.id}`), (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status), 120_000, 250)).body;
        expect(n.status).toBe('sent');
      }
      expect(c.balancer.accepted[0]).toBe(node1Piped);
      expect(c.balancer.accepted[1]).toBeGreaterThan(node2Piped);
    } finally {
      await c.restartNode(0);
    }
  }, 300_000);

  it('stops every process, and a restart on the same data keeps every notification, tenant and run', async () => {
    const before = cluster!.pids();
    expect(Object.keys(before).sort()).toEqual(['api-1', 'api-2', 'postgres', 'temporal-1', 'temporal-2', 'ui', 'worker-1', 'worker-2']);
    await cluster!.stop();
    cluster = undefined;
    for (const [name, pid] of Object.entries(before)) expect(alive(pid), name).toBe(false);

    const started = Date.now();
    cluster = await startCluster({ dataDir, ...ports, env, log: (m) => process.stderr.write(`[cluster] ${m}\n`) });
    process.stderr.write(`[cluster smoke] restarted on existing data in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    // The restart forgot the stopped nodes' membership (scripts/cluster-stack.ts): the table holds
    // the new nodes' four services each, not also the addresses of the run before.
    const temporalUrl = new URL(cluster.databaseUrl);
    temporalUrl.pathname = '/temporal';
    const sql = postgres(temporalUrl.toString(), { max: 1, onnotice: () => {} });
    try {
      const members = await sql`select role, count(*)::int as n from cluster_membership group by role order by role`;
      expect(members.map((r) => r.n)).toEqual([2, 2, 2, 2]);
    } finally {
      await sql.end();
    }
    for (const [i, id] of sent.entries()) {
      const n = await request(cluster.apiUrls[i], 'GET', `/v1/notifications/${id}`, tenant.apiKey);
      expect(n.status).toBe(200);
      expect(n.body.status).toBe('sent');
    }
    expect(await until(() => listByAttributes(cluster!.frontends[1]), (ids) => ids.length === 2, 30_000, 500)).toHaveLength(2);
    // Nothing was sent again by the restart.
    expect(resend.requests).toHaveLength(2);
    expect(pagerduty.requests).toHaveLength(2);

    const after = cluster.pids();
    await cluster.stop();
    cluster = undefined;
    for (const [name, pid] of Object.entries(after)) expect(alive(pid), name).toBe(false);
  }, 600_000);
});
