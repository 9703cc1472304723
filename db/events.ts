// Events posted by producers and what their rules made of them.
import { and, asc, desc, eq, gt, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { events, notifications } from './schema.js';

export type EventRow = typeof events.$inferSelect;
export type NewEventRow = typeof events.$inferInsert;

/** Records an event; a repeat (same id) writes nothing. Answers whether this call recorded it. */
export async function insertEvent(db: Db, row: NewEventRow): Promise<boolean> {
  const rows = await db.insert(events).values(row).onConflictDoNothing().returning({ id: events.id });
  return rows.length > 0;
}

/**
 * Events still `accepted` that were recorded between `after` and `before`, newest first (an event
 * whose run failed for good stays `accepted`: old ones never crowd out the latest): those whose
 * run never started (a process that died while the API evaluated them at once), and those whose
 * run is still going. Read over the partial index `events_accepted_created`.
 */
export async function acceptedEventsBetween(db: Db, after: Date, before: Date, limit: number): Promise<EventRow[]> {
  return db
    .select()
    .from(events)
    .where(and(eq(events.status, 'accepted'), gt(events.createdAt, after), lt(events.createdAt, before)))
    .orderBy(desc(events.createdAt))
    .limit(limit);
}

export async function findEvent(db: Db, tenantId: string, id: string): Promise<EventRow | undefined> {
  const [row] = await db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenantId), eq(events.id, id)));
  return row;
}

/** The rules an event matched, recorded when its run evaluates them. */
export async function setEventRules(db: Db, id: string, ruleKeys: string[]): Promise<void> {
  await db.update(events).set({ rules: ruleKeys }).where(eq(events.id, id));
}

/** The event's run has accepted every notification: processed, with their count (and the matched rules, when given). */
export async function finishEvent(db: Db, id: string, ruleKeys?: string[]): Promise<void> {
  await db
    .update(events)
    .set({
      ...(ruleKeys ? { rules: ruleKeys } : {}),
      status: 'processed',
      processedAt: sql`coalesce(${events.processedAt}, now())`,
      notificationCount: sql`(select count(*)::int from ${notifications} where ${notifications.eventId} = ${id})`,
    })
    .where(eq(events.id, id));
}

/** The event's notifications: their count and the first `limit` ids. */
export async function eventNotifications(db: Db, tenantId: string, id: string, limit: number): Promise<{ count: number; ids: string[] }> {
  const where = and(eq(notifications.tenantId, tenantId), eq(notifications.eventId, id));
  const [{ count }] = await db.select({ count: sql<number>`count(*)::int` }).from(notifications).where(where);
  const rows = await db.select({ id: notifications.id }).from(notifications).where(where).orderBy(asc(notifications.id)).limit(limit);
  return { count, ids: rows.map((r) => r.id) };
}
