// The links a recipient follows without logging in: the hosted preference page
// (`{PUBLIC_BASE_URL}/preferences/{token}`) and one-click unsubscribe
// (`{PUBLIC_BASE_URL}/unsubscribe/{token}`, RFC 8058). Each link is a recipient token
// (usecases/recipient-tokens.ts) of its own purpose, so a preference link does not unsubscribe
// and an unsubscribe link opens no page of preferences.
import { findRecipient, optOutOfCategory, recentCategories, type RecipientRow } from '../db/recipients.js';
import { missing, unavailable } from '../domain/errors.js';
import type { Preferences } from '../domain/types.js';
import { issueRecipientToken, verifyRecipientToken, type RecipientClaims, type RecipientTokenDeps } from './recipient-tokens.js';
import { setRecipientPreferences } from './recipients.js';

export interface RecipientLinkDeps extends RecipientTokenDeps {
  /** PUBLIC_BASE_URL: where a recipient's browser reaches the API. */
  publicBaseUrl: string;
}

const base = (url: string) => url.replace(/\/+$/, '');

/** A signed link to the recipient's preference page; 404 for an unknown recipient. */
export async function preferenceLink(deps: RecipientLinkDeps, tenantId: string, recipientId: string, ttlSeconds?: number): Promise<{ url: string; expiresAt: Date }> {
  if (!(await findRecipient(deps.db, tenantId, recipientId))) throw missing('Recipient');
  if (deps.encryptionKeys.length === 0) throw unavailable('Preference links need TOCSIN_ENCRYPTION_KEYS to seal token secrets', undefined);
  const { token, expiresAt } = await issueRecipientToken(deps, { tenantId, recipientId, purpose: 'preferences', ...(ttlSeconds ? { ttlSeconds } : {}) });
  return { url: `${base(deps.publicBaseUrl)}/preferences/${token}`, expiresAt };
}

/**
 * The one-click unsubscribe URL for an email of `category`. `issuedAtMs` fixes the token's
 * issue time (the worker passes when the delivery was first scheduled, to the day), so every
 * attempt of one delivery carries the same URL, and the email's body is the same on a retry
 * (Resend refuses a repeated idempotency key with another body).
 */
export async function unsubscribeUrl(
  deps: RecipientLinkDeps,
  o: { tenantId: string; recipientId: string; category: string; channel: string; issuedAtMs: number },
): Promise<string> {
  const { token } = await issueRecipientToken(
    { ...deps, now: () => o.issuedAtMs },
    { tenantId: o.tenantId, recipientId: o.recipientId, purpose: 'unsubscribe', category: o.category, channel: o.channel },
  );
  return `${base(deps.publicBaseUrl)}/unsubscribe/${token}`;
}

/** What a preference page shows: the recipient, its preferences and the categories to offer. */
export interface PreferencePage {
  claims: RecipientClaims;
  recipient: RecipientRow;
  preferences: Preferences;
  /** Those in its preferences and those of recent notifications (db/recipients.ts recentCategories), sorted. */
  categories: string[];
}

/** At most this many categories on a page (those in the recipient's preferences always among them). */
const MAX_PAGE_CATEGORIES = 50;

/** The claims of a preference token, or null (forged, expired, another purpose). */
export const verifyPreferenceToken = (deps: RecipientTokenDeps, token: string) => verifyRecipientToken(deps, token, 'preferences');

/** The page's content for verified claims; 404 when the recipient is gone (erased). */
export async function preferencePage(deps: RecipientTokenDeps, claims: RecipientClaims): Promise<PreferencePage> {
  const recipient = await findRecipient(deps.db, claims.tenantId, claims.recipientId);
  if (!recipient) throw missing('Recipient');
  const preferences = (recipient.preferences ?? {}) as Preferences;
  const own = Object.keys(preferences.categories ?? {});
  const recent = await recentCategories(deps.db, claims.tenantId, claims.recipientId, MAX_PAGE_CATEGORIES);
  const categories = [...new Set([...own, ...recent])].slice(0, Math.max(own.length, MAX_PAGE_CATEGORIES)).sort();
  return { claims, recipient, preferences, categories };
}

/** Saves what the page posted, through the same use-case as the preferences API. */
export async function savePreferencePage(deps: RecipientTokenDeps, claims: RecipientClaims, preferences: Parameters<typeof setRecipientPreferences>[3]): Promise<Preferences> {
  return setRecipientPreferences(deps, claims.tenantId, claims.recipientId, preferences);
}

/** The claims of an unsubscribe token that names a category and channel, or null. */
export async function verifyUnsubscribeToken(deps: RecipientTokenDeps, token: string): Promise<(RecipientClaims & { category: string; channel: string }) | null> {
  const claims = await verifyRecipientToken(deps, token, 'unsubscribe');
  if (!claims?.category || !claims.channel) return null;
  return claims as RecipientClaims & { category: string; channel: string };
}

/** Whether the token's recipient is already out of its category on its channel (reads only); 404 when the recipient is gone. */
export async function isUnsubscribed(deps: RecipientTokenDeps, claims: RecipientClaims & { category: string; channel: string }): Promise<boolean> {
  const recipient = await findRecipient(deps.db, claims.tenantId, claims.recipientId);
  if (!recipient) throw missing('Recipient');
  const entry = (recipient.preferences as Preferences).categories?.[claims.category];
  return (entry?.channels as Record<string, boolean> | undefined)?.[claims.channel] === false;
}

/**
 * Opts the token's recipient out of its category on its channel at once (idempotent: a repeat
 * answers 'already' and records nothing); 404 when the recipient is gone.
 */
export async function unsubscribe(deps: RecipientTokenDeps, claims: RecipientClaims & { category: string; channel: string }): Promise<'unsubscribed' | 'already'> {
  const outcome = await optOutOfCategory(deps.db, { tenantId: claims.tenantId, recipientId: claims.recipientId, category: claims.category, channel: claims.channel });
  if (!outcome) throw missing('Recipient');
  return outcome;
}
