// Tenants and their API keys (stored as SHA-256 hashes, never the key).
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from './client.js';
import { apiKeys, tenants } from './schema.js';

interface ApiKeyRow {
  prefix: string;
  tenantId: string;
  hash: string;
}

export interface TenantSettingsRow {
  id: string;
  name: string;
  criticalRatePerMinute: number | null;
}

/** A tenant and its first key, together or not at all. */
export async function insertTenant(db: Db, tenant: TenantSettingsRow & { webhookSecret: string }, key: ApiKeyRow): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(tenants).values(tenant);
    await tx.insert(apiKeys).values(key);
  });
}

/** Sets the fields given; undefined when there is no such tenant. */
export async function updateTenantSettings(
  db: Db,
  id: string,
  change: { name?: string; criticalRatePerMinute?: number | null },
): Promise<TenantSettingsRow | undefined> {
  const [row] = await db
    .update(tenants)
    .set({
      ...(change.name !== undefined ? { name: change.name } : {}),
      ...(change.criticalRatePerMinute !== undefined ? { criticalRatePerMinute: change.criticalRatePerMinute } : {}),
    })
    .where(eq(tenants.id, id))
    .returning({ id: tenants.id, name: tenants.name, criticalRatePerMinute: tenants.criticalRatePerMinute });
  return row;
}

export async function tenantExists(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id));
  return row !== undefined;
}

/** The secret the tenant's webhooks are signed with; undefined when there is no such tenant. */
export async function webhookSecretOf(db: Db, tenantId: string): Promise<string | undefined> {
  const [row] = await db.select({ webhookSecret: tenants.webhookSecret }).from(tenants).where(eq(tenants.id, tenantId));
  return row?.webhookSecret;
}

/** The tenant's own critical rate, null when it follows the setting, undefined when there is no such tenant. */
export async function criticalRateSetting(db: Db, tenantId: string): Promise<number | null | undefined> {
  const [row] = await db.select({ rate: tenants.criticalRatePerMinute }).from(tenants).where(eq(tenants.id, tenantId));
  return row?.rate;
}

export async function insertApiKey(db: Db, key: ApiKeyRow): Promise<void> {
  await db.insert(apiKeys).values(key);
}

/** The stored hash and tenant of a key prefix not revoked. */
export async function liveApiKey(db: Db, prefix: string): Promise<Omit<ApiKeyRow, 'prefix'> | undefined> {
  const [row] = await db
    .select({ hash: apiKeys.hash, tenantId: apiKeys.tenantId })
    .from(apiKeys)
    .where(and(eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)));
  return row;
}

/** Whether a live key of the tenant was revoked now. */
export async function revokeApiKey(db: Db, tenantId: string, prefix: string): Promise<boolean> {
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)))
    .returning({ prefix: apiKeys.prefix });
  return revoked.length > 0;
}
