// New inbox rows wake the inbox's SSE streams (api/inbox-streams.ts) through PostgreSQL's
// LISTEN/NOTIFY, which PGlite has too. The writers of inbox rows (activities/channels/inapp.ts,
// activities/broadcast-batch.ts) notify after their insert; inside a transaction PostgreSQL
// delivers at commit, once per distinct payload. The payload holds ids only, never content.
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';

export const INBOX_CHANNEL = 'tocsin_inbox';

/** The payload for one recipient's inbox: `["<tenant>","<recipient>"]`. */
export const inboxKey = (tenantId: string, recipientId: string) => JSON.stringify([tenantId, recipientId]);

/** The key a payload names, or null when it is not one of ours. */
export function inboxKeyOf(payload: string): string | null {
  try {
    const v: unknown = JSON.parse(payload);
    return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string') ? inboxKey(v[0], v[1]) : null;
  } catch {
    return null;
  }
}

/** Tells the streams of these recipients' inboxes that rows were added (one statement). */
export async function notifyInbox(db: Db, tenantId: string, recipientIds: readonly string[]): Promise<void> {
  const keys = [...new Set(recipientIds)].map((r) => inboxKey(tenantId, r));
  if (keys.length === 0) return;
  await db.execute(sql`select pg_notify(${INBOX_CHANNEL}, k) from unnest(array[${sql.join(keys.map((k) => sql`${k}`), sql`, `)}]::text[]) as k`);
}
