// A broadcast delivered in batches: one activity per page of recipients resolves their
// preferences, renders once per locale and writes every in-app recipient's notification,
// deliveries and inbox message in bulk (activities/broadcast-batch.ts). Recipients held by quiet
// hours, and those sent on other channels, get their own notification workflow as in
// broadcastWorkflow. Continues as new every few pages; progress lives in the notifications' rows;
// cancel stops every page not yet sent and every notification workflow not yet finished.
// broadcastWorkflow (one notification workflow per recipient) stays registered for its runs.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { BroadcastInput, BroadcastProgress } from '../domain/broadcast.js';
import { broadcastRun, firstRun, IN_FLIGHT, startNotifications } from './broadcast.js';

const { sendBroadcastPage } = proxyActivities<Activities>({
  // A page is a few multi-row inserts; a stuck one is retried, and resumes where it heartbeated.
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
const { countBroadcastNotifications } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Pages (that started no workflow) per run before continuing as new: each adds about six events. */
const PAGES_PER_RUN = 25;

export async function broadcastBatchWorkflow(
  input: BroadcastInput,
  progress: BroadcastProgress = firstRun(),
): Promise<BroadcastProgress> {
  const p = progress;
  const { whileAbove, continueNow, finish } = broadcastRun(input, p);

  // 1. Pages, each delivered by one activity; a cancel stops before the next page. Only the
  //    recipients with their own workflow count against the in-flight bound.
  //    A page that started notification workflows ends the run, as in broadcastWorkflow: their
  //    completions would otherwise land in this run's history.
  for (let pages = 0; p.phase === 'sending' && !p.cancelRequested && p.nextSeq < input.total; pages++) {
    if (pages >= PAGES_PER_RUN || workflowInfo().continueAsNewSuggested) await continueNow();
    if (p.started > 0) await whileAbove(() => countBroadcastNotifications({ broadcastId: input.broadcastId, statuses: IN_FLIGHT }), input.maxInFlight - 1);
    if (p.cancelRequested) break;
    const page = await sendBroadcastPage({ broadcast: input, fromSeq: p.nextSeq, at: Date.now() });
    await startNotifications(input, page.start);
    p.started += page.start.length;
    p.nextSeq = page.nextSeq;
    if (page.start.length > 0) await continueNow();
  }
  // 2 and 3, as broadcastWorkflow: wait for the held and other-channel notifications, or cancel.
  return finish();
}
