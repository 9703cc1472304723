// How Tocsin's workflow runs are named and found: business ids (so Temporal itself enforces
// idempotency) and the search attributes the Temporal UI filters on.
import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import type { NotificationInput } from './types.js';

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
  /** One per posted event: a re-post under one Idempotency-Key joins (or finds finished) the same run. */
  event: (tenantId: string, id: string) => `event:${tenantId}:${id}`,
  /** A Temporal Schedule; its runs are `scheduled:<tenant>:<id>-<time>` (Temporal appends the time). */
  schedule: (tenantId: string, id: string) => `schedule:${tenantId}:${id}`,
  scheduledRun: (tenantId: string, id: string) => `scheduled:${tenantId}:${id}`,
  /** One per erased recipient: a second DELETE while it runs joins it. */
  erasure: (tenantId: string, recipientId: string) => `erasure:${tenantId}:${recipientId}`,
  /**
   * A retry of a finished notification's failed deliveries: one per notification and request
   * key (an Idempotency-Key, or a bulk request's own), so a repeated request starts nothing.
   */
  retry: (tenantId: string, notificationId: string, key: string) => `retry:${tenantId}:${notificationId}:${key}`,
  /** The daily retention pass's Temporal Schedule (one per namespace and task queue). */
  retentionSchedule: (taskQueue: string) => `tocsin-retention:${taskQueue}`,
  /** One per lifecycle webhook endpoint: the dispatcher that sends its deliveries. */
  webhookEndpoint: (tenantId: string, endpointId: string) => `webhook-endpoint:${tenantId}:${endpointId}`,
};

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

/** The search attributes of a flow run: a notification's, its first template's key replaced by the flow's. */
export function flowSearchAttributes(input: { tenantId: string; recipientId: string; flow: { key: string } }): SearchAttributePair[] {
  return [
    { key: SA.tenant, value: input.tenantId },
    { key: SA.recipient, value: input.recipientId },
    { key: SA.template, value: `flow:${input.flow.key}` },
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

