// A Tocsin API + worker on the time-skipping test server, over an in-memory database, with
// a webhook receiver: the notification workflow exactly as production runs it, minus wall time.
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../api/app.js';
import { createInboxStreams, type InboxStreams, type InboxStreamsOptions } from '../api/inbox-streams.js';
import type { AppDeps } from '../api/app.js';
import type { ActivityDeps } from '../activities/index.js';
import type { ChannelSender } from '../activities/channels/types.js';
import type { Database } from '../db/client.js';
import { CHANNELS, type Channel, type RetrySettings } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { startFakeWebhook } from './fakes/webhook.js';
import { registerSearchAttributes } from '../worker/index.js';
import { LOCAL_RECEIVERS, localEnv, openTestDatabase, testCodec, testDataConverter, testWorker, timeSkippingEnv, uniqueQueue } from './support.js';

export const ADMIN = 'test-admin-token';

export const fastRetry: RetrySettings = {
  initialIntervalSeconds: 1,
  backoffCoefficient: 2,
  maximumIntervalSeconds: 60,
  maximumAttempts: 5,
  expirationSeconds: 3600,
};

export interface Harness {
  env: TestWorkflowEnvironment;
  db: Database;
  hook: Awaited<ReturnType<typeof startFakeWebhook>>;
  tenantId: string;
  apiKey: string;
  /** The task queue the harness's worker polls. */
  taskQueue: string;
  /** A request to the API as the test tenant (JSON in, parsed JSON out). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** The raw Response of a GET as the test tenant (for streams). */
  stream(path: string): Promise<Response>;
  handle(notificationId: string): ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>;
  /** The API itself, for requests that are not JSON (Slack's form posts). */
  app: ReturnType<typeof createApp>;
  /** The inbox's SSE streams, woken by the database's notifications. */
  inboxStreams: InboxStreams;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    senders?: Partial<Record<Channel, ChannelSender>>;
    retry?: RetrySettings;
    /** Further activity dependencies (escalation's Slack and pager clients). */
    activities?: Partial<Omit<ActivityDeps, 'db' | 'senders'>>;
    /** Overrides of the API's dependencies (secrets, clock). */
    app?: Partial<AppDeps>;
    /** Interceptors of the API's Temporal client (fault injection, tracing). */
    clientInterceptors?: WorkflowClientInterceptor[];
    /** The worker's bundle, interceptors and sinks (tracing). */
    worker?: Parameters<typeof testWorker>[5];
    /** Caps and polls of the inbox's SSE streams (they listen on the harness's database). */
    inboxStreams?: Omit<InboxStreamsOptions, 'listen'>;
  } = {},
): Promise<Harness> {
  const env = await timeSkippingEnv();
  const db = await openTestDatabase();
  const hook = await startFakeWebhook();
  const taskQueue = uniqueQueue();
  const worker = await testWorker(env, db, taskQueue, opts.senders, opts.activities, opts.worker);
  const running = worker.run();
  const inboxStreams = createInboxStreams({ listen: db.listen, ...opts.inboxStreams });
  const app = createApp(
    {
      inboxStreams,
      db: db.db,
      temporal: {
        client: opts.clientInterceptors ? new Client({ connection: env.connection, dataConverter: testDataConverter, interceptors: { workflow: opts.clientInterceptors } }) : env.client,
        taskQueue,
        ping: async () => {},
      },
      adminToken: ADMIN,
      codec: { codec: testCodec, corsOrigins: [] },
      channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as Record<Channel, 'configured'>,
      retry: opts.retry ?? fastRetry,
      // The fake receivers listen on loopback, which webhooks may reach only when allowed.
      webhookAllowedHosts: LOCAL_RECEIVERS,
      // Idempotency keys expire on the workflow clock's scale in these tests only by wall time.
      ...opts.app,
    },
    { log: () => {} },
  );
  const raw = async (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const tenant = await raw('POST', '/v1/admin/tenants', ADMIN, { name: 'Acme' });
  const tenantId = tenant.body.id as string;
  const apiKey = tenant.body.apiKey as string;
  return {
    env,
    db,
    hook,
    tenantId,
    apiKey,
    taskQueue,
    stream: async (path) => app.request(path, { headers: { authorization: `Bearer ${apiKey}` } }),
    call: (method, path, body, headers) => raw(method, path, apiKey, body, headers),
    handle: (id) => env.client.workflow.getHandle(workflowIds.notification(tenantId, id)),
    app,
    inboxStreams,
    close: async () => {
      await inboxStreams.close();
      worker.shutdown();
      await running;
      await hook.close();
      await db.close();
      await env.teardown();
    },
  };
}

/** Creates a recipient with a webhook URL and in-app inbox, and a template for both. */
export async function seed(h: Harness, recipient: Record<string, unknown> = {}, template = 'order-shipped') {
  const r = await h.call('PUT', '/v1/recipients/user-42', { webhookUrl: `${h.hook.url}/hooks`, timezone: 'America/New_York', ...recipient });
  if (r.status !== 200) throw new Error(`seed recipient: ${JSON.stringify(r.body)}`);
  const t = await h.call('POST', '/v1/templates', {
    key: template,
    content: {
      en: {
        inapp: { title: 'Order {{ order.id }} shipped', body: 'It is on its way, {{ name }}.' },
        webhook: { event: 'order.shipped', order: '{{ order.id }}' },
      },
    },
  });
  if (t.status !== 201) throw new Error(`seed template: ${JSON.stringify(t.body)}`);
}

/** A client interceptor whose workflow starts reach the server but whose answers are lost while `lose()` holds. */
export function loseStartAnswers(lose: () => boolean): WorkflowClientInterceptor {
  return {
    async startWithDetails(input, next) {
      const out = await next(input);
      if (lose()) throw new Error('14 UNAVAILABLE: the connection dropped before the answer');
      return out;
    },
  };
}

/**
 * Polls the workflow's status query until `pred` holds. The timeout only guards against a hang
 * (a loaded machine can take tens of seconds for a few activities on the test server); what a
 * test checks is the state, and a timeout names the last one seen.
 */
export async function waitForState(h: Harness, id: string, pred: (s: any) => boolean, timeoutMs = 45_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'not started';
  for (;;) {
    try {
      const s = await h.handle(id).query('status');
      if (pred(s)) return s;
      last = s;
    } catch {
      // Not started yet.
    }
    if (Date.now() > deadline) throw new Error(`state of ${id} never matched; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server time (ms) at which each delivery activity of a run was last started, by channel. */
export async function activityStartTimes(
  h: Harness,
  id: string,
): Promise<Record<string, { scheduled: number; started: number; attempt: number; retry: { initialIntervalMs: number; backoffCoefficient: number } }>> {
  const history = await h.handle(id).fetchHistory();
  const scheduled = new Map<number, { name: string; at: number; retry: { initialIntervalMs: number; backoffCoefficient: number } }>();
  const out: Awaited<ReturnType<typeof activityStartTimes>> = {};
  const ms = (t: any) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(Number(e.eventId), { name: s.activityType!.name!, at: ms(e.eventTime), retry: { initialIntervalMs: ms(s.retryPolicy?.initialInterval), backoffCoefficient: s.retryPolicy?.backoffCoefficient ?? 0 } });
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const sch = scheduled.get(Number(st.scheduledEventId))!;
      out[sch.name] = { scheduled: sch.at, started: ms(e.eventTime), attempt: st.attempt ?? 1, retry: sch.retry };
    }
  }
  return out;
}

/** A harness whose API and worker use the Temporal dev server (as in production), with its client. */
export interface DevHarness extends Harness {
  dev: TestWorkflowEnvironment;
}

/**
 * The harness on the Temporal dev server instead of the time-skipping one: for what the test
 * server lacks (Schedules) or mishandles, and for runs on a real clock. `close` stops both.
 */
export async function startDevHarness(opts: Parameters<typeof startHarness>[0] & { queuePrefix?: string } = {}): Promise<DevHarness> {
  const dev = await localEnv();
  await registerSearchAttributes(dev.connection, dev.namespace ?? 'default');
  const taskQueue = uniqueQueue(opts.queuePrefix ?? 'dev');
  const h = await startHarness({ ...opts, app: { ...opts.app, temporal: { client: dev.client, taskQueue, ping: async () => {} } } });
  const worker = await testWorker(dev, h.db, taskQueue, opts.senders, opts.activities);
  const running = worker.run();
  return {
    ...h,
    dev,
    handle: (id) => dev.client.workflow.getHandle(workflowIds.notification(h.tenantId, id)),
    close: async () => {
      worker.shutdown();
      await running;
      await h.close();
      await dev.teardown();
    },
  };
}
