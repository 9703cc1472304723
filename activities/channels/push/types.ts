// What the push channel's providers share: one message to one device, and how it can fail.
import type { Priority } from '../../../domain/types.js';

export interface PushMessage {
  title: string;
  body: string;
  url?: string;
  data?: Record<string, string>;
  /** high for `high` and `critical` notifications, normal otherwise. */
  urgency: 'high' | 'normal';
  /** Replaces an earlier push with the same key on the device: the delivery's own id, so a retry shows once. */
  collapseKey: string;
  /** How long the provider may hold it for an offline device, in seconds. */
  ttlSeconds: number;
  signal: AbortSignal;
}

/** The provider reports the device gone (uninstalled, token expired or invalid): remove it. */
export class DeviceGone extends Error {
  constructor(readonly provider: string, detail: string) {
    super(`${provider}: the device is gone (${detail})`);
    this.name = 'DeviceGone';
  }
}

/** One provider of the push channel: sends to one device, answers the provider's message id. */
export interface PushProvider {
  name: 'fcm' | 'apns' | 'webpush';
  /** Throws DeviceGone, or a classified failure (activities/errors.ts). */
  send(device: { token: string | null; subscription: { endpoint: string; keys: { p256dh: string; auth: string } } | null }, message: PushMessage): Promise<string>;
  close?(): Promise<void>;
}

export const pushUrgency = (priority: Priority): PushMessage['urgency'] => (priority === 'high' || priority === 'critical' ? 'high' : 'normal');
