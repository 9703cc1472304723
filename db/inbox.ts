// A recipient's in-app inbox: pages newest first, counts, read and archive marks, deletes, and
// the rows past a position for the SSE stream.
import { and, count, desc, eq, gt, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { inboxMessages } from './schema.js';

export type InboxMessageRow = typeof inboxMessages.$inferSelect;

const mine = (tenantId: string, rid: string) => and(eq(inboxMessages.tenantId, tenantId), eq(inboxMessages.recipientId, rid))!;

/** Counts of the inbox; with `archived` given, of the archived (or unarchived) messages only. */
export async function inboxCounts(db: Db, tenantId: string, rid: string, filter: { archived?: boolean } = {}): Promise<{ total: number; unread: number }> {
  const where = filter.archived === undefined ? mine(tenantId, rid) : and(mine(tenantId, rid), eq(inboxMessages.archived, filter.archived))!;
  const [r] = await db
    .select({ total: count(), unread: sql<number>`count(*) filter (where not ${inboxMessages.read})`.mapWith(Number) })
    .from(inboxMessages)
    .where(where);
  return { total: Number(r.total), unread: r.unread };
}

/** Up to `limit` messages newest first, before position `beforeSeq`, read or unread only when `read` is given, archived or not only when `archived` is. */
export async function inboxPage(db: Db, tenantId: string, rid: string, filter: { read?: boolean; archived?: boolean; beforeSeq?: number }, limit: number): Promise<InboxMessageRow[]> {
  const conds = [mine(tenantId, rid)];
  if (filter.read !== undefined) conds.push(eq(inboxMessages.read, filter.read));
  if (filter.archived !== undefined) conds.push(eq(inboxMessages.archived, filter.archived));
  if (filter.beforeSeq !== undefined) conds.push(lt(inboxMessages.seq, filter.beforeSeq));
  return db
    .select()
    .from(inboxMessages)
    .where(and(...conds))
    .orderBy(desc(inboxMessages.seq))
    .limit(limit);
}

/** Up to `limit` messages after position `afterSeq`, oldest first (the stream's next rows). */
export async function inboxAfter(db: Db, tenantId: string, rid: string, afterSeq: number, limit: number): Promise<InboxMessageRow[]> {
  return db
    .select()
    .from(inboxMessages)
    .where(and(mine(tenantId, rid), gt(inboxMessages.seq, afterSeq)))
    .orderBy(inboxMessages.seq)
    .limit(limit);
}

/** The position of the newest message, 0 for an empty inbox. */
export async function lastInboxSeq(db: Db, tenantId: string, rid: string): Promise<number> {
  const [last] = await db.select({ seq: inboxMessages.seq }).from(inboxMessages).where(mine(tenantId, rid)).orderBy(desc(inboxMessages.seq)).limit(1);
  return last?.seq ?? 0;
}

/** The position of one of the recipient's messages, or null when it has no such message (a stream's Last-Event-ID). */
export async function inboxSeqOf(db: Db, tenantId: string, rid: string, messageId: string): Promise<number | null> {
  const [row] = await db.select({ seq: inboxMessages.seq }).from(inboxMessages).where(and(mine(tenantId, rid), eq(inboxMessages.id, messageId)));
  return row?.seq ?? null;
}

/**
 * Sets a mark (`read` or `archived`) on messages that lack it (one, by id, or all); answers the
 * notification ids of those that lacked it (how many, and which flow runs a read concerns), or
 * null when that one message does not exist.
 */
export async function markInbox(db: Db, mark: 'read' | 'archived', tenantId: string, rid: string, messageId?: string): Promise<string[] | null> {
  const where = messageId === undefined ? mine(tenantId, rid) : and(mine(tenantId, rid), eq(inboxMessages.id, messageId))!;
  if (messageId !== undefined) {
    const [exists] = await db.select({ id: inboxMessages.id }).from(inboxMessages).where(where);
    if (!exists) return null;
  }
  const updated = await db
    .update(inboxMessages)
    .set({ [mark]: true })
    .where(and(where, eq(inboxMessages[mark], false)))
    .returning({ notificationId: inboxMessages.notificationId });
  return updated.map((r) => r.notificationId);
}

/** Deletes one message; false when there was none. */
export async function deleteInboxMessage(db: Db, tenantId: string, rid: string, messageId: string): Promise<boolean> {
  const deleted = await db
    .delete(inboxMessages)
    .where(and(mine(tenantId, rid), eq(inboxMessages.id, messageId)))
    .returning({ id: inboxMessages.id });
  return deleted.length > 0;
}

/** Adds a notification's inbox message; false when that notification's message is there already. */
export async function addInboxMessage(db: Db, row: typeof inboxMessages.$inferInsert): Promise<boolean> {
  const added = await db.insert(inboxMessages).values(row).onConflictDoNothing({ target: inboxMessages.notificationId }).returning({ id: inboxMessages.id });
  return added.length > 0;
}
