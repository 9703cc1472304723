// Erasure (GDPR Art. 17) and retention. DELETE /v1/recipients/{rid} removes the person at once
// (db/erasures.ts beginErasure) and starts an erasure workflow that cancels the recipient's
// running notifications, deletes the Temporal histories of every run that carried their data
// (notifications and digests: the histories are gone, not only encrypted) and then the
// notifications' rows. The workflow's own history holds ids only.
import { ScheduleAlreadyRunning, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { beginErasure, deleteNotifications, finishErasure, notificationsOfRecipient, runningNotificationsOf } from '../db/erasures.js';
import { purgeExpired } from '../db/retention.js';
import { missing, RequestError } from '../domain/errors.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { cancelNotification } from './notifications.js';
import type { TemporalDeps } from './temporal.js';

export interface ErasureInput {
  tenantId: string;
  recipientId: string;
}

/** Removes the recipient now and starts (or joins) the erasure of the rest: 404 when there is nothing to erase. */
export async function requestErasure(deps: { db: Db; temporal: TemporalDeps }, tenantId: string, recipientId: string): Promise<{ status: 'erasing' }> {
  if (!(await beginErasure(deps.db, tenantId, recipientId))) throw missing('Recipient');
  // Started after the transaction: if this start fails, asking again finds the unfinished
  // erasure and starts it then.
  await deps.temporal.client.workflow.start('erasureWorkflow', {
    taskQueue: deps.temporal.taskQueue,
    workflowId: workflowIds.erasure(tenantId, recipientId),
    args: [{ tenantId, recipientId } satisfies ErasureInput],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
  return { status: 'erasing' };
}

const PAGE = 200;

/** Cancels up to a page of the recipient's running notifications: answers how many were left running before. */
export async function cancelRecipientNotifications(deps: { db: Db; temporal: TemporalDeps }, input: ErasureInput): Promise<number> {
  const running = await runningNotificationsOf(deps.db, input.tenantId, input.recipientId, PAGE);
  for (const n of running) {
    try {
      await cancelNotification(deps, input.tenantId, n.id);
    } catch (err) {
      // Finished meanwhile (409) or gone (404): nothing left to stop.
      if (!(err instanceof RequestError)) throw err;
    }
  }
  return running.length;
}

/** Deletes a Temporal execution's history (all its runs): false when it was gone already. */
async function deleteHistory(client: Client, namespace: string, workflowId: string): Promise<boolean> {
  try {
    await client.workflowService.deleteWorkflowExecution({ namespace, workflowExecution: { workflowId } });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 5 /* NOT_FOUND */ || err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Deletes the histories and rows of a page of the recipient's notifications: answers how many went, 0 when none is left. */
export async function deleteRecipientNotifications(deps: { db: Db; client: Client; namespace: string }, input: ErasureInput): Promise<number> {
  const rows = await notificationsOfRecipient(deps.db, input.tenantId, input.recipientId, PAGE);
  for (const row of rows) await deleteHistory(deps.client, deps.namespace, row.workflowId);
  await deleteNotifications(deps.db, input.tenantId, rows.map((r) => r.id));
  return rows.length;
}

/**
 * Deletes every run that the search attributes name as the recipient's (digests, and any
 * notification whose row never landed), in one pass over the list: visibility shows a deleted
 * run for a moment after, so the list is not read again. `beat` is called per run (heartbeats).
 */
export async function deleteListedRuns(deps: { client: Client; namespace: string }, input: ErasureInput, beat: () => void = () => {}): Promise<number> {
  const query = `${SA.tenant.name} = ${JSON.stringify(input.tenantId)} AND ${SA.recipient.name} = ${JSON.stringify(input.recipientId)}`;
  let deleted = 0;
  for await (const run of deps.client.workflow.list({ query, pageSize: PAGE })) {
    if (await deleteHistory(deps.client, deps.namespace, run.workflowId)) deleted++;
    beat();
  }
  return deleted;
}

export async function finishRecipientErasure(db: Db, input: ErasureInput): Promise<void> {
  await finishErasure(db, input.tenantId, input.recipientId);
}

const RETENTION_BATCH = 5_000;

/** One bounded pass of retention: answers whether more is left for another pass. */
export async function purgeOnce(db: Db, days: number): Promise<{ deleted: number; more: boolean }> {
  const counts = await purgeExpired(db, days, RETENTION_BATCH);
  const values = Object.values(counts);
  return { deleted: values.reduce((a, b) => a + b, 0), more: values.some((n) => n >= RETENTION_BATCH) };
}

/**
 * The daily retention pass as a Temporal Schedule (once a day at 03:17 UTC), created by the
 * first worker that starts and brought in line with RETENTION_DAYS by every later one.
 */
export async function ensureRetentionSchedule(client: Client, opts: { taskQueue: string; days: number }): Promise<void> {
  const scheduleId = workflowIds.retentionSchedule(opts.taskQueue);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'retentionWorkflow',
    workflowId: `tocsin-retention:${opts.taskQueue}`,
    taskQueue: opts.taskQueue,
    args: [{ days: opts.days }],
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { calendars: [{ hour: 3, minute: 17, comment: 'daily retention pass' }] },
      action,
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, action }));
  }
}
