// How workflows start notification and broadcast workflows as children: abandoned, so they
// outlive the run that started them (which continues as new or completes), and never run twice
// under one id, as when the API starts them.
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { ParentClosePolicy, type ChildWorkflowOptions } from '@temporalio/workflow';
import type { NotificationInput } from '../domain/types.js';
import { broadcastSearchAttributes, notificationSearchAttributes, workflowIds, type BroadcastInput } from './messages.js';

const detached = {
  parentClosePolicy: ParentClosePolicy.ABANDON,
  workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
} satisfies ChildWorkflowOptions;

export function notificationChild(input: NotificationInput) {
  return {
    ...detached,
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    args: [input] as [NotificationInput],
    typedSearchAttributes: notificationSearchAttributes(input),
  } satisfies ChildWorkflowOptions & { args: unknown[] };
}

export function broadcastChild(input: BroadcastInput) {
  return {
    ...detached,
    workflowId: workflowIds.broadcast(input.tenantId, input.broadcastId),
    args: [input] as [BroadcastInput],
    typedSearchAttributes: broadcastSearchAttributes(input),
  } satisfies ChildWorkflowOptions & { args: unknown[] };
}
