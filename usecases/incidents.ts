// Incidents: each is an incident workflow (workflows/escalation.ts) whose id is the tenant's
// dedupKey, so Temporal itself keeps one incident open per key; triggers reach it as signals
// (signal-with-start for the first), so duplicates never meet Temporal's limits on updates.
// Reads come from the database (the timeline lives only there; the workflow's runs continue as
// new without it); acknowledge, unacknowledge and resolve are workflow updates that answer once
// they took effect, and their answers are read back from the database too.
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client.js';
import { findPolicy } from '../db/escalation-policies.js';
import { duplicateCount, findIncident, incidentTimeline, openIncidentOf } from '../db/incidents.js';
import { conflictWith, invalidInput, missing, RequestError, unavailable } from '../domain/errors.js';
import { IncidentRejection, type IncidentInput, type IncidentSeverity, type IncidentState, type IncidentStatus, type IncidentWorkflow } from '../domain/incidents.js';
import { incidentPriority } from '../domain/priority.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { acknowledgeIncidentUpdate, incidentStateQuery, resolveIncidentUpdate, triggerIncidentSignal, unacknowledgeIncidentUpdate } from '../domain/workflow-messages.js';
import { newId } from './ids.js';
import { signalWithStartThenQuery } from './signal-with-start.js';
import type { TemporalDeps } from './temporal.js';

interface IncidentDeps {
  db: Db;
  temporal: TemporalDeps;
  now?: () => number;
  /** Incident runs continue as new past this many history events (tests set a small value). */
  incidentTuning?: { maxHistoryEvents?: number };
}

/** What a trigger asks for (the API's request body). */
interface IncidentRequest {
  policy: string;
  summary: string;
  severity: IncidentSeverity;
  dedupKey?: string;
  details?: Record<string, unknown>;
}

export interface Triggered {
  id: string;
  status: IncidentStatus;
}

/**
 * Runs a trigger that would open a new incident on one turn of the tenant's critical rate
 * (api/critical-rate.ts withCriticalTurn): the turn is kept when `opened(answer)`.
 */
export type CriticalTurn = (open: () => Promise<Triggered>, opened: (answer: Triggered) => boolean) => Promise<{ result: Triggered; headers: Record<string, string> }>;

/** How long a trigger or an acknowledgement waits for the workflow service and the worker. */
const CONFIRM_DEADLINE_MS = 30_000;

const unconfirmed = (what: string, cause?: unknown) => unavailable(`The workflow service did not confirm the ${what}; retry later.`, cause);

/** The IncidentRejection type of an update the workflow refused, if that is what `err` is. */
function rejectionOf(err: unknown): { type: string; message: string } | null {
  if (!(err instanceof WorkflowUpdateFailedError)) return null;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && (Object.values(IncidentRejection) as string[]).includes(cause.type)) {
    return { type: cause.type, message: cause.message };
  }
  return null;
}

/** Runs `fn` against Temporal with a deadline; a missed deadline or an outage is `unavailable` (503). */
async function withinDeadline<T>(client: Client, ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + ms, fn);
  } catch (err) {
    if (rejectionOf(err) || err instanceof RequestError) throw err;
    throw unconfirmed(what, err);
  }
}

/** Polls `check` (backing off to 200 ms) until it answers something other than undefined; past the deadline, `unavailable`. */
async function awaitRecorded<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + CONFIRM_DEADLINE_MS;
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    const answer = await check();
    if (answer !== undefined) return answer;
    if (Date.now() > deadline) throw unconfirmed(what);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** The incident with its timeline; `asOf`, an update's answer, cuts it at that moment. */
export async function incidentView(db: Db, tenantId: string, id: string, asOf?: IncidentState) {
  const row = await findIncident(db, id, tenantId);
  if (!row) throw missing('Incident');
  return {
    id: row.id,
    status: asOf?.status ?? (row.status as IncidentStatus),
    step: asOf?.step ?? row.step,
    cycle: asOf?.cycle ?? row.cycle,
    timeline: await incidentTimeline(db, id, asOf?.events),
    policy: row.policyKey,
    summary: row.summary,
    severity: row.severity as IncidentSeverity,
    dedupKey: row.dedupKey,
    details: row.details as Record<string, unknown> | null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * A duplicate of an incident the database shows open: one signal to its workflow, no update
 * (Temporal bounds updates in flight and per run; signals it takes by the thousand). Answers
 * once the timeline holds one more `deduplicated` than before, so a read after the 202 shows
 * it; null when the incident turns out resolved (or its run gone): then the trigger starts anew.
 */
async function joinOpen(deps: IncidentDeps, input: IncidentInput, workflowId: string): Promise<Triggered | null> {
  const { db, temporal } = deps;
  const open = await openIncidentOf(db, input.tenantId, input.dedupKey!, workflowId);
  if (!open) return null;
  const before = await duplicateCount(db, open.id);
  try {
    await withinDeadline(temporal.client, CONFIRM_DEADLINE_MS, 'trigger', () =>
      temporal.client.workflow.getHandle(workflowId).signal(triggerIncidentSignal, { incidentId: input.incidentId, joining: open.id }),
    );
  } catch (err) {
    if (err instanceof RequestError && (err as { cause?: unknown }).cause instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  const joined = await awaitRecorded('trigger', async () => {
    const now = await findIncident(db, open.id, input.tenantId);
    if (!now || now.status === 'resolved') return null;
    return (await duplicateCount(db, open.id)) > before ? { id: open.id, status: now.status as IncidentStatus } : undefined;
  });
  return joined;
}

/**
 * Signal-with-start: a new workflow for a new dedupKey, else the trigger joins the open one;
 * concurrent first triggers thus make one incident. The run that took the signal answers
 * which incident that is; the answer waits until its row is written. An incident that is
 * resolved but still closing ignores triggers for the moment it takes to close; then the same
 * dedupKey opens a new incident.
 */
async function startOrJoin(deps: IncidentDeps, input: IncidentInput, workflowId: string): Promise<Triggered> {
  const { db, temporal } = deps;
  for (let attempt = 1; ; attempt++) {
    const state = await withinDeadline(temporal.client, CONFIRM_DEADLINE_MS, 'trigger', () =>
      signalWithStartThenQuery(
        temporal.client,
        workflowId,
        () =>
          temporal.client.workflow.signalWithStart<IncidentWorkflow, [{ incidentId: string }]>('incidentWorkflow', {
            workflowId,
            taskQueue: temporal.taskQueue,
            args: [input],
            signal: triggerIncidentSignal,
            signalArgs: [{ incidentId: input.incidentId }],
            workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
            priority: incidentPriority(input, temporal.fairnessWeights),
            typedSearchAttributes: [
              { key: SA.tenant, value: input.tenantId },
              { key: SA.kind, value: 'incident' },
              { key: SA.status, value: 'triggered' },
            ],
          }),
        incidentStateQuery,
      ),
    );
    if (state.status !== 'resolved') {
      await awaitRecorded('trigger', async () => ((await findIncident(db, state.id, input.tenantId)) ? true : undefined));
      return { id: state.id, status: state.status };
    }
    if (attempt >= 20) throw unconfirmed('trigger');
    await new Promise((r) => setTimeout(r, 50 * attempt));
  }
}

/**
 * Triggers an incident under the tenant's escalation policy (pinned now), or joins the open
 * incident of its dedupKey. A trigger that opens a new incident takes a turn of the tenant's
 * critical rate (`critical`); a join does not.
 */
export async function triggerIncident(
  deps: IncidentDeps,
  tenantId: string,
  request: IncidentRequest,
  critical: CriticalTurn,
): Promise<{ result: Triggered; headers: Record<string, string> }> {
  const policy = await findPolicy(deps.db, tenantId, request.policy);
  if (!policy) throw invalidInput(`Escalation policy ${request.policy} does not exist`, [{ path: 'policy', message: 'unknown escalation policy' }]);
  const id = newId('inc', (deps.now ?? Date.now)());
  const input: IncidentInput = {
    tenantId,
    incidentId: id,
    policy: { key: policy.key, steps: policy.steps, repeat: policy.repeat },
    summary: request.summary,
    severity: request.severity,
    dedupKey: request.dedupKey ?? null,
    details: request.details ?? null,
    ...(deps.incidentTuning?.maxHistoryEvents ? { maxHistoryEvents: deps.incidentTuning.maxHistoryEvents } : {}),
  };
  const workflowId = workflowIds.incident(tenantId, request.dedupKey ?? id);
  const joined = input.dedupKey !== null && (await joinOpen(deps, input, workflowId));
  if (joined) return { result: joined, headers: {} };
  return critical(
    () => startOrJoin(deps, input, workflowId),
    (answer) => answer.id === input.incidentId,
  );
}

export type IncidentAction = 'acknowledge' | 'unacknowledge' | 'resolve';

const ACTIONS = {
  acknowledge: { what: 'acknowledgement', update: acknowledgeIncidentUpdate },
  unacknowledge: { what: 'unacknowledgement', update: unacknowledgeIncidentUpdate },
  resolve: { what: 'resolution', update: resolveIncidentUpdate },
} as const;

/** Acknowledges, unacknowledges or resolves an incident; answers the incident as the update left it (the escalation may move on at once). */
export async function actOnIncident(deps: IncidentDeps, tenantId: string, id: string, action: IncidentAction, by: string | undefined) {
  const { db, temporal } = deps;
  const row = await findIncident(db, id, tenantId);
  if (!row) throw missing('Incident');
  if (row.status === 'resolved') throw conflictWith('The incident is already resolved');
  const { what, update } = ACTIONS[action];
  const handle: WorkflowHandle = temporal.client.workflow.getHandle(row.workflowId);
  // The three updates take the same argument; only acknowledge requires `by` (its route does too).
  const send = update as typeof unacknowledgeIncidentUpdate;
  for (let attempt = 1; ; attempt++) {
    const sentAt = Date.now();
    try {
      const state = await withinDeadline(temporal.client, CONFIRM_DEADLINE_MS, what, () => handle.executeUpdate(send, { args: [{ incidentId: id, by }] }));
      return incidentView(db, tenantId, id, state);
    } catch (err) {
      const rejected = rejectionOf(err);
      if (rejected) throw conflictWith(rejected.type === IncidentRejection.OtherIncident ? 'The incident is already resolved' : rejected.message);
      // The workflow may have closed in the meantime (resolved).
      const after = await findIncident(db, id, tenantId);
      if (after?.status === 'resolved') throw conflictWith('The incident is already resolved');
      // A failure at once, not at the deadline, is most likely the update meeting its run as it
      // continued as new (it did not run there): it goes once more, to the run that took over
      // (the handle names no run). Slack's button (acknowledgeFromSlack) has 3 s and no retry.
      if (attempt === 1 && Date.now() - sentAt < CONFIRM_DEADLINE_MS / 2) continue;
      throw err;
    }
  }
}

/**
 * Slack's Acknowledge button: acknowledges the incident unless it is already acknowledged or
 * resolved. Answers once the workflow accepted the update (it has stopped escalating by then),
 * within `deadlineMs` (Slack wants its answer within 3 s).
 */
export async function acknowledgeFromSlack(deps: Pick<IncidentDeps, 'db' | 'temporal'>, incidentId: string, by: string, deadlineMs: number): Promise<void> {
  const { db, temporal } = deps;
  const incident = await findIncident(db, incidentId);
  if (!incident || incident.status === 'resolved' || incident.status === 'acknowledged') return;
  try {
    await withinDeadline(temporal.client, deadlineMs, 'acknowledgement', () =>
      temporal.client.workflow
        .getHandle(incident.workflowId)
        .startUpdate(acknowledgeIncidentUpdate, { args: [{ incidentId: incident.id, by }], waitForStage: WorkflowUpdateStage.ACCEPTED }),
    );
  } catch (err) {
    // Resolved in the meantime: nothing left to acknowledge.
    if (!rejectionOf(err)) throw err;
  }
}
