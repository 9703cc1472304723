// Integrations: a tenant's own providers per channel, their sealed credentials and the circuit
// breakers' last state.
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import { rowsOf, type Db } from './client.js';
import { integrationSends, integrations, tenants } from './schema.js';

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

/** How long an unfinished send counts against the pace: longer than an attempt runs (its worker died). */
const IN_FLIGHT_MS = 120_000;

/**
 * Takes one send of an integration's pace: at most `limit` sends within any `windowMs`, across
 * every worker (claims of one integration are serialized by a transaction-scoped advisory lock,
 * on the database's clock). A send counts from its claim until `windowMs` after it ended
 * (finishPace), so two sends `limit` apart reach the provider at least `windowMs` apart however
 * long each took on the way. Answers the claim's id when the send may go now, else how many ms
 * to wait.
 */
export async function claimPace(db: Db, tenantId: string, integrationId: string, limit: number, windowMs: number): Promise<{ claim: number } | { waitMs: number }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`pace\u0001${tenantId}\u0001${integrationId}`}, 0))`);
    const window = sql`${`${windowMs} milliseconds`}::interval`;
    const inFlight = sql`${`${IN_FLIGHT_MS} milliseconds`}::interval`;
    await tx.execute(sql`delete from integration_sends where tenant_id = ${tenantId} and integration_id = ${integrationId}
      and ((done and at <= clock_timestamp() - ${window}) or (not done and at <= clock_timestamp() - ${inFlight}))`);
    const [row] = rowsOf<{ n: number | string; left: number | string | null }>(
      await tx.execute(sql`select count(*) as n,
          greatest(1, ceil(extract(epoch from min(case when done then at + ${window} else clock_timestamp() + interval '50 milliseconds' end) - clock_timestamp()) * 1000))::int as left
        from integration_sends where tenant_id = ${tenantId} and integration_id = ${integrationId}`),
    );
    if (Number(row.n) < limit) {
      const [claim] = await tx.insert(integrationSends).values({ tenantId, integrationId, at: sql`clock_timestamp()` }).returning({ id: integrationSends.id });
      return { claim: claim.id };
    }
    return { waitMs: Number(row.left) };
  });
}

/** The send of `claim` ended (sent or not): it counts for one more window from now. */
export async function finishPace(db: Db, claim: number): Promise<void> {
  await db.update(integrationSends).set({ at: sql`clock_timestamp()`, done: true }).where(eq(integrationSends.id, claim));
}

/** Every enabled Twilio integration of the channel, over all tenants (who sends from a number). */
export async function twilioIntegrations(db: Db, channel: string): Promise<IntegrationRow[]> {
  return db
    .select()
    .from(integrations)
    .where(and(eq(integrations.channel, channel), eq(integrations.provider, 'twilio'), eq(integrations.enabled, true)));
}

/** The tenants without an enabled integration of the channel: theirs go through the platform's sender. */
export async function tenantsWithoutIntegration(db: Db, channel: string): Promise<string[]> {
  const rows = await db
    .select({ id: tenants.id })
    .from(tenants)
    .where(
      sql`not exists (select 1 from ${integrations} where ${integrations.tenantId} = ${tenants.id} and ${integrations.channel} = ${channel} and ${integrations.enabled})`,
    );
  return rows.map((r) => r.id);
}
