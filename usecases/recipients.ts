// Recipients: created or replaced one at a time or up to 1,000 at once (all or none), read,
// and their preferences set. A webhook address is refused before anything is written.
import type { Db } from '../db/client.js';
import { findRecipient, setPreferences, upsertRecipients, type RecipientInput, type RecipientRow } from '../db/recipients.js';
import { missing } from '../domain/errors.js';
import type { Preferences } from '../domain/types.js';
import { refuseWebhookUrls } from './webhook-address.js';

interface RecipientDeps {
  db: Db;
  /** The operator's WEBHOOK_ALLOWED_HOSTS. */
  webhookAllowedHosts?: readonly string[];
}

/** Creates or replaces `inputs` in one statement; a refused webhook URL is a 400 naming its index. */
export async function putRecipients(deps: RecipientDeps, tenantId: string, inputs: readonly RecipientInput[]): Promise<number> {
  refuseWebhookUrls(deps.webhookAllowedHosts, ...inputs.map((r, i): [string, string | null | undefined] => [`recipients.${i}.webhookUrl`, r.webhookUrl]));
  return (await upsertRecipients(deps.db, tenantId, inputs)).length;
}

/** Creates or replaces one recipient: a field left out is cleared; preferences and createdAt survive. */
export async function putRecipient(deps: RecipientDeps, tenantId: string, input: RecipientInput): Promise<RecipientRow> {
  refuseWebhookUrls(deps.webhookAllowedHosts, ['webhookUrl', input.webhookUrl]);
  const [row] = await upsertRecipients(deps.db, tenantId, [input]);
  return row;
}

export async function getRecipient(deps: RecipientDeps, tenantId: string, id: string): Promise<RecipientRow> {
  const row = await findRecipient(deps.db, tenantId, id);
  if (!row) throw missing('Recipient');
  return row;
}

/** Replaces a recipient's preferences: absent means allowed; `quietHours: null` clears them. */
export async function setRecipientPreferences(
  deps: RecipientDeps,
  tenantId: string,
  id: string,
  preferences: Omit<Preferences, 'quietHours'> & { quietHours?: Preferences['quietHours'] | null },
): Promise<Preferences> {
  const stored = await setPreferences(deps.db, tenantId, id, {
    ...(preferences.channels ? { channels: preferences.channels } : {}),
    ...(preferences.categories ? { categories: preferences.categories } : {}),
    ...(preferences.quietHours ? { quietHours: preferences.quietHours } : {}),
  });
  if (!stored) throw missing('Recipient');
  return stored;
}
