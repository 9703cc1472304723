// Integrations: a tenant's own providers per channel, their sealed credentials and the circuit
// breakers' last state.
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { integrations } from './schema.js';

export type IntegrationRow = typeof integrations.$inferSelect;
export type IntegrationHealth = IntegrationRow['health'];

/** Creates the integration or replaces it (credentials, settings, order); its health starts over. */
export async function putIntegration(
  db: Db,
  row: Pick<IntegrationRow, 'tenantId' | 'id' | 'channel' | 'provider' | 'credentials' | 'masked' | 'settings' | 'priority' | 'enabled'>,
): Promise<IntegrationRow> {
  const health: IntegrationHealth = { state: 'closed', failures: 0, openedAt: null };
  const [stored] = await db
    .insert(integrations)
    .values({ ...row, health })
    .onConflictDoUpdate({
      target: [integrations.tenantId, integrations.id],
      set: { channel: row.channel, provider: row.provider, credentials: row.credentials, masked: row.masked, settings: row.settings, priority: row.priority, enabled: row.enabled, health, updatedAt: sql`now()` },
    })
    .returning();
  return stored;
}

/** The tenant's integrations (of one channel, when given), in priority order. */
export async function integrationsOf(db: Db, tenantId: string, channel?: string): Promise<IntegrationRow[]> {
  return db
    .select()
    .from(integrations)
    .where(and(eq(integrations.tenantId, tenantId), channel ? eq(integrations.channel, channel) : undefined))
    .orderBy(asc(integrations.priority), asc(integrations.id));
}

export async function deleteIntegration(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(integrations)
    .where(and(eq(integrations.tenantId, tenantId), eq(integrations.id, id)))
    .returning({ id: integrations.id });
  return rows.length > 0;
}

/** Records a breaker's state as a worker saw it change. */
export async function recordIntegrationHealth(db: Db, tenantId: string, id: string, health: IntegrationHealth): Promise<void> {
  await db
    .update(integrations)
    .set({ health })
    .where(and(eq(integrations.tenantId, tenantId), eq(integrations.id, id)));
}

/** Every integration whose credentials are sealed under another key than `keyId` (a rotation's work). */
export async function integrationsSealedElsewhere(db: Db, keyId: string): Promise<Array<Pick<IntegrationRow, 'tenantId' | 'id' | 'credentials'>>> {
  return db
    .select({ tenantId: integrations.tenantId, id: integrations.id, credentials: integrations.credentials })
    .from(integrations)
    .where(ne(sql`split_part(${integrations.credentials}, '.', 2)`, keyId));
}

/** Replaces a row's sealed credentials if they are still `before` (a concurrent PUT wins). */
export async function replaceSealedCredentials(db: Db, tenantId: string, id: string, before: string, after: string): Promise<void> {
  await db
    .update(integrations)
    .set({ credentials: after })
    .where(and(eq(integrations.tenantId, tenantId), eq(integrations.id, id), eq(integrations.credentials, before)));
}
