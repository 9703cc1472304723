// Types shared by the API, the workflows and the activities. Pure: no I/O, no Node built-ins.

export const CHANNELS = ['email', 'sms', 'slack', 'webhook', 'inapp', 'pager', 'whatsapp', 'telegram', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export type Strategy = 'all' | 'first-success';

export const NOTIFICATION_STATUSES = [
  'accepted',
  'scheduled',
  'held',
  'sending',
  'sent',
  'partially_sent',
  'failed',
  'cancelled',
  'suppressed',
] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly NotificationStatus[] = [
  'sent',
  'partially_sent',
  'failed',
  'cancelled',
  'suppressed',
];

export const DELIVERY_STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'skipped', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface QuietHours {
  start: string; // HH:MM
  end: string; // HH:MM
  timezone?: string; // IANA; defaults to the recipient's
}

export interface Preferences {
  channels?: Partial<Record<Channel, boolean>>;
  categories?: Record<string, { enabled?: boolean; channels?: Partial<Record<Channel, boolean>> }>;
  quietHours?: QuietHours | null;
}

interface EmailContent {
  subject: string;
  html?: string;
  text?: string;
}
export interface ChannelContent {
  email?: EmailContent;
  sms?: { text: string };
  slack?: { text: string };
  inapp?: { title: string; body: string; url?: string };
  webhook?: Record<string, unknown>;
  pager?: { summary: string };
  whatsapp?: { text: string };
  telegram?: { text: string };
  push?: { title: string; body: string; url?: string; data?: Record<string, string> };
}
/** Template content by locale. */
export type TemplateContent = Record<string, ChannelContent>;

export interface Recipient {
  id: string;
  email: string | null;
  phone: string | null;
  slack: string | null;
  webhookUrl: string | null;
  pagerRoutingKey: string | null;
  /** E.164, sent to as `whatsapp:+…`. */
  whatsapp: string | null;
  /** A Telegram chat id (a number, or `@channel` for a public channel). */
  telegramChatId: string | null;
  locale: string;
  timezone: string;
  name: string | null;
}

interface RetryPolicySettings {
  initialIntervalSeconds: number;
  backoffCoefficient: number;
  maximumIntervalSeconds: number;
  maximumAttempts: number;
  expirationSeconds: number;
}

/** The delivery retry policy, with optional overrides for single channels. */
export interface RetrySettings extends RetryPolicySettings {
  perChannel?: Partial<Record<Channel, Partial<RetryPolicySettings>>>;
}

/** Everything a notification workflow needs, pinned when the API accepts the request. */
export interface NotificationInput {
  tenantId: string;
  notificationId: string;
  recipientId: string;
  template: { key: string; version: number };
  data: Record<string, unknown>;
  /** Channels asked for, in order (first-success tries them in this order). */
  channels: Channel[];
  strategy: Strategy;
  category: string | null;
  priority: Priority;
  sendAt: string | null;
  retry: RetrySettings;
  /** Past `limit` sends per `windowSeconds` for this recipient and key, it ends suppressed (`throttled`). */
  throttle?: ThrottleSpec | null;
  /**
   * NOTIFICATION_REVISION when accepted by code whose notification workflow has all of its
   * patches (workflows/notification.ts): such a run takes them without recording patch markers.
   * Absent on runs accepted before, which keep asking patched().
   */
  revision?: number;
}

/** The revision acceptance writes into new notification inputs (NotificationInput.revision). */
export const NOTIFICATION_REVISION = 1;

export interface ThrottleSpec {
  key: string;
  limit: number;
  windowSeconds: number;
}

export interface DigestSpec {
  key: string;
  windowSeconds: number;
  maxItems?: number;
}

/** The channels an escalation step notifies on; `push` goes to the devices of the recipient named as target. */
export const ESCALATION_CHANNELS = ['slack', 'pager', 'sms', 'email', 'webhook', 'whatsapp', 'telegram', 'push'] as const;

export interface EscalationStep {
  channel: (typeof ESCALATION_CHANNELS)[number];
  target: string;
  ackTimeoutSeconds: number;
}

/** What a notification workflow's `status` query answers. */
export interface NotificationState {
  status: NotificationStatus;
  reason: string | null;
  /** When a held notification will be released (quiet hours) or a scheduled one sent. */
  releaseAt: string | null;
  deliveries: Array<{ channel: Channel; status: DeliveryStatus; attempts?: number }>;
}
