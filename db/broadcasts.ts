// Broadcasts: the row, its numbered audience, and its progress counted from its notifications.
import { and, count, eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { broadcastRecipients, broadcasts, notifications } from './schema.js';

export type BroadcastRow = typeof broadcasts.$inferSelect;
export type NewBroadcastRow = typeof broadcasts.$inferInsert;

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
