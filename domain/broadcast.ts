// Broadcast progress from the statuses of its notifications. Pure.
import type { Channel, NotificationStatus, Priority, RetrySettings } from './types.js';

export const BROADCAST_STATUSES = ['running', 'completed', 'cancelled'] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

interface BroadcastCounts {
  total: number;
  sent: number;
  failed: number;
  suppressed: number;
  cancelled: number;
  pending: number;
}

/** Notification statuses a broadcast counts as sent, failed, suppressed or cancelled. */
const BUCKET: Partial<Record<NotificationStatus, Exclude<keyof BroadcastCounts, 'total' | 'pending'>>> = {
  sent: 'sent',
  partially_sent: 'sent',
  failed: 'failed',
  suppressed: 'suppressed',
  cancelled: 'cancelled',
};

/**
 * Adds up a broadcast's notifications by status. Recipients without a notification yet are
 * pending while the broadcast runs, and cancelled once it is cancelled (they never will have one).
 */
export function broadcastCounts(total: number, byStatus: Partial<Record<string, number>>, status: BroadcastStatus): BroadcastCounts {
  const out: BroadcastCounts = { total, sent: 0, failed: 0, suppressed: 0, cancelled: 0, pending: 0 };
  let seen = 0;
  for (const [s, n] of Object.entries(byStatus)) {
    if (!n) continue;
    seen += n;
    const bucket = BUCKET[s as NotificationStatus];
    if (bucket) out[bucket] += n;
    else out.pending += n;
  }
  const unstarted = Math.max(0, total - seen);
  if (status === 'cancelled') out.cancelled += unstarted;
  else out.pending += unstarted;
  return out;
}

/** A notification id of a broadcast's recipient: stable, so a retried page writes nothing twice. */
export function broadcastNotificationId(broadcastId: string, seq: number): string {
  return `ntf_${broadcastId.replace(/^bc_/, '')}_${seq}`;
}

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
