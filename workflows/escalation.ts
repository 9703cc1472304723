// One incident: notify each step of the pinned policy, wait for an acknowledgement up to the
// step's timeout, escalate to the next; `repeat` more passes, then `exhausted`. Acknowledge,
// unacknowledge, resolve and duplicate triggers arrive as updates; the timeline is recorded in
// the database in order, each event under a workflow-assigned seq.
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EscalationActivities, IncidentRecord, NotifyStepResult, PagerEventArgs } from '../activities/escalation.js';
import type { Incident, SlackMessageRef } from '../activities/channels/slack.js';
import {
  IncidentRejection,
  SA,
  acknowledgeIncidentUpdate,
  incidentStateQuery,
  resolveIncidentUpdate,
  triggerIncidentUpdate,
  unacknowledgeIncidentUpdate,
  workflowIds,
  type IncidentInput,
  type IncidentState,
  type IncidentStatus,
  type TimelineEvent,
  type TimelineType,
} from './messages.js';

/** Database records: retried until the database answers; never cancelled. */
const { recordIncident } = proxyActivities<EscalationActivities>({
  startToCloseTimeout: '30 seconds',
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

function reject(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

export async function incidentWorkflow(input: IncidentInput): Promise<IncidentState> {
  const { steps, repeat } = input.policy;
  const state: IncidentState = { id: input.incidentId, status: 'triggered', step: 0, cycle: 0, timeline: [] };
  let resolved = false;
  let resolvedBy: string | undefined;
  let run: Run | undefined;
  /** Unacknowledgements so far: a restarted escalation pages under a new dedup key. */
  let restarts = 0;
  let notifications = 0;
  /** Every page sent (or possibly sent), for the pager acknowledge and resolve. */
  const pages: Array<{ routingKey: string; dedupKey: string }> = [];
  /** Every Slack message posted, to update at acknowledge and resolve. */
  const messages: SlackMessageRef[] = [];
  let recording: Promise<unknown> = Promise.resolve();
  const followUpScope = new CancellationScope();
  let following: Promise<unknown> = Promise.resolve();
  let searchStatus: IncidentStatus | undefined;

  const snapshot = (): IncidentState => ({ ...state, timeline: [...state.timeline] });
  const incident = (status: IncidentStatus, by?: string): Incident => ({
    incidentId: input.incidentId,
    summary: input.summary,
    severity: input.severity,
    status,
    ...(by ? { by } : {}),
  });

  /** Appends a timeline event now and records it (with the current status) after the previous ones. */
  function record(type: TimelineType, extra: Omit<TimelineEvent, 'at' | 'type'> = {}): Promise<void> {
    const event: TimelineEvent = { at: new Date(Date.now()).toISOString(), type, ...extra };
    const seq = state.timeline.length;
    state.timeline.push(event);
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
    const done = recording.then(() => CancellationScope.nonCancellable(() => recordIncident(rec)));
    recording = done.catch(() => undefined);
    if (state.status !== searchStatus) {
      searchStatus = state.status;
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
    const dedupKey = restarts === 0 ? input.incidentId : `${input.incidentId}.${restarts}`;
    // Known before the send, so that a page whose answer was lost is still acknowledged/resolved.
    if (step.channel === 'pager' && !pages.some((p) => p.routingKey === step.target && p.dedupKey === dedupKey)) {
      pages.push({ routingKey: step.target, dedupKey });
    }
    const sent: Promise<NotifyStepResult> = notifier(step.ackTimeoutSeconds)({
      tenantId: input.tenantId,
      incidentId: input.incidentId,
      notifyId: `${input.incidentId}.n${++notifications}`,
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
        if (res.slack) messages.push(res.slack);
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

  /** Steps × (repeat + 1) from step 0, until acknowledged or resolved; then `exhausted`. */
  async function escalate(): Promise<void> {
    const r: Run = { scope: new CancellationScope(), inflight: new Set(), failed: new Set() };
    run = r;
    const escalating = () => state.status === 'triggered';
    try {
      await r.scope.run(async () => {
        for (let cycle = 0; cycle <= repeat; cycle++) {
          for (let i = 0; i < steps.length; i++) {
            if (!escalating()) return;
            if (cycle > 0 || i > 0) {
              state.step = i;
              state.cycle = cycle;
              void record('escalated', { channel: steps[i].channel, target: steps[i].target });
            }
            notify(r, i, cycle);
            await condition(() => !escalating() || r.failed.has(`${cycle}:${i}`), steps[i].ackTimeoutSeconds * 1000);
          }
        }
        if (!escalating()) return;
        state.status = 'exhausted';
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
      ...pages.map((p) => () => followUps.sendPagerEvent({ action: 'acknowledge', ...p })),
      ...messages.map((m) => () => followUps.updateSlackIncidentMessage({ ...m, incident: ack })),
    ];
    if (sends.length === 0) return;
    following = following.then(() => followUpScope.run(() => Promise.allSettled(sends.map((send) => send()))));
  }

  function ours(incidentId: string) {
    if (incidentId !== input.incidentId) reject(IncidentRejection.OtherIncident, `This workflow now runs incident ${input.incidentId}`);
  }
  function open() {
    if (resolved) reject(IncidentRejection.Resolved, 'The incident is already resolved');
  }

  setHandler(incidentStateQuery, snapshot);

  // Everything below up to the first await runs before any update is handled: seq 0 is `triggered`.
  const triggered = record('triggered');

  setHandler(
    triggerIncidentUpdate,
    async ({ incidentId }) => {
      if (incidentId !== input.incidentId) await record('deduplicated');
      await triggered;
      return { id: input.incidentId, status: state.status };
    },
    { validator: (_candidate) => open() },
  );

  setHandler(
    acknowledgeIncidentUpdate,
    async ({ by }) => {
      if (state.status === 'acknowledged') return snapshot();
      state.status = 'acknowledged';
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
      state.status = 'triggered';
      state.step = 0;
      state.cycle = 0;
      restarts++;
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

  while (!resolved) {
    if (state.status === 'triggered') await escalate();
    else await condition(() => resolved || state.status === 'triggered');
  }

  // Resolved: every send has stopped (the resolve update waited for it). Pending acknowledgement
  // follow-ups stop too; the resolution goes out from its own workflow, so that this one closes
  // now and a new trigger with the same dedupKey opens a new incident at once.
  await condition(allHandlersFinished);
  followUpScope.cancel();
  await following.catch(() => undefined);
  if (pages.length || messages.length) {
    await startChild(incidentResolutionWorkflow, {
      workflowId: workflowIds.incidentResolution(input.tenantId, input.incidentId),
      args: [{ pages, messages, incident: incident('resolved', resolvedBy) }],
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
