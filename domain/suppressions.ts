// Suppressions: addresses a tenant must not send to on a channel (README: "Suppressions"), and
// the keywords a person texts to Tocsin's numbers (STOP, START, HELP).
import type { Channel } from './types.js';

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
