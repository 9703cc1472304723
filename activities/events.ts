// The event workflow's step (workflows/event.ts): evaluates rules and accepts a page of
// notifications through usecases/events.ts. A stored event that no longer validates never gets
// here: the API checked it; a database error is transient and retried.
import type { Db } from '../db/client.js';
import type { EventInput, EventProgress } from '../domain/events.js';
import { evaluateEventStep } from '../usecases/events.js';

export function createEventActivities({ db }: { db: Db }) {
  /** One step of an event's run: see evaluateEventStep. */
  async function evaluateEvent(a: { event: EventInput; progress: EventProgress }) {
    return evaluateEventStep(db, a.event, a.progress);
  }
  return { evaluateEvent };
}
