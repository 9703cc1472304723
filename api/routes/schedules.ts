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
import { Hono } from 'hono';
import { z } from 'zod';
import { SA, workflowIds } from '../../domain/workflow-ids.js';
import { type ScheduledRun, type ScheduledRunResult } from '../../domain/schedules.js';
import { prefixErrors, prepareBroadcast, prepareNotification } from '../../usecases/accept.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest, notFound } from '../problem.js';
import { ScheduleBody, ScheduleId, type ScheduleRequest } from '../../usecases/schemas.js';
import { validate } from '../validate.js';

const IdParam = z.object({ scheduleId: ScheduleId });
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
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: CATCHUP_WINDOW },
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
  const app = new Hono<Env>();
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

  app.put('/:scheduleId', validate('param', IdParam), validate('json', ScheduleBody), async (c) => {
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
    return c.json(await present(client, scheduleId, await describe(tenantId, scheduleId)));
  });

  app.get('/:scheduleId', validate('param', IdParam), async (c) => {
    const { scheduleId } = c.req.valid('param');
    return c.json(await present(client, scheduleId, await describe(c.get('tenantId'), scheduleId)));
  });

  app.delete('/:scheduleId', validate('param', IdParam), async (c) => {
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

  app.post('/:scheduleId/trigger', validate('param', IdParam), async (c) => {
    const tenantId = c.get('tenantId');
    const { scheduleId } = c.req.valid('param');
    await describe(tenantId, scheduleId);
    await handleOf(tenantId, scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    return c.json({ id: scheduleId, triggered: true }, 202);
  });

  return app;
}
