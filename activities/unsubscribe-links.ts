// One-click unsubscribe links (RFC 8058) for the emails of notifications with a category, minted
// in the worker by the email delivery activities (activities/index.ts, broadcast-batch.ts), never
// in a workflow: the token is in no Temporal payload.
import type { Db } from '../db/client.js';
import type { EncryptionKey } from '../usecases/payload-codec.js';
import { unsubscribeUrl } from '../usecases/recipient-links.js';

export interface RecipientLinkOptions {
  encryptionKeys: readonly EncryptionKey[];
  publicBaseUrl: string;
}

/** A day in ms: an unsubscribe token is issued as of the start of the day its delivery was first scheduled. */
const DAY_MS = 86_400_000;

/**
 * The one-click unsubscribe URL of an email of a notification with a category, minted here in the
 * worker: the token is in no workflow payload. It depends only on the tenant's signing secret,
 * the recipient, the category and the day `scheduledMs` falls on, so every attempt of a delivery
 * (and every email of one broadcast page) sends the same bytes, as Resend's idempotency key
 * requires of a retry.
 */
export async function emailUnsubscribeUrl(
  db: Db,
  links: RecipientLinkOptions | null | undefined,
  o: { tenantId: string; recipientId: string; category: string | null; scheduledMs: number },
): Promise<string | undefined> {
  if (!links || !o.category) return undefined;
  return unsubscribeUrl(
    { db, encryptionKeys: links.encryptionKeys, publicBaseUrl: links.publicBaseUrl },
    { tenantId: o.tenantId, recipientId: o.recipientId, category: o.category, channel: 'email', issuedAtMs: Math.floor(o.scheduledMs / DAY_MS) * DAY_MS },
  );
}
