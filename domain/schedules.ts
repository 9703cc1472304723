// Schedules (api/routes/schedules.ts, workflows/schedule.ts).
import type { RetrySettings } from './types.js';

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
