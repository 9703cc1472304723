// The runs whose histories test/replay.test.ts replays: real scenarios of every workflow type,
// driven through the API on the time-skipping test server (the scheduled send on the dev
// server, since only it implements Schedules), exactly as the workflow suites drive them.
// `npm run record-histories` runs them (test/replay/record.ts) and writes the histories.
import type { Client } from '@temporalio/client';
import { createPagerClient } from '../../activities/channels/pager.js';
import { createSlackClient } from '../../activities/channels/slack.js';
import { createWhatsappSender } from '../../activities/channels/sms.js';
import { createTelegramSender } from '../../activities/channels/telegram.js';
import { registerSearchAttributes } from '../../worker/index.js';
import { broadcastProgressQuery, webhookNudgeSignal } from '../../domain/workflow-messages.js';
import { workflowIds } from '../../domain/workflow-ids.js';
import { startFakePagerDuty } from '../fakes/pagerduty.js';
import { startFakeSlack } from '../fakes/slack.js';
import { startFakeTelegram } from '../fakes/telegram.js';
import { startFakeFcm } from '../fakes/push.js';
import { createPushSender } from '../../activities/channels/push/index.js';
import { createFcmProvider } from '../../activities/channels/push/fcm.js';
import type { ChannelSender } from '../../activities/channels/types.js';
import type { Channel } from '../../domain/types.js';
import { startFakeTwilio } from '../fakes/twilio.js';
import { seed, startHarness, waitForState, type Harness } from '../harness.js';
import { LOCAL_RECEIVERS, localEnv, TEST_ENCRYPTION_KEYS, testWorker, uniqueQueue } from '../support.js';
import { parseEncryptionKeys } from '../../usecases/payload-codec.js';
import { startWebhookNudges } from '../../usecases/webhook-endpoints.js';
import { signalFlowWaits } from '../../usecases/flows.js';
import { until } from '../until.js';
import { keyedRetryWorkflowId } from '../../usecases/analytics.js';

/** Fetches every run of `workflowId` (oldest first) and stores them as `<workflowType>/<scenario>`. */
export type Save = (client: Client, workflowType: string, scenario: string, workflowId: string) => Promise<void>;

export interface ScenarioGroup {
  /** The scenarios of one setup (one server, one database). */
  name: string;
  run(save: Save): Promise<void>;
}

const order = { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } };

function ok(res: { status: number; body: any }, status: number, what: string) {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The next 03:30 UTC on the server's clock: 23:30 or 22:30 in New York, inside 22:00–07:00. */
async function skipToNewYorkNight(h: Harness) {
  const now = Number(await h.env.currentTimeMs());
  const night = new Date(now);
  night.setUTCHours(3, 30, 0, 0);
  if (night.getTime() <= now) night.setUTCDate(night.getUTCDate() + 1);
  await h.env.sleep(night.getTime() - now);
}

const notifications: ScenarioGroup = {
  name: 'notificationWorkflow',
  async run(save) {
    const h = await startHarness();
    try {
      await seed(h);
      // A second recipient whose quiet hours hold every non-critical notification at night.
      ok(await h.call('PUT', '/v1/recipients/night-owl', { webhookUrl: `${h.hook.url}/hooks`, timezone: 'America/New_York' }), 200, 'recipient');
      ok(await h.call('PUT', '/v1/recipients/night-owl/preferences', { quietHours: { start: '22:00', end: '07:00', timezone: 'America/New_York' } }), 200, 'preferences');
      const send = async (body: Record<string, unknown> = {}) => ok(await h.call('POST', '/v1/notifications', { ...order, ...body }), 202, 'send').id as string;
      const finish = async (scenario: string, id: string) => {
        await h.handle(id).result();
        await save(h.env.client, 'notificationWorkflow', scenario, workflowIds.notification(h.tenantId, id));
      };

      await finish('sent', await send());
      h.hook.enqueue({ status: 503 });
      await finish('retried', await send({ channels: ['webhook'] }));
      h.hook.enqueue({ status: 400, body: { error: 'no such user' } });
      await finish('fallback', await send({ channels: ['webhook', 'inapp'], strategy: 'first-success' }));
      const now = Number(await h.env.currentTimeMs());
      await finish('send-at', await send({ sendAt: new Date(now + 3 * 3600_000).toISOString() }));

      await skipToNewYorkNight(h);
      const held = await send({ recipient: 'night-owl' });
      await waitForState(h, held, (s) => s.status === 'held');
      await finish('held-then-sent', held);

      // Its only channel: the delivery wakes it, finds it held, and the run holds it (wake-in-delivery).
      await skipToNewYorkNight(h);
      const heldOne = await send({ recipient: 'night-owl', channels: ['webhook'] });
      await waitForState(h, heldOne, (s) => s.status === 'held');
      await finish('held-one-channel-then-sent', heldOne);

      await skipToNewYorkNight(h);
      const cancelled = await send({ recipient: 'night-owl' });
      await waitForState(h, cancelled, (s) => s.status === 'held');
      ok(await h.call('POST', `/v1/notifications/${cancelled}/cancel`), 200, 'cancel');
      await finish('cancelled', cancelled);
    } finally {
      await h.close();
    }
  },
};

/** The channels added after the first six: a delivery activity each (deliverTelegram, deliverWhatsapp). */
const newChannels: ScenarioGroup = {
  name: 'notificationWorkflow on telegram, whatsapp and push',
  async run(save) {
    const telegram = await startFakeTelegram();
    const twilio = await startFakeTwilio();
    const h = await startHarness({
      senders: {
        telegram: createTelegramSender({ botToken: '123456789:replay-token', apiUrl: telegram.url })!,
        whatsapp: createWhatsappSender({ accountSid: `AC${'0'.repeat(32)}`, authToken: 'replay', from: '+14155238886', apiBaseUrl: twilio.url })!,
      },
    });
    try {
      ok(await h.call('PUT', '/v1/recipients/user-42', { whatsapp: '+14155550123', telegramChatId: '987654321' }), 200, 'recipient');
      ok(
        await h.call('POST', '/v1/templates', {
          key: 'order-shipped',
          content: {
            en: {
              telegram: { text: 'Order {{ order.id }} shipped' },
              whatsapp: { text: 'Order {{ order.id }} shipped' },
              push: { title: 'Order {{ order.id }} shipped', body: 'On its way.' },
            },
          },
        }),
        201,
        'template',
      );
      const id = ok(await h.call('POST', '/v1/notifications', { ...order, channels: ['telegram', 'whatsapp'] }), 202, 'send').id as string;
      await h.handle(id).result();
      if (telegram.messages.length !== 1 || twilio.messages.length !== 1) throw new Error('telegram-whatsapp: each provider should have one message');
      await save(h.env.client, 'notificationWorkflow', 'telegram-whatsapp', workflowIds.notification(h.tenantId, id));
      // Push to a recipient without a device: skipped at wake (no_device), nothing sent.
      const noDevice = ok(await h.call('POST', '/v1/notifications', { ...order, channels: ['push'] }), 202, 'send').id as string;
      await h.handle(noDevice).result();
      await save(h.env.client, 'notificationWorkflow', 'push-no-device', workflowIds.notification(h.tenantId, noDevice));
    } finally {
      await h.close();
      await Promise.all([telegram.close(), twilio.close()]);
    }
  },
};

const incidents: ScenarioGroup = {
  name: 'incidentWorkflow',
  async run(save) {
    const slack = await startFakeSlack();
    const pd = await startFakePagerDuty();
    const h = await startHarness({
      activities: {
        slack: createSlackClient({ botToken: 'xoxb-test', apiUrl: `${slack.url}/api/` }),
        pager: createPagerClient({ eventsUrl: pd.eventsUrl }),
      },
    });
    try {
      const policy = async (key: string, repeat = 0) =>
        ok(
          await h.call('PUT', `/v1/escalation-policies/${key}`, {
            steps: [
              { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
              { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 120 },
            ],
            repeat,
          }),
          200,
          'policy',
        );
      await policy('ops');
      await policy('ops-twice', 1);
      const trigger = async (p = 'ops') => ok(await h.call('POST', '/v1/incidents', { policy: p, summary: 'Disk full on db-1', severity: 'critical' }), 202, 'trigger').id as string;
      const incident = async (id: string) => ok(await h.call('GET', `/v1/incidents/${id}`), 200, 'incident');
      const timeline = (id: string, type: string, count = 1) =>
        until(() => incident(id), (i) => i.timeline.filter((e: any) => e.type === type).length >= count);
      const act = async (id: string, action: string) => ok(await h.call('POST', `/v1/incidents/${id}/${action}`, { by: 'ann' }), 200, action);
      const finish = async (scenario: string, id: string, key = id) => {
        const handle = h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, key));
        await handle.result();
        await save(h.env.client, 'incidentWorkflow', scenario, handle.workflowId);
      };

      // Every step twice with nobody answering: exhausted; then resolved. (First: after the other
      // scenarios here the test server no longer skips time for env.sleep.)
      const exhausted = await trigger('ops-twice');
      await timeline(exhausted, 'notified');
      await h.env.sleep(2 * 180_000 + 1_000);
      await timeline(exhausted, 'exhausted');
      await act(exhausted, 'resolve');
      await finish('exhausted', exhausted);

      // Acknowledged at the first step (the Slack message is updated), then resolved; a duplicate
      // trigger (a signal) joins it first.
      const acked = ok(
        await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', dedupKey: 'disk' }),
        202,
        'trigger',
      ).id as string;
      await timeline(acked, 'notified');
      ok(await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', dedupKey: 'disk' }), 202, 'duplicate');
      await timeline(acked, 'deduplicated');
      await act(acked, 'acknowledge');
      await until(async () => slack.requests.filter((r) => r.path === '/api/chat.update').length, (n) => n >= 1);
      await act(acked, 'resolve');
      await finish('acknowledged', acked, 'disk');

      // Acknowledged, unacknowledged: escalation restarts and pages under a new dedup key.
      const unacked = await trigger();
      await timeline(unacked, 'notified');
      await act(unacked, 'acknowledge');
      await act(unacked, 'unacknowledge');
      await timeline(unacked, 'notified', 2);
      await h.env.sleep(61_000);
      await timeline(unacked, 'notified', 3);
      await act(unacked, 'resolve');
      await finish('unacknowledged', unacked);

      // Escalated to the pager, then resolved: the resolution child resolves the page.
      const resolved = await trigger();
      await timeline(resolved, 'notified');
      await h.env.sleep(61_000);
      await timeline(resolved, 'notified', 2);
      await act(resolved, 'resolve');
      await finish('resolved', resolved);
      const resolution = h.env.client.workflow.getHandle(workflowIds.incidentResolution(h.tenantId, resolved));
      await until(() => resolution.describe().then(() => true, () => false), Boolean);
      await resolution.result();
      await save(h.env.client, 'incidentResolutionWorkflow', 'resolved', resolution.workflowId);

    } finally {
      await h.close();
      await slack.close();
      await pd.close();
    }
  },
};

const digests: ScenarioGroup = {
  name: 'digestWorkflow',
  async run(save) {
    const h = await startHarness();
    try {
      await seed(h);
      ok(
        await h.call('POST', '/v1/templates', {
          key: 'comments',
          content: { en: { inapp: { title: '{{ count }} new comments', body: '{% for item in items %}{{ item.author }}\n{% endfor %}' }, webhook: { event: 'comments.digest', count: '{{ count }}' } } },
        }),
        201,
        'template',
      );
      // One-item windows arriving together: more than a run sends (20) before it continues as new.
      const digest = { key: 'burst', windowSeconds: 600, maxItems: 1 };
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'comments', data: { author: `a${i}` }, digest })),
      );
      answers.forEach((a) => ok(a, 202, 'digest arrival'));
      const handle = h.env.client.workflow.getHandle(workflowIds.digest(h.tenantId, 'user-42', 'burst'));
      await handle.result();
      await save(h.env.client, 'digestWorkflow', 'continued-as-new', handle.workflowId);
    } finally {
      await h.close();
    }
  },
};

const broadcasts: ScenarioGroup = {
  name: 'broadcastWorkflow',
  async run(save) {
    // Pages of two: each page is its own run (the workflow continues as new after each). The
    // per-recipient type, which runs begun before batches still run.
    const h = await startHarness({ app: { broadcastTuning: { pageSize: 2, maxInFlight: 2 }, broadcastBatches: false } });
    try {
      await seed(h);
      const hook = `${h.hook.url}/hooks`;
      for (const id of ['b-1', 'b-2', 'b-3']) ok(await h.call('PUT', `/v1/recipients/${id}`, { webhookUrl: hook }), 200, 'recipient');
      for (const id of ['q-1', 'q-2', 'q-3']) {
        ok(await h.call('PUT', `/v1/recipients/${id}`, { webhookUrl: hook }), 200, 'recipient');
        ok(await h.call('PUT', `/v1/recipients/${id}/preferences`, { quietHours: { start: '00:00', end: '23:59', timezone: 'UTC' } }), 200, 'preferences');
      }
      const start = async (recipients: string[]) =>
        ok(await h.call('POST', '/v1/broadcasts', { recipients, template: 'order-shipped', data: { order: { id: 9 }, name: 'All' }, channels: ['webhook'] }), 202, 'broadcast')
          .id as string;

      const completed = await start(['b-1', 'b-2', 'b-3']);
      const done = h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, completed));
      await done.result();
      await save(h.env.client, 'broadcastWorkflow', 'completed', done.workflowId);

      // Everyone held by quiet hours; cancelled while the broadcast waits for them.
      const cancelled = await start(['q-1', 'q-2', 'q-3']);
      const handle = h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, cancelled));
      await until(() => handle.query(broadcastProgressQuery).catch(() => null), (p) => p?.phase === 'finishing', 60_000);
      ok(await h.call('POST', `/v1/broadcasts/${cancelled}/cancel`), 200, 'cancel');
      await handle.result();
      await save(h.env.client, 'broadcastWorkflow', 'cancelled', handle.workflowId);
    } finally {
      await h.close();
    }
  },
};

const batchBroadcasts: ScenarioGroup = {
  name: 'broadcastBatchWorkflow',
  async run(save) {
    // Pages of two: in-app recipients sent by the page's activity, a webhook one and the quiet
    // ones by their own notification workflows (a page that starts any ends its run).
    const h = await startHarness({ app: { broadcastTuning: { pageSize: 2, maxInFlight: 2 } } });
    try {
      await seed(h);
      const hook = `${h.hook.url}/hooks`;
      for (const id of ['a-1', 'a-2', 'a-3']) ok(await h.call('PUT', `/v1/recipients/${id}`, {}), 200, 'recipient');
      ok(await h.call('PUT', `/v1/recipients/w-1`, { webhookUrl: hook }), 200, 'recipient');
      for (const id of ['q-1', 'q-2', 'q-3']) {
        ok(await h.call('PUT', `/v1/recipients/${id}`, {}), 200, 'recipient');
        ok(await h.call('PUT', `/v1/recipients/${id}/preferences`, { quietHours: { start: '00:00', end: '23:59', timezone: 'UTC' } }), 200, 'preferences');
      }
      const start = async (recipients: string[]) =>
        ok(await h.call('POST', '/v1/broadcasts', { recipients, template: 'order-shipped', data: { order: { id: 9 }, name: 'All' } }), 202, 'broadcast').id as string;

      const completed = await start(['a-1', 'a-2', 'w-1', 'a-3']);
      const done = h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, completed));
      await done.result();
      await save(h.env.client, 'broadcastBatchWorkflow', 'completed', done.workflowId);

      // Everyone held by quiet hours; cancelled while the broadcast waits for them.
      const cancelled = await start(['q-1', 'q-2', 'q-3']);
      const handle = h.env.client.workflow.getHandle(workflowIds.broadcast(h.tenantId, cancelled));
      await until(() => handle.query(broadcastProgressQuery).catch(() => null), (p) => p?.phase === 'finishing', 60_000);
      ok(await h.call('POST', `/v1/broadcasts/${cancelled}/cancel`), 200, 'cancel');
      await handle.result();
      await save(h.env.client, 'broadcastBatchWorkflow', 'cancelled', handle.workflowId);
    } finally {
      await h.close();
    }
  },
};

/**
 * A harness whose API starts runs on the dev server (Schedules, history deletion and visibility
 * lists are only there), with a worker on that server over the harness's database; `senders`
 * may read that database. Everything is stopped after `body`.
 */
async function onDevServer(queue: string, body: (h: Harness, dev: Awaited<ReturnType<typeof localEnv>>, taskQueue: string) => Promise<void>, senders?: (db: Harness['db']) => Partial<Record<Channel, ChannelSender>>) {
  const dev = await localEnv();
  let h: Harness | undefined;
  let stopWorker = async () => {};
  try {
    await registerSearchAttributes(dev.connection, dev.namespace ?? 'default');
    const taskQueue = uniqueQueue(queue);
    h = await startHarness({ app: { temporal: { client: dev.client, taskQueue, ping: async () => {} } } });
    const worker = await testWorker(dev, h.db, taskQueue, senders?.(h.db));
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
    };
    await body(h, dev, taskQueue);
  } finally {
    await stopWorker();
    await h?.close();
    await dev.teardown();
  }
}

const schedules: ScenarioGroup = {
  name: 'scheduledSendWorkflow',
  async run(save) {
    await onDevServer('schedules', async (x, dev) => {
      await seed(x);
      const run = async (scenario: string, id: string, body: Record<string, unknown>) => {
        ok(await x.call('PUT', `/v1/schedules/${id}`, { cron: '0 8 * * MON', timezone: 'Europe/Berlin', ...body }), 200, 'schedule');
        ok(await x.call('POST', `/v1/schedules/${id}/trigger`), 202, 'trigger');
        const s = await until(async () => ok(await x.call('GET', `/v1/schedules/${id}`), 200, 'schedule'), (b) => b.recentRuns[0]?.status === 'completed', 60_000, 200);
        await save(dev.client, 'scheduledSendWorkflow', scenario, s.recentRuns[0].workflowId);
      };
      await run('notification', 'weekly-order', { notification: order });
      await run('broadcast', 'weekly-news', { broadcast: { recipients: ['user-42'], template: 'order-shipped', data: { order: { id: 8 }, name: 'All' } } });
    });
  },
};

const erasureAndRetention: ScenarioGroup = {
  name: 'erasureWorkflow and retentionWorkflow',
  async run(save) {
    await onDevServer('erasure', async (x, dev, taskQueue) => {
      await seed(x);
      // One sent, one held for an hour: the erasure cancels the held one and deletes both.
      const sent = ok(await x.call('POST', '/v1/notifications', order), 202, 'send').id as string;
      await until(async () => ok(await x.call('GET', `/v1/notifications/${sent}`), 200, 'get'), (b) => b.status === 'sent', 60_000, 100);
      const held = ok(await x.call('POST', '/v1/notifications', { ...order, sendAt: new Date(Date.now() + 3_600_000).toISOString() }), 202, 'send later').id as string;
      await until(async () => ok(await x.call('GET', `/v1/notifications/${held}`), 200, 'get'), (b) => b.status === 'scheduled', 60_000, 100);
      ok(await x.call('DELETE', `/v1/recipients/${order.recipient}`), 202, 'erase');
      const erasure = dev.client.workflow.getHandle(workflowIds.erasure(x.tenantId, order.recipient));
      await erasure.result();
      await save(dev.client, 'erasureWorkflow', 'sent-and-held', erasure.workflowId);
      const retention = await dev.client.workflow.start('retentionWorkflow', { taskQueue, workflowId: `retention-${taskQueue}`, args: [{ days: 30 }] });
      await retention.result();
      await save(dev.client, 'retentionWorkflow', 'one-pass', retention.workflowId);
    });
  },
};

const pushGone: ScenarioGroup = {
  name: 'notificationWorkflow push to devices all gone',
  async run(save) {
    const fcm = await startFakeFcm();
    try {
      await onDevServer(
        'push-gone',
        async (x, dev) => {
          ok(await x.call('PUT', '/v1/recipients/user-42', {}), 200, 'recipient');
          ok(await x.call('POST', '/v1/templates', { key: 'order-shipped', content: { en: { push: { title: 'Order {{ order.id }} shipped', body: 'On its way.' } } } }), 201, 'template');
          ok(await x.call('PUT', '/v1/recipients/user-42/devices/old', { provider: 'fcm', token: 'fcm-stale' }), 200, 'device');
          fcm.gone.add('fcm-stale');
          const id = ok(await x.call('POST', '/v1/notifications', { ...order, channels: ['push'] }), 202, 'send').id as string;
          await dev.client.workflow.getHandle(workflowIds.notification(x.tenantId, id)).result();
          const done = ok(await x.call('GET', `/v1/notifications/${id}`), 200, 'get');
          if (done.deliveries[0].status !== 'skipped') throw new Error(`push-all-gone: expected skipped, got ${JSON.stringify(done.deliveries)}`);
          await save(dev.client, 'notificationWorkflow', 'push-all-gone', workflowIds.notification(x.tenantId, id));
        },
        (db) => ({ push: createPushSender(db.db, [createFcmProvider({ serviceAccount: fcm.serviceAccount, baseUrl: fcm.url })])! }),
      );
    } finally {
      await fcm.close();
    }
  },
};

const events: ScenarioGroup = {
  name: 'eventWorkflow',
  async run(save) {
    // Pages of two: a segment of three continues as new after its first page.
    const h = await startHarness({ app: { eventPageSize: 2 } });
    try {
      await seed(h);
      for (const id of ['p-1', 'p-2', 'p-3', 'f-1']) ok(await h.call('PUT', `/v1/recipients/${id}`, { attributes: { plan: id.startsWith('p') ? 'pro' : 'free' } }), 200, 'recipient');
      ok(await h.call('PUT', '/v1/rules/shipped', { event: 'order.shipped', if: 'event.data.order.id > 5', recipients: { from: 'event' }, template: 'order-shipped', channels: ['webhook'] }), 200, 'rule');
      ok(await h.call('PUT', '/v1/rules/pro-news', { event: 'news', recipients: { segment: 'recipient.attributes.plan == "pro"' }, template: 'order-shipped', channels: ['inapp'] }), 200, 'rule');
      const post = async (scenario: string, body: Record<string, unknown>) => {
        const id = ok(await h.call('POST', '/v1/events', body), 202, 'event').id as string;
        const workflowId = workflowIds.event(h.tenantId, id);
        await h.env.client.workflow.getHandle(workflowId).result();
        await save(h.env.client, 'eventWorkflow', scenario, workflowId);
      };
      await post('from-event', { name: 'order.shipped', actor: 'user-42', data: order.data });
      await post('segment-pages', { name: 'news', data: order.data });
      await post('no-match', { name: 'order.shipped', actor: 'user-42', data: { order: { id: 1 }, name: 'Ann' } });
    } finally {
      await h.close();
    }
  },
};

/** Retries of finished notifications' failed deliveries (POST /v1/notifications/{id}/retry). */
const retries: ScenarioGroup = {
  name: 'retryWorkflow',
  async run(save) {
    const h = await startHarness();
    try {
      await seed(h);
      const finish = async (id: string) => {
        const n = await until(
          () => h.call('GET', `/v1/notifications/${id}`),
          (r) => ['sent', 'partially_sent', 'failed'].includes(r.body.status),
        );
        return n.body;
      };
      const retry = async (scenario: string, id: string, key: string) => {
        ok(await h.call('POST', `/v1/notifications/${id}/retry`, undefined, { 'idempotency-key': key }), 202, 'retry');
        const handle = h.env.client.workflow.getHandle(keyedRetryWorkflowId(h.tenantId, id, key));
        await handle.result();
        await save(h.env.client, 'retryWorkflow', scenario, handle.workflowId);
      };
      // inapp sent, webhook refused: partially sent; the retry sends the webhook.
      h.hook.setDefault({ status: 400, body: { error: 'no such hook' } });
      const partial = ok(await h.call('POST', '/v1/notifications', { ...order, channels: ['inapp', 'webhook'] }), 202, 'send').id as string;
      const failed = ok(await h.call('POST', '/v1/notifications', { ...order, channels: ['webhook'] }), 202, 'send').id as string;
      if ((await finish(partial)).status !== 'partially_sent' || (await finish(failed)).status !== 'failed') throw new Error('retry: setup did not fail');
      // Still refused: failed again.
      await retry('failed-again', failed, 'again');
      h.hook.setDefault(undefined);
      await retry('partial-then-sent', partial, 'sent');
      if ((await finish(partial)).status !== 'sent') throw new Error('retry: partial-then-sent did not end sent');
    } finally {
      await h.close();
    }
  },
};

/** Every step type of the flow interpreter, and the ways a run ends (matched, timed out, cancelled, failed, throttled). */
const flows: ScenarioGroup = {
  name: 'flowWorkflow',
  async run(save) {
    const h = await startHarness({ activities: { webhookAllowedHosts: LOCAL_RECEIVERS } });
    try {
      await seed(h);
      ok(await h.call('PUT', '/v1/recipients/night-owl', { webhookUrl: `${h.hook.url}/hooks`, timezone: 'America/New_York' }), 200, 'recipient');
      ok(await h.call('PUT', '/v1/recipients/night-owl/preferences', { quietHours: { start: '22:00', end: '07:00', timezone: 'America/New_York' } }), 200, 'preferences');
      const inapp = { id: 'inapp', type: 'send', channels: ['inapp'], template: 'order-shipped' };
      const hook = { id: 'hook', type: 'send', channels: ['webhook'], template: 'order-shipped' };
      const put = async (key: string, steps: unknown[]) => ok(await h.call('PUT', `/v1/flows/${key}`, { steps }), 200, `flow ${key}`);
      await put('read', [inapp, { id: 'wait', type: 'wait', for: 'read', timeoutSeconds: 3600 }, { id: 'unread', type: 'branch', if: 'steps.wait.outcome == "timed_out"', then: [hook] }]);
      await put('event', [inapp, { id: 'paid', type: 'wait', for: 'event', event: 'order.paid', if: 'event.data.order == data.order.id', timeoutSeconds: 3600 }, { id: 'unpaid', type: 'branch', if: 'steps.paid.outcome == "timed_out"', then: [hook], else: [] }]);
      await put('steps', [
        { id: 'limit', type: 'throttle', key: 'flow', limit: 1, windowSeconds: 86400 },
        { id: 'pause', type: 'delay', seconds: 600 },
        { id: 'until', type: 'delay', until: 'timestamp(data.due)' },
        { id: 'load', type: 'fetch', url: `${h.hook.url}/profile`, method: 'POST', as: 'profile' },
        { id: 'pro', type: 'branch', if: 'data.profile.plan == "pro"', then: [{ ...hook, strategy: 'first-success' }], else: [inapp] },
      ]);
      await put('refused', [{ id: 'load', type: 'fetch', url: `${h.hook.url}/x`, as: 'x' }, inapp]);
      const send = async (flow: string, body: Record<string, unknown> = {}) =>
        ok(await h.call('POST', '/v1/notifications', { recipient: 'user-42', flow, data: order.data, ...body }), 202, 'send').id as string;
      const finish = async (scenario: string, id: string) => {
        await h.handle(id).result();
        await save(h.env.client, 'flowWorkflow', scenario, workflowIds.notification(h.tenantId, id));
      };
      const waiting = (id: string, stepId: string) =>
        until(
          () => h.call('GET', `/v1/notifications/${id}`),
          (r) => r.body.steps?.find((s: any) => s.id === stepId)?.status === 'running',
          45_000,
        );

      const read = await send('read');
      await waiting(read, 'wait');
      ok(await h.call('POST', `/v1/recipients/user-42/inbox/msg_${read}/read`), 200, 'read');
      await finish('read-matched', read);
      await finish('read-timed-out', await send('read'));

      const paid = await send('event');
      await waiting(paid, 'paid');
      await signalFlowWaits({ db: h.db.db, temporal: { client: h.env.client, taskQueue: h.taskQueue } }, { tenantId: h.tenantId, name: 'order.paid', actor: 'user-42', data: { order: 7 } });
      await finish('event-matched', paid);

      const cancelled = await send('read');
      await waiting(cancelled, 'wait');
      ok(await h.call('POST', `/v1/notifications/${cancelled}/cancel`), 200, 'cancel');
      await finish('cancelled', cancelled);

      h.hook.enqueue({ status: 200, body: { plan: 'pro' } });
      const due = new Date(Number(await h.env.currentTimeMs()) + 2 * 3600_000).toISOString();
      await finish('throttle-delay-fetch-branch', await send('steps', { data: { ...order.data, due } }));
      await finish('throttled', await send('steps', { data: { ...order.data, due } }));
      h.hook.enqueue({ status: 400, body: { error: 'no' } });
      await finish('fetch-failed', await send('refused'));

      await skipToNewYorkNight(h);
      const held = ok(await h.call('POST', '/v1/notifications', { recipient: 'night-owl', flow: 'read', data: order.data }), 202, 'send').id as string;
      await waitForState(h, held, (s) => s.status === 'held');
      await finish('held-then-sent', held);
    } finally {
      await h.close();
    }
  },
};

const webhookDispatch: ScenarioGroup = {
  name: 'webhookDispatchWorkflow',
  async run(save) {
    const h = await startHarness({ activities: { lifecycleWebhooks: { encryptionKeys: parseEncryptionKeys(TEST_ENCRYPTION_KEYS), allowedHosts: LOCAL_RECEIVERS } } });
    const stopNudges = await startWebhookNudges({ db: h.db.db, listen: h.db.listen, temporal: { client: h.env.client, taskQueue: h.taskQueue } });
    try {
      await seed(h);
      ok(await h.call('PUT', '/v1/webhook-endpoints/main', { url: `${h.hook.url}/lifecycle`, events: ['notification.sent'] }), 200, 'endpoint');
      // The first attempt fails, the retry 5 s later succeeds; then the endpoint is deleted and its dispatcher ends.
      h.hook.enqueue({ status: 500 });
      ok(await h.call('POST', '/v1/notifications', { ...order, channels: ['inapp'] }), 202, 'send');
      const arrived = () => h.hook.requests.filter((r) => r.path === '/lifecycle');
      await until(async () => arrived().length, (n) => n >= 1, 60_000);
      await h.env.sleep(10_000);
      await until(async () => arrived().filter((r) => r.status === 200).length, (n) => n === 1, 60_000);
      ok(await h.call('DELETE', '/v1/webhook-endpoints/main'), 204, 'delete');
      const handle = h.env.client.workflow.getHandle(workflowIds.webhookEndpoint(h.tenantId, 'main'));
      await handle.signal(webhookNudgeSignal);
      await handle.result();
      await save(h.env.client, 'webhookDispatchWorkflow', 'retried-then-deleted', handle.workflowId);
    } finally {
      await stopNudges();
      await h.close();
    }
  },
};

export const scenarioGroups: ScenarioGroup[] = [notifications, flows, newChannels, pushGone, incidents, digests, broadcasts, batchBroadcasts, schedules, erasureAndRetention, events, webhookDispatch, retries];
