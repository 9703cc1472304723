// In-app channel: a row in the recipient's inbox, and a notification that wakes the inbox's
// streams (db/inbox-notify.ts). Idempotent per notification.
import type { Db } from '../../db/client.js';
import { notifyInbox } from '../../db/inbox-notify.js';
import { addInboxMessage } from '../../db/inbox.js';
import { inboxLink } from '../../domain/links.js';
import { cleanText } from '../../domain/text.js';
import type { ChannelSender } from './types.js';

export function createInappSender(db: Db): ChannelSender {
  return {
    channel: 'inapp',
    provider: 'tocsin',
    async send(req) {
      const content = req.content.inapp ?? { title: '', body: '' };
      const id = `msg_${req.notificationId}`;
      const added = await addInboxMessage(db, {
        id,
        tenantId: req.tenant.id,
        recipientId: req.recipient.id,
        notificationId: req.notificationId,
        // Rendered text is storable unless a filter cut a surrogate pair in two: cleaned, not capped.
        title: cleanText(content.title, 100_000),
        body: cleanText(content.body, 100_000),
        category: req.category,
        url: inboxLink(content.url),
      });
      // The recipient's open streams wake now (the row is committed), not at their next poll.
      if (added) await notifyInbox(db, req.tenant.id, [req.recipient.id]);
      return { provider: 'tocsin', providerMessageId: id };
    },
  };
}
