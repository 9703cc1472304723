// The steps of one incident run (workflows/escalation.ts drives them): its timeline records, the
// escalation over the policy's steps, the follow-ups of an acknowledgement and when the run may
// hand on to a new one. Each step issues the commands it always did, in the same order: a change
// here is a change to every waiting incident and goes behind patched().
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EscalationActivities, IncidentRecord, NotifyStepResult } from '../activities/escalation.js';
import type { Incident } from '../activities/channels/slack.js';
import {
  IncidentRejection,
  type IncidentCarry,
  type IncidentInput,
  type IncidentState,
  type IncidentStatus,
  type IncidentWorkflow,
  type TimelineEvent,
  type TimelineType,
} from '../domain/incidents.js';
import { SA } from '../domain/workflow-ids.js';

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
interface Pass {
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

export function reject(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** What a run knows of its incident; what it hands on when it continues as new. */
type Progress = Omit<IncidentCarry, 'status'> & { status: IncidentStatus };

/** A new incident's state; `carried` is what the previous run of the chain handed on. */
function initial(carried?: IncidentCarry): Progress {
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

export class IncidentRun {
  readonly state: Progress;
  resolved = false;
  resolvedBy: string | undefined;
  /** Runs started before signals counted (no `incident-duplicates-by-signal` marker) never hand on for them. */
  messageBound = false;
  /** Signals and updates this run has taken. */
  messages = 0;
  private pass: Pass | undefined;
  private recording: Promise<unknown> = Promise.resolve();
  /** Records started and not yet written: a run continues as new only with none. */
  private unrecorded = 0;
  private readonly followUpScope = new CancellationScope();
  private following: Promise<unknown> = Promise.resolve();
  private unfollowed = 0;
  /**
   * The last record of the chain while it waits for the ones before it, if it can take more
   * events: a burst of duplicate triggers is written by one activity, not one each.
   */
  private batch: { rec: IncidentRecord; done: Promise<void> } | null = null;

  constructor(
    readonly input: IncidentInput,
    carried?: IncidentCarry,
  ) {
    this.state = initial(carried);
  }

  snapshot(): IncidentState {
    const { state, input } = this;
    return {
      id: input.incidentId,
      status: state.status,
      step: state.step,
      cycle: state.cycle,
      events: state.seq,
      acknowledgedBy: state.acknowledgedBy,
      run: state.run,
    };
  }

  incident(status: IncidentStatus, by?: string): Incident {
    const { input } = this;
    return { incidentId: input.incidentId, summary: input.summary, severity: input.severity, status, ...(by ? { by } : {}) };
  }

  // The timeline.

  /** Appends a timeline event now and records it (with the current status) after the previous ones. */
  record(type: TimelineType, extra: Omit<TimelineEvent, 'at' | 'type'> = {}, opts: { batch?: boolean } = {}): Promise<void> {
    const { state, input } = this;
    const event: TimelineEvent = { at: new Date(Date.now()).toISOString(), type, ...extra };
    const seq = state.seq++;
    if (opts.batch && this.batch) {
      (this.batch.rec.more ??= []).push({ seq, event });
      return this.batch.done;
    }
    const rec: IncidentRecord = {
      incidentId: input.incidentId,
      seq,
      status: state.status,
      step: state.step,
      cycle: state.cycle,
      event,
      ...(seq === 0 ? { open: { ...this.opening(), workflowId: workflowInfo().workflowId } } : {}),
    };
    this.unrecorded++;
    const done = this.recording.then(() => {
      if (this.batch?.rec === rec) this.batch = null; // its activity is being scheduled: nothing joins it now
      return CancellationScope.nonCancellable(() => recordIncident(rec));
    });
    this.recording = done.catch(() => undefined).finally(() => this.unrecorded--);
    this.batch = opts.batch ? { rec, done } : null;
    this.showStatus();
    return done;
  }

  /** Every record started so far is written (or failed for good). */
  recorded(): Promise<unknown> {
    return this.recording;
  }

  /** The incident's row as its first record opens it. */
  private opening() {
    const { input } = this;
    return {
      tenantId: input.tenantId,
      policyKey: input.policy.key,
      summary: input.summary,
      severity: input.severity,
      dedupKey: input.dedupKey,
      details: input.details,
    };
  }

  /** The status search attribute follows the status, once per change. */
  private showStatus(): void {
    const { state } = this;
    if (state.status === state.searchStatus) return;
    state.searchStatus = state.status;
    upsertSearchAttributes([
      { key: SA.status, value: state.status },
      { key: SA.kind, value: 'incident' },
    ]);
  }

  // Escalation.

  /** Notifies step `i` of pass `cycle` inside the pass's scope, without waiting for the send. */
  private notify(p: Pass, i: number, cycle: number): void {
    const { state, input } = this;
    const step = input.policy.steps[i];
    const dedupKey = state.restarts === 0 ? input.incidentId : `${input.incidentId}.${state.restarts}`;
    // Known before the send, so that a page whose answer was lost is still acknowledged/resolved.
    if (step.channel === 'pager' && !state.pages.some((pg) => pg.routingKey === step.target && pg.dedupKey === dedupKey)) {
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
    const sending: Promise<void> = sent
      .then(async (res) => {
        if (res.slack) state.messages.push(res.slack);
        await this.record('notified', { channel: step.channel, target: step.target });
      })
      .catch((err) => {
        if (isCancellation(err)) return;
        log.warn('incident notification failed', { incidentId: input.incidentId, channel: step.channel, error: String(err) });
        p.failed.add(`${cycle}:${i}`);
      })
      .finally(() => p.inflight.delete(sending));
    p.inflight.add(sending);
  }

  /**
   * Waits for step `key`'s acknowledgement until `deadline` (the workflow clock): returns when
   * it is due to escalate or escalation stopped; continues as new from here when the history
   * is long and nothing is in flight (the next run waits out the same deadline).
   */
  private async awaitStep(p: Pass, key: string, deadline: number): Promise<void> {
    const settled = () => this.state.status !== 'triggered' || p.failed.has(key);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      const woke = await condition(() => settled() || this.mayContinue(), left);
      if (!woke || settled()) return;
      await this.continueNow();
    }
  }

  /**
   * Steps × (repeat + 1) until acknowledged or resolved; then `exhausted`. From step 0, or, in a
   * run that continued as new mid-escalation, from the step the previous run was waiting on.
   */
  async escalate(from?: { cycle: number; step: number; deadline: number }): Promise<void> {
    const { state } = this;
    const { steps, repeat } = this.input.policy;
    const p: Pass = { scope: new CancellationScope(), inflight: new Set(), failed: new Set() };
    this.pass = p;
    const escalating = () => state.status === 'triggered';
    try {
      await p.scope.run(async () => {
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
                void this.record('escalated', { channel: steps[i].channel, target: steps[i].target });
              }
              this.notify(p, i, cycle);
              deadline = Date.now() + steps[i].ackTimeoutSeconds * 1000;
            }
            state.deadline = deadline;
            await this.awaitStep(p, `${cycle}:${i}`, deadline);
          }
        }
        if (!escalating()) return;
        state.status = 'exhausted';
        state.deadline = null;
        void this.record('exhausted');
      });
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  }

  /** Cancels the current pass's timers and sends; resolves when every send has stopped. */
  stopPass(): Promise<void> {
    const p = this.pass;
    if (!p) return Promise.resolve();
    p.scope.cancel();
    return condition(() => p.inflight.size === 0);
  }

  // Follow-ups.

  /** Tells PagerDuty and Slack about an acknowledgement, after any earlier follow-ups. */
  followUp(by: string): void {
    const { state } = this;
    const ack = this.incident('acknowledged', by);
    const sends = [
      ...state.pages.map((pg) => () => followUps.sendPagerEvent({ action: 'acknowledge', ...pg })),
      ...state.messages.map((m) => () => followUps.updateSlackIncidentMessage({ ...m, incident: ack })),
    ];
    if (sends.length === 0) return;
    this.unfollowed++;
    this.following = this.following
      .then(() => this.followUpScope.run(() => Promise.allSettled(sends.map((send) => send()))))
      .catch(() => undefined)
      .finally(() => this.unfollowed--);
  }

  /** A resolve stops pending follow-ups: the resolution's own workflow says the last word. */
  async stopFollowUps(): Promise<void> {
    this.followUpScope.cancel();
    await this.following.catch(() => undefined);
  }

  // Handing on.

  /**
   * The history is long enough to hand on (server's suggestion, or the input's bound), or, for
   * runs started on this build, the run took MAX_MESSAGES_PER_RUN signals and updates.
   */
  private historyLong(): boolean {
    const info = workflowInfo();
    const bound = this.input.maxHistoryEvents === undefined ? undefined : Math.max(this.input.maxHistoryEvents, MIN_HISTORY_EVENTS);
    return info.continueAsNewSuggested || (bound !== undefined && info.historyLength >= bound) || (this.messageBound && this.messages >= MAX_MESSAGES_PER_RUN);
  }

  /**
   * Nothing in flight that this run would lose: no send, record or follow-up pending, no
   * handler running. Then everything the next run needs is in `state`.
   */
  mayContinue(): boolean {
    return (
      !this.resolved && this.historyLong() && this.unrecorded === 0 && this.unfollowed === 0 && (!this.pass || this.pass.inflight.size === 0) && allHandlersFinished()
    );
  }

  async continueNow(): Promise<never> {
    const { state, input } = this;
    await condition(allHandlersFinished);
    const { status } = state;
    if (status === 'resolved') throw new Error('a resolved incident does not continue as new');
    log.info('incident continues as new', { incidentId: input.incidentId, run: state.run, historyLength: workflowInfo().historyLength });
    return continueAsNew<IncidentWorkflow>(input, { ...state, status, deadline: status === 'triggered' ? state.deadline : null });
  }

  // What the handlers check before they take an update.

  ours(incidentId: string): void {
    if (incidentId !== this.input.incidentId) reject(IncidentRejection.OtherIncident, `This workflow now runs incident ${this.input.incidentId}`);
  }

  open(): void {
    if (this.resolved) reject(IncidentRejection.Resolved, 'The incident is already resolved');
  }
}
