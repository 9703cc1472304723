// What one delivery activity is given: its own channel's content and its own address, never the
// other channels' (README: Limits). A six-channel notification used to hand every channel the
// whole locale content, so one workflow task's six commands could pass Temporal's 4 MB message
// limit; and a provider call has no use for the recipient's other addresses. Pure: the workflow
// builds delivery arguments with it, and acceptance sizes the payloads they will be.
import type { Channel, ChannelContent, NotificationInput, Recipient } from './types.js';

/** A delivery's id: one per notification and channel, the provider calls' idempotency key. */
export function deliveryId(notificationId: string, channel: Channel): string {
  return `${notificationId}.${channel}`;
}

/**
 * A delivery activity's arguments for one channel of a notification: its ids, the recipient and
 * content it is given, the pinned template and the data (the workflow's sends, and a delivery
 * that wakes its run).
 */
export function deliveryOf(
  input: Pick<NotificationInput, 'tenantId' | 'notificationId' | 'template' | 'data' | 'category'>,
  channel: Channel,
  recipient: Recipient,
  content: ChannelContent,
) {
  return {
    tenantId: input.tenantId,
    notificationId: input.notificationId,
    deliveryId: deliveryId(input.notificationId, channel),
    channel,
    recipient,
    template: input.template,
    content,
    data: input.data,
    category: input.category,
  };
}

/** The channel's part of a locale's content (empty when the template has none for it). */
export function channelContent(content: ChannelContent, channel: Channel): ChannelContent {
  const own = content[channel];
  return own === undefined ? {} : ({ [channel]: own } as ChannelContent);
}

/** Where each channel's address sits in a recipient (in-app's is the recipient id itself). */
const ADDRESS_FIELDS = ['email', 'phone', 'slack', 'webhookUrl', 'pagerRoutingKey', 'whatsapp', 'telegramChatId'] as const;
const ADDRESS_FIELD: Partial<Record<Channel, (typeof ADDRESS_FIELDS)[number]>> = {
  email: 'email',
  sms: 'phone',
  slack: 'slack',
  webhook: 'webhookUrl',
  pager: 'pagerRoutingKey',
  whatsapp: 'whatsapp',
  telegram: 'telegramChatId',
};

/** The recipient as one channel sees it: id, locale, zone and name, and that channel's address only. */
export function channelRecipient(recipient: Recipient, channel: Channel): Recipient {
  const out: Recipient = { ...recipient };
  for (const field of ADDRESS_FIELDS) if (ADDRESS_FIELD[channel] !== field) out[field] = null;
  return out;
}
