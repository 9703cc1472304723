// The recipient's side: a tenant issues a recipient token (usecases/recipient-tokens.ts) for one
// of its recipients, and that token opens /v1/me to the recipient's own inbox, preferences and
// devices from a browser or an app.
import { findRecipient } from '../db/recipients.js';
import { missing } from '../domain/errors.js';
import { issueRecipientToken, TOKEN_TTL, type RecipientTokenDeps } from './recipient-tokens.js';

/** The longest lifetime a `me` token may be asked for, in seconds. */
export const ME_TOKEN_MAX_TTL = TOKEN_TTL.me.max;

/** A token that opens /v1/me for this recipient; 404 when the tenant has no such recipient. */
export async function issueMeToken(deps: RecipientTokenDeps, tenantId: string, recipientId: string, ttlSeconds?: number): Promise<{ token: string; expiresAt: string }> {
  if (!(await findRecipient(deps.db, tenantId, recipientId))) throw missing('Recipient');
  const { token, expiresAt } = await issueRecipientToken(deps, { tenantId, recipientId, purpose: 'me', ttlSeconds });
  return { token, expiresAt: expiresAt.toISOString() };
}
