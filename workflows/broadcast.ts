// A broadcast: one ordinary notification workflow per recipient (so preferences and quiet
// hours apply to each), started page by page as abandoned children with bounded in-flight
// work, continuing as new so that the history stays bounded at 100,000 recipients. Progress
// lives in the notifications' rows; cancel stops the pages and every notification not yet sent.
import {
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { BroadcastStart } from '../activities/fanout.js';
import type { NotificationInput } from '../domain/types.js';
import {
  broadcastProgressQuery,
  cancelBroadcastUpdate,
  cancelNotificationSignal,
  notificationSearchAttributes,
  workflowIds,
  type BroadcastInput,
  type BroadcastProgress,
} from './messages.js';
import type { notificationWorkflow } from './notification.js';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Children started (or signalled) in one workflow task: bounds the task's size. */
const BATCH = 100;
/** History events after which a run continues as new (each page adds about two per recipient). */
const MAX_HISTORY = 4000;
const CANCEL_PAGE = 500;

export async function broadcastWorkflow(
  input: BroadcastInput,
  progress: BroadcastProgress = { phase: 'sending', nextSeq: 0, started: 0, cancelRequested: false, cancelAfter: null },
): Promise<BroadcastProgress> {
  const p = progress;
  setHandler(broadcastProgressQuery, () => ({ ...p, total: input.total }));
  setHandler(
    cancelBroadcastUpdate,
    async () => {
      p.cancelRequested = true;
      // Answer once no further recipient will be started and the broadcast reads cancelled.
      await condition(() => p.phase === 'cancelling' || p.phase === 'done');
      return { status: 'cancelled' as const };
    },
    {
      validator: () => {
        if (p.phase === 'done' && !p.cancelRequested)
          throw ApplicationFailure.create({ type: 'already_finished', message: 'The broadcast has already completed' });
      },
    },
  );

  const continueIfLong = async () => {
    // A cancel being answered waits for the phase to change: this run changes it first.
    if (p.cancelRequested && p.phase !== 'cancelling') return;
    const info = workflowInfo();
    if (info.historyLength >= MAX_HISTORY || info.continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof broadcastWorkflow>(input, p);
    }
  };

  // 1. Pages: write the page's notifications, start their workflows, wait while too many are in flight.
  while (p.phase === 'sending' && !p.cancelRequested && p.nextSeq < input.total) {
    const page = await acts.prepareBroadcastPage({ broadcast: input, fromSeq: p.nextSeq });
    for (let i = 0; i < page.start.length; i += BATCH) {
      await Promise.all(page.start.slice(i, i + BATCH).map((s) => startNotification(input, s)));
    }
    p.started += page.start.length;
    p.nextSeq = page.nextSeq;
    // Backpressure: the next page waits until the notifications in flight drain below the bound.
    for (let wait = 1; !p.cancelRequested; wait = Math.min(wait * 2, 30)) {
      const inFlight = await acts.countBroadcastNotifications({ broadcastId: input.broadcastId, statuses: ['accepted', 'sending'] });
      if (inFlight < input.maxInFlight) break;
      await condition(() => p.cancelRequested, wait * 1000);
    }
    await continueIfLong();
  }
  if (p.phase === 'sending') {
    if (p.cancelRequested) await acts.setBroadcastStatus({ broadcastId: input.broadcastId, status: 'cancelled' });
    p.phase = p.cancelRequested ? 'cancelling' : 'finishing';
  }

  // 2. Until every notification has finished (quiet hours may hold some for hours); a cancel
  //    may still come.
  for (let wait = 1; p.phase === 'finishing'; wait = Math.min(wait * 2, 60)) {
    const open = await acts.countBroadcastNotifications({ broadcastId: input.broadcastId });
    if (open === 0) {
      await acts.setBroadcastStatus({ broadcastId: input.broadcastId, status: 'completed' });
      p.phase = 'done';
      break;
    }
    if (await condition(() => p.cancelRequested, wait * 1000)) {
      await acts.setBroadcastStatus({ broadcastId: input.broadcastId, status: 'cancelled' });
      p.phase = 'cancelling';
    }
    await continueIfLong();
  }

  // 3. Cancel: signal each unfinished notification; those never started are cancelled in place.
  while (p.phase === 'cancelling') {
    const ids = await acts.openBroadcastNotifications({ broadcastId: input.broadcastId, afterId: p.cancelAfter, limit: CANCEL_PAGE });
    if (ids.length === 0) {
      p.phase = 'done';
      break;
    }
    const unstarted: string[] = [];
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const results = await Promise.allSettled(
        batch.map((id) => getExternalWorkflowHandle(workflowIds.notification(input.tenantId, id)).signal(cancelNotificationSignal)),
      );
      results.forEach((r, j) => r.status === 'rejected' && unstarted.push(batch[j]));
    }
    await acts.cancelUnstartedNotifications({ ids: unstarted });
    p.cancelAfter = ids[ids.length - 1];
    await continueIfLong();
  }

  await condition(allHandlersFinished);
  return p;
}

async function startNotification(b: BroadcastInput, s: BroadcastStart): Promise<void> {
  const input: NotificationInput = {
    tenantId: b.tenantId,
    notificationId: s.notificationId,
    recipientId: s.recipientId,
    template: b.template,
    data: b.data,
    channels: s.channels,
    strategy: 'all',
    category: b.category,
    priority: b.priority,
    sendAt: null,
    retry: b.retry,
    throttle: null,
  };
  try {
    await startChild<typeof notificationWorkflow>('notificationWorkflow', {
      workflowId: workflowIds.notification(b.tenantId, s.notificationId),
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: notificationSearchAttributes(input),
    });
  } catch (err) {
    // Started by an earlier attempt of this page (a retried activity or a reset): nothing to do.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
