// What a retry workflow (workflows/retry.ts) is started with and answers: shared by the API
// that starts it and the workflow.
import type { Channel, NotificationStatus, RetrySettings } from './types.js';

export interface RetryInput {
  tenantId: string;
  notificationId: string;
  /** Names the claim: the request key, so the claim step is idempotent when it is retried. */
  claim: string;
  /** The API's delivery retry settings, as for a new notification. */
  retry: RetrySettings;
}

export interface RetryResult {
  /** The notification's status after the retry; null when nothing was left to retry. */
  status: NotificationStatus | null;
  retried: Channel[];
}

/** The longest range analytics and the failed-deliveries tools take, and hour buckets' own. */
export const ANALYTICS_MAX_DAYS = 92;
export const ANALYTICS_MAX_HOUR_DAYS = 7;
