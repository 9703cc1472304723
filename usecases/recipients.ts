// Recipients as the rest of the system sees them.
import type { recipients } from '../db/schema.js';
import type { Recipient } from '../domain/types.js';

export function toRecipient(row: typeof recipients.$inferSelect): Recipient {
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    slack: row.slack,
    webhookUrl: row.webhookUrl,
    pagerRoutingKey: row.pagerRoutingKey,
    locale: row.locale,
    timezone: row.timezone,
    name: row.name,
  };
}
