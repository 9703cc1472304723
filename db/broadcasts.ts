// Broadcasts: the row, its numbered audience, and its progress counted from its notifications.
import { and, asc, count, eq, gt, gte, inArray, lt, notInArray, sql } from 'drizzle-orm';
import { TERMINAL_STATUSES, type NotificationStatus } from '../domain/types.js';
import type { BroadcastInput, BroadcastStatus } from '../domain/broadcast.js';
import { deliveryId } from '../domain/delivery.js';
import { cleanText } from '../domain/text.js';
import type { Channel, DeliveryStatus } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { emitDeliveryEvents, emitNotificationEvents } from './lifecycle-events.js';
import type { Db } from './client.js';
import { notifyInbox } from './inbox-notify.js';
import { broadcastRecipients, broadcasts, deliveries, deliveryAttempts, inboxMessages, notificationEvents, notifications } from './schema.js';

export type BroadcastRow = typeof broadcasts.$inferSelect;
type NewBroadcastRow = typeof broadcasts.$inferInsert;

/** Rows of the audience written per statement. */
const ID_CHUNK = 5000;

/** Records a broadcast and its audience, numbered from 0 in order; a repeat (same id) writes nothing. */
export async function insertBroadcast(db: Db, row: NewBroadcastRow, recipientIds: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    const inserted = await tx.insert(broadcasts).values(row).onConflictDoNothing().returning({ id: broadcasts.id });
    if (inserted.length === 0) return;
    for (let i = 0; i < recipientIds.length; i += ID_CHUNK)
      await tx
        .insert(broadcastRecipients)
        .values(recipientIds.slice(i, i + ID_CHUNK).map((recipientId, j) => ({ broadcastId: row.id, seq: i + j, recipientId })));
  });
}

/** A broadcast by id; within a tenant when `tenantId` is given. */
export async function findBroadcast(db: Db, id: string, tenantId?: string): Promise<BroadcastRow | undefined> {
  const [row] = await db
    .select()
    .from(broadcasts)
    .where(tenantId === undefined ? eq(broadcasts.id, id) : and(eq(broadcasts.tenantId, tenantId), eq(broadcasts.id, id)));
  return row;
}

/** How many of the broadcast's notifications are in each status. */
export async function broadcastNotificationCounts(db: Db, id: string): Promise<Record<string, number>> {
  const rows = await db
    .select({ status: notifications.status, n: count() })
    .from(notifications)
    .where(eq(notifications.broadcastId, id))
    .groupBy(notifications.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Marks a running broadcast cancelled; false when it was not running (or is not the tenant's). */
export async function markBroadcastCancelled(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .update(broadcasts)
    .set({ status: 'cancelled', updatedAt: sql`now()` })
    .where(and(eq(broadcasts.tenantId, tenantId), eq(broadcasts.id, id), eq(broadcasts.status, 'running')))
    .returning({ id: broadcasts.id });
  return rows.length > 0;
}

/** A running broadcast ends `status`, once: the API may have cancelled it first. */
export async function finishBroadcast(db: Db, id: string, status: BroadcastStatus): Promise<void> {
  await db
    .update(broadcasts)
    .set({ status, updatedAt: sql`now()` })
    .where(and(eq(broadcasts.id, id), eq(broadcasts.status, 'running')));
}

/** The audience at positions `fromSeq` up to (not including) `endSeq`, in order. */
export async function audiencePage(db: Db, id: string, fromSeq: number, endSeq: number): Promise<Array<{ seq: number; recipientId: string }>> {
  return db
    .select({ seq: broadcastRecipients.seq, recipientId: broadcastRecipients.recipientId })
    .from(broadcastRecipients)
    .where(and(eq(broadcastRecipients.broadcastId, id), gte(broadcastRecipients.seq, fromSeq), lt(broadcastRecipients.seq, endSeq)))
    .orderBy(asc(broadcastRecipients.seq));
}

/** How many of a broadcast's notifications are in `statuses` (all unfinished ones by default). */
export async function countBroadcastNotifications(db: Db, id: string, statuses?: readonly NotificationStatus[]): Promise<number> {
  const [{ n }] = await db
    .select({ n: count() })
    .from(notifications)
    .where(and(eq(notifications.broadcastId, id), statuses ? inArray(notifications.status, [...statuses]) : notInArray(notifications.status, [...TERMINAL_STATUSES])));
  return n;
}

/** The next unfinished notifications of a broadcast, by id after `afterId`. */
export async function openBroadcastNotifications(db: Db, id: string, afterId: string | null, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(eq(notifications.broadcastId, id), notInArray(notifications.status, [...TERMINAL_STATUSES]), afterId ? gt(notifications.id, afterId) : undefined))
    .orderBy(asc(notifications.id))
    .limit(limit);
  return rows.map((r) => r.id);
}

// A broadcast page delivered in bulk (activities/broadcast-batch.ts): each recipient's rows in multi-row inserts.

export interface BroadcastDelivery {
  channel: Channel;
  status: DeliveryStatus;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** Sent: by whom, under which provider message id. */
  sent?: { provider: string; providerMessageId: string };
  /** Tried once and refused (its attempt is recorded failed). */
  refused?: boolean;
}

/** One recipient's rows, whatever its outcome. */
export interface BroadcastOutcome {
  notificationId: string;
  recipientId: string;
  channels: Channel[];
  status: NotificationStatus;
  reason: string | null;
  deliveries: BroadcastDelivery[];
  events: NotificationStatus[];
  inbox?: { title: string; body: string; url?: string | null };
}

/** Writes a chunk's outcomes in one transaction; rows that exist already are left alone. */
export async function writeBroadcastOutcomes(db: Db, b: BroadcastInput, outcomes: BroadcastOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await db.transaction(async (tx) => {
    const inserted = await tx
      .insert(notifications)
      .values(
        outcomes.map((o) => ({
          id: o.notificationId,
          tenantId: b.tenantId,
          recipientId: o.recipientId,
          templateKey: b.template.key,
          templateVersion: b.template.version,
          category: b.category,
          priority: b.priority,
          strategy: 'all',
          channels: o.channels,
          data: b.data,
          status: o.status,
          reason: o.reason,
          workflowId: workflowIds.notification(b.tenantId, o.notificationId),
          broadcastId: b.broadcastId,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: notifications.id });
    const ids = new Set(inserted.map((r) => r.id));
    const fresh = outcomes.filter((o) => ids.has(o.notificationId));
    if (fresh.length === 0) return;
    const now = new Date();
    const ds = fresh.flatMap((o) =>
      o.deliveries.map((d, position) => ({
        id: deliveryId(o.notificationId, d.channel),
        notificationId: o.notificationId,
        tenantId: b.tenantId,
        templateKey: b.template.key,
        category: b.category ?? null,
        position,
        channel: d.channel,
        status: d.status,
        attempts: d.sent || d.refused ? 1 : 0,
        provider: d.sent?.provider ?? null,
        providerMessageId: d.sent?.providerMessageId ?? null,
        errorCode: d.errorCode ?? null,
        errorMessage: d.errorMessage ?? null,
        sentAt: d.sent ? now : null,
      })),
    );
    if (ds.length) await tx.insert(deliveries).values(ds);
    const attempts = ds
      .filter((d) => d.attempts > 0)
      .map((d) => (d.sentAt ? { deliveryId: d.id, attempt: 1, outcome: 'sent' } : { deliveryId: d.id, attempt: 1, outcome: 'failed', errorCode: d.errorCode, errorMessage: d.errorMessage }));
    if (attempts.length) await tx.insert(deliveryAttempts).values(attempts).onConflictDoNothing();
    await tx.insert(notificationEvents).values(fresh.flatMap((o) => o.events.map((status) => ({ notificationId: o.notificationId, status, reason: status === o.status ? o.reason : null }))));
    await emitNotificationEvents(
      tx,
      fresh.flatMap((o) => o.events.map((status) => ({ id: o.notificationId, tenantId: b.tenantId, recipientId: o.recipientId, templateKey: b.template.key, status, reason: status === o.status ? o.reason : null }))),
    );
    await emitDeliveryEvents(
      tx,
      ds.map((d) => ({ id: d.id, tenantId: b.tenantId, notificationId: d.notificationId, channel: d.channel, status: d.status, provider: d.provider, errorCode: d.errorCode, attempts: d.attempts })),
    );
    const inbox = fresh.filter((o) => o.inbox);
    // The inbox's SSE streams wake at commit (db/inbox-notify.ts) and read these rows like any other.
    if (inbox.length) {
      await tx
        .insert(inboxMessages)
        .values(
          inbox.map((o) => ({
            id: `msg_${o.notificationId}`,
            tenantId: b.tenantId,
            recipientId: o.recipientId,
            notificationId: o.notificationId,
            title: cleanText(o.inbox!.title, 100_000),
            body: cleanText(o.inbox!.body, 100_000),
            url: o.inbox!.url ?? null,
            category: b.category,
          })),
        )
        .onConflictDoNothing({ target: inboxMessages.notificationId });
      await notifyInbox(tx, b.tenantId, inbox.map((o) => o.recipientId));
    }
  });
}
