// Recipients: the row as the rest of the system sees it, and how the API stores and reads them.
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Preferences, Recipient } from '../domain/types.js';
import { rowsOf, type Db } from './client.js';
import { recordLifecycleEvent } from './lifecycle-events.js';
import { notifications, recipients } from './schema.js';

export type RecipientRow = typeof recipients.$inferSelect;

export function toRecipient(row: RecipientRow): Recipient {
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    slack: row.slack,
    webhookUrl: row.webhookUrl,
    pagerRoutingKey: row.pagerRoutingKey,
    whatsapp: row.whatsapp,
    telegramChatId: row.telegramChatId,
    locale: row.locale,
    timezone: row.timezone,
    name: row.name,
  };
}

/** A recipient as `PUT /v1/recipients/{id}` (or one bulk entry) gives it: absent means unset. */
export interface RecipientInput {
  id: string;
  email?: string | null;
  phone?: string | null;
  slack?: string | null;
  webhookUrl?: string | null;
  pagerRoutingKey?: string | null;
  whatsapp?: string | null;
  telegramChatId?: string | null;
  locale?: string;
  timezone?: string;
  name?: string | null;
  /** Free attributes for segments; absent: none. */
  attributes?: Record<string, unknown>;
}

/** The columns a PUT replaces; preferences and createdAt are not among them. */
const REPLACED = ['email', 'phone', 'slack', 'webhookUrl', 'pagerRoutingKey', 'whatsapp', 'telegramChatId', 'locale', 'timezone', 'name', 'attributes'] as const;

/**
 * Creates or replaces `inputs` (distinct ids) in one statement, so all are written or none:
 * `insert … on conflict (tenant_id, id) do update` sets the addresses, locale, timezone and
 * name from the row offered (`excluded`), and keeps an existing recipient's preferences and
 * createdAt. Returns the stored rows.
 */
export async function upsertRecipients(db: Db, tenantId: string, inputs: readonly RecipientInput[]) {
  if (inputs.length === 0) return [];
  const rows = inputs.map((r) => ({
    tenantId,
    id: r.id,
    email: r.email ?? null,
    phone: r.phone ?? null,
    slack: r.slack ?? null,
    webhookUrl: r.webhookUrl ?? null,
    pagerRoutingKey: r.pagerRoutingKey ?? null,
    whatsapp: r.whatsapp ?? null,
    telegramChatId: r.telegramChatId ?? null,
    locale: r.locale ?? 'en',
    timezone: r.timezone ?? 'UTC',
    name: r.name ?? null,
    attributes: r.attributes ?? {},
  }));
  const set = Object.fromEntries(REPLACED.map((key) => [key, sql`excluded.${sql.identifier(recipients[key].name)}`]));
  return db
    .insert(recipients)
    .values(rows)
    .onConflictDoUpdate({ target: [recipients.tenantId, recipients.id], set: { ...set, updatedAt: sql`now()` } })
    .returning();
}

export async function findRecipient(db: Db, tenantId: string, id: string): Promise<RecipientRow | undefined> {
  const [row] = await db
    .select()
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, id)));
  return row;
}

/** Replaces a recipient's preferences; undefined when there is no such recipient. */
export async function setPreferences(db: Db, tenantId: string, id: string, preferences: Preferences): Promise<Preferences | undefined> {
  const [row] = await db
    .update(recipients)
    .set({ preferences, updatedAt: sql`now()` })
    .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, id)))
    .returning({ preferences: recipients.preferences });
  return row?.preferences;
}

/** Recipient ids looked up per query (within the driver's bind-parameter limit). */
const ID_CHUNK = 5000;

/** Those of `ids` (one page of an audience) that are the tenant's recipients, by id, with their preferences. */
export async function recipientsById(db: Db, tenantId: string, ids: readonly string[]): Promise<Map<string, { recipient: Recipient; preferences: Preferences }>> {
  const rows = await db
    .select()
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), inArray(recipients.id, [...ids])));
  return new Map(rows.map((r) => [r.id, { recipient: toRecipient(r), preferences: (r.preferences ?? {}) as Preferences }]));
}

/** Those of `ids` that are the tenant's recipients: their rows by id. */
export async function recipientsByIdRows(db: Db, tenantId: string, ids: readonly string[]): Promise<Map<string, RecipientRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select()
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), inArray(recipients.id, [...ids])));
  return new Map(rows.map((r) => [r.id, r]));
}

/** Which of `ids` are the tenant's recipients. */
export async function existingRecipientIds(db: Db, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  const known = new Set<string>();
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const found = await db
      .select({ id: recipients.id })
      .from(recipients)
      .where(and(eq(recipients.tenantId, tenantId), inArray(recipients.id, ids.slice(i, i + ID_CHUNK))));
    for (const r of found) known.add(r.id);
  }
  return known;
}

/** A page of the tenant's recipients in id order after `afterId` (keyset: the cost of a page does not grow with the tenant). */
export async function recipientPage(db: Db, tenantId: string, afterId: string | null, limit: number): Promise<RecipientRow[]> {
  return db
    .select()
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), afterId === null ? undefined : gt(recipients.id, afterId)))
    .orderBy(asc(recipients.id))
    .limit(limit);
}

/** Every recipient id of the tenant, in order. */
export async function allRecipientIds(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.select({ id: recipients.id }).from(recipients).where(eq(recipients.tenantId, tenantId)).orderBy(asc(recipients.id));
  return rows.map((r) => r.id);
}

/**
 * Opts a recipient out of one category on one channel (`categories[category].channels[channel] =
 * false`), leaving the rest of its preferences as they are, and records a
 * `recipient.unsubscribed` lifecycle event in the same transaction. One statement decides: of
 * concurrent calls (a mail provider's one-click POST retried, the person's own click) one
 * changes it and records the event, the others find it done. Answers 'unsubscribed',
 * 'already' (it was already out), or undefined when there is no such recipient.
 */
export async function optOutOfCategory(
  db: Db,
  o: { tenantId: string; recipientId: string; category: string; channel: string },
): Promise<'unsubscribed' | 'already' | undefined> {
  const p = recipients.preferences;
  const cat = sql`${o.category}::text`;
  const ch = sql`${o.channel}::text`;
  const categories = sql`coalesce(${p} -> 'categories', '{}'::jsonb)`;
  const entry = sql`coalesce(${p} -> 'categories' -> ${cat}, '{}'::jsonb)`;
  const channels = sql`coalesce(${p} -> 'categories' -> ${cat} -> 'channels', '{}'::jsonb)`;
  return db.transaction(async (tx) => {
    const [changed] = await tx
      .update(recipients)
      .set({
        preferences: sql`${p} || jsonb_build_object('categories', ${categories} || jsonb_build_object(${cat}, ${entry} || jsonb_build_object('channels', ${channels} || jsonb_build_object(${ch}, false))))`,
        updatedAt: sql`now()`,
      })
      .where(
        and(
          eq(recipients.tenantId, o.tenantId),
          eq(recipients.id, o.recipientId),
          sql`(${p} -> 'categories' -> ${cat} -> 'channels' ->> ${ch}) is distinct from 'false'`,
        ),
      )
      .returning({ id: recipients.id });
    if (!changed) return (await findRecipient(tx, o.tenantId, o.recipientId)) ? 'already' : undefined;
    await recordLifecycleEvent(tx, { tenantId: o.tenantId, type: 'recipient.unsubscribed', recipientId: o.recipientId, data: { category: o.category, channel: o.channel } });
    return 'unsubscribed';
  });
}

/**
 * The categories a preference page offers besides those in the recipient's preferences: those of
 * the tenant's latest 1,000 notifications and of the recipient's latest 200 (both read through
 * their indexes, so the cost is bounded however many notifications the tenant has), at most `max`.
 */
export async function recentCategories(db: Db, tenantId: string, recipientId: string, max = 50): Promise<string[]> {
  const rows = await db.execute(sql`
    select distinct category from (
      (select category from ${notifications} where tenant_id = ${tenantId} order by created_at desc limit 1000)
      union all
      (select category from ${notifications} where tenant_id = ${tenantId} and recipient_id = ${recipientId} order by created_at desc limit 200)
    ) recent where category is not null order by category limit ${max}`);
  return rowsOf<{ category: string }>(rows).map((r) => r.category);
}
