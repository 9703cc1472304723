// Escalation on the time-skipping test server, driven through the API, with Slack and PagerDuty
// faked at the HTTP level and reached through the real clients.
import { afterEach, describe, expect, it } from 'vitest';
import { createPagerClient } from '../activities/channels/pager.js';
import { createSlackClient } from '../activities/channels/slack.js';
import { ACK_ACTION_ID } from '../domain/incidents.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { incidentStateQuery } from '../domain/workflow-messages.js';
import { startFakePagerDuty, type FakePagerDuty } from './fakes/pagerduty.js';
import { slackSignedHeaders } from './fakes/receipts.js';
import type { FakeServer } from './fakes/server.js';
import { verifyWebhook } from './fakes/webhook.js';
import { slackError, startFakeSlack } from './fakes/slack.js';
import { ADMIN, startHarness, type Harness } from './harness.js';
import { decodePayload } from './support.js';

const SIGNING_SECRET = 'slack-signing-secret-for-tests';

interface Rig {
  h: Harness;
  slack: FakeServer;
  pd: FakePagerDuty;
}

let rig: Rig | undefined;
afterEach(async () => {
  if (!rig) return;
  await rig.h.close();
  await rig.slack.close();
  await rig.pd.close();
  rig = undefined;
});

async function start(opts: { maxHistoryEvents?: number } = {}): Promise<Rig> {
  const slack = await startFakeSlack();
  const pd = await startFakePagerDuty();
  const h = await startHarness({
    activities: {
      slack: createSlackClient({ botToken: 'xoxb-test', apiUrl: `${slack.url}/api/` }),
      pager: createPagerClient({ eventsUrl: pd.eventsUrl }),
    },
    app: {
      secrets: { slackSigningSecret: SIGNING_SECRET },
      ...(opts.maxHistoryEvents ? { incidentTuning: { maxHistoryEvents: opts.maxHistoryEvents } } : {}),
    },
  });
  rig = { h, slack, pd };
  return rig;
}

type Step = { channel: string; target: string; ackTimeoutSeconds: number };

async function policy(h: Harness, key: string, steps: Step[], repeat = 0) {
  const res = await h.call('PUT', `/v1/escalation-policies/${key}`, { steps, repeat });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function trigger(h: Harness, body: Record<string, unknown> = {}) {
  const res = await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { id: string; status: string };
}

/** Polls (in wall time) until `ok` holds for what `get` returns. */
async function until<T>(get: () => Promise<T> | T, ok: (v: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const posts = (slack: FakeServer) => slack.requests.filter((r) => r.path === '/api/chat.postMessage');
const updates = (slack: FakeServer) => slack.requests.filter((r) => r.path === '/api/chat.update');
const pagerEvents = (pd: FakePagerDuty, action?: string) => pd.requests.map((r) => r.body).filter((b) => !action || b.event_action === action);
/** Slack's Web API client sends blocks as a JSON string inside the form. */
const blocksOf = (req: { body: any }) => (typeof req.body.blocks === 'string' ? JSON.parse(req.body.blocks) : req.body.blocks);

const get = (h: Harness, id: string) => h.call('GET', `/v1/incidents/${id}`);
const types = (incident: any) => incident.timeline.map((e: any) => e.type);

/**
 * Every run of the incident workflow's continue-as-new chain, oldest first, each as its history
 * events: walked back from the latest run through each run's `continuedExecutionRunId`.
 */
async function runs(h: Harness, key: string) {
  const workflowId = workflowIds.incident(h.tenantId, key);
  const chain: any[][] = [];
  for (let runId: string | undefined; ; ) {
    const events = (await h.env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    chain.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return chain;
  }
}

/**
 * From the incident workflow's histories (every run of the chain, in order): each notification
 * activity and each timer the workflow started, with the server's event time (`at`), the
 * workflow clock of the task that made it (`clock`: the workflow task's start, which is what
 * `Date.now()` reads in the workflow) and their place in the chain (`seq`).
 */
async function history(h: Harness, key: string) {
  const ms = (t: any) => Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  const notified: Array<{ channel: string; target: string; dedupKey: string; at: number; clock: number; seq: number; taskSeq: number }> = [];
  const timers: Array<{ timeoutMs: number; startedAt: number; clock: number; seq: number; firedAt?: number; firedSeq?: number }> = [];
  /** The start of every workflow task completed, by its place in the chain. */
  const taskSeqs: number[] = [];
  const chain = await runs(h, key);
  // The notification activities' inputs, decoded (the suites' workers encrypt every payload).
  const inputs = new Map<unknown, any>();
  for (const events of chain)
    for (const e of events) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'notifyIncidentStep') inputs.set(e, await decodePayload(s.input!.payloads![0]));
    }
  let seq = 0;
  chain.forEach((events) => {
    const started = new Map<string, (typeof timers)[number]>();
    // A command's workflow task is the last one started (and completed) before it: its start is
    // the workflow clock the code read.
    let clock = 0;
    let taskSeq = 0;
    for (const e of events) {
      seq++;
      if (e.workflowTaskStartedEventAttributes) clock = ms(e.eventTime);
      if (e.workflowTaskCompletedEventAttributes) taskSeqs.push((taskSeq = seq));
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'notifyIncidentStep') {
        const args = inputs.get(e);
        notified.push({ channel: args.step.channel, target: args.step.target, dedupKey: args.dedupKey, at: ms(e.eventTime), clock, seq, taskSeq });
      }
      const t = e.timerStartedEventAttributes;
      if (t) {
        const timer = { timeoutMs: ms(t.startToFireTimeout), startedAt: ms(e.eventTime), clock, seq };
        started.set(String(e.eventId), timer);
        timers.push(timer);
      }
      const f = e.timerFiredEventAttributes;
      if (f) Object.assign(started.get(String(f.startedEventId))!, { firedAt: ms(e.eventTime), firedSeq: seq });
    }
  });
  /** Where the first workflow task completed after `after` sits in the chain. */
  const nextTask = (after: number) => taskSeqs.find((t) => t > after);
  return { notified, timers, nextTask, runs: chain.length, longest: Math.max(...chain.map((c) => c.length)) };
}

/**
 * Each step waited exactly its own timeout, from the timers the workflow started (not from
 * wall-clock gaps, which a loaded machine stretches or shrinks): the task that sent a step's
 * notification started a timer of the step's timeout; a run that continued as new during the
 * wait started one for what was left of the same deadline; the last of them fired, and the task
 * it woke sent the next step. `timeouts[i]` is the wait after the i-th notification.
 */
function expectStepsWaited(got: Awaited<ReturnType<typeof history>>, timeouts: number[]) {
  const { notified: sent, timers, nextTask } = got;
  expect(sent.length).toBe(timeouts.length + 1);
  timeouts.forEach((timeout, i) => {
    const where = `after notification ${i} (${sent[i].channel})`;
    const waited = timers.filter((t) => t.seq > sent[i].seq && t.seq < sent[i + 1].seq);
    expect(waited.length, where).toBeGreaterThanOrEqual(1);
    const deadline = sent[i].clock + timeout;
    expect(waited[0], where).toMatchObject({ timeoutMs: timeout, clock: sent[i].clock });
    for (const t of waited) expect(t.clock + t.timeoutMs, where).toBe(deadline);
    const last = waited[waited.length - 1];
    expect(last.firedSeq, where).toBeDefined();
    expect(waited.slice(0, -1).every((t) => t.firedSeq === undefined), where).toBe(true);
    expect(nextTask(last.firedSeq!), where).toBe(sent[i + 1].taskSeq);
    expect(sent[i + 1].clock - sent[i].clock, where).toBeGreaterThanOrEqual(timeout);
  });
}

function signed(body: string, secret = SIGNING_SECRET, ts = Math.floor(Date.now() / 1000)) {
  return slackSignedHeaders(body, secret, ts);
}

function buttonPress(value: string) {
  const payload = {
    type: 'block_actions',
    user: { id: 'U024BE7LH', username: 'ann', name: 'ann', team_id: 'T0001' },
    actions: [{ type: 'button', action_id: ACK_ACTION_ID, block_id: 'tocsin_incident', value, action_ts: '1' }],
    container: { type: 'message', channel_id: 'C0OPS', message_ts: '1.000001' },
    response_url: 'https://hooks.slack.com/actions/T0001/1/x',
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

describe('escalation', () => {
  it('pages exactly at the step timeout, on the policy pinned at the trigger', async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 },
      { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 600 },
    ]);
    const inc = await trigger(h);
    expect(inc.status).toBe('triggered');
    // A policy change does not touch the running incident.
    await policy(h, 'ops', [{ channel: 'pager', target: 'rk-changed', ackTimeoutSeconds: 1 }]);

    const [post] = await until(() => posts(slack), (p) => p.length === 1, 'the Slack message');
    expect(post.body.channel).toBe('#ops');
    const actions = blocksOf(post).find((b: any) => b.type === 'actions');
    expect(actions.elements[0]).toMatchObject({ action_id: ACK_ACTION_ID, value: inc.id });

    // Not before the timeout: from the workflow's history below (its 300 s timer fired first),
    // not from what the fake saw by some wall-clock moment, which a loaded machine shifts.
    await h.env.sleep(301_000);
    await until(() => pagerEvents(pd), (e) => e.length === 1, 'the page');
    expect(pagerEvents(pd)[0]).toMatchObject({
      routing_key: 'rk-primary',
      event_action: 'trigger',
      dedup_key: inc.id,
      payload: { summary: 'Disk full on db-1', severity: 'critical', source: 'tocsin' },
    });

    const steps = await history(h, inc.id);
    expect(steps.notified.map((n) => [n.channel, n.target])).toEqual([
      ['slack', '#ops'],
      ['pager', 'rk-primary'],
    ]);
    // The step's timer (300 s) starts with the Slack message, nothing ends the wait early, and the
    // page is sent by the workflow task that the timer woke; the page's own step timer is 600 s.
    expectStepsWaited(steps, [300_000]);
    expect(steps.timers).toHaveLength(2);
    expect(steps.timers[1]).toMatchObject({ timeoutMs: 600_000, clock: steps.notified[1].clock });

    const got = await until(() => get(h, inc.id), (r) => r.body.timeline.length === 4, 'the timeline');
    expect(got.body).toMatchObject({ id: inc.id, status: 'triggered', step: 1, cycle: 0, policy: 'ops', severity: 'critical' });
    expect(got.body.timeline).toMatchObject([
      { type: 'triggered' },
      { type: 'notified', channel: 'slack', target: '#ops' },
      { type: 'escalated', channel: 'pager', target: 'rk-primary' },
      { type: 'notified', channel: 'pager', target: 'rk-primary' },
    ]);
    expect(Date.parse(got.body.timeline[2].at) - Date.parse(got.body.timeline[0].at)).toBeGreaterThanOrEqual(300_000);
    // The workflow query answers the same, live and compact: the timeline is only in the database.
    const live = await h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, inc.id)).query(incidentStateQuery);
    expect(live).toEqual({ id: inc.id, status: 'triggered', step: 1, cycle: 0, events: 4, acknowledgedBy: null, run: 1 });
  });

  it('a Slack step whose answer was lost is posted once: the retry finds the message by its metadata', async () => {
    const { h, slack } = await start();
    await policy(h, 'ops', [{ channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 }]);
    // Slack takes the first post, then the connection drops before its answer.
    slack.enqueue({ acceptThen: 'drop' });
    const inc = await trigger(h);
    await h.env.sleep(60_000); // past the retry's backoff
    const got = await until(() => get(h, inc.id), (r) => r.body.timeline.some((e: any) => e.type === 'notified'), 'the notified step');
    expect(got.body.timeline.filter((e: any) => e.type === 'notified')).toHaveLength(1);
    expect(posts(slack)).toHaveLength(1);
    expect(JSON.parse(posts(slack)[0].body.metadata)).toMatchObject({ event_type: 'tocsin_delivery', event_payload: { notification_id: inc.id } });
    expect(slack.requests.filter((r) => r.path === '/api/conversations.history')).toHaveLength(1);
  });

  it('an acknowledgement one second before the timeout means zero pages', async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 },
      { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 600 },
    ]);
    const inc = await trigger(h);
    await until(() => posts(slack), (p) => p.length === 1, 'the Slack message');
    await h.env.sleep(299_000);

    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann@example.com' });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: inc.id, status: 'acknowledged', step: 0 });
    expect(types(ack.body)).toEqual(['triggered', 'notified', 'acknowledged']);
    expect(ack.body.timeline[2].by).toBe('ann@example.com');

    await h.env.sleep(3 * 3600_000);
    // The Slack message now says who acknowledged it, without the button.
    const [update] = await until(() => updates(slack), (u) => u.length === 1, 'the Slack update');
    expect(update.body).toMatchObject({ channel: '#ops', ts: expect.stringMatching(/^\d+\.\d{6}$/) });
    expect(blocksOf(update).some((b: any) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(blocksOf(update))).toContain('acknowledged');
    expect(pd.requests).toHaveLength(0);
    const { notified, timers } = await history(h, inc.id);
    expect(notified.map((n) => n.channel)).toEqual(['slack']);
    // The step's timer was cancelled, not fired.
    expect(timers).toHaveLength(1);
    expect(timers[0].firedAt).toBeUndefined();
    const after = await get(h, inc.id);
    expect(after.body.status).toBe('acknowledged');
    expect(types(after.body)).toEqual(['triggered', 'notified', 'acknowledged']);
  });

  it('an acknowledgement stops a page that is being retried', async () => {
    const { h, pd } = await start();
    await policy(h, 'ops', [{ channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 600 }]);
    pd.enqueue(...Array.from({ length: 10 }, () => ({ status: 500 })));
    const inc = await trigger(h);
    await until(() => pagerEvents(pd, 'trigger'), (e) => e.length >= 2, 'a retried page');

    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' });
    expect(ack.status).toBe(200);
    const attempts = pagerEvents(pd, 'trigger').length;
    await h.env.sleep(3600_000);
    expect(pagerEvents(pd, 'trigger')).toHaveLength(attempts);
    expect(types((await get(h, inc.id)).body)).toEqual(['triggered', 'acknowledged']);
  });

  it('a step whose notification fails for good escalates at once', async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'slack', target: '#gone', ackTimeoutSeconds: 300 },
      { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 300 },
    ]);
    slack.enqueue({ body: slackError('channel_not_found') });
    const inc = await trigger(h);
    // No time skipped: nobody can acknowledge a message that was never posted.
    await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 1, 'the page');
    const got = await until(() => get(h, inc.id), (r) => r.body.timeline.length === 3, 'the timeline');
    expect(types(got.body)).toEqual(['triggered', 'escalated', 'notified']);
    expect(got.body.timeline[1]).toMatchObject({ channel: 'pager', target: 'rk-primary' });
  });

  it('a webhook step goes out through the webhook channel, signed with the tenant secret', async () => {
    const { h } = await start();
    await policy(h, 'ops', [{ channel: 'webhook', target: `${h.hook.url}/incidents`, ackTimeoutSeconds: 60 }]);
    const inc = await trigger(h, { details: { host: 'db-1' } });
    const [req] = await until(() => h.hook.requests, (r) => r.length === 1, 'the webhook');
    const body = JSON.parse(req.rawBody);
    expect(body).toMatchObject({
      notificationId: inc.id,
      channel: 'webhook',
      content: { event: 'incident.escalation', incident: { id: inc.id, severity: 'critical', status: 'triggered', policy: 'ops', step: 0, cycle: 0 } },
      data: { incidentId: inc.id, summary: 'Disk full on db-1', details: { host: 'db-1' } },
    });
    const [tenant] = await h.db.db.query.tenants.findMany();
    expect(verifyWebhook(tenant.webhookSecret, req)).toEqual(body);
    await until(() => get(h, inc.id), (r) => types(r.body).includes('notified'), 'the notified event');
  });

  it('repeat runs the steps the configured number of times, then the incident is exhausted', async () => {
    const { h, slack, pd } = await start();
    await policy(
      h,
      'ops',
      [
        { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
        { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 120 },
      ],
      2,
    );
    const inc = await trigger(h);
    await h.env.sleep(3 * 180_000 + 1_000);
    const done = await until(() => get(h, inc.id), (r) => r.body.status === 'exhausted', 'exhaustion');
    expect(done.body).toMatchObject({ step: 1, cycle: 2 });

    const got = await history(h, inc.id);
    expect(got.notified.map((n) => n.channel)).toEqual(['slack', 'pager', 'slack', 'pager', 'slack', 'pager']);
    // Each step waits its own timeout (60 s, 120 s): the timers the workflow started.
    expectStepsWaited(got, [60_000, 120_000, 60_000, 120_000, 60_000]);
    expect(posts(slack)).toHaveLength(3);
    expect(pagerEvents(pd, 'trigger').map((e) => e.dedup_key)).toEqual([inc.id, inc.id, inc.id]);
    expect(types(done.body)).toEqual([
      'triggered',
      'notified',
      'escalated',
      'notified',
      'escalated',
      'notified',
      'escalated',
      'notified',
      'escalated',
      'notified',
      'escalated',
      'notified',
      'exhausted',
    ]);
    // Still acknowledgeable.
    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' });
    expect(ack.body.status).toBe('acknowledged');
  });

  it('resolve sends the pager resolve with the same dedup_key for every page, and updates Slack; then ack and resolve are 409', async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'pager', target: 'rk-a', ackTimeoutSeconds: 60 },
      { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
      { channel: 'pager', target: 'rk-b', ackTimeoutSeconds: 60 },
    ]);
    const inc = await trigger(h, { dedupKey: 'db-1/disk' });
    await h.env.sleep(121_000);
    await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 2, 'two pages');

    const res = await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { by: 'bob' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: inc.id, status: 'resolved' });
    expect(res.body.timeline.at(-1)).toMatchObject({ type: 'resolved', by: 'bob' });
    await h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, 'db-1/disk')).result();

    const resolves = await until(() => pagerEvents(pd, 'resolve'), (e) => e.length === 2, 'the pager resolves');
    expect(resolves.map((e) => [e.routing_key, e.dedup_key]).sort()).toEqual([
      ['rk-a', inc.id],
      ['rk-b', inc.id],
    ]);
    const [update] = await until(() => updates(slack), (u) => u.length === 1, 'the Slack update');
    expect(JSON.stringify(blocksOf(update))).toContain('resolved');
    expect(blocksOf(update).some((b: any) => b.type === 'actions')).toBe(false);

    for (const action of ['acknowledge', 'resolve', 'unacknowledge']) {
      const again = await h.call('POST', `/v1/incidents/${inc.id}/${action}`, { by: 'carol' });
      expect(again.status, action).toBe(409);
      expect(again.body).toMatchObject({ status: 409, title: 'Conflict' });
    }
  });

  it('a duplicate trigger joins the open incident; after resolve the same dedupKey opens a new one', async () => {
    const { h, slack } = await start();
    await policy(h, 'ops', [{ channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 }]);
    const first = await trigger(h, { dedupKey: 'disk-full' });
    const again = await trigger(h, { dedupKey: 'disk-full', summary: 'Disk full on db-1 (again)' });
    expect(again).toEqual({ id: first.id, status: 'triggered' });
    const other = await trigger(h, { dedupKey: 'cpu-high' });
    expect(other.id).not.toBe(first.id);

    const got = await get(h, first.id);
    expect(types(got.body)).toContain('deduplicated');
    expect(got.body.dedupKey).toBe('disk-full');
    await until(() => posts(slack), (p) => p.length === 2, 'one message per incident');

    // Acknowledged incidents still absorb duplicates.
    await h.call('POST', `/v1/incidents/${first.id}/acknowledge`, { by: 'ann' });
    expect(await trigger(h, { dedupKey: 'disk-full' })).toEqual({ id: first.id, status: 'acknowledged' });

    expect((await h.call('POST', `/v1/incidents/${first.id}/resolve`, {})).status).toBe(200);
    const next = await trigger(h, { dedupKey: 'disk-full' });
    expect(next.id).not.toBe(first.id);
    expect(next.status).toBe('triggered');
    const old = await get(h, first.id);
    expect(old.body.status).toBe('resolved');
    expect(types(old.body).filter((t: string) => t === 'deduplicated')).toHaveLength(2);
  });

  it('30 concurrent triggers with one dedupKey: 30 × 202 with one id, one incident, 29 deduplicated', async () => {
    const { h, slack } = await start();
    await policy(h, 'ops', [{ channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 }]);
    const body = { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', dedupKey: 'burst' };
    const answers = await Promise.all(Array.from({ length: 30 }, () => h.call('POST', '/v1/incidents', body)));
    expect(answers.map((a) => a.status), JSON.stringify(answers.find((a) => a.status !== 202)?.body)).toEqual(Array(30).fill(202));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    const got = await until(() => get(h, id), (r) => types(r.body).filter((t: string) => t === 'deduplicated').length === 29, '29 deduplicated');
    expect(types(got.body).filter((t: string) => t === 'triggered')).toHaveLength(1);
    await until(() => posts(slack), (p) => p.length === 1, 'one Slack message');
    expect((await h.call('POST', `/v1/incidents/${id}/resolve`, {})).status).toBe(200);
  });

  // Each duplicate is a signal the one run handles in turn: ~80 s on an idle 2-core machine,
  // 170–310 s beside a running benchmark. The timeout only guards against a hang.
  it('2,100 duplicate triggers of one open incident join it; acknowledge and resolve still answer 200', { timeout: 900_000 }, async () => {
    const { h } = await start();
    await policy(h, 'ops', [{ channel: 'slack', target: '#ops', ackTimeoutSeconds: 3600 }]);
    const first = await trigger(h, { dedupKey: 'flood' });
    const total = 2100;
    const statuses = new Map<number, number>();
    const seen = new Set<string>();
    // Bounded concurrency: 2,100 requests at once would only measure the test's own queueing.
    let next = 0;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (next < total) {
          next++;
          const res = await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 'Disk full on db-1', severity: 'critical', dedupKey: 'flood' });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.body?.id) seen.add(res.body.id);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 202: total });
    expect([...seen]).toEqual([first.id]);

    const ack = await h.call('POST', `/v1/incidents/${first.id}/acknowledge`, { by: 'ann' });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect(ack.body.status).toBe('acknowledged');
    const resolve = await h.call('POST', `/v1/incidents/${first.id}/resolve`, { by: 'ann' });
    expect(resolve.status, JSON.stringify(resolve.body)).toBe(200);
    expect(resolve.body.status).toBe('resolved');
    expect(types(resolve.body).filter((t: string) => t === 'deduplicated')).toHaveLength(total);

    // The duplicates did not pile up in one run: it continued as new on the way.
    const state = await h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, 'flood')).query(incidentStateQuery);
    expect(state.run).toBeGreaterThan(1);
  });

  it('unacknowledge restarts from the first step', async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
      { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 60 },
    ]);
    const inc = await trigger(h);
    await h.env.sleep(61_000);
    await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 1, 'the page');

    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' });
    expect(ack.body.status).toBe('acknowledged');
    // PagerDuty hears of the acknowledgement too, so it stops its own escalation.
    const acks = await until(() => pagerEvents(pd, 'acknowledge'), (e) => e.length === 1, 'the pager acknowledge');
    expect(acks[0]).toMatchObject({ routing_key: 'rk-primary', dedup_key: inc.id });
    expect((await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' })).status).toBe(200);

    const unack = await h.call('POST', `/v1/incidents/${inc.id}/unacknowledge`, { by: 'ann' });
    expect(unack.status).toBe(200);
    expect(unack.body).toMatchObject({ status: 'triggered', step: 0, cycle: 0 });
    // The answer's timeline holds the update's own event once, after the acknowledgement (the
    // restarted first step may already follow it; the whole order is checked below).
    const kinds = unack.body.timeline.map((e: any) => e.type);
    expect(unack.body.timeline.filter((e: any) => e.type === 'unacknowledged')).toEqual([expect.objectContaining({ by: 'ann' })]);
    expect(kinds.indexOf('unacknowledged')).toBeGreaterThan(kinds.indexOf('acknowledged'));
    await until(() => posts(slack), (p) => p.length === 2, 'the first step again');
    expect((await h.call('POST', `/v1/incidents/${inc.id}/unacknowledge`, {})).status).toBe(409);

    await h.env.sleep(61_000);
    const pages = await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 2, 'the second page');
    // A new dedup key: PagerDuty would fold a trigger into the acknowledged alert.
    expect(pages[1]).toMatchObject({ routing_key: 'rk-primary', dedup_key: `${inc.id}.1` });
    const { notified: sent, timers } = await history(h, inc.id);
    expect(sent.map((n) => n.channel)).toEqual(['slack', 'pager', 'slack', 'pager']);
    // After the restart the first step waits its full timeout again: a fresh 60 s timer that fired.
    const restarted = timers.filter((t) => t.seq > sent[2].seq && t.seq < sent[3].seq);
    expect(restarted.map((t) => t.timeoutMs)).toEqual([60_000]);
    expect(restarted[0]).toMatchObject({ clock: sent[2].clock, firedSeq: expect.any(Number) });
    const got = await until(() => get(h, inc.id), (r) => r.body.timeline.length === 9, 'the timeline');
    expect(types(got.body)).toEqual([
      'triggered',
      'notified',
      'escalated',
      'notified',
      'acknowledged',
      'unacknowledged',
      'notified',
      'escalated',
      'notified',
    ]);

    // Resolving resolves both pages.
    await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { by: 'ann' });
    const resolves = await until(() => pagerEvents(pd, 'resolve'), (e) => e.length === 2, 'the pager resolves');
    expect(resolves.map((e) => e.dedup_key).sort()).toEqual([inc.id, `${inc.id}.1`]);
  });

  it("Slack's Acknowledge button acknowledges with a valid signature; a bad or stale one gets 401", async () => {
    const { h, slack, pd } = await start();
    await policy(h, 'ops', [
      { channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 },
      { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 300 },
    ]);
    const inc = await trigger(h);
    const [post] = await until(() => posts(slack), (p) => p.length === 1, 'the Slack message');
    const value = blocksOf(post).find((b: any) => b.type === 'actions').elements[0].value;
    expect(value).toBe(inc.id);
    const body = buttonPress(value);
    const press = (headers: Record<string, string>) => h.app.request('/v1/slack/interactivity', { method: 'POST', headers, body });

    const forged = await press(signed(body, 'not-the-secret'));
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toContain('application/problem+json');
    expect((await press(signed(body, SIGNING_SECRET, Math.floor(Date.now() / 1000) - 600))).status).toBe(401);
    expect((await press({ 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(401);
    expect((await get(h, inc.id)).body.status).toBe('triggered');

    const ok = await press(signed(body));
    expect(ok.status).toBe(200);
    // Slack is answered at once; the acknowledgement follows (status and timeline).
    const acked = await until(() => get(h, inc.id), (r) => r.body.status === 'acknowledged' && r.body.timeline.some((e: any) => e.type === 'acknowledged'), 'the acknowledgement');
    expect(acked.body.timeline.filter((e: any) => e.type === 'acknowledged')).toEqual([expect.objectContaining({ type: 'acknowledged', by: 'ann' })]);
    await h.env.sleep(3600_000);
    expect(pd.requests).toHaveLength(0);
  });

  it('policies are validated and tenant-scoped; an unknown policy is a 400', async () => {
    const { h } = await start();
    const steps = [{ channel: 'email', target: 'oncall@example.com', ackTimeoutSeconds: 120 }];
    const put = await h.call('PUT', '/v1/escalation-policies/ops', { steps, repeat: 1 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key: 'ops', steps, repeat: 1 });
    expect((await h.call('GET', '/v1/escalation-policies/ops')).body).toMatchObject({ key: 'ops', steps, repeat: 1 });

    const bad = await h.call('PUT', '/v1/escalation-policies/ops', {
      steps: [{ channel: 'sms', target: '0170 1234', ackTimeoutSeconds: 0 }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['steps.0.ackTimeoutSeconds', 'steps.0.target']);
    expect((await h.call('PUT', '/v1/escalation-policies/ops', { steps: [] })).status).toBe(400);

    // One escalation pass is bounded: steps, repeats and their product, each named in the 400.
    const many = (n: number) => Array.from({ length: n }, () => steps[0]);
    const tooManySteps = await h.call('PUT', '/v1/escalation-policies/big', { steps: many(21) });
    expect(tooManySteps.status).toBe(400);
    expect(tooManySteps.body.errors).toEqual([{ path: 'steps', message: 'must have at most 20 steps' }]);
    const tooManyRepeats = await h.call('PUT', '/v1/escalation-policies/big', { steps, repeat: 11 });
    expect(tooManyRepeats.status).toBe(400);
    expect(tooManyRepeats.body.errors).toEqual([{ path: 'repeat', message: 'must be at most 10 (extra passes over the steps)' }]);
    const tooManyNotifications = await h.call('PUT', '/v1/escalation-policies/big', { steps: many(20), repeat: 5 });
    expect(tooManyNotifications.status).toBe(400);
    expect(tooManyNotifications.body.errors).toEqual([
      { path: 'repeat', message: 'steps × (repeat + 1) must be at most 100 notifications per escalation; 20 steps × 6 passes = 120' },
    ]);
    expect(tooManyNotifications.body.detail).toContain('at most 100');
    expect((await h.call('PUT', '/v1/escalation-policies/big', { steps: many(20), repeat: 4 })).status).toBe(200);

    const unknown = await h.call('POST', '/v1/incidents', { policy: 'nope', summary: 's', severity: 'info' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ path: 'policy', message: 'unknown escalation policy' }]);
    expect((await h.call('POST', '/v1/incidents', { policy: 'ops', summary: 's', severity: 'fatal' })).status).toBe(400);

    await policy(h, 'slack-only', [{ channel: 'slack', target: '#ops', ackTimeoutSeconds: 300 }]);
    const inc = await trigger(h, { policy: 'slack-only', severity: 'warning' });
    const other = await h.call('POST', '/v1/admin/tenants', { name: 'Other' }, { authorization: `Bearer ${ADMIN}` });
    const as = { authorization: `Bearer ${other.body.apiKey}` };
    expect((await h.call('GET', '/v1/escalation-policies/ops', undefined, as)).status).toBe(404);
    expect((await h.call('GET', `/v1/incidents/${inc.id}`, undefined, as)).status).toBe(404);
    expect((await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'mallory' }, as)).status).toBe(404);
    expect((await h.call('GET', `/v1/incidents/${inc.id}`)).body.status).toBe('triggered');
  });

  it('continues as new through a long escalation: on time, the full timeline from the database, ack and resolve reach every earlier page', async () => {
    const { h, slack, pd } = await start({ maxHistoryEvents: 30 });
    await policy(
      h,
      'ops',
      [
        { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
        { channel: 'pager', target: 'rk-primary', ackTimeoutSeconds: 120 },
      ],
      3,
    );
    const inc = await trigger(h);
    await h.env.sleep(4 * 180_000 + 1_000);
    const done = await until(() => get(h, inc.id), (r) => r.body.status === 'exhausted', 'exhaustion');
    expect(done.body).toMatchObject({ step: 1, cycle: 3 });
    // The whole timeline, written by every run, in seq order and by the workflow clock.
    expect(types(done.body)).toEqual(['triggered', 'notified', ...Array.from({ length: 7 }, () => ['escalated', 'notified']).flat(), 'exhausted']);
    const at = done.body.timeline.map((e: any) => Date.parse(e.at));
    expect(at).toEqual([...at].sort((a, b) => a - b));

    const got = await history(h, inc.id);
    const { notified: sent, runs: chain, longest } = got;
    expect(chain).toBeGreaterThanOrEqual(3);
    // Each run hands on within about one step past its bound (30): no run carries the incident.
    expect(longest).toBeLessThan(30 + 40);
    expect(sent.map((n) => n.channel)).toEqual(['slack', 'pager', 'slack', 'pager', 'slack', 'pager', 'slack', 'pager']);
    // Each step still waits its own timeout, across runs too: a new run starts a timer for what
    // is left of the deadline the last one carried (from the timers in the histories).
    expectStepsWaited(got, [60_000, 120_000, 60_000, 120_000, 60_000, 120_000, 60_000]);
    expect(posts(slack)).toHaveLength(4);
    expect(pagerEvents(pd, 'trigger').map((e) => e.dedup_key)).toEqual([inc.id, inc.id, inc.id, inc.id]);
    const handle = h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, inc.id));
    expect(await handle.query(incidentStateQuery)).toEqual({
      id: inc.id,
      status: 'exhausted',
      step: 1,
      cycle: 3,
      events: 17,
      acknowledgedBy: null,
      run: expect.any(Number),
    });
    // The latest run is still findable in the Temporal UI by tenant, kind and status.
    const sa = (await handle.describe()).typedSearchAttributes;
    expect([sa.get(SA.tenant), sa.get(SA.kind), sa.get(SA.status)]).toEqual([h.tenantId, 'incident', 'exhausted']);

    // The acknowledgement reaches the page and every Slack message that earlier runs sent.
    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: inc.id, status: 'acknowledged' });
    expect(ack.body.timeline).toHaveLength(18);
    await until(() => pagerEvents(pd, 'acknowledge'), (e) => e.length === 1, 'the pager acknowledge');
    expect(pagerEvents(pd, 'acknowledge')[0]).toMatchObject({ routing_key: 'rk-primary', dedup_key: inc.id });
    await until(() => updates(slack), (u) => u.length === 4, 'the Slack updates');

    const res = await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { by: 'bob' });
    expect(res.status).toBe(200);
    expect(await handle.result()).toMatchObject({ id: inc.id, status: 'resolved', events: 19 });
    const resolves = await until(() => pagerEvents(pd, 'resolve'), (e) => e.length === 1, 'the pager resolve');
    expect(resolves[0]).toMatchObject({ routing_key: 'rk-primary', dedup_key: inc.id });
    await until(() => updates(slack), (u) => u.length === 8, 'the Slack resolve updates');
    const final = await get(h, inc.id);
    expect(final.body.timeline).toHaveLength(19);
    expect(types(final.body).slice(-3)).toEqual(['exhausted', 'acknowledged', 'resolved']);
  });

  it('across runs: ack stops the pending page at once, unack resumes, a duplicate trigger joins, resolve resolves every page', async () => {
    const { h, slack, pd } = await start({ maxHistoryEvents: 30 });
    await policy(
      h,
      'ops',
      [
        { channel: 'pager', target: 'rk-a', ackTimeoutSeconds: 60 },
        { channel: 'slack', target: '#ops', ackTimeoutSeconds: 60 },
      ],
      5,
    );
    const key = 'db-1/disk';
    const inc = await trigger(h, { dedupKey: key });
    // Five notifications (pager, slack, pager, slack, pager); then 30 s into the sixth step's wait.
    await h.env.sleep(4 * 60_000 + 30_000);
    await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 3, 'three pages');
    await until(() => history(h, key), (x) => x.runs >= 2, 'a continued run');

    // A duplicate trigger joins the incident in whichever run is current.
    expect(await trigger(h, { dedupKey: key, summary: 'Disk full on db-1 (again)' })).toEqual({ id: inc.id, status: 'triggered' });

    const ack = await h.call('POST', `/v1/incidents/${inc.id}/acknowledge`, { by: 'ann' });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ status: 'acknowledged', step: 0, cycle: 2 });
    await until(() => pagerEvents(pd, 'acknowledge'), (e) => e.length === 1, 'the pager acknowledge');
    expect(pagerEvents(pd, 'acknowledge')[0]).toMatchObject({ routing_key: 'rk-a', dedup_key: inc.id });
    await until(() => updates(slack), (u) => u.length === 2, 'the Slack updates of both messages');
    // Nothing more goes out: the pending step's timer went with the acknowledgement.
    await h.env.sleep(3600_000);
    expect(pagerEvents(pd, 'trigger')).toHaveLength(3);
    expect(posts(slack)).toHaveLength(2);
    const handle = h.env.client.workflow.getHandle(workflowIds.incident(h.tenantId, key));
    expect(await handle.query(incidentStateQuery)).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'ann', step: 0, cycle: 2 });

    const unack = await h.call('POST', `/v1/incidents/${inc.id}/unacknowledge`, { by: 'ann' });
    expect(unack.body).toMatchObject({ status: 'triggered', step: 0, cycle: 0 });
    const pages = await until(() => pagerEvents(pd, 'trigger'), (e) => e.length === 4, 'the page after unacknowledge');
    expect(pages[3]).toMatchObject({ routing_key: 'rk-a', dedup_key: `${inc.id}.1` });
    await h.env.sleep(61_000);
    await until(() => posts(slack), (p) => p.length === 3, 'the second step again');
    await until(() => get(h, inc.id), (r) => r.body.timeline.length === 16, 'the notified event');

    const res = await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { by: 'bob' });
    expect(res.status).toBe(200);
    expect(await handle.result()).toMatchObject({ status: 'resolved', events: 17 });
    const resolves = await until(() => pagerEvents(pd, 'resolve'), (e) => e.length === 2, 'the pager resolves');
    expect(resolves.map((e) => [e.routing_key, e.dedup_key]).sort()).toEqual([
      ['rk-a', inc.id],
      ['rk-a', `${inc.id}.1`],
    ]);
    await until(() => updates(slack), (u) => u.length === 5, 'the Slack resolve updates');
    expect((await history(h, key)).runs).toBeGreaterThanOrEqual(3);

    const got = await get(h, inc.id);
    expect(types(got.body)).toEqual([
      'triggered',
      'notified',
      ...Array.from({ length: 4 }, () => ['escalated', 'notified']).flat(),
      'deduplicated',
      'acknowledged',
      'unacknowledged',
      'notified',
      'escalated',
      'notified',
      'resolved',
    ]);
  });
});
