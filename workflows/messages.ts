// Signals, queries and updates of Tocsin's workflows, and their search attributes.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Channel, DeliveryStatus, NotificationStatus } from '../domain/types.js';
import type { EscalationStep } from '../domain/types.js';
import type { SearchAttributePair } from '@temporalio/common';
import type { DigestArrival, DigestWindow } from '../domain/digest.js';
import type { NotificationInput, Priority, RetrySettings } from '../domain/types.js';

export interface NotificationState {
  status: NotificationStatus;
  reason: string | null;
  /** When a held notification will be released (quiet hours) or a scheduled one sent. */
  releaseAt: string | null;
  deliveries: Array<{ channel: Channel; status: DeliveryStatus; attempts?: number }>;
}

export const notificationStatusQuery = defineQuery<NotificationState>('status');
/** Cancels the notification; answers with the status it ended in. */
export const cancelNotificationUpdate = defineUpdate<{ status: NotificationStatus }>('cancel');

export const SA = {
  tenant: defineSearchAttributeKey('TocsinTenant', 'KEYWORD'),
  recipient: defineSearchAttributeKey('TocsinRecipient', 'KEYWORD'),
  template: defineSearchAttributeKey('TocsinTemplate', 'KEYWORD'),
  status: defineSearchAttributeKey('TocsinStatus', 'KEYWORD'),
  kind: defineSearchAttributeKey('TocsinKind', 'KEYWORD'),
} as const;

/** `--search-attribute` values for the dev server. */
export const SEARCH_ATTRIBUTE_FLAGS = Object.values(SA).map((k) => `${k.name}=Keyword`);

export const workflowIds = {
  notification: (tenantId: string, id: string) => `notification:${tenantId}:${id}`,
  incident: (tenantId: string, key: string) => `incident:${tenantId}:${key}`,
  /** Sends the pager resolves and Slack updates of a resolved incident, after the incident closed. */
  incidentResolution: (tenantId: string, incidentId: string) => `incident-resolution:${tenantId}:${incidentId}`,
  /** One per tenant, recipient and digest key: every arrival for it joins through signal-with-start. */
  digest: (tenantId: string, recipientId: string, key: string) => `digest:${tenantId}:${recipientId}:${key}`,
  broadcast: (tenantId: string, id: string) => `broadcast:${tenantId}:${id}`,
  /** A Temporal Schedule; its runs are `scheduled:<tenant>:<id>-<time>` (Temporal appends the time). */
  schedule: (tenantId: string, id: string) => `schedule:${tenantId}:${id}`,
  scheduledRun: (tenantId: string, id: string) => `scheduled:${tenantId}:${id}`,
};

// Incidents (workflows/escalation.ts).
export const INCIDENT_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type IncidentSeverity = (typeof INCIDENT_SEVERITIES)[number];
export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved' | 'exhausted';
export type TimelineType =
  | 'triggered'
  | 'notified'
  | 'escalated'
  | 'acknowledged'
  | 'unacknowledged'
  | 'resolved'
  | 'exhausted'
  | 'deduplicated';

export interface TimelineEvent {
  /** ISO 8601, from the workflow's clock. */
  at: string;
  type: TimelineType;
  channel?: EscalationStep['channel'];
  target?: string;
  by?: string;
}

/** Everything an incident needs, pinned when the API accepts the trigger (policy included). */
export interface IncidentInput {
  tenantId: string;
  incidentId: string;
  policy: { key: string; steps: EscalationStep[]; repeat: number };
  summary: string;
  severity: IncidentSeverity;
  dedupKey: string | null;
  details: Record<string, unknown> | null;
  /**
   * Continue as new after this many history events even if the server does not suggest it yet
   * (tests set a small value); unset: only when `continueAsNewSuggested`.
   */
  maxHistoryEvents?: number;
}

/**
 * What an incident run hands to the next when it continues as new: the escalation's position
 * and what acknowledge and resolve must reach, never the timeline (that is in the database).
 */
export interface IncidentCarry {
  status: Exclude<IncidentStatus, 'resolved'>;
  step: number;
  cycle: number;
  /** The next timeline seq. */
  seq: number;
  /** Who acknowledged it last (null after an unacknowledge). */
  acknowledgedBy: string | null;
  /** Unacknowledgements so far: a restarted escalation pages under a new dedup key. */
  restarts: number;
  /** Notifications sent so far: each one's id is unique. */
  notifications: number;
  /**
   * While escalating: the step (`step`, `cycle`) was notified and its acknowledgement wait ends
   * at this time (ms since the epoch, workflow clock); then the next step is due.
   */
  deadline: number | null;
  /** Every page sent (or possibly sent), for the pager acknowledge and resolve. */
  pages: Array<{ routingKey: string; dedupKey: string }>;
  /** Every Slack message posted, to update at acknowledge and resolve. */
  messages: Array<{ channel: string; ts: string }>;
  /** The TocsinStatus search attribute as last upserted. */
  searchStatus: IncidentStatus | null;
  /** This run's place in the continue-as-new chain (1 for the first). */
  run: number;
}

/**
 * What queries and updates answer: compact, whatever the incident's age. The timeline is read
 * from the database (GET /v1/incidents/{id}).
 */
export interface IncidentState {
  id: string;
  status: IncidentStatus;
  /** The policy step and pass (cycle) the escalation is at, from 0. */
  step: number;
  cycle: number;
  /** Timeline events so far (the next seq). */
  events: number;
  acknowledgedBy: string | null;
  /** Which run of the continue-as-new chain answered (1 for the first). */
  run: number;
}

/** Why an incident update was rejected (ApplicationFailure type); the API answers 409. */
export const IncidentRejection = {
  Resolved: 'incident_resolved',
  NotAcknowledged: 'incident_not_acknowledged',
  OtherIncident: 'incident_superseded',
} as const;

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

// Digests, broadcasts and schedules (workflows/digest.ts, broadcast.ts, schedule.ts).

/** Stops a notification like the `cancel` update does, for workflows (which cannot send updates). */
export const cancelNotificationSignal = defineSignal('cancelRequested');

/** The search attributes of a notification workflow, wherever it is started from. */
export function notificationSearchAttributes(input: NotificationInput): SearchAttributePair[] {
  return [
    { key: SA.tenant, value: input.tenantId },
    { key: SA.recipient, value: input.recipientId },
    { key: SA.template, value: input.template.key },
    { key: SA.status, value: 'accepted' },
    { key: SA.kind, value: 'notification' },
  ];
}

export function broadcastSearchAttributes(input: { tenantId: string; template: { key: string } }): SearchAttributePair[] {
  return [
    { key: SA.tenant, value: input.tenantId },
    { key: SA.template, value: input.template.key },
    { key: SA.kind, value: 'broadcast' },
  ];
}

export interface DigestWorkflowInput {
  tenantId: string;
  recipientId: string;
  key: string;
  /** Windows carried over by continue-as-new. */
  windows?: DigestWindow[];
}

/** Which digest notification an arrival joined, with the window's pinned input. */
export interface DigestJoin {
  notificationId: string;
  input: NotificationInput;
  /** When the window closes at the latest. */
  releaseAt: string;
}

export const digestArrivalSignal = defineSignal<[DigestArrival]>('digestArrival');
/** Answers the window an arrival (by its own id) joined; null for an arrival this run never saw. */
export const digestArrivalQuery = defineQuery<DigestJoin | null, [string]>('digestArrival');
/**
 * Cancels a digest window by its notification id. `handed_off` when the window has already
 * closed and its notification workflow owns the cancellation.
 */
export const cancelDigestUpdate = defineUpdate<{ status: 'cancelled' | 'handed_off' }, [string]>('cancelDigest');

/** Everything a broadcast needs, pinned when it is accepted. */
export interface BroadcastInput {
  tenantId: string;
  broadcastId: string;
  template: { key: string; version: number };
  data: Record<string, unknown>;
  /** Asked-for channels; null: each recipient's deliverable channels. */
  channels: Channel[] | null;
  category: string | null;
  priority: Priority;
  retry: RetrySettings;
  total: number;
  /** Recipients prepared and started per page. */
  pageSize: number;
  /** Started notifications that may be accepted or sending at once before the next page waits. */
  maxInFlight: number;
}

export interface BroadcastProgress {
  phase: 'sending' | 'cancelling' | 'finishing' | 'done';
  /** The next recipient (by position) to start. */
  nextSeq: number;
  started: number;
  cancelRequested: boolean;
  /** Cancelling pages through open notifications by id, after this one. */
  cancelAfter: string | null;
}

export const broadcastProgressQuery = defineQuery<BroadcastProgress & { total: number }>('progress');
/**
 * Stops a broadcast: no further recipient is started, and every notification not yet sent is
 * cancelled. A signal, so that it also reaches a run that is continuing as new.
 */
export const cancelBroadcastSignal = defineSignal('cancelBroadcast');

/** What a schedule's runs send: a notification or a broadcast request, as the API takes them. */
export interface ScheduledRun {
  tenantId: string;
  scheduleId: string;
  cron?: string;
  everySeconds?: number;
  timezone: string;
  notification?: Record<string, unknown>;
  broadcast?: Record<string, unknown>;
  retry: RetrySettings;
}
export interface ScheduledRunResult {
  notificationId?: string;
  broadcastId?: string;
}
