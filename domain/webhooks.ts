// Lifecycle webhooks to tenants (README: "Lifecycle webhooks"): the event types, the retry
// schedule, the disable rule and which secrets sign. Pure: the dispatcher's activity passes in
// the time (the workflow's clock), so tests decide on any moment without waiting for it.

export const LIFECYCLE_EVENT_TYPES = [
  'notification.accepted',
  'notification.sent',
  'notification.failed',
  'notification.cancelled',
  'delivery.sent',
  'delivery.delivered',
  'delivery.failed',
  'delivery.bounced',
  'incident.triggered',
  'incident.acknowledged',
  'incident.resolved',
  'recipient.unsubscribed',
] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Waits after the 1st, 2nd, … failed attempt; past the end, the last one repeats. */
export const RETRY_SCHEDULE_MS = [5 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR];

/** A delivery is retried until this long after its first attempt, then `failed`. */
export const RETRY_FOR_MS = 3 * DAY;

/** An endpoint whose every attempt failed for this long is disabled. */
export const DISABLE_AFTER_MS = 5 * DAY;

/** How long a rotated-out secret keeps signing. */
export const PREVIOUS_SECRET_TTL_MS = DAY;

/**
 * What follows a failed attempt: the next attempt's time, or null when the delivery has been
 * retried for 3 days since its first attempt (`attempts` counts the failed one).
 */
export function nextAttemptAfterFailure(attempts: number, firstAttemptAt: Date, now: Date): Date | null {
  const wait = RETRY_SCHEDULE_MS[Math.min(Math.max(attempts, 1), RETRY_SCHEDULE_MS.length) - 1];
  const next = now.getTime() + wait;
  if (next > firstAttemptAt.getTime() + RETRY_FOR_MS) return null;
  return new Date(next);
}

/** Whether an endpoint failing since `failingSince` (null: its last attempt succeeded) is to be disabled at `now`. */
export function shouldDisable(failingSince: Date | null, now: Date): boolean {
  return failingSince !== null && now.getTime() - failingSince.getTime() >= DISABLE_AFTER_MS;
}

export function disabledReason(failingSince: Date): string {
  return `every delivery attempt failed for 5 days (since ${failingSince.toISOString()})`;
}

/** The previous secret signs too until it expires. */
export function previousSecretSigns(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && expiresAt.getTime() > now.getTime();
}

/** Whether an endpoint subscribed to `events` (types or `*`) receives `type`. */
export function subscribes(events: readonly string[], type: string): boolean {
  return events.includes('*') || events.includes(type);
}

/** The public id of a lifecycle event (its `webhook-id` and body `id`). */
export const lifecycleEventId = (id: number) => `evt_${id}`;

/** The number in an event id, or null when it is not one. */
export function lifecycleEventNumber(id: string): number | null {
  const m = /^evt_(\d{1,15})$/.exec(id);
  return m ? Number(m[1]) : null;
}

/** The body a receiver gets (and the bytes that are signed). */
export function lifecycleEventBody(e: { id: number; type: string; createdAt: Date; data: Record<string, unknown> }): string {
  return JSON.stringify({ id: lifecycleEventId(e.id), type: e.type, createdAt: e.createdAt.toISOString(), data: e.data });
}
