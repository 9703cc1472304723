// The push channel: one delivery goes to every device of the recipient, each through its own
// provider (FCM, APNs, Web Push). A device its provider reports gone is removed at once. The
// delivery is sent when any device took it; when none did because none is left, it fails
// `no_device` for good; when a device failed for now, the attempt fails and Temporal retries
// (every device again: the collapse key, the delivery's id, makes the device show it once).
// Priority maps to APNs priority, FCM priority and Web Push Urgency.
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../../../db/client.js';
import { deleteDevice, devicesOf } from '../../../db/devices.js';
import { notificationPriority } from '../../../db/notifications.js';
import { ErrorType } from '../../../domain/errors.js';
import { permanent } from '../../errors.js';
import type { ChannelSender, SendRequest } from '../types.js';
import { DeviceGone, pushUrgency, type PushProvider } from './types.js';

/** How long a provider may hold a push for an offline device. */
const PUSH_TTL_SECONDS = 24 * 3600;

/** The push sender: a ChannelSender that can also send with a tenant's own providers in place of these. */
export interface PushSender extends ChannelSender {
  /** The same sender where each of `own` replaces the provider of its name (a tenant's integrations). */
  withProviders(own: readonly PushProvider[]): PushSender;
}

export function createPushSender(db: Db, providers: ReadonlyArray<PushProvider | null>): PushSender | null {
  const byName = new Map(providers.filter((p): p is PushProvider => p !== null).map((p) => [p.name, p]));
  if (byName.size === 0) return null;
  return {
    withProviders: (own) => createPushSender(db, [...byName.values(), ...own])!,
    channel: 'push',
    provider: [...byName.keys()].join('+'),
    async send(req: SendRequest) {
      const push = req.content.push;
      if (!push) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no push content`);
      const devices = await devicesOf(db, req.tenant.id, req.recipient.id);
      const message = {
        title: push.title,
        body: push.body,
        ...(push.url ? { url: push.url } : {}),
        ...(push.data ? { data: push.data } : {}),
        urgency: pushUrgency(req.priority ?? (await notificationPriority(db, req.notificationId)) ?? 'normal'),
        collapseKey: req.collapseKey ?? req.deliveryId,
        ttlSeconds: PUSH_TTL_SECONDS,
        signal: req.signal,
      };
      const sent: Array<{ provider: string; id: string }> = [];
      const failures: Error[] = [];
      for (const device of devices) {
        const provider = byName.get(device.provider);
        if (!provider) {
          failures.push(permanent(ErrorType.ChannelUnconfigured, `${device.provider} is not configured`));
          continue;
        }
        try {
          sent.push({ provider: provider.name, id: await provider.send(device, message) });
        } catch (err) {
          if (err instanceof DeviceGone) {
            await deleteDevice(db, device.tenantId, device.recipientId, device.id);
            continue;
          }
          failures.push(err as Error);
        }
      }
      if (sent.length > 0) return { provider: [...new Set(sent.map((s) => s.provider))].join('+'), providerMessageId: sent[0].id || null };
      const transient = failures.find((f) => !(f instanceof ApplicationFailure && f.nonRetryable));
      if (transient) throw transient;
      if (failures.length > 0) throw failures[0];
      throw permanent(ErrorType.NoDevice, 'the recipient has no push device left');
    },
  };
}
