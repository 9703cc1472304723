// The in-app inbox as the API shows it: messages newest first with a cursor, read marks, deletes.
import type { Db } from '../db/client.js';
import { deleteInboxMessage, inboxCounts, inboxPage, markInboxRead, type InboxMessageRow } from '../db/inbox.js';
import { findRecipient } from '../db/recipients.js';
import { invalidInput, missing } from '../domain/errors.js';

export function presentInboxMessage(m: InboxMessageRow) {
  return {
    id: m.id,
    notificationId: m.notificationId,
    title: m.title,
    body: m.body,
    category: m.category,
    read: m.read,
    createdAt: m.createdAt.toISOString(),
  };
}

/** A position this API handed out as a cursor, or 400: anything else never reaches a query. */
function decodeSeqCursor(cursor: string): number {
  const decoded = Buffer.from(cursor, 'base64url').toString();
  const seq = Number(decoded);
  if (!/^\d{1,16}$/.test(decoded) || !Number.isSafeInteger(seq)) throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return seq;
}

/** A page of the inbox, newest first, with the unread count. */
export async function listInbox(db: Db, tenantId: string, rid: string, q: { unread?: 'true' | 'false'; cursor?: string; limit: number }) {
  const read = q.unread === 'true' ? false : q.unread === 'false' ? true : undefined;
  const rows = await inboxPage(db, tenantId, rid, { read, beforeSeq: q.cursor ? decodeSeqCursor(q.cursor) : undefined }, q.limit + 1);
  // An empty inbox of a recipient that does not exist (never did, or erased) is a 404.
  if (rows.length === 0 && !(await findRecipient(db, tenantId, rid))) throw missing('Recipient');
  const page = rows.slice(0, q.limit);
  const { unread } = await inboxCounts(db, tenantId, rid);
  return {
    data: page.map(presentInboxMessage),
    nextCursor: rows.length > q.limit ? Buffer.from(String(page[page.length - 1].seq)).toString('base64url') : null,
    unread,
  };
}

/** Marks one message read: 1 if it was unread, else 0. */
export async function readInboxMessage(db: Db, tenantId: string, rid: string, messageId: string): Promise<{ updated: number }> {
  const updated = await markInboxRead(db, tenantId, rid, messageId);
  if (updated === null) throw missing('Inbox message');
  return { updated };
}

/** Marks every message read: how many were unread. */
export async function readAllInbox(db: Db, tenantId: string, rid: string): Promise<{ updated: number }> {
  return { updated: (await markInboxRead(db, tenantId, rid)) ?? 0 };
}

export async function removeInboxMessage(db: Db, tenantId: string, rid: string, messageId: string): Promise<void> {
  if (!(await deleteInboxMessage(db, tenantId, rid, messageId))) throw missing('Inbox message');
}
