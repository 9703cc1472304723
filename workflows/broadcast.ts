// A broadcast: one ordinary notification workflow per recipient (so preferences and quiet
// hours apply to each), started page by page as abandoned children with bounded in-flight
// work, continuing as new so that the history stays bounded at 100,000 recipients. Progress
// lives in the notifications' rows; cancel stops the pages and every notification not yet sent.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { BroadcastStart } from '../activities/fanout.js';
import type { NotificationInput, NotificationStatus } from '../domain/types.js';
import { broadcastProgressQuery, cancelBroadcastSignal, cancelNotificationSignal } from '../domain/workflow-messages.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { type BroadcastInput, type BroadcastProgress } from '../domain/broadcast.js';
import { notificationChild } from './children.js';
import type { notificationWorkflow } from './notification.js';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  // Bounded: through a database outage of up to a day, never forever.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Children started (or signalled) in one workflow task: bounds the task's size. */
const BATCH = 100;
/** History events after which a waiting or cancelling run continues as new. */
const MAX_HISTORY = 4000;
const CANCEL_PAGE = 500;
export const IN_FLIGHT: NotificationStatus[] = ['accepted', 'sending'];

export async function broadcastWorkflow(
  input: BroadcastInput,
  progress: BroadcastProgress = firstRun(),
): Promise<BroadcastProgress> {
  const p = progress;

  const { whileAbove, continueNow, finish } = broadcastRun(input, p);

  // 1. Pages: wait while too many notifications are in flight, write the next page's
  //    notifications, start their workflows, and continue as new: the children report their
  //    completion to a run that is still open, and a new run spares itself those events.
  while (p.phase === 'sending' && !p.cancelRequested && p.nextSeq < input.total) {
    if (p.nextSeq > 0) await whileAbove(() => acts.countBroadcastNotifications({ broadcastId: input.broadcastId, statuses: IN_FLIGHT }), input.maxInFlight - 1);
    if (p.cancelRequested) break;
    const page = await acts.prepareBroadcastPage({ broadcast: input, fromSeq: p.nextSeq });
    await startNotifications(input, page.start);
    p.started += page.start.length;
    p.nextSeq = page.nextSeq;
    await continueNow();
  }
  return finish();
}

/**
 * What every broadcast run shares (this workflow and broadcastBatchWorkflow): waiting on its
 * notifications' counts, continuing as new (as the current workflow type), and the end: until
 * every notification has finished, then cancel. Moving code here changed no command.
 */
/** A broadcast's progress when its first run starts (a fresh object: runs mutate it). */
export const firstRun = (): BroadcastProgress => ({ phase: 'sending', nextSeq: 0, started: 0, cancelRequested: false, cancelAfter: null });

/**
 * What both broadcast workflows share: the progress query, the cancel signal, and the waiting,
 * continuing and finishing steps over progress `p`.
 */
export function broadcastRun(input: BroadcastInput, p: BroadcastProgress) {
  setHandler(broadcastProgressQuery, () => ({ ...p, total: input.total }));
  setHandler(cancelBroadcastSignal, () => {
    p.cancelRequested = true;
  });
  /**
   * Polls `measure` until it is at most `bound` or a cancel comes: every second while it
   * falls, backing off to a minute while it stands still (notifications held for hours).
   */
  const whileAbove = async (measure: () => Promise<number>, bound: number) => {
    let last = Infinity;
    for (let wait = 1; !p.cancelRequested; ) {
      const n = await measure();
      if (n <= bound) return;
      wait = n < last ? 1 : Math.min(wait * 2, 60);
      last = n;
      await condition(() => p.cancelRequested, wait * 1000);
      await continueIfLong();
    }
  };

  const continueNow = async () => {
    await condition(allHandlersFinished);
    await continueAsNew<typeof broadcastWorkflow>(input, p);
  };
  const continueIfLong = async () => {
    const info = workflowInfo();
    if (info.historyLength >= MAX_HISTORY || info.continueAsNewSuggested) await continueNow();
  };

  const finish = async (): Promise<BroadcastProgress> => {
    // Here the run started no page: it is the parent of no notification.
    if (p.phase === 'sending') {
      p.phase = p.cancelRequested ? 'cancelling' : 'finishing';
      if (p.cancelRequested) await acts.setBroadcastStatus({ broadcastId: input.broadcastId, status: 'cancelled' });
    }

    // 2. Until every notification has finished (quiet hours may hold some for hours); a cancel
    //    may still come.
    if (p.phase === 'finishing') {
      await whileAbove(() => acts.countBroadcastNotifications({ broadcastId: input.broadcastId }), 0);
      await acts.setBroadcastStatus({ broadcastId: input.broadcastId, status: p.cancelRequested ? 'cancelled' : 'completed' });
      p.phase = p.cancelRequested ? 'cancelling' : 'done';
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
  };
  return { whileAbove, continueNow, continueIfLong, finish };
}

/** Starts the notification workflows of a page's recipients, BATCH per workflow task. */
export async function startNotifications(b: BroadcastInput, starts: BroadcastStart[]): Promise<void> {
  for (let i = 0; i < starts.length; i += BATCH) {
    await Promise.all(starts.slice(i, i + BATCH).map((s) => startNotification(b, s)));
  }
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
    await startChild<typeof notificationWorkflow>('notificationWorkflow', notificationChild(input));
  } catch (err) {
    // Started (or run) already, by an earlier attempt at this page (a reset): never twice.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
