// One run of a schedule (a Temporal Schedule starts it): accepts the stored notification or
// broadcast request as the API would, then starts its workflow and leaves it to run.
import { patched, proxyActivities, startChild, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { timeOrderedId } from '../domain/ids.js';
import { broadcastChild, notificationChild } from './children.js';
import type { ScheduledRun, ScheduledRunResult } from '../domain/schedules.js';
import type { broadcastWorkflow } from './broadcast.js';
import type { broadcastBatchWorkflow } from './broadcast-batch.js';
import type { notificationWorkflow } from './notification.js';

const { acceptScheduledNotification, acceptScheduledBroadcast } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function scheduledSendWorkflow(run: ScheduledRun): Promise<ScheduledRunResult> {
  // Made here, deterministically, so a retried acceptance writes the same rows.
  const random = uuid4().replace(/-/g, '').slice(0, 16);
  if (run.notification) {
    const input = await acceptScheduledNotification({ run, notificationId: timeOrderedId('ntf', Date.now(), random) });
    await startChild<typeof notificationWorkflow>('notificationWorkflow', notificationChild(input));
    return { notificationId: input.notificationId };
  }
  const input = await acceptScheduledBroadcast({ run, broadcastId: timeOrderedId('bc', Date.now(), random) });
  // Runs begun before batches start the per-recipient broadcast they started then.
  if (patched('broadcast-batches')) await startChild<typeof broadcastBatchWorkflow>('broadcastBatchWorkflow', broadcastChild(input));
  else await startChild<typeof broadcastWorkflow>('broadcastWorkflow', broadcastChild(input));
  return { broadcastId: input.broadcastId };
}
