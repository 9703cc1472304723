// How workflows start notification and broadcast workflows as children: abandoned, so they
// outlive the run that started them (which continues as new or completes), and never run twice
// under one id, as when the API starts them.
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { ParentClosePolicy, workflowInfo, type ChildWorkflowOptions } from '@temporalio/workflow';
import { broadcastPriority, notificationPriority } from '../domain/priority.js';
import type { NotificationInput } from '../domain/types.js';
import { broadcastSearchAttributes, notificationSearchAttributes, workflowIds } from '../domain/workflow-ids.js';
import { type BroadcastInput } from '../domain/broadcast.js';

const detached = {
  parentClosePolicy: ParentClosePolicy.ABANDON,
  workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
} satisfies ChildWorkflowOptions;

/**
 * Priority (README: "Priority and fairness"): a broadcast's recipients go in the bulk lane, any
 * other child in its own priority's; the fairness weight is inherited from the parent.
 */
export function notificationChild(input: NotificationInput) {
  return {
    ...detached,
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    args: [input] as [NotificationInput],
    typedSearchAttributes: notificationSearchAttributes(input),
    priority: notificationPriority(input, { bulk: workflowInfo().workflowType.startsWith('broadcast') }),
  } satisfies ChildWorkflowOptions & { args: unknown[] };
}

export function broadcastChild(input: BroadcastInput) {
  return {
    ...detached,
    workflowId: workflowIds.broadcast(input.tenantId, input.broadcastId),
    args: [input] as [BroadcastInput],
    typedSearchAttributes: broadcastSearchAttributes(input),
    priority: broadcastPriority(input),
  } satisfies ChildWorkflowOptions & { args: unknown[] };
}
