// Events (README: "Events and rules"): a producer posts a fact; its workflow (workflows/event.ts)
// evaluates the tenant's enabled rules for that name and accepts one notification per rule and
// recipient through the checks of POST /v1/notifications (planNotification), page by page:
// recipients from the event, a topic's subscribers or a segment of the tenant's recipients, read
// in keyset pages of at most `pageSize`, never all at once, and starts their notification
// workflows as the POST does.
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { acceptedEventsBetween, eventNotifications, finishEvent, findEvent, insertEvent, setEventRules } from '../db/events.js';
import { recordAccepted, recordNotifications, type NotificationRecord } from '../db/notifications.js';
import { recipientPage, type RecipientRow } from '../db/recipients.js';
import { enabledRulesFor, type RuleRow } from '../db/rules.js';
import { subscriberPage } from '../db/topics.js';
import { CelError, compileCel, holds } from '../domain/cel.js';
import { missing, RequestError, unavailable } from '../domain/errors.js';
import { celEvent, celRecipient, eventNotificationId, type EventInput, type EventProgress, type MatchedRule } from '../domain/events.js';
import type { NotificationInput, RetrySettings } from '../domain/types.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { startsEagerly } from '../domain/priority.js';
import { flowAcceptedRecord, flowStartOptions, notificationStartOptions, planNotification } from './accept.js';
import { prepareFlowRun, signalFlowWaits } from './flows.js';
import { flowVersion, recordFlowAccepted } from '../db/flows.js';
import { claimIdempotencyKey, requestHash } from './idempotency.js';
import { newId } from './ids.js';
import { CEL_VARIABLES } from './rules.js';
import type { EventRequest, NotificationRequest } from './schemas.js';
import type { TemporalDeps } from './temporal.js';
import { findTemplateVersion, loadTemplateVersion } from './templates.js';
import { recipientsByIdRows } from '../db/recipients.js';

/** Rules evaluated per event: more than this many enabled rules for one event name are not read. */
export const MAX_RULES_PER_EVENT = 100;
/** Recipients read (and at most notifications accepted) per page. */
export const EVENT_PAGE = 1000;
/** Ids listed by GET /v1/events/{id}. */
const LISTED_IDS = 1000;

interface EventDeps {
  db: Db;
  temporal: TemporalDeps;
  retry: RetrySettings;
  now?: () => number;
  /** Recipients read per page of an event's audience (tests page small); unset: EVENT_PAGE. */
  eventPageSize?: number;
  /** Told when evaluating an event at once failed (its workflow then does the work). */
  onInlineError?: (err: unknown) => void;
}

const RETRY_WITH_KEY = 'The workflow service did not confirm the start. Retry with the same Idempotency-Key to be sure the event is processed once.';

/**
 * An event is evaluated at once by the API (no event workflow) when every enabled rule for its
 * name takes its recipients `from` the event and rules × recipients is at most this: the same
 * work as the workflow's first step, a handful of statements and starts, within the request.
 */
export const INLINE_EVENT_MAX = 20;

/** Where an event's run starts (as workflows/event.ts eventStart). */
const START: EventProgress = { rules: null, ruleIndex: 0, after: null, accepted: 0 };

/** The event's own recipients: its list, else its actor. */
const ownRecipients = (e: Pick<EventInput, 'recipients' | 'actor'>) => [...new Set(e.recipients ?? (e.actor ? [e.actor] : []))];

/** Whether the API evaluates the event at once: every rule's recipients are the event's, and few. */
export function evaluatedAtOnce(rules: RuleRow[], event: Pick<EventInput, 'recipients' | 'actor'>): boolean {
  return rules.every((r) => 'from' in r.definition.recipients) && rules.length * ownRecipients(event).length <= INLINE_EVENT_MAX;
}

/** The start of an event's workflow: the event's id, joined while it runs and never run twice. */
async function startEventWorkflow(temporal: TemporalDeps, input: EventInput, workflowId: string): Promise<void> {
  try {
    await temporal.client.workflow.start('eventWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: SA.tenant, value: input.tenantId },
        { key: SA.kind, value: 'event' },
      ],
      ...(temporal.eagerStart ? { requestEagerStart: true } : {}),
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/**
 * Records an event and has its rules evaluated. A small event (evaluatedAtOnce) is evaluated by
 * the API itself: the flow runs waiting for it are signalled, its notifications accepted and
 * started, and it is marked processed, before the answer. Should any of that fail, or for any
 * other event, its workflow is started, which does (or redoes, idempotently: ids per event, rule
 * and recipient) the same work; a process that dies in between leaves the event `accepted`, and
 * the worker's sweep (sweepAcceptedEvents) starts its workflow. With an Idempotency-Key, a repeat
 * with the same body answers the first id (and completes a first request that died before its
 * event was processed); with another body, 409. The workflow id is the event's, so Temporal runs
 * each event once.
 */
export async function acceptEvent(deps: EventDeps, tenantId: string, body: EventRequest, opts: { idempotencyKey?: string } = {}): Promise<{ id: string }> {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  let id = newId('evt', now());
  if (opts.idempotencyKey !== undefined) id = (await claimIdempotencyKey(db, now(), tenantId, opts.idempotencyKey, requestHash(body), id)) ?? id;
  const workflowId = workflowIds.event(tenantId, id);
  const recorded = await insertEvent(db, { id, tenantId, name: body.name, actor: body.actor ?? null, recipients: body.recipients ?? null, data: body.data, workflowId });
  const input: EventInput = { tenantId, eventId: id, name: body.name, actor: body.actor ?? null, recipients: body.recipients ?? null, data: body.data, retry: deps.retry, ...(deps.eventPageSize ? { pageSize: deps.eventPageSize } : {}) };
  if (recorded && (await evaluateAtOnce(deps, input))) return { id };
  if (!recorded && (await findEvent(db, tenantId, id))?.status === 'processed') return { id };
  try {
    await startEventWorkflow(temporal, input, workflowId);
  } catch (err) {
    throw unavailable(opts.idempotencyKey !== undefined ? RETRY_WITH_KEY : `The workflow service did not confirm the start of event ${id}. Post it with an Idempotency-Key to retry safely.`, err);
  }
  return { id };
}

/**
 * The event workflow's first step, run by the API for a small event: whether it was done (the
 * event is processed). A large event, or any failure, answers false: the workflow does the work.
 */
async function evaluateAtOnce(deps: EventDeps, event: EventInput): Promise<boolean> {
  try {
    const rules = await enabledRulesFor(deps.db, event.tenantId, event.name, MAX_RULES_PER_EVENT);
    if (!evaluatedAtOnce(rules, event)) return false;
    await signalFlowWaits(deps, { tenantId: event.tenantId, name: event.name, actor: event.actor, recipients: event.recipients ?? [], data: event.data });
    const step = await evaluateEventStep(deps, event, START, undefined, rules);
    return step.done;
  } catch (err) {
    deps.onInlineError?.(err);
    return false;
  }
}

/** Events the sweep reads per pass. */
const SWEEP_LIMIT = 1000;

/**
 * How far back the sweep looks. An event still `accepted` after a day is one whose workflow failed
 * for good (its steps are bounded to 24 hours): once the namespace's retention has removed that
 * run and its notifications' runs, starting it again could send twice, so it is left alone.
 */
const SWEEP_WINDOW_MS = 24 * 3600_000;

/**
 * Starts the workflow of every event still `accepted` that was recorded more than `olderThanMs`
 * and less than a day ago (a process died while its API evaluated it at once), with the start
 * acceptEvent makes: a run already there is joined, a finished one never re-run, and its work is
 * idempotent. Answers how many it started (or joined).
 */
export async function sweepAcceptedEvents(
  deps: { db: Db; temporal: Pick<TemporalDeps, 'client' | 'taskQueue'>; retry: RetrySettings; now?: () => number },
  olderThanMs = 60_000,
): Promise<number> {
  const now = deps.now ?? Date.now;
  const rows = await acceptedEventsBetween(deps.db, new Date(now() - SWEEP_WINDOW_MS), new Date(now() - olderThanMs), SWEEP_LIMIT);
  for (const row of rows) {
    const input: EventInput = { tenantId: row.tenantId, eventId: row.id, name: row.name, actor: row.actor, recipients: row.recipients, data: row.data, retry: deps.retry };
    await startEventWorkflow(deps.temporal, input, row.workflowId);
  }
  return rows.length;
}

/** The worker's sweep of events left `accepted`: at once, then every `everyMs` (default 5 minutes). Answers the function that stops. */
export function startEventSweep(
  deps: { db: Db; temporal: Pick<TemporalDeps, 'client' | 'taskQueue'>; retry: RetrySettings; onError?: (err: unknown) => void },
  everyMs = 5 * 60_000,
): () => void {
  const sweep = () => void sweepAcceptedEvents(deps).catch((err) => deps.onError?.(err));
  sweep();
  const timer = setInterval(sweep, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

export async function eventView(db: Db, tenantId: string, id: string) {
  const row = await findEvent(db, tenantId, id);
  if (!row) throw missing('Event');
  const notifications = await eventNotifications(db, tenantId, id, LISTED_IDS);
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    rules: row.rules,
    notifications,
    createdAt: row.createdAt.toISOString(),
    processedAt: row.processedAt?.toISOString() ?? null,
  };
}

/** The enabled rules for the event whose `if` holds, each with its template's latest version pinned. */
async function matchRules(db: Db, event: EventInput, read?: RuleRow[]): Promise<MatchedRule[]> {
  const rows = read ?? (await enabledRulesFor(db, event.tenantId, event.name, MAX_RULES_PER_EVENT));
  const matched: MatchedRule[] = [];
  const ctx = { event: celEvent(event) };
  for (const { key, definition: rule } of rows) {
    if (rule.if !== undefined) {
      let program;
      try {
        program = compileCel(rule.if, CEL_VARIABLES.if);
      } catch (err) {
        if (err instanceof CelError) continue; // Checked at PUT: only a changed CEL library could get here.
        throw err;
      }
      if (!holds(program, ctx).value) continue;
    }
    if (rule.flow !== undefined) {
      // The flow's latest version is pinned per notification when its run is prepared.
      if (await flowVersion(db, event.tenantId, rule.flow)) matched.push({ key, rule, flow: { key: rule.flow } });
      continue;
    }
    if (rule.template === undefined) continue;
    const version = await findTemplateVersion(db, event.tenantId, rule.template);
    if (!version) continue;
    matched.push({ key, rule, template: { key: version.key, version: version.version } });
  }
  return matched;
}

/** The next candidates of a rule's audience after `after`: their rows, and whether the audience ends here. */
async function audiencePage(db: Db, event: EventInput, m: MatchedRule, after: string | null, pageSize: number): Promise<{ rows: RecipientRow[]; scanned: number; last: string | null; done: boolean }> {
  const a = m.rule.recipients;
  if ('from' in a) {
    const ids = ownRecipients(event);
    const byId = await recipientsByIdRows(db, event.tenantId, ids);
    return { rows: ids.flatMap((id) => byId.get(id) ?? []), scanned: ids.length, last: null, done: true };
  }
  if ('topic' in a) {
    const ids = await subscriberPage(db, event.tenantId, a.topic, after, pageSize);
    const byId = await recipientsByIdRows(db, event.tenantId, ids);
    return { rows: ids.flatMap((id) => byId.get(id) ?? []), scanned: ids.length, last: ids.at(-1) ?? null, done: ids.length < pageSize };
  }
  const rows = await recipientPage(db, event.tenantId, after, pageSize);
  const program = compileCel(a.segment, CEL_VARIABLES.segment);
  const ev = celEvent(event);
  return { rows: rows.filter((r) => holds(program, { event: ev, recipient: celRecipient(r) }).value), scanned: rows.length, last: rows.at(-1)?.id ?? null, done: rows.length < pageSize };
}

/** The request a rule makes for one recipient: a POST /v1/notifications body. */
function ruleRequest(event: EventInput, template: string, m: MatchedRule, recipientId: string): NotificationRequest {
  const r = m.rule;
  return {
    recipient: recipientId,
    template,
    data: event.data,
    ...(r.channels ? { channels: r.channels } : {}),
    strategy: r.strategy ?? 'all',
    ...(r.category !== undefined ? { category: r.category } : {}),
    priority: r.priority ?? 'normal',
    ...(r.throttle ? { throttle: r.throttle } : {}),
  };
}

/**
 * One step of an event's run: on the first, evaluates and pins the matching rules; then reads
 * pages of the current rule's audience (at most `pageSize` recipients read, about one page per
 * call) and accepts each recipient's notification as POST /v1/notifications would (a recipient
 * the request would be refused for gets a `suppressed`/`no_channel` or `failed`/`invalid_request`
 * record, no workflow), then starts each accepted one's notification workflow as the POST does.
 * Ids are per (event, rule, recipient), rows are written with `on conflict do nothing` and
 * workflow ids are the notifications', so a retried step writes and starts nothing twice. On the
 * last step the event is marked processed. Answers where to go on.
 */
export async function evaluateEventStep(
  deps: { db: Db; temporal: TemporalDeps },
  event: EventInput,
  progress: EventProgress,
  pageSize = event.pageSize ?? EVENT_PAGE,
  /** The enabled rules for the event's name, when the caller has read them already. */
  ruleRows?: RuleRow[],
): Promise<{ progress: EventProgress; started: number; done: boolean }> {
  const { db } = deps;
  const p: EventProgress = { ...progress };
  const first = p.rules === null;
  const rules = (p.rules ??= await matchRules(db, event, ruleRows));
  let started = 0;
  let read = 0;
  while (p.ruleIndex < rules.length && read < pageSize) {
    const m = rules[p.ruleIndex];
    const page = await audiencePage(db, event, m, p.after, pageSize);
    read += Math.max(page.scanned, 1);
    const n = m.flow ? await acceptFlowPage(deps, event, m, m.flow.key, page.rows) : await acceptTemplatePage(deps, event, m, m.template!, page.rows);
    started += n;
    p.accepted += n;
    if (page.done) {
      p.ruleIndex += 1;
      p.after = null;
    } else p.after = page.last;
  }
  const done = p.ruleIndex >= rules.length;
  const keys = first ? rules.map((m) => m.key) : undefined;
  if (done) await finishEvent(db, event.eventId, keys);
  else if (keys) await setEventRules(db, event.eventId, keys);
  return { progress: p, started, done };
}

/**
 * A page of a flow rule's audience: each recipient's run prepared (the flow's and its templates'
 * latest versions pinned), its record written with the event, then its flow run started under the
 * notification's workflow id. A recipient the flow cannot run for (a template gone) is skipped.
 */
async function acceptFlowPage(deps: { db: Db; temporal: TemporalDeps }, event: EventInput, m: MatchedRule, flow: string, rows: RecipientRow[]): Promise<number> {
  let started = 0;
  for (const row of rows) {
    const id = eventNotificationId(event.eventId, m.key, row.id);
    let input;
    try {
      input = await prepareFlowRun(deps.db, event.tenantId, { recipient: row.id, flow, data: event.data, category: m.rule.category, priority: m.rule.priority ?? 'normal' }, { id, retry: event.retry });
    } catch (err) {
      if (err instanceof RequestError) continue;
      throw err;
    }
    await recordFlowAccepted(deps.db, input, flowAcceptedRecord(input, event.eventId));
    try {
      await deps.temporal.client.workflow.start('flowWorkflow', flowStartOptions(input, deps.temporal.taskQueue, eagerFor(deps.temporal, input.priority), deps.temporal.fairnessWeights));
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    started++;
  }
  return started;
}

/** A page of a template rule's audience, accepted as POST /v1/notifications would; how many started. */
async function acceptTemplatePage(
  deps: { db: Db; temporal: TemporalDeps },
  event: EventInput,
  m: MatchedRule,
  template: { key: string; version: number },
  rows: RecipientRow[],
): Promise<number> {
  const { db } = deps;
  const version = await loadTemplateVersion(db, event.tenantId, template.key, template.version);
  const records: NotificationRecord[] = [];
  const start: NotificationInput[] = [];
  for (const row of rows) {
    const notificationId = eventNotificationId(event.eventId, m.key, row.id);
    const body = ruleRequest(event, template.key, m, row.id);
    let input: NotificationInput;
    let status: NotificationRecord['status'];
    let reason: string | null = null;
    try {
      if (!version) throw new RequestError('invalid', `Template ${template.key} v${template.version} no longer exists`);
      input = planNotification(event.tenantId, body, row, version, { id: notificationId, retry: event.retry });
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      const noChannel = err.errors.some((e) => e.path === 'channels' || e.path.startsWith('channels.'));
      ({ status, reason } = noChannel ? { status: 'suppressed' as const, reason: 'no_channel' } : { status: 'failed' as const, reason: 'invalid_request' });
      input = { tenantId: event.tenantId, notificationId, recipientId: row.id, template, data: event.data, channels: [], strategy: body.strategy, category: body.category ?? null, priority: body.priority, sendAt: null, retry: event.retry, throttle: body.throttle ?? null };
    }
    records.push({ input, workflowId: workflowIds.notification(event.tenantId, notificationId), eventId: event.eventId, ...(status ? { status, reason } : {}) });
    if (!status) start.push(input);
  }
  // One accepted notification (the common event) in one statement; a page in one transaction.
  if (records.length === 1 && start.length === 1) await recordAccepted(db, start[0], records[0].workflowId, event.eventId);
  else await recordNotifications(db, records);
  await startNotifications(deps.temporal, start);
  return start.length;
}

/**
 * Whether a start runs its first workflow task in this process (as POST /v1/notifications does):
 * only for the API sharing a process with the worker (eagerStart), evaluating a small event at
 * once; the event workflow's steps (the worker's deps, no eagerStart) start through matching.
 */
const eagerFor = (temporal: TemporalDeps, priority: NotificationInput['priority']) => temporal.eagerStart === true && startsEagerly(priority);

/** Workflow starts in flight at once from one step. */
const START_CONCURRENCY = 32;

/**
 * Starts the notification workflows of accepted inputs as POST /v1/notifications does
 * (notificationStartOptions: the notification's business id, joined while it runs and never run
 * twice), so a retried step starts nothing twice.
 */
async function startNotifications(temporal: TemporalDeps, inputs: NotificationInput[]): Promise<void> {
  for (let i = 0; i < inputs.length; i += START_CONCURRENCY) {
    await Promise.all(
      inputs.slice(i, i + START_CONCURRENCY).map(async (input) => {
        try {
          await temporal.client.workflow.start('notificationWorkflow', notificationStartOptions(input, temporal.taskQueue, eagerFor(temporal, input.priority), temporal.fairnessWeights));
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }),
    );
  }
}

