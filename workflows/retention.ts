// The daily retention pass (RETENTION_DAYS), started by a Temporal Schedule that the worker
// keeps (runtime/index.ts): bounded deletes until nothing older than the limit is left.
import { proxyActivities } from '@temporalio/workflow';
import type { ErasureActivities } from '../activities/erasure.js';

const { purgeExpired } = proxyActivities<ErasureActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
});

/** Passes at most: a backlog larger than this many batches is finished by the next day's run. */
const MAX_PASSES = 500;

export async function retentionWorkflow(input: { days: number }): Promise<{ deleted: number }> {
  let deleted = 0;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const result = await purgeExpired(input);
    deleted += result.deleted;
    if (!result.more) break;
  }
  return { deleted };
}
