// Incidents: each is an incident workflow (workflows/escalation.ts) whose id is the tenant's
// dedupKey, so Temporal itself keeps one incident open per key; triggers reach it as signals
// (signal-with-start for the first), so duplicates never meet Temporal's limits on updates.
// Reads come from the database (the timeline lives only there; the workflow's runs continue as
// new without it); acknowledge,
// unacknowledge and resolve are workflow updates that answer once they took effect, and their
// responses are read back from the database too.
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, count, desc, eq, lt, ne } from 'drizzle-orm';
import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { incidentEvents, incidents } from '../../db/schema.js';
import { incidentPriority } from '../../domain/priority.js';
import { withCriticalTurn, type CriticalRate } from '../critical-rate.js';
import { INCIDENT_SEVERITIES, IncidentRejection, type IncidentInput, type IncidentWorkflow, type IncidentSeverity, type IncidentState, type IncidentStatus, type TimelineEvent } from '../../domain/incidents.js';
import { SA, workflowIds } from '../../domain/workflow-ids.js';
import { acknowledgeIncidentUpdate, incidentStateQuery, resolveIncidentUpdate, triggerIncidentSignal, unacknowledgeIncidentUpdate } from '../../domain/workflow-messages.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { newId } from '../../usecases/ids.js';
import { badRequest, conflict, notFound, Problem } from '../problem.js';
import { JsonObject, PolicyKey, ResourceId } from '../../usecases/schemas.js';
import { findPolicy } from '../../db/escalation-policies.js';

const IdParam = z.object({ id: ResourceId });
const Actor = z.string().trim().min(1).max(200).meta({ pattern: '\\S' });

export const IncidentBody = z
  .object({
    policy: PolicyKey,
    summary: z.string().min(1).max(1024),
    severity: z.enum(INCIDENT_SEVERITIES),
    dedupKey: z.string().min(1).max(255).optional(),
    details: JsonObject.optional(),
  })
  .strict();

const INCIDENT_STATUSES = ['triggered', 'acknowledged', 'resolved', 'exhausted'] as const;
const IncidentView = z
  .object({
    id: z.string(),
    status: z.enum(INCIDENT_STATUSES),
    step: z.number().int(),
    cycle: z.number().int(),
    timeline: z.array(
      z.object({
        at: Timestamp,
        type: z.enum(['triggered', 'notified', 'escalated', 'acknowledged', 'unacknowledged', 'resolved', 'exhausted', 'deduplicated']),
        channel: z.enum(['slack', 'pager', 'sms', 'email', 'webhook']).optional(),
        target: z.string().optional(),
        by: z.string().optional(),
      }),
    ),
    policy: z.string(),
    summary: z.string(),
    severity: z.enum(INCIDENT_SEVERITIES),
    dedupKey: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Incident');
const Triggered = z.object({ id: z.string(), status: z.enum(INCIDENT_STATUSES) });

/** gRPC's FAILED_PRECONDITION: how a server refuses a query before a run's first workflow task. */
const GRPC_FAILED_PRECONDITION = 9;

/** How long the API waits for the worker to take a trigger or an acknowledgement. */
const UPDATE_DEADLINE_MS = 30_000;

/** The IncidentRejection type of an update the workflow refused, if that is what `err` is. */
export function rejectionOf(err: unknown): { type: string; message: string } | null {
  if (!(err instanceof WorkflowUpdateFailedError)) return null;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && (Object.values(IncidentRejection) as string[]).includes(cause.type)) {
    return { type: cause.type, message: cause.message };
  }
  return null;
}

export async function findIncident(db: Db, id: string, tenantId?: string) {
  const [row] = await db
    .select()
    .from(incidents)
    .where(tenantId === undefined ? eq(incidents.id, id) : and(eq(incidents.tenantId, tenantId), eq(incidents.id, id)));
  return row;
}

/** The incident with its timeline; `asOf`, an update's answer, cuts it at that moment. */
async function loadIncident(db: Db, tenantId: string, id: string, asOf?: IncidentState) {
  const row = await findIncident(db, id, tenantId);
  if (!row) throw notFound('Incident');
  const events = await db
    .select()
    .from(incidentEvents)
    .where(and(eq(incidentEvents.incidentId, id), asOf ? lt(incidentEvents.seq, asOf.events) : undefined))
    .orderBy(asc(incidentEvents.seq));
  const timeline: TimelineEvent[] = events.map((e) => ({
    at: e.at.toISOString(),
    type: e.type as TimelineEvent['type'],
    ...(e.channel ? { channel: e.channel as TimelineEvent['channel'] } : {}),
    ...(e.target ? { target: e.target } : {}),
    ...(e.by ? { by: e.by } : {}),
  }));
  return {
    id: row.id,
    status: asOf?.status ?? (row.status as IncidentStatus),
    step: asOf?.step ?? row.step,
    cycle: asOf?.cycle ?? row.cycle,
    timeline,
    policy: row.policyKey,
    summary: row.summary,
    severity: row.severity as IncidentSeverity,
    dedupKey: row.dedupKey,
    details: row.details as Record<string, unknown> | null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** A 503 that asks the client to retry: the workflow service did not confirm `what`. */
function unconfirmed(what: string, cause?: unknown): Problem {
  return Object.assign(new Problem(503, `The workflow service did not confirm the ${what}; retry later.`, [], { 'retry-after': '5' }), { cause });
}

/** Runs `fn` against Temporal with a deadline; a missed deadline or an outage is a 503. */
export async function withinDeadline<T>(client: Client, ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + ms, fn);
  } catch (err) {
    if (rejectionOf(err)) throw err;
    throw unconfirmed(what, err);
  }
}

export function incidentRoutes(deps: AppDeps, critical: CriticalRate) {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  const app = router<Env>();

  /** The open incident of a dedupKey, as the database knows it. */
  async function openIncident(tenantId: string, dedupKey: string, workflowId: string) {
    const [row] = await db
      .select({ id: incidents.id, status: incidents.status })
      .from(incidents)
      .where(and(eq(incidents.tenantId, tenantId), eq(incidents.dedupKey, dedupKey), eq(incidents.workflowId, workflowId), ne(incidents.status, 'resolved')))
      .orderBy(desc(incidents.createdAt))
      .limit(1);
    return row;
  }

  const dedupCount = async (incidentId: string) => {
    const [row] = await db
      .select({ n: count() })
      .from(incidentEvents)
      .where(and(eq(incidentEvents.incidentId, incidentId), eq(incidentEvents.type, 'deduplicated')));
    return Number(row?.n ?? 0);
  };

  /**
   * A duplicate of an incident the database shows open: one signal to its workflow, no update
   * (Temporal bounds updates in flight and per run; signals it takes by the thousand). Answers
   * once the timeline holds one more `deduplicated` than before, so a read after the 202 shows
   * it; null when the incident turns out resolved (or its run gone): then the trigger starts anew.
   */
  async function joinOpen(input: IncidentInput, workflowId: string): Promise<{ id: string; status: string } | null> {
    const row = await openIncident(input.tenantId, input.dedupKey!, workflowId);
    if (!row) return null;
    const before = await dedupCount(row.id);
    try {
      await withinDeadline(temporal.client, UPDATE_DEADLINE_MS, 'trigger', () =>
        temporal.client.workflow.getHandle(workflowId).signal(triggerIncidentSignal, { incidentId: input.incidentId, joining: row.id }),
      );
    } catch (err) {
      if (err instanceof Problem && err.cause instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    const deadline = Date.now() + UPDATE_DEADLINE_MS;
    for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
      const now = await findIncident(db, row.id, input.tenantId);
      if (!now || now.status === 'resolved') return null;
      if ((await dedupCount(row.id)) > before) return { id: row.id, status: now.status };
      if (Date.now() > deadline) throw unconfirmed('trigger');
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * Signal-with-start: a new workflow for a new dedupKey, else the trigger joins the open one;
   * concurrent first triggers thus make one incident. The run that took the signal answers
   * (a query, consistent with the signal) which incident that is; the answer waits until its
   * row is written. An incident that is resolved but still closing ignores triggers for the
   * moment it takes to close; then the same dedupKey opens a new incident.
   */
  async function startOrJoin(input: IncidentInput, workflowId: string): Promise<{ id: string; status: string }> {
    for (let attempt = 1; ; attempt++) {
      const handle = await withinDeadline(temporal.client, UPDATE_DEADLINE_MS, 'trigger', async () => {
        for (let race = 1; ; race++) {
          try {
            return await temporal.client.workflow.signalWithStart<IncidentWorkflow, [{ incidentId: string }]>('incidentWorkflow', {
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
            });
          } catch (err) {
            // Two starts raced (the time-skipping test server is not atomic here): nothing was
            // signalled, and the next attempt finds the workflow the other one started.
            if (!(err instanceof WorkflowExecutionAlreadyStartedError) || race >= 5) throw err;
          }
        }
      });
      const state = await withinDeadline(temporal.client, UPDATE_DEADLINE_MS, 'trigger', async () => {
        for (let early = 1; ; early++) {
          try {
            return await temporal.client.workflow.getHandle(workflowId, handle.signaledRunId).query(incidentStateQuery);
          } catch (err) {
            // A server may refuse a query until the run's first workflow task is done.
            const code = err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause.code : undefined;
            if (code !== GRPC_FAILED_PRECONDITION || early >= 20) throw err;
            await new Promise((r) => setTimeout(r, 20 * early));
          }
        }
      });
      if (state.status !== 'resolved') {
        const deadline = Date.now() + UPDATE_DEADLINE_MS;
        for (let wait = 5; !(await findIncident(db, state.id, input.tenantId)); wait = Math.min(wait * 2, 200)) {
          if (Date.now() > deadline) throw unconfirmed('trigger');
          await new Promise((r) => setTimeout(r, wait));
        }
        return { id: state.id, status: state.status };
      }
      if (attempt >= 20) throw unconfirmed('trigger');
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }

  /** A trigger that opens a new incident takes a turn of the tenant's critical rate; a join does not. */
  async function trigger(input: IncidentInput, workflowId: string): Promise<{ result: { id: string; status: string }; headers: Record<string, string> }> {
    const joined = input.dedupKey !== null && (await joinOpen(input, workflowId));
    if (joined) return { result: joined, headers: {} };
    return withCriticalTurn(critical, input.tenantId, true, () => startOrJoin(input, workflowId), (answer) => answer.id === input.incidentId);
  }

  const triggerRoute = createRoute({
    method: 'post',
    path: '/',
    summary: 'Trigger an incident',
    description:
      'While an incident with the same `dedupKey` is open, the trigger joins it and answers its id. A trigger that opens a new incident takes a turn of the tenant’s critical rate: past it, 429 `critical_rate_exceeded`.',
    security: security.tenant,
    request: { body: jsonBody(IncidentBody) },
    responses: { 202: json(Triggered, 'Triggered, or joined to the open incident'), ...tenantProblems() },
  });
  app.openapi(triggerRoute, async (c) => {
    const tenantId = c.get('tenantId');
    const body = c.req.valid('json');
    const policy = await findPolicy(db, tenantId, body.policy);
    if (!policy) throw badRequest(`Escalation policy ${body.policy} does not exist`, [{ path: 'policy', message: 'unknown escalation policy' }]);
    const id = newId('inc', now());
    const input: IncidentInput = {
      tenantId,
      incidentId: id,
      policy: { key: policy.key, steps: policy.steps, repeat: policy.repeat },
      summary: body.summary,
      severity: body.severity,
      dedupKey: body.dedupKey ?? null,
      details: body.details ?? null,
      ...(deps.incidentTuning?.maxHistoryEvents ? { maxHistoryEvents: deps.incidentTuning.maxHistoryEvents } : {}),
    };
    const { result: answer, headers } = await trigger(input, workflowIds.incident(tenantId, body.dedupKey ?? id));
    return c.json({ id: answer.id, status: answer.status as IncidentStatus }, 202, headers);
  });

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'An incident with its timeline',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(IncidentView, 'The incident'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await loadIncident(db, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  const action = (path: string, summary: string, body: z.ZodType, required: boolean) =>
    createRoute({
      method: 'post',
      path,
      summary,
      security: security.tenant,
      request: { params: IdParam, body: jsonBody(body, required) },
      responses: { 200: json(IncidentView, 'The incident as the action left it'), ...tenantProblems(409) },
    });
  const ByRequired = z.object({ by: Actor }).strict();
  const ByOptional = z.object({ by: Actor.optional() }).strict();

  /** Sends an update and answers the incident as the update left it (the escalation may move on at once). */
  async function act(tenantId: string, id: string, what: string, send: (handle: WorkflowHandle) => Promise<IncidentState>) {
    const row = await findIncident(db, id, tenantId);
    if (!row) throw notFound('Incident');
    if (row.status === 'resolved') throw conflict('The incident is already resolved');
    const handle = temporal.client.workflow.getHandle(row.workflowId);
    let state: IncidentState;
    try {
      state = await withinDeadline(temporal.client, UPDATE_DEADLINE_MS, what, () => send(handle));
    } catch (err) {
      const rejected = rejectionOf(err);
      if (rejected) throw conflict(rejected.type === IncidentRejection.OtherIncident ? 'The incident is already resolved' : rejected.message);
      // The workflow may have closed in the meantime (resolved).
      const after = await findIncident(db, id, tenantId);
      if (after?.status === 'resolved') throw conflict('The incident is already resolved');
      throw err;
    }
    return loadIncident(db, tenantId, id, state);
  }

  app.openapi(action('/{id}/acknowledge', 'Acknowledge: stops every pending page', ByRequired, true), async (c) => {
    const { by } = c.req.valid('json') as z.infer<typeof ByRequired>;
    const { id } = c.req.valid('param');
    return c.json(await act(c.get('tenantId'), id, 'acknowledgement', (h) => h.executeUpdate(acknowledgeIncidentUpdate, { args: [{ incidentId: id, by }] })), 200);
  });

  /** Not in the v1 contract yet: back to `triggered`, escalating again from the first step. */
  app.openapi(action('/{id}/unacknowledge', 'Unacknowledge: escalation restarts from the first step', ByOptional, false), async (c) => {
    const { by } = c.req.valid('json') as z.infer<typeof ByOptional>;
    const { id } = c.req.valid('param');
    return c.json(await act(c.get('tenantId'), id, 'unacknowledgement', (h) => h.executeUpdate(unacknowledgeIncidentUpdate, { args: [{ incidentId: id, by }] })), 200);
  });

  app.openapi(action('/{id}/resolve', 'Resolve: pages are resolved, Slack messages updated', ByOptional, false), async (c) => {
    const { by } = c.req.valid('json') as z.infer<typeof ByOptional>;
    const { id } = c.req.valid('param');
    return c.json(await act(c.get('tenantId'), id, 'resolution', (h) => h.executeUpdate(resolveIncidentUpdate, { args: [{ incidentId: id, by }] })), 200);
  });

  return app;
}
