// Throttles: a sliding window of claims per tenant, recipient and key, in the database so it
// survives restarts and holds across workers.
import { and, count, eq, gt, lte, sql } from 'drizzle-orm';
import type { ThrottleSpec } from '../domain/types.js';
import type { Db } from './client.js';
import { throttleClaims } from './schema.js';

export interface ThrottleClaim extends ThrottleSpec {
  tenantId: string;
  recipientId: string;
  notificationId: string;
  /** The workflow's clock at the claim (ISO 8601): the window is measured on it. */
  at: string;
}

/**
 * Takes one of `limit` slots in the window ending at `at`, atomically: claims for one key
 * are serialized by a transaction-scoped advisory lock. A retry of a claim that was taken
 * answers allowed again.
 */
export async function claimThrottleSlot(db: Db, c: ThrottleClaim): Promise<{ allowed: boolean }> {
  const at = new Date(c.at);
  const since = new Date(at.getTime() - c.windowSeconds * 1000);
  const key = and(eq(throttleClaims.tenantId, c.tenantId), eq(throttleClaims.recipientId, c.recipientId), eq(throttleClaims.key, c.key));
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`throttle\u0001${c.tenantId}\u0001${c.recipientId}\u0001${c.key}`}, 0))`);
    const [mine] = await tx
      .select({ at: throttleClaims.claimedAt })
      .from(throttleClaims)
      .where(and(key, eq(throttleClaims.notificationId, c.notificationId)));
    if (mine) return { allowed: true };
    // Claims that left the window count no more.
    await tx.delete(throttleClaims).where(and(key, lte(throttleClaims.claimedAt, since)));
    const [{ n }] = await tx
      .select({ n: count() })
      .from(throttleClaims)
      .where(and(key, gt(throttleClaims.claimedAt, since)));
    if (n >= c.limit) return { allowed: false };
    await tx.insert(throttleClaims).values({ tenantId: c.tenantId, recipientId: c.recipientId, key: c.key, notificationId: c.notificationId, claimedAt: at });
    return { allowed: true };
  });
}
