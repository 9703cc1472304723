// Erasing a recipient (usecases/erasure.ts): the person's rows went when it was asked for; this
// run stops what still runs for them and deletes the histories and rows of their notifications,
// a page per activity. Its own history holds the tenant's and recipient's ids only.
import { proxyActivities } from '@temporalio/workflow';
import type { ErasureActivities, ErasureInput } from '../activities/erasure.js';

const retry = { initialInterval: '1 second', maximumInterval: '1 minute' } as const;
const { cancelRecipientNotifications, deleteRecipientNotifications, finishRecipientErasure } = proxyActivities<ErasureActivities>({ startToCloseTimeout: '5 minutes', retry });
/** The list of runs may be long: it beats per run deleted. */
const { deleteListedRuns } = proxyActivities<ErasureActivities>({ startToCloseTimeout: '1 hour', heartbeatTimeout: '1 minute', retry });

/** Bounds the cancel passes: a notification that will not cancel is stopped by its history's deletion. */
const CANCEL_PASSES = 20;

export async function erasureWorkflow(input: ErasureInput): Promise<void> {
  for (let pass = 0; pass < CANCEL_PASSES && (await cancelRecipientNotifications(input)) > 0; pass++);
  while ((await deleteRecipientNotifications(input)) > 0);
  await deleteListedRuns(input);
  await finishRecipientErasure(input);
}
