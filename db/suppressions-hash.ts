// The key of a suppression: a hash of the channel's normalised address, so that a suppression
// outlives the erasure of the address it was made for (the address column is cleared then).
import { createHash } from 'node:crypto';

/** Email addresses compare without case; phone numbers and other addresses as given (E.164). */
export function normaliseAddress(channel: string, address: string): string {
  const trimmed = address.trim();
  return channel === 'email' ? trimmed.toLowerCase() : trimmed.replace(/^whatsapp:/, '');
}

export function addressHash(channel: string, address: string): string {
  // SMS and WhatsApp share a number: a STOP suppresses both, with the same hash.
  return createHash('sha256').update(`tocsin-suppression:${normaliseAddress(channel, address)}`).digest('hex');
}
