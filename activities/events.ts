// The event workflow's step (workflows/event.ts): evaluates rules, accepts a page of
// notifications and starts their workflows, through usecases/events.ts. A stored event that no longer validates never gets
// here: the API checked it; a database error is transient and retried.
import type { Db } from '../db/client.js';
import type { EventInput, EventProgress } from '../domain/events.js';
import { evaluateEventStep } from '../usecases/events.js';
import { signalFlowWaits } from '../usecases/flows.js';
import type { TemporalDeps } from '../usecases/temporal.js';

export interface EventActivityDeps {
  db: Db;
  /**
   * The worker's client (with its payload codec) and task queue: a step starts its accepted
   * notifications' workflows as the API does, without a further workflow task per start.
   */
  temporal: TemporalDeps;
}

export function createEventActivities(deps: EventActivityDeps) {
  /**
   * One step of an event's run: see evaluateEventStep. The first step also ends the flow runs
   * that wait for this event for its actor or recipients (usecases/flows.ts signalFlowWaits);
   * a retried first step signals again, which a run that stopped waiting ignores.
   */
  async function evaluateEvent(a: { event: EventInput; progress: EventProgress }) {
    const { event } = a;
    if (a.progress.rules === null) await signalFlowWaits(deps, { tenantId: event.tenantId, name: event.name, actor: event.actor, recipients: event.recipients ?? [], data: event.data });
    return evaluateEventStep(deps, a.event, a.progress);
  }
  return { evaluateEvent };
}

export type EventActivities = ReturnType<typeof createEventActivities>;
