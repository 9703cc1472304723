// Rules: which notifications an event accepts. The definition is the PUT body, defaults applied.
import { and, asc, eq, gt } from 'drizzle-orm';
import type { RuleDefinition } from '../domain/events.js';
import type { Db } from './client.js';
import { rules } from './schema.js';

export interface RuleRow {
  key: string;
  definition: RuleDefinition;
  createdAt: Date;
  updatedAt: Date;
}

const columns = { key: rules.key, definition: rules.definition, createdAt: rules.createdAt, updatedAt: rules.updatedAt };
const asRule = (r: { key: string; definition: unknown; createdAt: Date; updatedAt: Date }): RuleRow => ({ ...r, definition: r.definition as RuleDefinition });

export async function upsertRule(db: Db, tenantId: string, key: string, definition: RuleDefinition): Promise<RuleRow> {
  const values = { event: definition.event, definition: definition as unknown as Record<string, unknown>, enabled: definition.enabled };
  const [row] = await db
    .insert(rules)
    .values({ tenantId, key, ...values })
    .onConflictDoUpdate({ target: [rules.tenantId, rules.key], set: { ...values, updatedAt: new Date() } })
    .returning(columns);
  return asRule(row);
}

export async function findRule(db: Db, tenantId: string, key: string): Promise<RuleRow | undefined> {
  const [row] = await db
    .select(columns)
    .from(rules)
    .where(and(eq(rules.tenantId, tenantId), eq(rules.key, key)));
  return row ? asRule(row) : undefined;
}

/** A page of the tenant's rules by key. */
export async function rulePage(db: Db, tenantId: string, afterKey: string | null, limit: number): Promise<RuleRow[]> {
  const rows = await db
    .select(columns)
    .from(rules)
    .where(and(eq(rules.tenantId, tenantId), afterKey === null ? undefined : gt(rules.key, afterKey)))
    .orderBy(asc(rules.key))
    .limit(limit);
  return rows.map(asRule);
}

export async function deleteRule(db: Db, tenantId: string, key: string): Promise<boolean> {
  const rows = await db
    .delete(rules)
    .where(and(eq(rules.tenantId, tenantId), eq(rules.key, key)))
    .returning({ key: rules.key });
  return rows.length > 0;
}

/** The tenant's enabled rules for an event name, by key (through the rules_event index). */
export async function enabledRulesFor(db: Db, tenantId: string, event: string, limit: number): Promise<RuleRow[]> {
  const rows = await db
    .select(columns)
    .from(rules)
    .where(and(eq(rules.tenantId, tenantId), eq(rules.event, event), eq(rules.enabled, true)))
    .orderBy(asc(rules.key))
    .limit(limit);
  return rows.map(asRule);
}
