// Activities of the digest, broadcast and schedule workflows: the rows of digest windows,
// pages of a broadcast's audience, progress counts, and the acceptance of scheduled sends.
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { audiencePage, countBroadcastNotifications as countNotifications, finishBroadcast, openBroadcastNotifications as openNotifications } from '../db/broadcasts.js';
import { cancelUnstarted, closeDigestWindow as closeWindow, recordNotifications, type NotificationRecord } from '../db/notifications.js';
import { recipientsById } from '../db/recipients.js';
import { broadcastNotificationId, type BroadcastStatus } from '../domain/broadcast.js';
import { ErrorType } from '../domain/errors.js';
import { addressFor } from '../domain/preferences.js';
import { type Channel, type NotificationInput, type NotificationStatus } from '../domain/types.js';
import { RequestError } from '../domain/errors.js';
import { acceptScheduled } from '../usecases/accept.js';
import { prepareBroadcast, recordBroadcast } from '../usecases/broadcasts.js';
import { contentFor, loadTemplateVersion } from '../usecases/templates.js';
import { BroadcastBody, NotificationBody } from '../usecases/schemas.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { type BroadcastInput } from '../domain/broadcast.js';
import { type DigestJoin } from '../domain/digest.js';
import { type ScheduledRun } from '../domain/schedules.js';
import { permanent } from './errors.js';

/** One recipient of a broadcast page to start a notification workflow for. */
export interface BroadcastStart {
  notificationId: string;
  recipientId: string;
  channels: Channel[];
}

/** A stored request that no longer validates fails its run at once, naming what is wrong. */
function invalidRequest(err: unknown): unknown {
  if (err instanceof RequestError && err.kind === 'invalid') return permanent(ErrorType.InvalidRequest, err.message);
  if (err instanceof z.ZodError) return permanent(ErrorType.InvalidRequest, z.prettifyError(err));
  return err;
}

export function createFanoutActivities({ db }: { db: Db }) {
  // Digests.

  /** The window's notification row, as the API writes it (the first writer wins). */
  async function openDigestWindow(a: { join: DigestJoin; workflowId: string }): Promise<void> {
    await recordNotifications(db, [{ input: a.join.input, workflowId: a.workflowId, status: 'scheduled', releaseAt: a.join.releaseAt }]);
  }

  /** The window closed: its row gets the joined items and passes to its notification workflow. */
  async function closeDigestWindow(a: { tenantId: string; notificationId: string; data: Record<string, unknown> }): Promise<void> {
    await closeWindow(db, a.notificationId, a.data, workflowIds.notification(a.tenantId, a.notificationId));
  }

  // Broadcasts.

  /**
   * Writes the notifications of the next page of a broadcast's audience and answers those to
   * start. Recipients deleted since acceptance fail, those with no deliverable channel are
   * suppressed; neither gets a workflow. Ids are positional, so a retry writes nothing twice.
   */
  async function prepareBroadcastPage(a: { broadcast: BroadcastInput; fromSeq: number }): Promise<{ start: BroadcastStart[]; nextSeq: number }> {
    const b = a.broadcast;
    const page = await audiencePage(db, b.broadcastId, a.fromSeq, a.fromSeq + b.pageSize);
    if (page.length === 0) return { start: [], nextSeq: b.total };
    const version = await loadTemplateVersion(db, b.tenantId, b.template.key, b.template.version);
    if (!version) throw permanent(ErrorType.NotFound, `Template ${b.template.key} v${b.template.version} no longer exists`);
    const byId = await recipientsById(db, b.tenantId, page.map((p) => p.recipientId));

    const records: NotificationRecord[] = [];
    const start: BroadcastStart[] = [];
    for (const { seq, recipientId } of page) {
      const notificationId = broadcastNotificationId(b.broadcastId, seq);
      const input: NotificationInput = {
        tenantId: b.tenantId,
        notificationId,
        recipientId,
        template: b.template,
        data: b.data,
        channels: [],
        strategy: 'all',
        category: b.category,
        priority: b.priority,
        sendAt: null,
        retry: b.retry,
        throttle: null,
      };
      const record = { input, workflowId: workflowIds.notification(b.tenantId, notificationId), broadcastId: b.broadcastId };
      const recipient = byId.get(recipientId)?.recipient;
      if (!recipient) {
        records.push({ ...record, status: 'failed', reason: 'recipient_deleted' });
        continue;
      }
      const chosen = contentFor(version, recipient.locale);
      input.channels = (b.channels ?? chosen.channels).filter((ch) => chosen.channels.includes(ch) && addressFor(recipient, ch));
      if (input.channels.length === 0) {
        records.push({ ...record, status: 'suppressed', reason: 'no_channel' });
        continue;
      }
      records.push(record);
      start.push({ notificationId, recipientId, channels: input.channels });
    }
    await recordNotifications(db, records);
    return { start, nextSeq: page[page.length - 1].seq + 1 };
  }

  /** How many of a broadcast's notifications are in the given statuses (all unfinished ones by default). */
  async function countBroadcastNotifications(a: { broadcastId: string; statuses?: NotificationStatus[] }): Promise<number> {
    return countNotifications(db, a.broadcastId, a.statuses);
  }

  /** The next unfinished notifications of a broadcast, by id after `afterId`. */
  async function openBroadcastNotifications(a: { broadcastId: string; afterId: string | null; limit: number }): Promise<string[]> {
    return openNotifications(db, a.broadcastId, a.afterId, a.limit);
  }

  /** Cancels notifications that were written but whose workflow never started. */
  async function cancelUnstartedNotifications(a: { ids: string[] }): Promise<number> {
    return cancelUnstarted(db, a.ids);
  }

  /** A running broadcast ends completed or cancelled, once: the API may have cancelled it first. */
  async function setBroadcastStatus(a: { broadcastId: string; status: BroadcastStatus }): Promise<void> {
    await finishBroadcast(db, a.broadcastId, a.status);
  }

  // Schedules: each run accepts its stored request as the API would have.

  async function acceptScheduledNotification(a: { run: ScheduledRun; notificationId: string }): Promise<NotificationInput> {
    try {
      const body = NotificationBody.parse(a.run.notification);
      return await acceptScheduled(db, a.run.tenantId, body, { id: a.notificationId, retry: a.run.retry });
    } catch (err) {
      throw invalidRequest(err);
    }
  }

  async function acceptScheduledBroadcast(a: { run: ScheduledRun; broadcastId: string }): Promise<BroadcastInput> {
    try {
      const body = BroadcastBody.parse(a.run.broadcast);
      const plan = await prepareBroadcast(db, a.run.tenantId, body);
      return await recordBroadcast(db, a.run.tenantId, body, plan, { id: a.broadcastId, retry: a.run.retry });
    } catch (err) {
      throw invalidRequest(err);
    }
  }

  return {
    openDigestWindow,
    closeDigestWindow,
    prepareBroadcastPage,
    countBroadcastNotifications,
    openBroadcastNotifications,
    cancelUnstartedNotifications,
    setBroadcastStatus,
    acceptScheduledNotification,
    acceptScheduledBroadcast,
  };
}
