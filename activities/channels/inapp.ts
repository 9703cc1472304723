// In-app channel: a row in the recipient's inbox. Idempotent per notification.
import type { Db } from '../../db/client.js';
import { inboxMessages } from '../../db/schema.js';
import { cleanText } from '../../domain/text.js';
import type { ChannelSender } from './types.js';

export function createInappSender(db: Db): ChannelSender {
  return {
    channel: 'inapp',
    provider: 'tocsin',
    async send(req) {
      const content = req.content.inapp ?? { title: '', body: '' };
      const id = `msg_${req.notificationId}`;
      await db
        .insert(inboxMessages)
        .values({
          id,
          tenantId: req.tenant.id,
          recipientId: req.recipient.id,
          notificationId: req.notificationId,
          // Rendered text is storable unless a filter cut a surrogate pair in two: cleaned, not capped.
          title: cleanText(content.title, 100_000),
          body: cleanText(content.body, 100_000),
          category: req.category,
        })
        .onConflictDoNothing({ target: inboxMessages.notificationId });
      return { provider: 'tocsin', providerMessageId: id };
    },
  };
}
