// Build B of the rolling deploy (scripts/rolling-deploy.ts): every workflow of workflows/index.ts,
// with one change to the notification workflow behind patched(), as a real change must be (its
// runs are AUTO_UPGRADE: runs begun on build A continue on B at their next workflow task). After
// the original code returns, B records that it finished the run in the memo (`finishedBy: "B"`);
// the patch marker keeps the change out of any replay of a history that lacks it.
import type { VersioningBehavior } from '@temporalio/common';
import { patched, setWorkflowOptions, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { notificationWorkflow as original } from '../../workflows/index.js';

export {
  incidentResolutionWorkflow,
  incidentWorkflow,
  digestWorkflow,
  broadcastWorkflow,
  broadcastBatchWorkflow,
  scheduledSendWorkflow,
  erasureWorkflow,
  retentionWorkflow,
} from '../../workflows/index.js';

export async function notificationWorkflow(...args: Parameters<typeof original>): ReturnType<typeof original> {
  const result = await original(...args);
  if (patched('rolling-deploy-finished-by-b')) upsertMemo({ finishedBy: 'B' });
  return result;
}

const versioned = (versioningBehavior: VersioningBehavior) => () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {});
setWorkflowOptions(versioned('AUTO_UPGRADE'), notificationWorkflow);
