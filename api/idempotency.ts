// Idempotency-Key: the first request with a key claims it for the resource it creates; a repeat
// with the same body answers that resource, with another body 409. Keys expire after a day.
import { and, eq } from 'drizzle-orm';
import type { Context } from 'hono';
import type { Db } from '../db/client.js';
import { idempotencyKeys } from '../db/schema.js';
import { canonicalJson, sha256 } from './ids.js';
import { badRequest, conflict, Problem } from './problem.js';

const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** The request's Idempotency-Key header, if any; 400 when it is empty or over 255 characters. */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key !== undefined && (key.length === 0 || key.length > 255))
    throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'header.Idempotency-Key', message: 'must be 1–255 characters' }]);
  return key;
}

/** The hash a key's request body is compared by. */
export const requestHash = (body: unknown) => sha256(canonicalJson(body));

/** Claims a key for resource `id`: null when it is new (and now ours), else the id it already names. */
export async function claimIdempotencyKey(db: Db, nowMs: number, tenantId: string, key: string, hash: string, id: string): Promise<string | null> {
  for (let i = 0; i < 3; i++) {
    const inserted = await db
      .insert(idempotencyKeys)
      .values({ tenantId, key, requestHash: hash, resourceId: id })
      .onConflictDoNothing()
      .returning({ id: idempotencyKeys.resourceId });
    if (inserted.length) return null;
    const [existing] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key)));
    if (!existing) continue;
    if (existing.createdAt.getTime() < nowMs - IDEMPOTENCY_TTL_MS) {
      await db
        .delete(idempotencyKeys)
        .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key), eq(idempotencyKeys.createdAt, existing.createdAt)));
      continue;
    }
    if (existing.requestHash !== hash) throw conflict('This Idempotency-Key was used with a different request body');
    return existing.resourceId;
  }
  throw new Problem(409, 'This Idempotency-Key is being used concurrently; retry');
}

/** Gives a claimed key up again (nothing was created), so that a retry can succeed. */
export async function releaseIdempotencyKey(db: Db, tenantId: string, key: string): Promise<void> {
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, key)));
}
