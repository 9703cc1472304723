// One digest per tenant, recipient and key. Arrivals join by signal-with-start, so two can
// never open two windows; a window closes at its timer (from its first arrival), at `maxItems`,
// or early when its items would pass MAX_DIGEST_WINDOW_BYTES, and then one ordinary
// notification workflow sends `{items, count}`.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { MAX_DIGEST_CARRY_BYTES, MAX_DIGEST_WINDOW_BYTES, digestData, joinWindow, windowBytes, type DigestWindow } from '../domain/digest.js';
import { cancelDigestUpdate, digestArrivalQuery, digestArrivalSignal } from '../domain/workflow-messages.js';
import { type DigestJoin, type DigestWorkflowInput } from '../domain/digest.js';
import { notificationChild } from './children.js';
import type { notificationWorkflow } from './notification.js';

const { openDigestWindow, closeDigestWindow, recordStatus } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Bounded: through a database outage of up to a day, never forever.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** How long a digest with no open window waits for an arrival before it completes. */
const IDLE_BEFORE_COMPLETING = '1 minute';
/** Windows a run sends before it continues as new, so its history stays small. */
const WINDOWS_PER_RUN = 20;

interface Tracked {
  window: DigestWindow;
  /** Set once the window is cancelled or its notification workflow has started. */
  outcome?: 'cancelled' | 'handed_off';
}

export async function digestWorkflow(args: DigestWorkflowInput): Promise<void> {
  const workflowId = workflowInfo().workflowId;
  // Windows bounded in bytes (closing early) and a bounded carry into continue-as-new; runs
  // started before this change keep their unbounded windows, as their histories recorded them.
  const sizeBound = patched('digest-size-bound');
  const windows: DigestWindow[] = args.windows ?? [];
  // Every window this run has known, by its notification id, and each arrival's window.
  const known = new Map<string, Tracked>();
  const arrivals = new Map<string, string>();
  const track = (w: DigestWindow) => {
    if (!known.has(w.input.notificationId)) known.set(w.input.notificationId, { window: w });
    for (const a of w.arrivals) arrivals.set(a, w.input.notificationId);
  };
  windows.forEach(track);

  const joinOf = (w: DigestWindow): DigestJoin => ({
    notificationId: w.input.notificationId,
    input: w.input,
    releaseAt: new Date(w.closesAt).toISOString(),
  });

  setHandler(digestArrivalSignal, (arrival) => {
    if (arrivals.has(arrival.input.notificationId)) return; // a redelivered arrival
    track(joinWindow(windows, arrival, Date.now(), sizeBound ? { maxBytes: MAX_DIGEST_WINDOW_BYTES } : {}));
  });
  setHandler(digestArrivalQuery, (arrivalId) => {
    const id = arrivals.get(arrivalId);
    return id ? joinOf(known.get(id)!.window) : null;
  });
  setHandler(cancelDigestUpdate, async (notificationId) => {
    const t = known.get(notificationId);
    if (!t) return { status: 'handed_off' as const };
    if (!t.outcome) t.window.cancelled = true;
    await condition(() => t.outcome !== undefined);
    return { status: t.outcome! };
  });

  let sent = 0;
  for (;;) {
    // Idle, the run lingers a little for the next arrival before it completes. (An arrival that
    // lands as it completes fails the completion, and the run goes on with it.)
    if (windows.length === 0 && !(await condition(() => windows.length > 0, IDLE_BEFORE_COMPLETING))) {
      await condition(allHandlersFinished);
      if (windows.length === 0) return;
    }

    const w = windows[0];
    const t = known.get(w.input.notificationId)!;
    await openDigestWindow({ join: joinOf(w), workflowId });
    await condition(() => w.closed || w.cancelled, Math.max(0, w.closesAt - Date.now()));
    w.closed = true;

    const data = digestData(w.items);
    if (!w.cancelled) await closeDigestWindow({ tenantId: w.input.tenantId, notificationId: w.input.notificationId, data });
    if (w.cancelled) {
      await recordStatus({
        tenantId: w.input.tenantId,
        notificationId: w.input.notificationId,
        status: 'cancelled',
        deliveries: w.input.channels.map((channel) => ({ channel, status: 'cancelled' })),
      });
      t.outcome = 'cancelled';
    } else {
      await startChild<typeof notificationWorkflow>('notificationWorkflow', notificationChild({ ...w.input, data }));
      t.outcome = 'handed_off';
    }
    windows.shift();
    sent++;

    // Waiting windows travel in the continue-as-new input: with more than it safely holds, this
    // run sends some of them first.
    const carriable = !sizeBound || windows.reduce((sum, x) => sum + windowBytes(x), 0) <= MAX_DIGEST_CARRY_BYTES;
    if (windows.length > 0 && carriable && (sent >= WINDOWS_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      // A cancel of a waiting window is answered when its turn comes: not before this run ends.
      const cancelWaiting = () => windows.some((x) => x.cancelled);
      await condition(() => allHandlersFinished() || cancelWaiting());
      if (!cancelWaiting()) await continueAsNew<typeof digestWorkflow>({ ...args, windows });
    }
  }
}
