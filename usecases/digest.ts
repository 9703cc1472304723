// Digests from the accepting side: joining a window through signal-with-start, and cancelling one.
import { WorkflowIdConflictPolicy, WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { findNotification } from '../db/notifications.js';
import type { DigestArrival } from '../domain/digest.js';
import { notificationPriority } from '../domain/priority.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { cancelDigestUpdate, digestArrivalQuery, digestArrivalSignal } from '../domain/workflow-messages.js';
import { type DigestJoin, type DigestWorkflowInput } from '../domain/digest.js';
import { signalWithStartThenQuery } from './signal-with-start.js';
import type { TemporalDeps } from './temporal.js';

/**
 * Adds an arrival to the digest of its recipient and key. Signal-with-start makes the join
 * atomic: the signal lands in the one running digest workflow, or starts it, so concurrent
 * arrivals can never open two windows. The run that took the signal then answers (a query,
 * consistent with the signal) which window's notification the arrival joined.
 */
export async function joinDigest(temporal: TemporalDeps, arrival: DigestArrival): Promise<DigestJoin> {
  const { tenantId, recipientId } = arrival.input;
  const workflowId = workflowIds.digest(tenantId, recipientId, arrival.digest.key);
  const start: DigestWorkflowInput = { tenantId, recipientId, key: arrival.digest.key };
  const signalWithStart = () =>
    temporal.client.workflow.signalWithStart('digestWorkflow', {
      taskQueue: temporal.taskQueue,
      workflowId,
      args: [start],
      signal: digestArrivalSignal,
      signalArgs: [arrival],
      // The server's default for signal-with-start, said out loud (the test server needs it).
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      // The window's run in the lane of the arrival that opened it.
      priority: notificationPriority(arrival.input, { weights: temporal.fairnessWeights }),
      typedSearchAttributes: [
        { key: SA.tenant, value: tenantId },
        { key: SA.recipient, value: recipientId },
        { key: SA.kind, value: 'digest' },
      ],
    });
  const join = await signalWithStartThenQuery(temporal.client, workflowId, signalWithStart, digestArrivalQuery, arrival.input.notificationId);
  if (!join) throw new Error(`digest ${workflowId} does not know arrival ${arrival.input.notificationId}`);
  return join;
}

/**
 * Cancels a digest notification whose window has not closed. `not_digest` when the
 * notification is no digest (or no longer owned by its digest workflow), `handed_off` when the
 * window closed and its notification workflow now owns the cancellation.
 */
export async function cancelDigestWindow(
  db: Db,
  temporal: TemporalDeps,
  tenantId: string,
  notificationId: string,
): Promise<'cancelled' | 'handed_off' | 'not_digest'> {
  const row = await findNotification(db, tenantId, notificationId);
  if (!row?.workflowId.startsWith('digest:')) return 'not_digest';
  try {
    const { status } = await temporal.client.workflow.getHandle(row.workflowId).executeUpdate(cancelDigestUpdate, { args: [notificationId] });
    return status;
  } catch (err) {
    // The digest workflow has finished: every window it had was handed off or cancelled.
    if (err instanceof WorkflowNotFoundError) return 'handed_off';
    throw err;
  }
}
