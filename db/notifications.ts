// Notifications as the API reads them: one by id, a page newest first, their deliveries.
import { and, desc, eq, inArray, lt, or } from 'drizzle-orm';
import type { Db } from './client.js';
import { deliveries, notifications } from './schema.js';

export type NotificationRow = typeof notifications.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;

export async function findNotification(db: Db, tenantId: string, id: string): Promise<NotificationRow | undefined> {
  const [row] = await db
    .select()
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), eq(notifications.id, id)));
  return row;
}

/** The deliveries of these notifications, any order. */
export async function deliveriesOf(db: Db, notificationIds: readonly string[]): Promise<DeliveryRow[]> {
  if (notificationIds.length === 0) return [];
  return db.select().from(deliveries).where(inArray(deliveries.notificationId, [...notificationIds]));
}

/** A position in the newest-first order: the last row of the previous page. */
export interface NotificationCursor {
  createdAt: Date;
  id: string;
}

/** Up to `limit` of the tenant's notifications, newest first, after `cursor`, filtered by recipient and status. */
export async function notificationPage(
  db: Db,
  tenantId: string,
  filter: { recipientId?: string; status?: string; after?: NotificationCursor },
  limit: number,
): Promise<NotificationRow[]> {
  const conds = [eq(notifications.tenantId, tenantId)];
  if (filter.recipientId) conds.push(eq(notifications.recipientId, filter.recipientId));
  if (filter.status) conds.push(eq(notifications.status, filter.status));
  if (filter.after) {
    const cur = filter.after;
    conds.push(or(lt(notifications.createdAt, cur.createdAt), and(eq(notifications.createdAt, cur.createdAt), lt(notifications.id, cur.id)))!);
  }
  return db
    .select()
    .from(notifications)
    .where(and(...conds))
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(limit);
}
