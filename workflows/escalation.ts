// One incident: notify each step of the pinned policy, wait for an acknowledgement up to the
// step's timeout, escalate to the next; `repeat` more passes, then `exhausted`. Acknowledge,
// unacknowledge and resolve arrive as updates, triggers as signals (any number of duplicates,
// none spending an update); the timeline is recorded in the database in order, each event
// under a workflow-assigned seq, and lives only there.
// An incident may stay open for weeks: a run continues as new when the server suggests it (or
// past `maxHistoryEvents`), handing on its compact state (IncidentCarry), never the timeline.
import { ParentClosePolicy, allHandlersFinished, condition, log, patched, proxyActivities, setHandler, startChild } from '@temporalio/workflow';
import type { EscalationActivities, PagerEventArgs } from '../activities/escalation.js';
import type { Incident, SlackMessageRef } from '../activities/channels/slack.js';
import { IncidentRejection, type IncidentCarry, type IncidentInput, type IncidentState, type IncidentWorkflow } from '../domain/incidents.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { acknowledgeIncidentUpdate, incidentStateQuery, resolveIncidentUpdate, triggerIncidentSignal, triggerIncidentUpdate, unacknowledgeIncidentUpdate } from '../domain/workflow-messages.js';
import { IncidentRun, reject } from './incident-run.js';

export async function incidentWorkflow(input: IncidentInput, carried?: IncidentCarry): Promise<IncidentState> {
  const run = new IncidentRun(input, carried);
  const { state } = run;

  setHandler(incidentStateQuery, () => run.snapshot());

  // Runs started before this change never count messages towards continuing as new: their
  // histories would otherwise take a different turn on replay.
  run.messageBound = patched('incident-duplicates-by-signal');

  // Everything below up to the first await runs before any update is handled: seq 0 is `triggered`.
  const triggered = carried ? Promise.resolve() : run.record('triggered');

  setHandler(triggerIncidentSignal, ({ incidentId, joining }) => {
    run.messages++;
    if (run.resolved || incidentId === input.incidentId) return;
    if (joining !== undefined && joining !== input.incidentId) return;
    void run.record('deduplicated', {}, { batch: true });
  });

  setHandler(
    triggerIncidentUpdate,
    async ({ incidentId }) => {
      run.messages++;
      if (incidentId !== input.incidentId) await run.record('deduplicated');
      await triggered;
      return { id: input.incidentId, status: state.status };
    },
    { validator: (_candidate) => run.open() },
  );

  setHandler(
    acknowledgeIncidentUpdate,
    async ({ by }) => {
      run.messages++;
      if (state.status === 'acknowledged') return run.snapshot();
      state.status = 'acknowledged';
      state.acknowledgedBy = by;
      const stopped = run.stopPass();
      const recorded = run.record('acknowledged', { by });
      await stopped;
      run.followUp(by);
      await recorded;
      return run.snapshot();
    },
    {
      validator: ({ incidentId }) => {
        run.ours(incidentId);
        run.open();
      },
    },
  );

  setHandler(
    unacknowledgeIncidentUpdate,
    async ({ by }) => {
      run.messages++;
      state.status = 'triggered';
      state.step = 0;
      state.cycle = 0;
      state.acknowledgedBy = null;
      state.restarts++;
      await run.record('unacknowledged', by ? { by } : {});
      return run.snapshot();
    },
    {
      validator: ({ incidentId }) => {
        run.ours(incidentId);
        run.open();
        if (state.status !== 'acknowledged') reject(IncidentRejection.NotAcknowledged, `The incident is ${state.status}, not acknowledged`);
      },
    },
  );

  setHandler(
    resolveIncidentUpdate,
    async ({ by }) => {
      run.messages++;
      run.resolved = true;
      run.resolvedBy = by;
      state.status = 'resolved';
      const stopped = run.stopPass();
      const recorded = run.record('resolved', by ? { by } : {});
      await stopped;
      await recorded;
      return run.snapshot();
    },
    {
      validator: ({ incidentId }) => {
        run.ours(incidentId);
        run.open();
      },
    },
  );

  await escalateUntilResolved(run);
  await closeResolved(run);
  return run.snapshot();
}

/**
 * Escalates while triggered (from where a previous run stopped, if it handed on mid-step), waits
 * for a person while acknowledged or exhausted, possibly for days, and hands on to a new run when
 * the history is long; returns once resolved.
 */
async function escalateUntilResolved(run: IncidentRun): Promise<void> {
  const { state } = run;
  let resume = state.status === 'triggered' && state.deadline !== null ? { cycle: state.cycle, step: state.step, deadline: state.deadline } : undefined;
  while (!run.resolved) {
    if (state.status === 'triggered') {
      await run.escalate(resume);
      resume = undefined;
    } else {
      const waiting = state.status;
      await condition(() => run.resolved || state.status !== waiting || run.mayContinue());
      if (!run.resolved && state.status === waiting) await run.continueNow();
    }
  }
}

/**
 * Resolved: every send has stopped (the resolve update waited for it). Pending acknowledgement
 * follow-ups stop too; the resolution goes out from its own workflow, so that this one closes
 * now and a new trigger with the same dedupKey opens a new incident at once.
 */
async function closeResolved(run: IncidentRun): Promise<void> {
  const { state, input } = run;
  await condition(allHandlersFinished);
  await run.stopFollowUps();
  if (state.pages.length || state.messages.length) {
    await startChild(incidentResolutionWorkflow, {
      workflowId: workflowIds.incidentResolution(input.tenantId, input.incidentId),
      args: [{ pages: state.pages, messages: state.messages, incident: run.incident('resolved', run.resolvedBy) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: SA.tenant, value: input.tenantId },
        { key: SA.kind, value: 'incident-resolution' },
      ],
    });
  }
  await run.recorded();
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
