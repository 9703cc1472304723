// Signals, queries and updates of Tocsin's workflows, and their search attributes.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Channel, DeliveryStatus, NotificationStatus } from '../domain/types.js';

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
};
