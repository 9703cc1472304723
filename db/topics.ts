// Topics and their subscribers: rules and broadcasts address a topic's subscribers, read in
// keyset pages so that a large topic is never loaded at once.
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { recipients, topics, topicSubscriptions } from './schema.js';

export type TopicRow = typeof topics.$inferSelect;

/** Creates or renames a topic. */
export async function upsertTopic(db: Db, tenantId: string, key: string, name: string | null): Promise<TopicRow> {
  const [row] = await db
    .insert(topics)
    .values({ tenantId, key, name })
    .onConflictDoUpdate({ target: [topics.tenantId, topics.key], set: { name, updatedAt: sql`now()` } })
    .returning();
  return row;
}

export async function findTopic(db: Db, tenantId: string, key: string): Promise<TopicRow | undefined> {
  const [row] = await db
    .select()
    .from(topics)
    .where(and(eq(topics.tenantId, tenantId), eq(topics.key, key)));
  return row;
}

/** How many recipients subscribe to the topic. */
export async function countSubscribers(db: Db, tenantId: string, key: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(topicSubscriptions)
    .where(and(eq(topicSubscriptions.tenantId, tenantId), eq(topicSubscriptions.topicKey, key)));
  return row?.n ?? 0;
}

/** Deletes a topic and its subscriptions (cascade); false when there was none. */
export async function deleteTopic(db: Db, tenantId: string, key: string): Promise<boolean> {
  const rows = await db
    .delete(topics)
    .where(and(eq(topics.tenantId, tenantId), eq(topics.key, key)))
    .returning({ key: topics.key });
  return rows.length > 0;
}

/** Subscribes those of `recipientIds` not yet subscribed; answers how many were added. */
export async function addSubscribers(db: Db, tenantId: string, key: string, recipientIds: readonly string[]): Promise<number> {
  if (recipientIds.length === 0) return 0;
  const rows = await db
    .insert(topicSubscriptions)
    .values(recipientIds.map((recipientId) => ({ tenantId, topicKey: key, recipientId })))
    .onConflictDoNothing()
    .returning({ id: topicSubscriptions.recipientId });
  return rows.length;
}

/** Unsubscribes one recipient; false when it was not subscribed. */
export async function removeSubscriber(db: Db, tenantId: string, key: string, recipientId: string): Promise<boolean> {
  const rows = await db
    .delete(topicSubscriptions)
    .where(and(eq(topicSubscriptions.tenantId, tenantId), eq(topicSubscriptions.topicKey, key), eq(topicSubscriptions.recipientId, recipientId)))
    .returning({ id: topicSubscriptions.recipientId });
  return rows.length > 0;
}

/** A page of a topic's subscribers by recipient id after `afterId` (keyset on the primary key). */
export async function subscriberPage(db: Db, tenantId: string, key: string, afterId: string | null, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: topicSubscriptions.recipientId })
    .from(topicSubscriptions)
    .where(
      and(
        eq(topicSubscriptions.tenantId, tenantId),
        eq(topicSubscriptions.topicKey, key),
        afterId === null ? undefined : gt(topicSubscriptions.recipientId, afterId),
      ),
    )
    .orderBy(asc(topicSubscriptions.recipientId))
    .limit(limit);
  return rows.map((r) => r.id);
}


/** Which of `ids` are not the tenant's recipients. */
export async function unknownRecipients(db: Db, tenantId: string, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const found = await db
    .select({ id: recipients.id })
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), inArray(recipients.id, [...ids])));
  const known = new Set(found.map((r) => r.id));
  return ids.filter((id) => !known.has(id));
}
