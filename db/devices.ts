// Push devices: each recipient's FCM and APNs tokens and Web Push subscriptions.
import { and, asc, eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { devices } from './schema.js';

export type DeviceRow = typeof devices.$inferSelect;

/** Creates or replaces a device; false when the recipient does not exist. */
export async function putDevice(db: Db, row: Pick<DeviceRow, 'tenantId' | 'recipientId' | 'id' | 'provider' | 'token' | 'subscription' | 'platform'>): Promise<DeviceRow> {
  const [stored] = await db
    .insert(devices)
    .values(row)
    .onConflictDoUpdate({
      target: [devices.tenantId, devices.recipientId, devices.id],
      set: { provider: row.provider, token: row.token, subscription: row.subscription, platform: row.platform, updatedAt: new Date() },
    })
    .returning();
  return stored;
}

export async function devicesOf(db: Db, tenantId: string, recipientId: string): Promise<DeviceRow[]> {
  return db
    .select()
    .from(devices)
    .where(and(eq(devices.tenantId, tenantId), eq(devices.recipientId, recipientId)))
    .orderBy(asc(devices.createdAt), asc(devices.id));
}

export async function deleteDevice(db: Db, tenantId: string, recipientId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(devices)
    .where(and(eq(devices.tenantId, tenantId), eq(devices.recipientId, recipientId), eq(devices.id, id)))
    .returning({ id: devices.id });
  return rows.length > 0;
}
