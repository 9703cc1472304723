// Topics: named lists of a tenant's recipients that rules (`recipients: {topic}`) and broadcasts
// (`topic`) address. Subscribers are added up to 1,000 at a time and read in keyset pages.
import type { Db } from '../db/client.js';
import { addSubscribers, countSubscribers, deleteTopic, findTopic, removeSubscriber, subscriberPage, unknownRecipients, upsertTopic, type TopicRow } from '../db/topics.js';
import { invalidInput, missing } from '../domain/errors.js';

export const SUBSCRIBER_PAGE = 1000;

function present(row: TopicRow, subscribers: number) {
  return { key: row.key, name: row.name, subscribers, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export async function putTopic(db: Db, tenantId: string, key: string, body: { name?: string | null }) {
  const row = await upsertTopic(db, tenantId, key, body.name ?? null);
  return present(row, await countSubscribers(db, tenantId, key));
}

export async function getTopic(db: Db, tenantId: string, key: string) {
  const row = await findTopic(db, tenantId, key);
  if (!row) throw missing('Topic');
  return present(row, await countSubscribers(db, tenantId, key));
}

export async function removeTopic(db: Db, tenantId: string, key: string): Promise<void> {
  if (!(await deleteTopic(db, tenantId, key))) throw missing('Topic');
}

/**
 * Subscribes recipients (already subscribed ones are left as they are). Every one must be the
 * tenant's recipient: an unknown one is a 400 naming it, and nothing is written.
 */
export async function subscribe(db: Db, tenantId: string, key: string, recipientIds: string[]): Promise<{ added: number }> {
  if (!(await findTopic(db, tenantId, key))) throw missing('Topic');
  const ids = [...new Set(recipientIds)];
  const unknown = await unknownRecipients(db, tenantId, ids);
  if (unknown.length) {
    const named = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ', …' : '');
    throw invalidInput(`${unknown.length} recipient(s) do not exist: ${named}`, [{ path: 'recipients', message: `unknown recipients: ${named}` }]);
  }
  return { added: await addSubscribers(db, tenantId, key, ids) };
}

export async function unsubscribe(db: Db, tenantId: string, key: string, recipientId: string): Promise<void> {
  if (!(await findTopic(db, tenantId, key))) throw missing('Topic');
  if (!(await removeSubscriber(db, tenantId, key, recipientId))) throw missing('Subscription');
}

const encode = (id: string) => Buffer.from(id).toString('base64url');
function decode(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(id)) throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return id;
}

/** A page of subscribers by recipient id; `nextCursor` continues it. */
export async function listSubscribers(db: Db, tenantId: string, key: string, q: { cursor?: string; limit: number }) {
  if (!(await findTopic(db, tenantId, key))) throw missing('Topic');
  const ids = await subscriberPage(db, tenantId, key, q.cursor ? decode(q.cursor) : null, q.limit + 1);
  const data = ids.slice(0, q.limit);
  return { data, nextCursor: ids.length > q.limit ? encode(data[data.length - 1]) : null };
}
