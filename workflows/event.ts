// An event (usecases/events.ts): evaluates the tenant's enabled rules for its name and accepts one
// notification per rule and recipient, a page per local activity (rules are evaluated by the
// first), then starts each accepted notification's ordinary workflow as an abandoned child, so
// preferences, quiet hours, priority and throttles apply as for POST /v1/notifications. An event
// for one rule and a handful of recipients is one local activity and its children's starts.
// Large audiences (topics, segments) continue as new after each page that started
// notifications, as broadcasts do, so the history stays bounded and no child's completion lands
// in it. Notification ids are per (event, rule, recipient): a retried page or a re-run starts
// nothing twice.
import { continueAsNew, proxyLocalActivities, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { eventNotificationInput, type EventInput, type EventProgress, type EventStart } from '../domain/events.js';
import { notificationChild } from './children.js';
import type { notificationWorkflow } from './notification.js';

const { evaluateEvent } = proxyLocalActivities<Activities>({
  // A page: one keyset read, CEL per recipient, one multi-row insert.
  startToCloseTimeout: '1 minute',
  // Bounded: through a database outage of up to a day, never forever.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** History events after which a run that pages through recipients without a match continues as new. */
const MAX_HISTORY = 2000;
/** Children started in one workflow task. */
const BATCH = 100;

export const eventStart = (): EventProgress => ({ rules: null, ruleIndex: 0, after: null, accepted: 0 });

export async function eventWorkflow(event: EventInput, progress: EventProgress = eventStart()): Promise<EventProgress> {
  let p = progress;
  for (;;) {
    const step = await evaluateEvent({ event, progress: p });
    p = step.progress;
    await startNotifications(event, p, step.start);
    if (step.done) return p;
    if (step.start.length > 0 || workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY) await continueAsNew<typeof eventWorkflow>(event, p);
  }
}

async function startNotifications(event: EventInput, p: EventProgress, starts: EventStart[]): Promise<void> {
  const rules = p.rules ?? [];
  for (let i = 0; i < starts.length; i += BATCH) {
    await Promise.all(
      starts.slice(i, i + BATCH).map(async (s) => {
        try {
          await startChild<typeof notificationWorkflow>('notificationWorkflow', notificationChild(eventNotificationInput(event, rules[s.rule], s)));
        } catch (err) {
          // Started (or run) already, by an earlier run of this event: never twice.
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }),
    );
  }
}
