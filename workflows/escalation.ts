// One incident: notify each step of the pinned policy, wait for an acknowledgement up to the
// step's timeout, escalate to the next; `repeat` more passes, then `exhausted`. Acknowledge,
// unacknowledge and resolve arrive as updates, triggers as signals (any number of duplicates,
// none spending an update); the timeline is recorded in the database in order, each event
// under a workflow-assigned seq, and lives only there.
// An incident may stay open for weeks: a run continues as new when the server suggests it (or
// past `maxHistoryEvents`), handing on its compact state (IncidentCarry), never the timeline.
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EscalationActivities, IncidentRecord, NotifyStepResult, PagerEventArgs } from '../activities/escalation.js';
import type { Incident, SlackMessageRef } from '../activities/channels/slack.js';
import { IncidentRejection, type IncidentCarry, type IncidentInput, type IncidentState, type IncidentWorkflow, type IncidentStatus, type TimelineEvent, type TimelineType } from '../domain/incidents.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { acknowledgeIncidentUpdate, incidentStateQuery, resolveIncidentUpdate, triggerIncidentSignal, triggerIncidentUpdate, unacknowledgeIncidentUpdate } from '../domain/workflow-messages.js';

/** Database records: retried until the database answers; never cancelled. */
const { recordIncident } = proxyActivities<EscalationActivities>({
  startToCloseTimeout: '30 seconds',
  // Bounded: through a database outage of up to a day, never forever.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Pager acknowledges and Slack updates after an acknowledgement; cancelled by a resolve. */
const followUps = proxyActivities<EscalationActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 hour',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/**
 * A step's notification retries within the step's window (at least a minute): when it cannot be
 * sent by then, the next step is due anyway. Cancellation waits for an in-flight send to stop,
 * so an acknowledgement answers only once nothing more can go out.
 */
function notifier(ackTimeoutSeconds: number) {
  return proxyActivities<EscalationActivities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: `${Math.max(ackTimeoutSeconds, 60)} seconds`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  }).notifyIncidentStep;
}

/** One pass of escalation (from the trigger or an unacknowledge) and the sends it started. */
interface Run {
  scope: CancellationScope;
  inflight: Set<Promise<void>>;
  /** `cycle:step` of notifications that failed for good: their step escalates at once. */
  failed: Set<string>;
}

/**
 * A run holds at least this many events before `maxHistoryEvents` hands it on: a fresh run's own
 * first events stay below it, so every run makes progress before the next one starts.
 */
const MIN_HISTORY_EVENTS = 20;

/**
 * Signals and updates a run takes before it hands on: Temporal refuses updates past 2,000 per run
 * (and signals past its own bound), so a run continues as new well before either, whatever the
 * server suggests (the test server suggests nothing).
 */
const MAX_MESSAGES_PER_RUN = 500;

function reject(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** A new incident's state; `carried` is what the previous run of the chain handed on. */
function initial(carried?: IncidentCarry): Omit<IncidentCarry, 'status'> & { status: IncidentStatus } {
  if (carried) return { ...carried, pages: [...carried.pages], messages: [...carried.messages], run: carried.run + 1 };
  return {
    status: 'triggered',
    step: 0,
    cycle: 0,
    seq: 0,
    acknowledgedBy: null,
    restarts: 0,
    notifications: 0,
    deadline: null,
    pages: [],
    messages: [],
    searchStatus: null,
    run: 1,
  };
}

export async function incidentWorkflow(input: IncidentInput, carried?: IncidentCarry): Promise<IncidentState> {
  const { steps, repeat } = input.policy;
  const state = initial(carried);
  let resolved = false;
  let resolvedBy: string | undefined;
  let run: Run | undefined;
  let recording: Promise<unknown> = Promise.resolve();
  /** Records started and not yet written: a run continues as new only with none. */
  let unrecorded = 0;
  const followUpScope = new CancellationScope();
  let following: Promise<unknown> = Promise.resolve();
  let unfollowed = 0;

  const snapshot = (): IncidentState => ({
    id: input.incidentId,
    status: state.status,
    step: state.step,
    cycle: state.cycle,
    events: state.seq,
    acknowledgedBy: state.acknowledgedBy,
    run: state.run,
  });
  const incident = (status: IncidentStatus, by?: string): Incident => ({
    incidentId: input.incidentId,
    summary: input.summary,
    severity: input.severity,
    status,
    ...(by ? { by } : {}),
  });

  /**
   * The last record of the chain while it waits for the ones before it, if it can take more
   * events: a burst of duplicate triggers is written by one activity, not one each.
   */
  let batch: { rec: IncidentRecord; done: Promise<void> } | null = null;

  /** Appends a timeline event now and records it (with the current status) after the previous ones. */
  function record(type: TimelineType, extra: Omit<TimelineEvent, 'at' | 'type'> = {}, opts: { batch?: boolean } = {}): Promise<void> {
    const event: TimelineEvent = { at: new Date(Date.now()).toISOString(), type, ...extra };
    const seq = state.seq++;
    if (opts.batch && batch) {
      (batch.rec.more ??= []).push({ seq, event });
      return batch.done;
    }
    const rec: IncidentRecord = {
      incidentId: input.incidentId,
      seq,
      status: state.status,
      step: state.step,
      cycle: state.cycle,
      event,
      ...(seq === 0
        ? {
            open: {
              tenantId: input.tenantId,
              policyKey: input.policy.key,
              summary: input.summary,
              severity: input.severity,
              dedupKey: input.dedupKey,
              details: input.details,
              workflowId: workflowInfo().workflowId,
            },
          }
        : {}),
    };
    unrecorded++;
    const done = recording.then(() => {
      if (batch?.rec === rec) batch = null; // its activity is being scheduled: nothing joins it now
      return CancellationScope.nonCancellable(() => recordIncident(rec));
    });
    recording = done.catch(() => undefined).finally(() => unrecorded--);
    batch = opts.batch ? { rec, done } : null;
    if (state.status !== state.searchStatus) {
      state.searchStatus = state.status;
      upsertSearchAttributes([
        { key: SA.status, value: state.status },
        { key: SA.kind, value: 'incident' },
      ]);
    }
    return done;
  }

  /** Notifies step `i` of pass `cycle` inside the run's scope, without waiting for the send. */
  function notify(r: Run, i: number, cycle: number) {
    const step = steps[i];
    const dedupKey = state.restarts === 0 ? input.incidentId : `${input.incidentId}.${state.restarts}`;
    // Known before the send, so that a page whose answer was lost is still acknowledged/resolved.
    if (step.channel === 'pager' && !state.pages.some((p) => p.routingKey === step.target && p.dedupKey === dedupKey)) {
      state.pages.push({ routingKey: step.target, dedupKey });
    }
    const sent: Promise<NotifyStepResult> = notifier(step.ackTimeoutSeconds)({
      tenantId: input.tenantId,
      incidentId: input.incidentId,
      notifyId: `${input.incidentId}.n${++state.notifications}`,
      dedupKey,
      policyKey: input.policy.key,
      summary: input.summary,
      severity: input.severity,
      details: input.details,
      step,
      stepIndex: i,
      cycle,
    });
    const p: Promise<void> = sent
      .then(async (res) => {
        if (res.slack) state.messages.push(res.slack);
        await record('notified', { channel: step.channel, target: step.target });
      })
      .catch((err) => {
        if (isCancellation(err)) return;
        log.warn('incident notification failed', { incidentId: input.incidentId, channel: step.channel, error: String(err) });
        r.failed.add(`${cycle}:${i}`);
      })
      .finally(() => r.inflight.delete(p));
    r.inflight.add(p);
  }

  /**
   * The history is long enough to hand on (server's suggestion, or the input's bound), or, for
   * runs started on this build, the run took MAX_MESSAGES_PER_RUN signals and updates.
   */
  function historyLong(): boolean {
    const info = workflowInfo();
    const bound = input.maxHistoryEvents === undefined ? undefined : Math.max(input.maxHistoryEvents, MIN_HISTORY_EVENTS);
    return (
      info.continueAsNewSuggested ||
      (bound !== undefined && info.historyLength >= bound) ||
      (messageBound && messages >= MAX_MESSAGES_PER_RUN)
    );
  }
  /**
   * Nothing in flight that this run would lose: no send, record or follow-up pending, no
   * handler running. Then everything the next run needs is in `state`.
   */
  function mayContinue(): boolean {
    return !resolved && historyLong() && unrecorded === 0 && unfollowed === 0 && (!run || run.inflight.size === 0) && allHandlersFinished();
  }
  async function continueNow(): Promise<never> {
    await condition(allHandlersFinished);
    const { status } = state;
    if (status === 'resolved') throw new Error('a resolved incident does not continue as new');
    log.info('incident continues as new', { incidentId: input.incidentId, run: state.run, historyLength: workflowInfo().historyLength });
    return continueAsNew<typeof incidentWorkflow>(input, {
      ...state,
      status,
      deadline: status === 'triggered' ? state.deadline : null,
    });
  }

  /**
   * Waits for step `key`'s acknowledgement until `deadline` (the workflow clock): returns when
   * it is due to escalate or escalation stopped; continues as new from here when the history
   * is long and nothing is in flight (the next run waits out the same deadline).
   */
  async function awaitStep(r: Run, key: string, deadline: number): Promise<void> {
    const settled = () => state.status !== 'triggered' || r.failed.has(key);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      const woke = await condition(() => settled() || mayContinue(), left);
      if (!woke || settled()) return;
      await continueNow();
    }
  }

  /**
   * Steps × (repeat + 1) until acknowledged or resolved; then `exhausted`. From step 0, or, in a
   * run that continued as new mid-escalation, from the step the previous run was waiting on.
   */
  async function escalate(from?: { cycle: number; step: number; deadline: number }): Promise<void> {
    const r: Run = { scope: new CancellationScope(), inflight: new Set(), failed: new Set() };
    run = r;
    const escalating = () => state.status === 'triggered';
    try {
      await r.scope.run(async () => {
        for (let cycle = from?.cycle ?? 0; cycle <= repeat; cycle++) {
          for (let i = from && cycle === from.cycle ? from.step : 0; i < steps.length; i++) {
            if (!escalating()) return;
            let deadline: number;
            if (from && cycle === from.cycle && i === from.step) {
              deadline = from.deadline; // notified by an earlier run
            } else {
              if (cycle > 0 || i > 0) {
                state.step = i;
                state.cycle = cycle;
                void record('escalated', { channel: steps[i].channel, target: steps[i].target });
              }
              notify(r, i, cycle);
              deadline = Date.now() + steps[i].ackTimeoutSeconds * 1000;
            }
            state.deadline = deadline;
            await awaitStep(r, `${cycle}:${i}`, deadline);
          }
        }
        if (!escalating()) return;
        state.status = 'exhausted';
        state.deadline = null;
        void record('exhausted');
      });
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  }

  /** Cancels the current run's timers and sends; resolves when every send has stopped. */
  function stopRun(): Promise<void> {
    const r = run;
    if (!r) return Promise.resolve();
    r.scope.cancel();
    return condition(() => r.inflight.size === 0);
  }

  /** Tells PagerDuty and Slack about an acknowledgement, after any earlier follow-ups. */
  function followUp(by: string) {
    const ack = incident('acknowledged', by);
    const sends = [
      ...state.pages.map((p) => () => followUps.sendPagerEvent({ action: 'acknowledge', ...p })),
      ...state.messages.map((m) => () => followUps.updateSlackIncidentMessage({ ...m, incident: ack })),
    ];
    if (sends.length === 0) return;
    unfollowed++;
    following = following
      .then(() => followUpScope.run(() => Promise.allSettled(sends.map((send) => send()))))
      .catch(() => undefined)
      .finally(() => unfollowed--);
  }

  function ours(incidentId: string) {
    if (incidentId !== input.incidentId) reject(IncidentRejection.OtherIncident, `This workflow now runs incident ${input.incidentId}`);
  }
  function open() {
    if (resolved) reject(IncidentRejection.Resolved, 'The incident is already resolved');
  }

  setHandler(incidentStateQuery, snapshot);

  // Runs started before this change never count messages towards continuing as new: their
  // histories would otherwise take a different turn on replay.
  const messageBound = patched('incident-duplicates-by-signal');
  /** Signals and updates this run has taken. */
  let messages = 0;

  // Everything below up to the first await runs before any update is handled: seq 0 is `triggered`.
  const triggered = carried ? Promise.resolve() : record('triggered');

  setHandler(triggerIncidentSignal, ({ incidentId, joining }) => {
    messages++;
    if (resolved || incidentId === input.incidentId) return;
    if (joining !== undefined && joining !== input.incidentId) return;
    void record('deduplicated', {}, { batch: true });
  });

  setHandler(
    triggerIncidentUpdate,
    async ({ incidentId }) => {
      messages++;
      if (incidentId !== input.incidentId) await record('deduplicated');
      await triggered;
      return { id: input.incidentId, status: state.status };
    },
    { validator: (_candidate) => open() },
  );

  setHandler(
    acknowledgeIncidentUpdate,
    async ({ by }) => {
      messages++;
      if (state.status === 'acknowledged') return snapshot();
      state.status = 'acknowledged';
      state.acknowledgedBy = by;
      const stopped = stopRun();
      const recorded = record('acknowledged', { by });
      await stopped;
      followUp(by);
      await recorded;
      return snapshot();
    },
    {
      validator: ({ incidentId }) => {
        ours(incidentId);
        open();
      },
    },
  );

  setHandler(
    unacknowledgeIncidentUpdate,
    async ({ by }) => {
      messages++;
      state.status = 'triggered';
      state.step = 0;
      state.cycle = 0;
      state.acknowledgedBy = null;
      state.restarts++;
      await record('unacknowledged', by ? { by } : {});
      return snapshot();
    },
    {
      validator: ({ incidentId }) => {
        ours(incidentId);
        open();
        if (state.status !== 'acknowledged') reject(IncidentRejection.NotAcknowledged, `The incident is ${state.status}, not acknowledged`);
      },
    },
  );

  setHandler(
    resolveIncidentUpdate,
    async ({ by }) => {
      messages++;
      resolved = true;
      resolvedBy = by;
      state.status = 'resolved';
      const stopped = stopRun();
      const recorded = record('resolved', by ? { by } : {});
      await stopped;
      await recorded;
      return snapshot();
    },
    {
      validator: ({ incidentId }) => {
        ours(incidentId);
        open();
      },
    },
  );

  let resume = state.status === 'triggered' && state.deadline !== null ? { cycle: state.cycle, step: state.step, deadline: state.deadline } : undefined;
  while (!resolved) {
    if (state.status === 'triggered') {
      await escalate(resume);
      resume = undefined;
    } else {
      // Acknowledged or exhausted: waiting for a person, possibly for days.
      const waiting = state.status;
      await condition(() => resolved || state.status !== waiting || mayContinue());
      if (!resolved && state.status === waiting) await continueNow();
    }
  }

  // Resolved: every send has stopped (the resolve update waited for it). Pending acknowledgement
  // follow-ups stop too; the resolution goes out from its own workflow, so that this one closes
  // now and a new trigger with the same dedupKey opens a new incident at once.
  await condition(allHandlersFinished);
  followUpScope.cancel();
  await following.catch(() => undefined);
  if (state.pages.length || state.messages.length) {
    await startChild(incidentResolutionWorkflow, {
      workflowId: workflowIds.incidentResolution(input.tenantId, input.incidentId),
      args: [{ pages: state.pages, messages: state.messages, incident: incident('resolved', resolvedBy) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: SA.tenant, value: input.tenantId },
        { key: SA.kind, value: 'incident-resolution' },
      ],
    });
  }
  await recording;
  return snapshot();
}
// The API starts this run by name, typed by domain/incidents.ts `IncidentWorkflow`: they must agree.
incidentWorkflow satisfies IncidentWorkflow;

/** Resolves every page with its dedup key and marks every Slack message resolved. */
export async function incidentResolutionWorkflow(args: {
  pages: Array<{ routingKey: string; dedupKey: string }>;
  messages: SlackMessageRef[];
  incident: Incident;
}): Promise<{ sent: number; failed: number }> {
  const acts = proxyActivities<EscalationActivities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: '1 day',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
  });
  const results = await Promise.allSettled([
    ...args.pages.map((p) => acts.sendPagerEvent({ action: 'resolve', ...p } satisfies PagerEventArgs)),
    ...args.messages.map((m) => acts.updateSlackIncidentMessage({ ...m, incident: args.incident })),
  ]);
  const failed = results.filter((r) => r.status === 'rejected');
  for (const f of failed) log.warn('incident resolution not sent', { incidentId: args.incident.incidentId, error: String(f.reason) });
  return { sent: results.length - failed.length, failed: failed.length };
}
