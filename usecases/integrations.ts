// Integrations: a tenant's own providers per channel, tried in priority order before the
// platform's (README: "Integrations"). Credentials are sealed before they are stored and only
// ever answered masked; a provider's base URL and an SMTP host pass the webhook address guard,
// so no tenant can aim Tocsin's workers at a private address.
import type { Db } from '../db/client.js';
import { deleteIntegration as removeIntegration, integrationsOf, integrationsSealedElsewhere, putIntegration as storeIntegration, replaceSealedCredentials, type IntegrationRow } from '../db/integrations.js';
import { missing } from '../domain/errors.js';
import { maskCredential, rewrapAll, sealCredentials } from './credentials.js';
import type { EncryptionKey } from './payload-codec.js';
import type { IntegrationRequest } from './schemas.js';
import { refuseWebhookUrls } from './webhook-address.js';

export interface IntegrationDeps {
  db: Db;
  /** TOCSIN_ENCRYPTION_KEYS: the first seals, all open. */
  encryptionKeys: readonly EncryptionKey[];
  webhookAllowedHosts?: readonly string[];
}

/** An integration as answers show it: credentials masked, never in clear. */
export function presentIntegration(row: IntegrationRow) {
  return {
    id: row.id,
    channel: row.channel,
    provider: row.provider,
    credentials: row.masked,
    settings: row.settings,
    priority: row.priority,
    enabled: row.enabled,
    health: row.health,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
export type IntegrationView = ReturnType<typeof presentIntegration>;

export async function putIntegration(deps: IntegrationDeps, tenantId: string, id: string, body: IntegrationRequest): Promise<IntegrationView> {
  const smtpHost = body.provider === 'smtp' ? /^smtps?:\/\/(?:[^@/]*@)?([^/]+)/.exec(body.credentials.url)?.[1] : undefined;
  refuseWebhookUrls(deps.webhookAllowedHosts, ['settings.baseUrl', body.settings.baseUrl], ['credentials.url', smtpHost ? `http://${smtpHost}` : undefined]);
  const row = await storeIntegration(deps.db, {
    tenantId,
    id,
    channel: body.channel,
    provider: body.provider,
    credentials: sealCredentials(deps.encryptionKeys, { tenantId, integrationId: id }, body.credentials),
    masked: Object.fromEntries(Object.entries(body.credentials).map(([k, v]) => [k, maskCredential(v)])),
    settings: body.settings,
    priority: body.priority,
    enabled: body.enabled,
  });
  return presentIntegration(row);
}

export async function listIntegrations(deps: Pick<IntegrationDeps, 'db'>, tenantId: string): Promise<IntegrationView[]> {
  return (await integrationsOf(deps.db, tenantId)).map(presentIntegration);
}

export async function deleteIntegration(deps: Pick<IntegrationDeps, 'db'>, tenantId: string, id: string): Promise<void> {
  if (!(await removeIntegration(deps.db, tenantId, id))) throw missing('Integration');
}

/**
 * After a key rotation (a new first key in TOCSIN_ENCRYPTION_KEYS): every integration's data key
 * is sealed again under the first key; the credentials themselves are untouched. Run at start;
 * answers how many rows moved. A row whose key is no longer listed is left as it is (its sends
 * fail until the key is given back or the integration is put again).
 */
export async function rewrapIntegrationCredentials(deps: Pick<IntegrationDeps, 'db' | 'encryptionKeys'>): Promise<{ rewrapped: number; unreadable: number }> {
  const rows = await integrationsSealedElsewhere(deps.db, deps.encryptionKeys[0].id);
  return rewrapAll(
    deps.encryptionKeys,
    rows,
    (r) => ({ owner: { tenantId: r.tenantId, integrationId: r.id }, value: r.credentials }),
    (r, after) => replaceSealedCredentials(deps.db, r.tenantId, r.id, r.credentials, after),
  );
}
