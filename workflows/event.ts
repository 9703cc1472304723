// An event (usecases/events.ts): evaluates the tenant's enabled rules for its name and accepts one
// notification per rule and recipient, a page per local activity (rules are evaluated by the
// first); each step records its page's notifications and starts their ordinary notification
// workflows as POST /v1/notifications does, so preferences, quiet hours, priority and throttles
// apply alike. An event for one rule and a handful of recipients is one workflow task with one
// local activity. Large audiences (topics, segments) take a step per page of 1,000 recipients,
// continuing as new when the history grows. Notification ids are per (event, rule, recipient): a
// retried step or a re-run starts nothing twice.
import { continueAsNew, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { EventActivities } from '../activities/events.js';
import type { EventInput, EventProgress } from '../domain/events.js';

const { evaluateEvent } = proxyLocalActivities<EventActivities>({
  // A page: one keyset read, CEL per recipient, one multi-row insert, up to 1,000 starts.
  startToCloseTimeout: '2 minutes',
  // Bounded: through a database or Temporal outage of up to a day, never forever.
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** History events after which a run continues as new (each step adds a marker, a long one a few task events). */
const MAX_HISTORY = 1000;

export const eventStart = (): EventProgress => ({ rules: null, ruleIndex: 0, after: null, accepted: 0 });

export async function eventWorkflow(event: EventInput, progress: EventProgress = eventStart()): Promise<EventProgress> {
  let p = progress;
  for (;;) {
    const step = await evaluateEvent({ event, progress: p });
    p = step.progress;
    if (step.done) return p;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > MAX_HISTORY) await continueAsNew<typeof eventWorkflow>(event, p);
  }
}
