// Retention (RETENTION_DAYS): what is older than the limit is deleted in bounded batches, by the
// database's clock. A notification still running is kept whatever its age (a sendAt months away).
import { and, inArray, lt, sql } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../domain/types.js';
import { rowsOf, type Db } from './client.js';
import { erasures, events as producerEvents, inboxMessages, integrationSends, lifecycleEvents, notifications, receipts, throttleClaims } from './schema.js';

const cutoff = (days: number) => sql`now() - make_interval(days => ${days})`;

/**
 * Deletes up to `batch` rows of each kind older than `days`; answers how many went, so the
 * caller repeats until a pass deletes fewer than `batch` of every kind.
 */
export async function purgeExpired(db: Db, days: number, batch: number): Promise<Record<'notifications' | 'inbox' | 'events' | 'receipts' | 'other', number>> {
  const before = cutoff(days);
  const old = db
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(lt(notifications.createdAt, before), inArray(notifications.status, [...TERMINAL_STATUSES])))
    .limit(batch);
  // Events, deliveries and attempts go with their notification (ON DELETE CASCADE).
  const gone = await db.delete(notifications).where(inArray(notifications.id, old)).returning({ id: notifications.id });
  const inbox = await db
    .delete(inboxMessages)
    .where(inArray(inboxMessages.id, db.select({ id: inboxMessages.id }).from(inboxMessages).where(lt(inboxMessages.createdAt, before)).limit(batch)))
    .returning({ id: inboxMessages.id });
  const events = await db
    .delete(lifecycleEvents)
    .where(inArray(lifecycleEvents.id, db.select({ id: lifecycleEvents.id }).from(lifecycleEvents).where(lt(lifecycleEvents.createdAt, before)).limit(batch)))
    .returning({ id: lifecycleEvents.id });
  // Events producers posted (POST /v1/events) go at the same age; their notifications keep their own clock.
  const posted = await db
    .delete(producerEvents)
    .where(inArray(producerEvents.id, db.select({ id: producerEvents.id }).from(producerEvents).where(lt(producerEvents.createdAt, before)).limit(batch)))
    .returning({ id: producerEvents.id });
  const receipt = await db
    .delete(receipts)
    .where(inArray(receipts.id, db.select({ id: receipts.id }).from(receipts).where(lt(receipts.at, before)).limit(batch)))
    .returning({ id: receipts.id });
  // Bookkeeping with no value past the limit: throttle claims, pacing windows, finished erasures.
  const other = rowsOf(
    await db.execute(sql`
      with t as (delete from ${throttleClaims} where ${throttleClaims.claimedAt} < ${before} returning 1),
           p as (delete from ${integrationSends} where ${integrationSends.id} in (select ${integrationSends.id} from ${integrationSends} where ${integrationSends.at} < now() - interval '1 day' limit ${batch}) returning 1),
           e as (delete from ${erasures} where ${erasures.finishedAt} < ${before} returning 1)
      select (select count(*) from t) + (select count(*) from p) + (select count(*) from e) as n`),
  ) as Array<{ n: string | number }>;
  return { notifications: gone.length, inbox: inbox.length, events: Math.max(events.length, posted.length), receipts: receipt.length, other: Number(other[0]?.n ?? 0) };
}
