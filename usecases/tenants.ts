// Tenants and their API keys: what the admin API writes. Keys are shown once and stored as hashes.
import type { Db } from '../db/client.js';
import { insertApiKey, insertTenant, revokeApiKey, tenantExists, updateTenantSettings, type TenantSettingsRow } from '../db/tenants.js';
import { newId, newWebhookSecret, secret, sha256 } from './ids.js';

/** `tsk_<12 chars>_<secret>`: the first part is the prefix that names a key for revocation. */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = secret('tsk', 9);
  const key = `${prefix}_${secret('s', 24).slice(2)}`;
  return { key, prefix, hash: sha256(key) };
}

export async function createTenant(db: Db, { name, criticalRatePerMinute }: { name: string; criticalRatePerMinute: number | null }) {
  const id = newId('ten');
  const webhookSecret = newWebhookSecret();
  const key = newApiKey();
  await insertTenant(db, { id, name, webhookSecret, criticalRatePerMinute }, { prefix: key.prefix, tenantId: id, hash: key.hash });
  return { id, name, apiKey: key.key, keyPrefix: key.prefix, webhookSecret, criticalRatePerMinute };
}

/** Undefined when there is no such tenant. */
export const changeTenantSettings = (db: Db, id: string, change: { name?: string; criticalRatePerMinute?: number | null }): Promise<TenantSettingsRow | undefined> =>
  updateTenantSettings(db, id, change);

/** Another key for the tenant (rotation); undefined when there is no such tenant. */
export async function issueApiKey(db: Db, tenantId: string): Promise<{ apiKey: string; keyPrefix: string } | undefined> {
  if (!(await tenantExists(db, tenantId))) return undefined;
  const key = newApiKey();
  await insertApiKey(db, { prefix: key.prefix, tenantId, hash: key.hash });
  return { apiKey: key.key, keyPrefix: key.prefix };
}

/** Whether a live key of the tenant was revoked. */
export const revokeTenantApiKey = (db: Db, tenantId: string, prefix: string): Promise<boolean> => revokeApiKey(db, tenantId, prefix);
