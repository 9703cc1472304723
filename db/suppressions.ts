// Suppressions: per tenant and channel, keyed by the address's hash (db/suppressions-hash.ts), so
// a suppression outlives the erasure of its address. The wake's check is one lookup by primary
// key for every channel of the notification.
import { and, desc, eq, inArray, lt, ne, or } from 'drizzle-orm';
import type { SuppressionReason } from '../domain/suppressions.js';
import type { Db } from './client.js';
import { recordLifecycleEvent } from './lifecycle-events.js';
import { receipts, recipients, suppressions } from './schema.js';
import { addressHash, normaliseAddress } from './suppressions-hash.js';

export type SuppressionRow = typeof suppressions.$inferSelect;

/** A position in the newest-first order: the last row of the previous page. */
export interface SuppressionCursor {
  createdAt: Date;
  channel: string;
  addressHash: string;
}

/** Up to `limit` of the tenant's suppressions (of one channel, when given), newest first, after `cursor`. */
export async function suppressionPage(db: Db, tenantId: string, filter: { channel?: string; after?: SuppressionCursor }, limit: number): Promise<SuppressionRow[]> {
  const conds = [eq(suppressions.tenantId, tenantId)];
  if (filter.channel) conds.push(eq(suppressions.channel, filter.channel));
  if (filter.after) {
    const cur = filter.after;
    conds.push(
      or(
        lt(suppressions.createdAt, cur.createdAt),
        and(eq(suppressions.createdAt, cur.createdAt), lt(suppressions.channel, cur.channel)),
        and(eq(suppressions.createdAt, cur.createdAt), eq(suppressions.channel, cur.channel), lt(suppressions.addressHash, cur.addressHash)),
      )!,
    );
  }
  return db
    .select()
    .from(suppressions)
    .where(and(...conds))
    .orderBy(desc(suppressions.createdAt), desc(suppressions.channel), desc(suppressions.addressHash))
    .limit(limit);
}

/**
 * Suppresses `address` on `channel` for the tenant unless it already is (whatever the reason):
 * answers the suppression as stored.
 */
export async function addSuppression(db: Db, tenantId: string, channel: string, address: string, reason: SuppressionReason): Promise<SuppressionRow> {
  const hash = addressHash(channel, address);
  const [inserted] = await db
    .insert(suppressions)
    .values({ tenantId, channel, addressHash: hash, address: normaliseAddress(channel, address), reason })
    .onConflictDoNothing()
    .returning();
  if (inserted) return inserted;
  const [existing] = await db
    .select()
    .from(suppressions)
    .where(and(eq(suppressions.tenantId, tenantId), eq(suppressions.channel, channel), eq(suppressions.addressHash, hash)));
  return existing;
}

/**
 * Lifts one suppression unless its reason is `stop` (only the person's START lifts that):
 * `lifted`, `stop` (left as it is) or `none`.
 */
export async function liftSuppression(db: Db, tenantId: string, channel: string, address: string): Promise<'lifted' | 'stop' | 'none'> {
  const key = and(eq(suppressions.tenantId, tenantId), eq(suppressions.channel, channel), eq(suppressions.addressHash, addressHash(channel, address)));
  const lifted = await db
    .delete(suppressions)
    .where(and(key, ne(suppressions.reason, 'stop')))
    .returning({ channel: suppressions.channel });
  if (lifted.length > 0) return 'lifted';
  const [kept] = await db.select({ reason: suppressions.reason }).from(suppressions).where(key);
  return kept ? 'stop' : 'none';
}

/**
 * Which of these (channel, address) pairs the tenant has suppressed, as a test: one statement,
 * an index scan of the primary key (tenant =, channel in, hash in); pairs it names across (a
 * channel with another's hash) are dropped here.
 */
export async function suppressedAmong(db: Db, tenantId: string, targets: ReadonlyArray<{ channel: string; address: string }>): Promise<(channel: string, address: string) => boolean> {
  if (targets.length === 0) return () => false;
  const key = (channel: string, hash: string) => `${channel}\u0000${hash}`;
  const rows = await db
    .select({ channel: suppressions.channel, addressHash: suppressions.addressHash })
    .from(suppressions)
    .where(
      and(
        eq(suppressions.tenantId, tenantId),
        inArray(suppressions.channel, [...new Set(targets.map((t) => t.channel))]),
        inArray(suppressions.addressHash, [...new Set(targets.map((t) => addressHash(t.channel, t.address)))]),
      ),
    );
  const found = new Set(rows.map((r) => key(r.channel, r.addressHash)));
  return (channel, address) => found.has(key(channel, addressHash(channel, address)));
}

/** Tenants per statement of an inbound keyword: its rows stay far below PostgreSQL's 65,535 parameters. */
const TENANTS_PER_STATEMENT = 1000;

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * A keyword a person texted to a number (README: "SMS STOP"), applied once per provider message
 * id (`receiptId`), in one transaction: `duplicate` when that id was applied before.
 *
 * - `stop`: `channels` of `number` suppressed with reason `stop` for each tenant (one suppressed
 *   for another reason becomes `stop`), and a `recipient.unsubscribed` lifecycle event for each
 *   tenant where something changed, naming each recipient of that number (none: one event
 *   without a recipient). `event` is the events' data: it carries no number.
 * - `start`: the tenants' `stop` suppressions of `number` on `channels` lifted.
 *
 * The platform's number concerns every tenant without an integration: the tenants go in chunks.
 */
export async function applyInboundKeyword(
  db: Db,
  args: { receiptId: string; keyword: 'stop' | 'start'; tenantIds: readonly string[]; channels: readonly string[]; number: string; event: Record<string, unknown> },
): Promise<{ duplicate: boolean; tenants: string[] }> {
  return db.transaction(async (tx) => {
    const recorded = await tx.insert(receipts).values({ id: args.receiptId, deliveryId: null, status: `inbound:${args.keyword}` }).onConflictDoNothing().returning({ id: receipts.id });
    if (recorded.length === 0) return { duplicate: true, tenants: [] };
    const address = normaliseAddress('sms', args.number);
    const hashes = args.channels.map((c) => addressHash(c, address));
    const tenants: string[] = [];
    for (const tenantIds of chunks(args.tenantIds, TENANTS_PER_STATEMENT)) {
      if (args.keyword === 'start') {
        const lifted = await tx
          .delete(suppressions)
          .where(
            and(
              inArray(suppressions.tenantId, tenantIds),
              inArray(suppressions.channel, [...args.channels]),
              inArray(suppressions.addressHash, hashes),
              eq(suppressions.reason, 'stop'),
            ),
          )
          .returning({ tenantId: suppressions.tenantId });
        tenants.push(...new Set(lifted.map((r) => r.tenantId)));
        continue;
      }
      const changed = await tx
        .insert(suppressions)
        .values(tenantIds.flatMap((tenantId) => args.channels.map((channel) => ({ tenantId, channel, addressHash: addressHash(channel, address), address, reason: 'stop' as const }))))
        .onConflictDoUpdate({
          target: [suppressions.tenantId, suppressions.channel, suppressions.addressHash],
          set: { reason: 'stop' },
          setWhere: ne(suppressions.reason, 'stop'),
        })
        .returning({ tenantId: suppressions.tenantId });
      const stopped = [...new Set(changed.map((r) => r.tenantId))];
      if (stopped.length === 0) continue;
      tenants.push(...stopped);
      const people = await tx
        .select({ tenantId: recipients.tenantId, id: recipients.id })
        .from(recipients)
        .where(and(inArray(recipients.tenantId, stopped), or(eq(recipients.phone, address), eq(recipients.whatsapp, address))));
      const events = stopped.flatMap((tenantId) => {
        const ids = people.filter((p) => p.tenantId === tenantId).map((p) => p.id);
        return (ids.length ? ids : [null]).map((recipientId) => ({ tenantId, type: 'recipient.unsubscribed', recipientId, data: args.event }));
      });
      for (const event of events) await recordLifecycleEvent(tx, event);
    }
    return { duplicate: false, tenants };
  });
}

/**
 * A provider's word that a number opted out (Twilio 21610 on a send): `channels` of it
 * suppressed `stop` for the tenant, and a `recipient.unsubscribed` event for the recipient when
 * that is new. Answers whether it was.
 */
export async function recordProviderStop(
  db: Db,
  args: { tenantId: string; recipientId: string; channels: readonly string[]; number: string; event: Record<string, unknown> },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const address = normaliseAddress('sms', args.number);
    const changed = await tx
      .insert(suppressions)
      .values(args.channels.map((channel) => ({ tenantId: args.tenantId, channel, addressHash: addressHash(channel, address), address, reason: 'stop' as const })))
      .onConflictDoUpdate({
        target: [suppressions.tenantId, suppressions.channel, suppressions.addressHash],
        set: { reason: 'stop' },
        setWhere: ne(suppressions.reason, 'stop'),
      })
      .returning({ tenantId: suppressions.tenantId });
    if (changed.length === 0) return false;
    await recordLifecycleEvent(tx, { tenantId: args.tenantId, type: 'recipient.unsubscribed', recipientId: args.recipientId, data: args.event });
    return true;
  });
}

/** Suppresses `addresses` on `channel` for the tenant (a provider's bounce or complaint), unless already suppressed. */
export async function addSuppressions(db: Db, tenantId: string, channel: string, addresses: readonly string[], reason: SuppressionReason): Promise<void> {
  if (addresses.length === 0) return;
  await db
    .insert(suppressions)
    .values(addresses.map((a) => ({ tenantId, channel, addressHash: addressHash(channel, a), address: normaliseAddress(channel, a), reason })))
    .onConflictDoNothing();
}
