// Recurring sends as Temporal Schedules: the schedule is the record (visible and controllable
// in the Temporal UI); each run starts `scheduledSendWorkflow` with the stored request, which is
// accepted as the POST it names would be. Put, read, delete and run now; the API only parses.
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
import type { Db } from '../db/client.js';
import { invalidInput, missing } from '../domain/errors.js';
import type { RetrySettings } from '../domain/types.js';
import { type ScheduledRun, type ScheduledRunResult } from '../domain/schedules.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { prefixErrors, prepareNotification } from './accept.js';
import { prepareBroadcast } from './broadcasts.js';
import type { ScheduleRequest } from './schemas.js';
import type { TemporalDeps } from './temporal.js';

interface ScheduleDeps {
  db: Db;
  temporal: TemporalDeps;
  retry: RetrySettings;
}

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

/** The schedule as Temporal has it, or a 404 for a schedule this tenant does not have. */
async function describe(client: Client, tenantId: string, scheduleId: string): Promise<ScheduleDescription> {
  try {
    return await client.schedule.getHandle(workflowIds.schedule(tenantId, scheduleId)).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw missing('Schedule');
    throw err;
  }
}

/** A schedule with its next run and its recent runs' outcomes. */
export async function getSchedule(deps: ScheduleDeps, tenantId: string, scheduleId: string) {
  const { client } = deps.temporal;
  return present(client, scheduleId, await describe(client, tenantId, scheduleId));
}

export type ScheduleView = Awaited<ReturnType<typeof getSchedule>>;

/**
 * Creates or replaces a schedule. Each run will be accepted like a POST, so what would fail
 * then is refused now (400, field paths under `notification.` or `broadcast.`).
 */
export async function putSchedule(deps: ScheduleDeps, tenantId: string, scheduleId: string, body: ScheduleRequest): Promise<ScheduleView> {
  const { db, temporal } = deps;
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
      await temporal.client.schedule.create(options);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      // Replace: everything the PUT names, nothing of the old definition.
      await temporal.client.schedule.getHandle(options.scheduleId).update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: options.policies,
        state: { ...prev.state, paused: body.paused, note: body.note },
      }));
    }
  } catch (err) {
    if (isInvalidSpec(err))
      throw invalidInput(`Temporal refused the schedule: ${(err as Error).message}`, [{ path: body.cron !== undefined ? 'cron' : 'everySeconds', message: 'invalid schedule' }]);
    throw err;
  }
  return getSchedule(deps, tenantId, scheduleId);
}

export async function deleteSchedule(deps: ScheduleDeps, tenantId: string, scheduleId: string): Promise<void> {
  try {
    await deps.temporal.client.schedule.getHandle(workflowIds.schedule(tenantId, scheduleId)).delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw missing('Schedule');
    throw err;
  }
}

/** Runs a schedule now, beside any run in progress. */
export async function triggerSchedule(deps: ScheduleDeps, tenantId: string, scheduleId: string): Promise<void> {
  const { client } = deps.temporal;
  await describe(client, tenantId, scheduleId);
  await client.schedule.getHandle(workflowIds.schedule(tenantId, scheduleId)).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
}
