// The in-app inbox as the API shows it: messages newest first with a cursor, read and archive
// marks, deletes. The tenant's routes see every message; the recipient's own (/v1/me) hide the
// archived ones unless asked for them.
import type { Db } from '../db/client.js';
import { deleteInboxMessage, inboxCounts, inboxPage, markInbox, type InboxMessageRow } from '../db/inbox.js';
import { findRecipient } from '../db/recipients.js';
import { invalidInput, missing } from '../domain/errors.js';
import { signalFlowReads } from './flows.js';
import type { TemporalDeps } from './temporal.js';

export function presentInboxMessage(m: InboxMessageRow) {
  return {
    id: m.id,
    notificationId: m.notificationId,
    title: m.title,
    body: m.body,
    category: m.category,
    read: m.read,
    archived: m.archived,
    ...(m.url ? { url: m.url } : {}),
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

const flag = (v: 'true' | 'false' | undefined) => (v === 'true' ? true : v === 'false' ? false : undefined);

/**
 * A page of the inbox, newest first, with the unread count. `archived` filters when given; the
 * count is then of the unarchived messages (what a recipient's bell shows).
 */
export async function listInbox(db: Db, tenantId: string, rid: string, q: { unread?: 'true' | 'false'; archived?: 'true' | 'false'; cursor?: string; limit: number }) {
  const read = q.unread === undefined ? undefined : !flag(q.unread);
  const archived = flag(q.archived);
  const rows = await inboxPage(db, tenantId, rid, { read, archived, beforeSeq: q.cursor ? decodeSeqCursor(q.cursor) : undefined }, q.limit + 1);
  // An empty inbox of a recipient that does not exist (never did, or erased) is a 404.
  if (rows.length === 0 && !(await findRecipient(db, tenantId, rid))) throw missing('Recipient');
  const page = rows.slice(0, q.limit);
  const { unread } = await inboxCounts(db, tenantId, rid, archived === undefined ? {} : { archived: false });
  return {
    data: page.map(presentInboxMessage),
    nextCursor: rows.length > q.limit ? Buffer.from(String(page[page.length - 1].seq)).toString('base64url') : null,
    unread,
  };
}

/**
 * Marks one message read: 1 if it was unread, else 0. A flow run waiting for this item's read
 * (usecases/flows.ts) is signalled when `temporal` is given (the API always gives it).
 */
export async function readInboxMessage(db: Db, tenantId: string, rid: string, messageId: string, temporal?: TemporalDeps): Promise<{ updated: number }> {
  const updated = await markInbox(db, 'read', tenantId, rid, messageId);
  if (updated === null) throw missing('Inbox message');
  await signalFlowReads({ db, temporal }, tenantId, updated);
  return { updated: updated.length };
}

/** Marks every message read: how many were unread; flow runs waiting for their reads are signalled. */
export async function readAllInbox(db: Db, tenantId: string, rid: string, temporal?: TemporalDeps): Promise<{ updated: number }> {
  const updated = (await markInbox(db, 'read', tenantId, rid)) ?? [];
  await signalFlowReads({ db, temporal }, tenantId, updated);
  return { updated: updated.length };
}

/** Archives one message (the recipient's inbox hides it from then on): 1 if it was not archived, else 0. */
export async function archiveInboxMessage(db: Db, tenantId: string, rid: string, messageId: string): Promise<{ updated: number }> {
  const updated = await markInbox(db, 'archived', tenantId, rid, messageId);
  if (updated === null) throw missing('Inbox message');
  return { updated: updated.length };
}

/** Counts of what the recipient's own inbox shows: the unarchived messages. */
export const ownInboxCounts = (db: Db, tenantId: string, rid: string) => inboxCounts(db, tenantId, rid, { archived: false });

export async function removeInboxMessage(db: Db, tenantId: string, rid: string, messageId: string): Promise<void> {
  if (!(await deleteInboxMessage(db, tenantId, rid, messageId))) throw missing('Inbox message');
}
