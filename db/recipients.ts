// Recipients: the row as the rest of the system sees it, and how the API stores and reads them.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Preferences, Recipient } from '../domain/types.js';
import type { Db } from './client.js';
import { recipients } from './schema.js';

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
}

/** The columns a PUT replaces; preferences and createdAt are not among them. */
const REPLACED = ['email', 'phone', 'slack', 'webhookUrl', 'pagerRoutingKey', 'whatsapp', 'telegramChatId', 'locale', 'timezone', 'name'] as const;

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

/** Every recipient id of the tenant, in order. */
export async function allRecipientIds(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.select({ id: recipients.id }).from(recipients).where(eq(recipients.tenantId, tenantId)).orderBy(asc(recipients.id));
  return rows.map((r) => r.id);
}
