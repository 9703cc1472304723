// Preference resolution: which of the requested channels may be used for this recipient.
import type { Channel, Preferences, Priority, Recipient } from './types.js';
import { quietHoursRelease } from './quiet-hours.js';

type SkipReason = 'opted_out' | 'category_disabled' | 'no_address' | 'no_device';

interface ChannelDecision {
  channel: Channel;
  allowed: boolean;
  reason?: SkipReason;
}

/** The recipient's address for a channel, or null when there is none. inapp needs none. */
export function addressFor(recipient: Recipient, channel: Channel): string | null {
  switch (channel) {
    case 'email':
      return recipient.email;
    case 'sms':
      return recipient.phone;
    case 'slack':
      return recipient.slack;
    case 'webhook':
      return recipient.webhookUrl;
    case 'pager':
      return recipient.pagerRoutingKey;
    case 'inapp':
    case 'push':
      // Their addresses are the recipient's own: its inbox, its devices (looked up when sent).
      return recipient.id;
    case 'whatsapp':
      return recipient.whatsapp;
    case 'telegram':
      return recipient.telegramChatId;
  }
}

/**
 * Applies explicit opt-outs (channel-wide and per category) and address availability.
 * Priority never overrides an explicit opt-out, `critical` included.
 */
function resolveChannels(
  requested: readonly Channel[],
  recipient: Recipient,
  prefs: Preferences,
  category: string | null,
  _priority: Priority,
): ChannelDecision[] {
  const cat = category ? prefs.categories?.[category] : undefined;
  return requested.map((channel) => {
    if (cat?.enabled === false) return { channel, allowed: false, reason: 'category_disabled' };
    if (prefs.channels?.[channel] === false || cat?.channels?.[channel] === false)
      return { channel, allowed: false, reason: 'opted_out' };
    if (!addressFor(recipient, channel)) return { channel, allowed: false, reason: 'no_address' };
    return { channel, allowed: true };
  });
}

/** What a notification does when it wakes: which channels it may send on, and whether quiet hours hold it. */
export interface WakeDecision {
  allowed: Channel[];
  skipped: Array<{ channel: Channel; reason: string }>;
  /** When quiet hours end (ms), if they hold the notification now; else null. */
  release: number | null;
}

export function decideOnWake(
  n: { channels: readonly Channel[]; category: string | null; priority: Priority },
  recipient: Recipient,
  prefs: Preferences,
  atMs: number,
): WakeDecision {
  const decisions = resolveChannels(n.channels, recipient, prefs, n.category, n.priority);
  const allowed = decisions.filter((d) => d.allowed).map((d) => d.channel);
  const skipped = decisions.filter((d) => !d.allowed).map((d) => ({ channel: d.channel, reason: d.reason ?? 'skipped' }));
  const quiet = prefs.quietHours;
  const release = allowed.length === 0 || n.priority === 'critical' || !quiet ? null : quietHoursRelease(atMs, quiet, recipient.timezone);
  return { allowed, skipped, release };
}
