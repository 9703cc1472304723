// Signals, queries and updates of Tocsin's workflows; nothing else: what workflows handle and
// use-cases send (both import it here, below them). The types they carry live in
// domain/ (types.ts, incidents.ts, digest.ts, broadcast.ts).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BroadcastProgress } from './broadcast.js';
import type { DigestArrival, DigestJoin } from './digest.js';
import type { FlowEvent, FlowState } from './flows.js';
import type { IncidentState, IncidentStatus } from './incidents.js';
import type { NotificationState, NotificationStatus } from './types.js';

export const notificationStatusQuery = defineQuery<NotificationState>('status');
/** Cancels the notification; answers with the status it ended in. */
export const cancelNotificationUpdate = defineUpdate<{ status: NotificationStatus }>('cancel');

// Incidents (workflows/escalation.ts).
export const incidentStateQuery = defineQuery<IncidentState>('incident');
/**
 * A trigger for this workflow id: the candidate id joins the open incident; answers its id.
 * No longer sent by the API (an update each would meet Temporal's limits on updates in flight
 * and per run); handled still for the runs and API servers of the previous build.
 */
export const triggerIncidentUpdate = defineUpdate<{ id: string; status: IncidentStatus }, [{ incidentId: string }]>('trigger');
/**
 * A trigger for this workflow id, as a signal: it costs none of the run's updates, so any number
 * of duplicates join at once. A candidate id other than the incident's records `deduplicated`;
 * `joining`, the open incident the API found for the dedupKey, makes a run of any other incident
 * ignore it. A resolved incident ignores triggers: the API then starts the next one.
 */
export const triggerIncidentSignal = defineSignal<[{ incidentId: string; joining?: string }]>('triggerIncident');
/** Answers once every pending timer and send is stopped and the acknowledgement is recorded. */
export const acknowledgeIncidentUpdate = defineUpdate<IncidentState, [{ incidentId: string; by: string }]>('acknowledge');
export const unacknowledgeIncidentUpdate = defineUpdate<IncidentState, [{ incidentId: string; by?: string }]>('unacknowledge');
export const resolveIncidentUpdate = defineUpdate<IncidentState, [{ incidentId: string; by?: string }]>('resolve');

// Digests and broadcasts (workflows/digest.ts, broadcast.ts).

/** Stops a notification like the `cancel` update does, for workflows (which cannot send updates). */
export const cancelNotificationSignal = defineSignal('cancelRequested');

export const digestArrivalSignal = defineSignal<[DigestArrival]>('digestArrival');
/** Answers the window an arrival (by its own id) joined; null for an arrival this run never saw. */
export const digestArrivalQuery = defineQuery<DigestJoin | null, [string]>('digestArrival');
/**
 * Cancels a digest window by its notification id. `handed_off` when the window has already
 * closed and its notification workflow owns the cancellation.
 */
export const cancelDigestUpdate = defineUpdate<{ status: 'cancelled' | 'handed_off' }, [string]>('cancelDigest');

export const broadcastProgressQuery = defineQuery<BroadcastProgress & { total: number }>('progress');
/**
 * Stops a broadcast: no further recipient is started, and every notification not yet sent is
 * cancelled. A signal, so that it also reaches a run that is continuing as new.
 */
export const cancelBroadcastSignal = defineSignal('cancelBroadcast');


// Lifecycle webhook dispatchers (workflows/webhook-dispatch.ts).
/** New deliveries may be due for the endpoint: look now instead of at the next poll. */
export const webhookNudgeSignal = defineSignal('webhookNudge');
// Flows (workflows/flow.ts): cancel, status and the notification's signals above, and these.

/** The notification's inbox item was read (usecases/inbox.ts): a wait for `read` ends matched. */
export const flowReadSignal = defineSignal('flowRead');
/** An event named this recipient (POST /v1/events): a wait for it ends matched if its `if` holds. */
export const flowEventSignal = defineSignal<[FlowEvent]>('flowEvent');
/** A flow run's status with its step states. */
export const flowStateQuery = defineQuery<FlowState>('flow');
