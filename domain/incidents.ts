// Incidents (workflows/escalation.ts): what the API pins at a trigger, what a run carries
// across continue-as-new, and what queries and updates answer.
import type { EscalationStep } from './types.js';

/** The action id of the incident message's Acknowledge button (Slack interactivity). */
export const ACK_ACTION_ID = 'tocsin_ack';

export const INCIDENT_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type IncidentSeverity = (typeof INCIDENT_SEVERITIES)[number];
export const INCIDENT_STATUSES = ['triggered', 'acknowledged', 'resolved', 'exhausted'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];
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

/** One timeline write (activities/escalation.ts recordIncident), idempotent by the workflow-assigned seq. */
export interface IncidentRecord {
  incidentId: string;
  /** The event's position in the timeline, assigned by the workflow: a retry writes nothing twice. */
  seq: number;
  status: IncidentStatus;
  step: number;
  cycle: number;
  event: TimelineEvent;
  /** Further events recorded with this one (a burst of `deduplicated`), each under its own seq. */
  more?: Array<{ seq: number; event: TimelineEvent }>;
  /** With the first record: the incident row to create. */
  open?: {
    tenantId: string;
    policyKey: string;
    summary: string;
    severity: IncidentSeverity;
    dedupKey: string | null;
    details: Record<string, unknown> | null;
    workflowId: string;
  };
}

/** workflows/escalation.ts `incidentWorkflow`, as the API starts it by name (the API never loads workflow code). */
export type IncidentWorkflow = (input: IncidentInput, carried?: IncidentCarry) => Promise<IncidentState>;
