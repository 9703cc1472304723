// Suppressions: addresses a tenant must not send to on a channel (README: "Suppressions"), and
// the keywords a person texts to Tocsin's numbers (STOP, START, HELP).
import type { WakeDecision } from './preferences.js';
import type { Channel, Recipient } from './types.js';
import { ErrorType } from './errors.js';
import { addressFor } from './preferences.js';

/**
 * The channels whose address is a person's own (an email, a phone number, a WhatsApp number, a
 * Telegram chat): these can be suppressed. Slack channels, webhook URLs, routing keys, the inbox
 * and devices belong to the tenant or the recipient record, and preferences govern them.
 */
export const SUPPRESSIBLE_CHANNELS = ['email', 'sms', 'whatsapp', 'telegram'] as const satisfies readonly Channel[];
export type SuppressibleChannel = (typeof SUPPRESSIBLE_CHANNELS)[number];

export const SUPPRESSION_REASONS = ['unsubscribed', 'stop', 'hard_bounce', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export const isSuppressible = (channel: string): channel is SuppressibleChannel => (SUPPRESSIBLE_CHANNELS as readonly string[]).includes(channel);

/** A STOP suppresses, and a START lifts, both channels that share a phone number. */
export const PHONE_CHANNELS = ['sms', 'whatsapp'] as const satisfies readonly SuppressibleChannel[];

/** The opt-out and opt-in keywords (Twilio's own, and REVOKE and OPT OUT of the CTIA's), and HELP. */
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPT OUT']);
const START_WORDS = new Set(['START', 'UNSTOP']);
const HELP_WORDS = new Set(['HELP', 'INFO']);

export type InboundKeyword = 'stop' | 'start' | 'help' | null;

/** What an inbound message's body asks, if it is one keyword (any case, surrounding spaces, inner spaces collapsed). */
export function inboundKeyword(body: string): InboundKeyword {
  const word = body.trim().replace(/\s+/g, ' ').toUpperCase();
  if (STOP_WORDS.has(word)) return 'stop';
  if (START_WORDS.has(word)) return 'start';
  if (HELP_WORDS.has(word)) return 'help';
  return null;
}

/** The addresses of `channels` that could be suppressed: each suppressible channel with an address. */
export function suppressionTargets(recipient: Recipient, channels: readonly Channel[]): Array<{ channel: SuppressibleChannel; address: string }> {
  return channels.flatMap((channel) => {
    const address = isSuppressible(channel) ? addressFor(recipient, channel) : null;
    return address && isSuppressible(channel) ? [{ channel, address }] : [];
  });
}

/**
 * A wake's decision with the channels whose address is suppressed skipped (`suppressed`), as a
 * channel without an address is; with none left to send, nothing waits for quiet hours either.
 */
export function withoutSuppressed(decision: WakeDecision, recipient: Recipient, suppressed: (channel: string, address: string) => boolean): WakeDecision {
  const off = new Set(suppressionTargets(recipient, decision.allowed).filter((t) => suppressed(t.channel, t.address)).map((t) => t.channel as Channel));
  if (off.size === 0) return decision;
  const allowed = decision.allowed.filter((c) => !off.has(c));
  return {
    allowed,
    skipped: [...decision.skipped, ...decision.allowed.filter((c) => off.has(c)).map((channel) => ({ channel, reason: ErrorType.Suppressed }))],
    release: allowed.length === 0 ? null : decision.release,
  };
}
