// Suppressions as the API shows them (README: "Suppressions"): listed newest first with a cursor,
// added by hand (`manual`), lifted except `stop`, which only the person's START lifts; and the
// keywords people text to the numbers tenants send from (STOP, START, HELP).
import type { Db } from '../db/client.js';
import { tenantsWithoutIntegration, twilioIntegrations } from '../db/integrations.js';
import { addSuppression, applyInboundKeyword, liftSuppression, suppressionPage, type SuppressionCursor, type SuppressionRow } from '../db/suppressions.js';
import { conflictWith, invalidInput, missing } from '../domain/errors.js';
import { PHONE_CHANNELS, type SuppressibleChannel, type SuppressionReason } from '../domain/suppressions.js';
import { Lru } from '../domain/lru.js';
import { openCredentials } from './credentials.js';
import type { EncryptionKey } from './payload-codec.js';

export interface SuppressionView {
  channel: SuppressibleChannel;
  /** Null once the person was erased: the suppression stays, as a hash. */
  address: string | null;
  reason: SuppressionReason;
  createdAt: string;
}

const present = (r: SuppressionRow): SuppressionView => ({ channel: r.channel as SuppressibleChannel, address: r.address, reason: r.reason, createdAt: r.createdAt.toISOString() });

function encodeCursor(r: SuppressionCursor): string {
  return Buffer.from(`${r.createdAt.toISOString()}|${r.channel}|${r.addressHash}`).toString('base64url');
}

/** A cursor this API handed out, or 400: anything else never reaches a query. */
function decodeCursor(cursor: string): SuppressionCursor {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([a-z]{1,16})\|([0-9a-f]{64})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const createdAt = new Date(m?.[1] ?? NaN);
  if (!m || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== m[1])
    throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return { createdAt, channel: m[2], addressHash: m[3] };
}

/** A page of the tenant's suppressions, newest first; `nextCursor` continues it. */
export async function listSuppressions(
  db: Db,
  tenantId: string,
  q: { channel?: SuppressibleChannel; cursor?: string; limit: number },
): Promise<{ data: SuppressionView[]; nextCursor: string | null }> {
  const rows = await suppressionPage(db, tenantId, { channel: q.channel, after: q.cursor ? decodeCursor(q.cursor) : undefined }, q.limit + 1);
  const page = rows.slice(0, q.limit);
  return { data: page.map(present), nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]) : null };
}

/** Suppresses an address by hand (`manual`); one already suppressed stays as it is (idempotent). */
export async function suppress(db: Db, tenantId: string, body: { channel: SuppressibleChannel; address: string }): Promise<SuppressionView> {
  return present(await addSuppression(db, tenantId, body.channel, body.address, 'manual'));
}

/** Lifts a suppression; 404 without one, 409 for a `stop`. */
export async function unsuppress(db: Db, tenantId: string, channel: SuppressibleChannel, address: string): Promise<void> {
  const outcome = await liftSuppression(db, tenantId, channel, address);
  if (outcome === 'none') throw missing('Suppression');
  if (outcome === 'stop') throw conflictWith('The person texted STOP to this number: only their START lifts it');
}

/** The platform's own Twilio senders (TWILIO_AUTH_TOKEN, TWILIO_FROM, TWILIO_WHATSAPP_FROM). */
export interface PlatformTwilio {
  authToken?: string;
  smsFrom?: string;
  whatsappFrom?: string;
}

/** Who sends from a number, and the auth token Twilio signs its webhooks for that number with. */
export interface NumberSenders {
  authToken: string;
  /** Looked up once the request is verified (the platform's number: every tenant without an integration). */
  tenantIds: () => Promise<string[]>;
}

const bare = (number: string) => number.trim().replace(/^whatsapp:/, '');

/** Opened integration credentials kept (their number and token), by integration. */
const OPENED_MAX = 10_000;

/**
 * Who sends on a channel from a number (`owners(channel, number)`), grouped by the Twilio account
 * (auth token) that owns it, which is the one that signs the webhooks of messages to it:
 * - the platform's number (TWILIO_FROM for SMS, TWILIO_WHATSAPP_FROM for WhatsApp): every tenant
 *   without an enabled integration for that channel (theirs go through the platform's sender),
 *   under TWILIO_AUTH_TOKEN;
 * - a tenant's enabled Twilio integration for the channel whose `from` is the number: that
 *   tenant, under the integration's own auth token.
 * A request is believed only for the groups whose token verifies it, so a tenant's own
 * credentials never speak for the platform's number or another tenant's. Each integration's
 * credentials are opened once per version of its row (as the worker's providers do); tenants
 * are looked up only once a group verified.
 */
export function numberOwners(db: Db, keys: readonly EncryptionKey[], platform: PlatformTwilio) {
  const opened = new Lru<string, { updatedAt: number; own: { from: string; authToken: string } | null }>(OPENED_MAX);

  async function integrationNumbers(channel: 'sms' | 'whatsapp') {
    return (await twilioIntegrations(db, channel)).flatMap((row) => {
      const key = `${row.tenantId}\u0000${row.id}`;
      let entry = opened.get(key);
      if (entry?.updatedAt !== row.updatedAt.getTime()) {
        entry = { updatedAt: row.updatedAt.getTime(), own: null };
        try {
          const credentials = openCredentials(keys, { tenantId: row.tenantId, integrationId: row.id }, row.credentials);
          const from = row.settings.from ?? credentials.from;
          if (from && credentials.authToken) entry.own = { from: bare(from), authToken: credentials.authToken };
        } catch {
          // sealed under a key no longer listed: it cannot send either
        }
        opened.set(key, entry);
      }
      return entry.own ? [{ ...entry.own, tenantId: row.tenantId }] : [];
    });
  }

  return async function owners(channel: 'sms' | 'whatsapp', number: string): Promise<NumberSenders[]> {
    const groups: Array<{ authToken: string; platform: boolean; tenantIds: string[] }> = [];
    const platformFrom = channel === 'sms' ? platform.smsFrom : platform.whatsappFrom;
    if (platform.authToken && platformFrom && bare(platformFrom) === bare(number)) groups.push({ authToken: platform.authToken, platform: true, tenantIds: [] });
    for (const own of await integrationNumbers(channel)) {
      if (own.from !== bare(number)) continue;
      const same = groups.find((g) => g.authToken === own.authToken);
      if (same) same.tenantIds.push(own.tenantId);
      else groups.push({ authToken: own.authToken, platform: false, tenantIds: [own.tenantId] });
    }
    return groups.map((g) => ({
      authToken: g.authToken,
      tenantIds: async () => [...(g.platform ? await tenantsWithoutIntegration(db, channel) : []), ...g.tenantIds],
    }));
  };
}

/**
 * A STOP or START texted from `from` to a number, for the tenants that send from it: SMS and
 * WhatsApp to `from` suppressed (or their `stop` lifted), once per Twilio MessageSid.
 */
export async function applyKeyword(
  db: Db,
  args: { messageSid: string; keyword: 'stop' | 'start'; channel: 'sms' | 'whatsapp'; from: string; tenantIds: readonly string[] },
): Promise<{ duplicate: boolean; tenants: string[] }> {
  return applyInboundKeyword(db, {
    receiptId: `twilio-inbound:${args.messageSid}`,
    keyword: args.keyword,
    tenantIds: [...new Set(args.tenantIds)],
    channels: PHONE_CHANNELS,
    number: bare(args.from),
    event: { channel: args.channel, channels: [...PHONE_CHANNELS], reason: 'stop' },
  });
}
