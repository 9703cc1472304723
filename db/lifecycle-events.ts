// Lifecycle events recorded for tenants (`recipient.unsubscribed`, …), for the lifecycle webhooks.
import type { Db } from './client.js';
import { lifecycleEvents } from './schema.js';

export type LifecycleEventRow = typeof lifecycleEvents.$inferSelect;

/** Records a lifecycle event (`recipient.unsubscribed`, …) for the tenant's lifecycle webhooks. */
export async function recordLifecycleEvent(db: Db, event: Pick<LifecycleEventRow, 'tenantId' | 'type' | 'recipientId' | 'data'>): Promise<void> {
  await db.insert(lifecycleEvents).values(event);
}
