// Notifications after acceptance: one with its deliveries, a page newest first, and cancel
// (a Temporal update to its workflow, or to its digest's while the window is open).
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { deliveriesOf, findNotification, notificationPage, type DeliveryRow, type NotificationCursor, type NotificationRow } from '../db/notifications.js';
import { conflictWith, invalidInput, missing } from '../domain/errors.js';
import { TERMINAL_STATUSES, type Channel, type DeliveryStatus, type NotificationStatus, type Priority } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import type { StepState } from '../domain/flows.js';
import { cancelNotificationUpdate } from '../domain/workflow-messages.js';
import { cancelDigestWindow } from './digest.js';
import type { TemporalDeps } from './temporal.js';

/** A flow's step states as the API shows them (what a wait waits for stays inside). */
function presentSteps(steps: Record<string, unknown>[] | null) {
  return ((steps ?? []) as unknown as StepState[]).map((s) => ({
    id: s.id,
    type: s.type,
    status: s.status,
    ...(s.outcome !== undefined ? { outcome: s.outcome } : {}),
    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
  }));
}

function presentNotification(n: NotificationRow, ds: DeliveryRow[]) {
  return {
    id: n.id,
    recipient: n.recipientId,
    template: n.templateKey,
    templateVersion: n.templateVersion,
    category: n.category,
    priority: n.priority as Priority,
    strategy: n.strategy as 'all' | 'first-success',
    status: n.status as NotificationStatus,
    ...(n.reason ? { reason: n.reason } : {}),
    ...(n.releaseAt ? { releaseAt: n.releaseAt.toISOString() } : {}),
    sendAt: n.sendAt?.toISOString() ?? null,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
    ...(n.flowKey ? { flow: n.flowKey, flowVersion: n.flowVersion ?? undefined, steps: presentSteps(n.steps) } : {}),
    deliveries: ds
      .sort((a, b) => a.position - b.position)
      .map((d) => ({
        channel: d.channel as Channel,
        status: d.status as DeliveryStatus,
        attempts: d.attempts,
        provider: d.provider,
        providerMessageId: d.providerMessageId,
        error: d.errorCode ? { code: d.errorCode, message: d.errorMessage ?? '' } : null,
        sentAt: d.sentAt?.toISOString() ?? null,
        deliveredAt: d.deliveredAt?.toISOString() ?? null,
      })),
  };
}

export type NotificationView = ReturnType<typeof presentNotification>;

/** A notification with one entry per channel delivery. */
export async function notificationView(db: Db, tenantId: string, id: string): Promise<NotificationView> {
  const n = await findNotification(db, tenantId, id);
  if (!n) throw missing('Notification');
  return presentNotification(n, await deliveriesOf(db, [id]));
}

function encodeCursor(n: NotificationCursor): string {
  return Buffer.from(`${n.createdAt.toISOString()}|${n.id}`).toString('base64url');
}

/** A cursor this API handed out, or 400: anything else never reaches a query. */
function decodeCursor(cursor: string): NotificationCursor {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9._:-]{1,64})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const createdAt = new Date(m?.[1] ?? NaN);
  if (!m || Number.isNaN(createdAt.getTime()) || createdAt.getTime() < 0 || createdAt.toISOString() !== m[1])
    throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return { createdAt, id: m[2] };
}

/** A page of the tenant's notifications, newest first; `nextCursor` continues it. */
export async function listNotifications(
  db: Db,
  tenantId: string,
  q: { recipient?: string; status?: NotificationStatus; cursor?: string; limit: number },
): Promise<{ data: NotificationView[]; nextCursor: string | null }> {
  const rows = await notificationPage(db, tenantId, { recipientId: q.recipient, status: q.status, after: q.cursor ? decodeCursor(q.cursor) : undefined }, q.limit + 1);
  const page = rows.slice(0, q.limit);
  const ds = await deliveriesOf(db, page.map((n) => n.id));
  return {
    data: page.map((n) => presentNotification(n, ds.filter((d) => d.notificationId === n.id))),
    nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]) : null,
  };
}

/**
 * Cancels a notification: when this answers, nothing more will be sent. Idempotent for a
 * cancelled one; a conflict once it has finished otherwise.
 */
export async function cancelNotification(deps: { db: Db; temporal: TemporalDeps }, tenantId: string, id: string): Promise<{ status: 'cancelled' }> {
  const { db, temporal } = deps;
  // The row alone: a cancel needs its status, not its deliveries.
  const current = await findNotification(db, tenantId, id);
  if (!current) throw missing('Notification');
  if (TERMINAL_STATUSES.includes(current.status as NotificationStatus)) {
    if (current.status === 'cancelled') return { status: 'cancelled' };
    throw conflictWith(`The notification has already finished (${current.status})`);
  }
  // A digest whose window is still open is cancelled by its digest workflow.
  if ((await cancelDigestWindow(db, temporal, tenantId, current.id)) === 'cancelled') return { status: 'cancelled' };
  let status: NotificationStatus;
  try {
    const handle = temporal.client.workflow.getHandle(workflowIds.notification(tenantId, current.id));
    ({ status } = await handle.executeUpdate(cancelNotificationUpdate));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
      const after = await findNotification(db, tenantId, current.id);
      if (!after) throw missing('Notification');
      if (after.status === 'cancelled') return { status: 'cancelled' };
      throw conflictWith(`The notification has already finished (${after.status})`);
    }
    throw err;
  }
  if (status === 'cancelled') return { status };
  throw conflictWith(`The notification could not be cancelled: it ended ${status}`);
}
