import type { Channel, ChannelContent, Priority, Recipient } from '../../domain/types.js';

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
  /**
   * Email of a notification with a category: the one-click unsubscribe URL (RFC 8058) that the
   * email carries as `List-Unsubscribe`, with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
   */
  unsubscribeUrl?: string;
  /**
   * Push: the collapse key (APNs `apns-collapse-id`, FCM `collapse_key`, Web Push `Topic`) when
   * the caller has one of its own: an incident's, so each escalation push replaces the one before
   * on the device. Unset: the delivery's id (a retried push shows once).
   */
  collapseKey?: string;
  /** The notification's priority when the caller knows it (escalations); push looks it up otherwise. */
  priority?: Priority;
  /** Aborts when Temporal cancels the activity. */
  signal: AbortSignal;
  /**
   * Set when an earlier attempt of this delivery may have reached the provider (a retry): a
   * sender that can ask its provider what went out (`adoptsEarlierSends`) looks for that
   * message and adopts it instead of sending again.
   */
  earlier?: EarlierAttempts;
}

export interface EarlierAttempts {
  /** No earlier attempt of this delivery started before this time (Temporal's clock). */
  since: Date;
  /** Whether another delivery already records this provider message id as its own. */
  claimedElsewhere(providerMessageId: string): Promise<boolean>;
}

export interface SendResult {
  provider: string;
  providerMessageId: string | null;
  /** The message an earlier attempt sent, found at the provider, rather than a new one. */
  adopted?: boolean;
}

/** One provider integration. Throws classified failures (see activities/errors.ts). */
export interface ChannelSender {
  channel: Channel;
  provider: string;
  /** Looks for an earlier attempt's message (SendRequest.earlier) before sending again. */
  adoptsEarlierSends?: boolean;
  send(req: SendRequest): Promise<SendResult>;
  /**
   * Sends many emails in one call (email only: Resend's batch send), in order; answers one
   * provider message id per email. Broadcasts use it (activities/broadcast-batch.ts).
   */
  sendBatch?(emails: BatchEmail[], opts: { idempotencyKey: string; signal: AbortSignal }): Promise<BatchResult>;
}

/** One email of a batch: its address and rendered content (a subject and html, text or both). */
export interface BatchEmail {
  to: string;
  subject: string;
  html?: string;
  text?: string;
  /** As SendRequest.unsubscribeUrl: set for a broadcast with a category. */
  unsubscribeUrl?: string;
}

interface BatchResult {
  provider: string;
  /** The provider's message id of each email, in the order sent. */
  providerMessageIds: string[];
}
