// Idempotency keys: which resource a tenant's key names, with the hash of the body that claimed it.
import { and, eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { idempotencyKeys } from './schema.js';

type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect;

/** Whether the key was free and now names `resourceId`. */
export async function insertIdempotencyKey(db: Db, row: { tenantId: string; key: string; requestHash: string; resourceId: string }): Promise<boolean> {
  const inserted = await db.insert(idempotencyKeys).values(row).onConflictDoNothing().returning({ id: idempotencyKeys.resourceId });
  return inserted.length > 0;
}

export async function findIdempotencyKey(db: Db, tenantId: string, key: string): Promise<IdempotencyKeyRow | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key)));
  return row;
}

/** Deletes the key; with `createdAt`, only the claim made then (not a newer one that replaced it). */
export async function deleteIdempotencyKey(db: Db, tenantId: string, key: string, createdAt?: Date): Promise<void> {
  const claim = and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key));
  await db.delete(idempotencyKeys).where(createdAt ? and(claim, eq(idempotencyKeys.createdAt, createdAt)) : claim);
}

/** Points a claimed key at another resource (a digest arrival answers the window it joined). */
export async function pointIdempotencyKey(db: Db, tenantId: string, key: string, resourceId: string): Promise<void> {
  await db
    .update(idempotencyKeys)
    .set({ resourceId })
    .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key)));
}
