import type { Channel, ChannelContent, Recipient } from '../../domain/types.js';

/** What a channel needs to send one delivery. */
export interface SendRequest {
  deliveryId: string;
  notificationId: string;
  tenant: { id: string; webhookSecret: string };
  recipient: Recipient;
  /** The channel's address for this recipient (email, phone, Slack id, URL, routing key). */
  address: string;
  template: { key: string; version: number };
  /** Rendered content for this channel. */
  content: ChannelContent;
  data: Record<string, unknown>;
  category: string | null;
  /** Aborts when Temporal cancels the activity. */
  signal: AbortSignal;
}

export interface SendResult {
  provider: string;
  providerMessageId: string | null;
}

/** One provider integration. Throws classified failures (see activities/errors.ts). */
export interface ChannelSender {
  channel: Channel;
  provider: string;
  send(req: SendRequest): Promise<SendResult>;
}
