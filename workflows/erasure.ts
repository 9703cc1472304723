// Erasing a recipient (usecases/erasure.ts): the person's rows went when it was asked for; this
// run stops what still runs for them and deletes the histories and rows of their notifications,
// a page per activity. Its own history holds the tenant's and recipient's ids only.
import { proxyActivities } from '@temporalio/workflow';
import type { ErasureActivities, ErasureInput } from '../activities/erasure.js';

const { cancelRecipientNotifications, deleteRecipientRuns, finishRecipientErasure } = proxyActivities<ErasureActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Bounds the cancel passes: a notification that will not cancel is stopped by its history's deletion. */
const CANCEL_PASSES = 20;

export async function erasureWorkflow(input: ErasureInput): Promise<void> {
  for (let pass = 0; pass < CANCEL_PASSES && (await cancelRecipientNotifications(input)) > 0; pass++);
  while ((await deleteRecipientRuns(input)) > 0);
  await finishRecipientErasure(input);
}
