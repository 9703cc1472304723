// Receipts: each recorded once under its provider-unique id, and applied to the delivery whose
// provider message id it names, in one transaction.
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { SuppressionReason } from '../domain/suppressions.js';
import type { DeliveryStatus } from '../domain/types.js';
import type { Db } from './client.js';
import { emitDeliveryEvents } from './lifecycle-events.js';
import { deliveries, notifications, receipts } from './schema.js';
import { addSuppressions } from './suppressions.js';

/** A receipt's effect on its delivery; null: recorded, nothing changes. */
export type DeliveryChange = { status: 'delivered' } | { status: 'failed' | 'bounced'; error: { code: string; message: string } };

/** Addresses a receipt says are not to be sent to again (a hard bounce, a complaint), for the delivery's tenant. */
export interface ReceiptSuppression {
  channel: string;
  addresses: readonly string[];
  reason: SuppressionReason;
}

/**
 * Records the receipt (`id` unique per provider event) and moves its delivery when the
 * delivery's status is one of `movableFrom`; with `suppress`, suppresses those addresses for the
 * delivery's tenant in the same transaction. `duplicate`: recorded before, nothing done;
 * `unmatched`: no delivery has that message id (yet); `unchanged`: nothing to move.
 */
export async function recordReceipt(
  db: Db,
  r: { id: string; provider: string; providerMessageId: string; event: string; change: DeliveryChange | null; suppress?: ReceiptSuppression | null },
  movableFrom: readonly DeliveryStatus[],
): Promise<'applied' | 'unchanged' | 'duplicate' | 'unmatched'> {
  return db.transaction(async (tx) => {
    const [delivery] = await tx
      .select({ id: deliveries.id, tenantId: notifications.tenantId })
      .from(deliveries)
      .innerJoin(notifications, eq(notifications.id, deliveries.notificationId))
      .where(and(eq(deliveries.provider, r.provider), eq(deliveries.providerMessageId, r.providerMessageId)))
      .limit(1);
    const recorded = await tx
      .insert(receipts)
      .values({ id: r.id, deliveryId: delivery?.id ?? null, status: r.event })
      .onConflictDoNothing()
      .returning({ id: receipts.id });
    if (recorded.length === 0) return 'duplicate';
    if (!delivery) return 'unmatched';
    if (r.suppress) await addSuppressions(tx, delivery.tenantId, r.suppress.channel, r.suppress.addresses, r.suppress.reason);
    if (!r.change) return 'unchanged';
    const change = r.change;
    const moved = await tx
      .update(deliveries)
      .set({
        status: change.status,
        ...(change.status === 'delivered'
          ? { deliveredAt: sql`coalesce(${deliveries.deliveredAt}, now())`, errorCode: null, errorMessage: null }
          : { errorCode: change.error.code, errorMessage: change.error.message }),
        updatedAt: sql`now()`,
      })
      .where(and(eq(deliveries.id, delivery.id), inArray(deliveries.status, [...movableFrom])))
      .returning({
        id: deliveries.id,
        notificationId: deliveries.notificationId,
        channel: deliveries.channel,
        status: deliveries.status,
        provider: deliveries.provider,
        errorCode: deliveries.errorCode,
        attempts: deliveries.attempts,
      });
    await emitDeliveryEvents(tx, moved.map((m) => ({ ...m, tenantId: delivery.tenantId })));
    return moved.length ? 'applied' : 'unchanged';
  });
}
