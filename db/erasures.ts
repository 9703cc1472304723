// Erasure of a recipient (README: "Erasure and retention"): the first step removes the person at
// once (recipient, devices, inbox; suppressions keep only their hash), the later ones page
// through the notifications that named them.
import { and, asc, eq, inArray, isNull, notInArray, or, sql } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../domain/types.js';
import type { Db } from './client.js';
import { erasures, events as producerEvents, inboxMessages, lifecycleEvents, notifications, recipients, suppressions, throttleClaims, topicSubscriptions } from './schema.js';
import { addressHash } from './suppressions-hash.js';

/**
 * Removes the recipient and what is theirs alone (inbox, topic subscriptions), and records the erasure, in one transaction:
 * true when there was a recipient to erase, or an erasure of it has not finished (asking again
 * resumes it); false when there is nothing to erase.
 */
export async function beginErasure(db: Db, tenantId: string, recipientId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .delete(recipients)
      .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, recipientId)))
      .returning({ email: recipients.email, phone: recipients.phone, whatsapp: recipients.whatsapp });
    if (!row) {
      const [open] = await tx
        .select({ at: erasures.requestedAt })
        .from(erasures)
        .where(and(eq(erasures.tenantId, tenantId), eq(erasures.recipientId, recipientId), isNull(erasures.finishedAt)))
        .limit(1);
      return open !== undefined;
    }
    // Suppressions of the person's addresses stay, by hash only: an erased address is not
    // re-contacted by mistake when it comes back under another recipient.
    const hashes = [
      ...(row.email ? [addressHash('email', row.email)] : []),
      ...[row.phone, row.whatsapp].filter((p): p is string => !!p).map((p) => addressHash('sms', p)),
    ];
    if (hashes.length > 0) await tx.update(suppressions).set({ address: null }).where(and(eq(suppressions.tenantId, tenantId), inArray(suppressions.addressHash, hashes)));
    await tx.delete(inboxMessages).where(and(eq(inboxMessages.tenantId, tenantId), eq(inboxMessages.recipientId, recipientId)));
    // Topic subscriptions name the person too: no rule or broadcast reaches them afterwards.
    await tx.delete(topicSubscriptions).where(and(eq(topicSubscriptions.tenantId, tenantId), eq(topicSubscriptions.recipientId, recipientId)));
    await tx.insert(erasures).values({ tenantId, recipientId });
    return true;
  });
}

/** Up to `limit` of the recipient's notifications still running: the ones to cancel. */
export async function runningNotificationsOf(db: Db, tenantId: string, recipientId: string, limit: number): Promise<Array<{ id: string }>> {
  return db
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), eq(notifications.recipientId, recipientId), notInArray(notifications.status, [...TERMINAL_STATUSES])))
    .orderBy(asc(notifications.createdAt))
    .limit(limit);
}

/** Up to `limit` of the recipient's notifications: the workflow ids whose histories go. */
export async function notificationsOfRecipient(db: Db, tenantId: string, recipientId: string, limit: number): Promise<Array<{ id: string; workflowId: string }>> {
  return db
    .select({ id: notifications.id, workflowId: notifications.workflowId })
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), eq(notifications.recipientId, recipientId)))
    .orderBy(asc(notifications.createdAt))
    .limit(limit);
}

/** Deletes these notifications (their events, deliveries and attempts go with them). */
export async function deleteNotifications(db: Db, tenantId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.delete(notifications).where(and(eq(notifications.tenantId, tenantId), inArray(notifications.id, [...ids])));
}

/**
 * The last traces of the recipient (throttle claims, lifecycle events, the events producers posted
 * naming them as actor or recipient, whose data may be about them), and the erasure marked done.
 */
export async function finishErasure(db: Db, tenantId: string, recipientId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(throttleClaims).where(and(eq(throttleClaims.tenantId, tenantId), eq(throttleClaims.recipientId, recipientId)));
    await tx.delete(lifecycleEvents).where(and(eq(lifecycleEvents.tenantId, tenantId), eq(lifecycleEvents.recipientId, recipientId)));
    await tx
      .delete(producerEvents)
      .where(and(eq(producerEvents.tenantId, tenantId), or(eq(producerEvents.actor, recipientId), sql`${producerEvents.recipients} @> ${JSON.stringify([recipientId])}::jsonb`)));
    await tx
      .update(erasures)
      .set({ finishedAt: sql`now()` })
      .where(and(eq(erasures.tenantId, tenantId), eq(erasures.recipientId, recipientId), isNull(erasures.finishedAt)));
  });
}
