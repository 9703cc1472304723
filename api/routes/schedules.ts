// Recurring sends as Temporal Schedules: the schedule is the record (visible and controllable
// in the Temporal UI); each run starts `scheduledSendWorkflow` with the stored request.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowFailedError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleSpec,
} from '@temporalio/client';
import { createRoute, z } from '@hono/zod-openapi';
import { SA, workflowIds } from '../../domain/workflow-ids.js';
import { type ScheduledRun, type ScheduledRunResult } from '../../domain/schedules.js';
import { prefixErrors, prepareNotification } from '../../usecases/accept.js';
import { prepareBroadcast } from '../../usecases/broadcasts.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest, notFound } from '../problem.js';
import { ScheduleBody, ScheduleId, type ScheduleRequest } from '../../usecases/schemas.js';

const IdParam = z.object({ scheduleId: ScheduleId });
const ScheduleView = z
  .object({
    id: z.string(),
    cron: z.string().optional(),
    everySeconds: z.number().int().optional(),
    timezone: z.string(),
    notification: z.record(z.string(), z.unknown()).optional(),
    broadcast: z.record(z.string(), z.unknown()).optional(),
    paused: z.boolean(),
    note: z.string().nullable(),
    nextRunAt: Timestamp.nullable(),
    recentRuns: z.array(
      z.object({
        scheduledAt: Timestamp,
        startedAt: Timestamp,
        workflowId: z.string(),
        status: z.string().openapi({ description: '`completed`, `failed`, `running`, …' }),
        notificationId: z.string().optional(),
        broadcastId: z.string().optional(),
        error: z.string().optional(),
      }),
    ),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Schedule');
/**
 * A run due while the previous one still runs is skipped: runs never overlap and never pile up
 * (ScheduleBody also keeps a schedule to at most one run a minute).
 */
const OVERLAP = ScheduleOverlapPolicy.SKIP;
/** Runs missed while the service was down are taken when it returns, if no older than this. */
const CATCHUP_WINDOW = '1 hour';
const RECENT_RUNS = 10;

function scheduleOptions(run: ScheduledRun, body: ScheduleRequest, taskQueue: string) {
  const { tenantId, scheduleId } = run;
  return {
    scheduleId: workflowIds.schedule(tenantId, scheduleId),
    spec: (body.cron !== undefined
      ? { cronExpressions: [body.cron], timezone: body.timezone }
      : { intervals: [{ every: body.everySeconds! * 1000 }], timezone: body.timezone }) satisfies ScheduleSpec,
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'scheduledSendWorkflow',
      workflowId: workflowIds.scheduledRun(tenantId, scheduleId),
      taskQueue,
      args: [run],
      typedSearchAttributes: [
        { key: SA.tenant, value: tenantId },
        { key: SA.kind, value: 'scheduled' },
      ],
    },
    policies: { overlap: OVERLAP, catchupWindow: CATCHUP_WINDOW },
    state: { paused: body.paused, note: body.note },
    typedSearchAttributes: [
      { key: SA.tenant, value: tenantId },
      { key: SA.kind, value: 'schedule' },
    ],
  } satisfies ScheduleOptions;
}

/** The outcome of one of a schedule's runs: what it accepted, or why it failed. */
async function runOutcome(client: Client, workflowId: string, runId: string) {
  const handle = client.workflow.getHandle<() => Promise<ScheduledRunResult>>(workflowId, runId);
  try {
    const { status } = await handle.describe();
    if (status.name !== 'COMPLETED' && status.name !== 'FAILED') return { status: status.name.toLowerCase() };
    return { status: 'completed', ...(await handle.result()) };
  } catch (err) {
    if (err instanceof WorkflowFailedError) return { status: 'failed', error: err.cause?.message ?? err.message };
    return { status: 'unknown' };
  }
}

async function present(client: Client, scheduleId: string, d: ScheduleDescription) {
  const run = (d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as ScheduledRun | undefined;
  const recent = d.info.recentActions.slice(-RECENT_RUNS).reverse();
  return {
    id: scheduleId,
    ...(run?.cron !== undefined ? { cron: run.cron } : { everySeconds: run?.everySeconds }),
    timezone: run?.timezone ?? 'UTC',
    ...(run?.notification ? { notification: run.notification } : { broadcast: run?.broadcast }),
    paused: d.state.paused,
    note: d.state.note ?? null,
    nextRunAt: d.state.paused ? null : (d.info.nextActionTimes[0]?.toISOString() ?? null),
    recentRuns: await Promise.all(
      recent.map(async (a) => ({
        scheduledAt: a.scheduledAt.toISOString(),
        startedAt: a.takenAt.toISOString(),
        workflowId: a.action.workflow.workflowId,
        ...(await runOutcome(client, a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId)),
      })),
    ),
    createdAt: d.info.createdAt.toISOString(),
    updatedAt: d.info.lastUpdatedAt?.toISOString() ?? d.info.createdAt.toISOString(),
  };
}

/**
 * The Temporal server refused the spec (a cron it cannot parse): the client's mistake. The
 * SDK reports an invalid spec as a TypeError; other refusals as INVALID_ARGUMENT.
 */
function isInvalidSpec(err: unknown): boolean {
  if (err instanceof TypeError) return true;
  for (let e: any = err; e; e = e.cause) if (e.code === 3 /* INVALID_ARGUMENT */) return true;
  return false;
}

export function scheduleRoutes(deps: AppDeps) {
  const { db, temporal } = deps;
  const client = temporal.client;
  const app = router<Env>();
  const handleOf = (tenantId: string, scheduleId: string) => client.schedule.getHandle(workflowIds.schedule(tenantId, scheduleId));
  /** Temporal's answer, or 404 for a schedule this tenant does not have. */
  const describe = async (tenantId: string, scheduleId: string) => {
    try {
      return await handleOf(tenantId, scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound('Schedule');
      throw err;
    }
  };

  const put = createRoute({
    method: 'put',
    path: '/{scheduleId}',
    summary: 'Create or replace a recurring schedule (a Temporal Schedule)',
    description: 'Give either `cron` or `everySeconds`, and either `notification` or `broadcast`; each run is accepted like the POST it names.',
    security: security.tenant,
    request: { params: IdParam, body: jsonBody(ScheduleBody) },
    responses: { 200: json(ScheduleView, 'The schedule'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    const tenantId = c.get('tenantId');
    const { scheduleId } = c.req.valid('param');
    const body = c.req.valid('json');
    // Each run will be accepted like a POST: refuse now what would fail then.
    try {
      if (body.notification) await prepareNotification(db, tenantId, body.notification, { id: 'validation', retry: deps.retry });
      if (body.broadcast) await prepareBroadcast(db, tenantId, body.broadcast);
    } catch (err) {
      throw prefixErrors(err, body.notification ? 'notification' : 'broadcast');
    }
    const run: ScheduledRun = {
      tenantId,
      scheduleId,
      ...(body.cron !== undefined ? { cron: body.cron } : { everySeconds: body.everySeconds }),
      timezone: body.timezone,
      ...(body.notification ? { notification: body.notification } : { broadcast: body.broadcast }),
      retry: deps.retry,
    };
    const options = scheduleOptions(run, body, temporal.taskQueue);
    try {
      try {
        await client.schedule.create(options);
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        // Replace: everything the PUT names, nothing of the old definition.
        await handleOf(tenantId, scheduleId).update((prev) => ({
          ...prev,
          spec: options.spec,
          action: options.action,
          policies: options.policies,
          state: { ...prev.state, paused: body.paused, note: body.note },
        }));
      }
    } catch (err) {
      if (isInvalidSpec(err))
        throw badRequest(`Temporal refused the schedule: ${(err as Error).message}`, [{ path: body.cron !== undefined ? 'cron' : 'everySeconds', message: 'invalid schedule' }]);
      throw err;
    }
    return c.json(await present(client, scheduleId, await describe(tenantId, scheduleId)), 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/{scheduleId}',
    summary: 'A schedule with nextRunAt and recentRuns',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(ScheduleView, 'The schedule'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    const { scheduleId } = c.req.valid('param');
    return c.json(await present(client, scheduleId, await describe(c.get('tenantId'), scheduleId)), 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/{scheduleId}',
    summary: 'Delete a schedule',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    const tenantId = c.get('tenantId');
    const { scheduleId } = c.req.valid('param');
    try {
      await handleOf(tenantId, scheduleId).delete();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound('Schedule');
      throw err;
    }
    return c.body(null, 204);
  });

  const trigger = createRoute({
    method: 'post',
    path: '/{scheduleId}/trigger',
    summary: 'Run a schedule now',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 202: json(z.object({ id: z.string(), triggered: z.literal(true) }), 'A run was started'), ...tenantProblems() },
  });
  app.openapi(trigger, async (c) => {
    const tenantId = c.get('tenantId');
    const { scheduleId } = c.req.valid('param');
    await describe(tenantId, scheduleId);
    await handleOf(tenantId, scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    return c.json({ id: scheduleId, triggered: true as const }, 202);
  });

  return app;
}
