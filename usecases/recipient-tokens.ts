// Recipient tokens: JWTs (HS256, jose) that open one recipient of one tenant to a browser or an
// app, a preference page or an unsubscribe link, without the tenant's API key. Each tenant has
// its own signing secrets (a random 32 bytes, sealed at rest like integration credentials); the
// newest signs, every unretired one verifies, so a rotation keeps issued tokens working unless
// it retires the old secrets. A token names its purpose (`aud`), so a preference link does not
// open the inbox API, and an unsubscribe link names its category.
import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { Db } from '../db/client.js';
import { addTokenKey, replaceSealedTokenKey, tokenKeysOf, tokenKeysSealedElsewhere } from '../db/recipient-token-keys.js';
import { Lru } from '../domain/lru.js';
import { openCredentials, rewrapAll, sealCredentials } from './credentials.js';
import type { EncryptionKey } from './payload-codec.js';
import { newId } from './ids.js';

export type TokenPurpose = 'me' | 'preferences' | 'unsubscribe';

/** What a verified token opens. */
export interface RecipientClaims {
  tenantId: string;
  recipientId: string;
  purpose: TokenPurpose;
  /** Unsubscribe tokens: the category (and channel) they opt out of. */
  category?: string;
  channel?: string;
  expiresAt: Date;
}

export interface RecipientTokenDeps {
  db: Db;
  encryptionKeys: readonly EncryptionKey[];
  now?: () => number;
}

const ISSUER = 'tocsin';
/**
 * The longest token any route takes: an issued one is a few hundred characters (ids and a
 * category are bounded). Bounding it in the routes' schemas also keeps a URL that carries one
 * inside Node's header limit (a longer one would be the HTTP server's 431, before any route).
 */
export const MAX_RECIPIENT_TOKEN_LENGTH = 1024;
/** Default and longest lifetimes by purpose, in seconds. */
export const TOKEN_TTL: Record<TokenPurpose, { default: number; max: number }> = {
  me: { default: 3600, max: 30 * 86_400 },
  preferences: { default: 7 * 86_400, max: 90 * 86_400 },
  // An unsubscribe link must still work when an old email is opened.
  unsubscribe: { default: 365 * 86_400, max: 365 * 86_400 },
};

const ownerOf = (tenantId: string, kid: string) => ({ tenantId, integrationId: `recipient-token-key/${kid}` });

type OpenedKeys = Array<{ kid: string; secret: Uint8Array }>;
/** Per database, each tenant's opened secrets, newest first, kept briefly (a rotation reaches every API within seconds). */
const openedByDb = new WeakMap<Db, Lru<string, OpenedKeys>>();
const openedOf = (db: Db) => {
  let lru = openedByDb.get(db);
  if (!lru) openedByDb.set(db, (lru = new Lru<string, OpenedKeys>(10_000, 5_000)));
  return lru;
};

async function keysOf(deps: RecipientTokenDeps, tenantId: string): Promise<OpenedKeys> {
  const hit = openedOf(deps.db).get(tenantId);
  if (hit) return hit;
  const rows = await tokenKeysOf(deps.db, tenantId);
  const keys = rows.map((r) => ({ kid: r.kid, secret: Buffer.from(openCredentials(deps.encryptionKeys, ownerOf(tenantId, r.kid), r.secret).secret, 'base64url') }));
  openedOf(deps.db).set(tenantId, keys);
  return keys;
}

/**
 * Whether verifying a token that names this tenant needs no database lookup now (its secrets are
 * opened and cached). The API verifies such tokens even for a client address that has spent its
 * answers to bad credentials; others cost a query, which that address is not given.
 */
export function tenantKeysCached(deps: Pick<RecipientTokenDeps, 'db'>, token: string): boolean {
  try {
    const tenantId = decodeJwt(token).tid;
    return typeof tenantId === 'string' && openedOf(deps.db).get(tenantId) !== undefined;
  } catch {
    return false;
  }
}

/** A new signing secret for the tenant; with `retire`, tokens signed by the older ones stop working. */
export async function rotateTokenKey(deps: RecipientTokenDeps, tenantId: string, retire = false): Promise<{ kid: string }> {
  const kid = newId('rtk');
  const secret = sealCredentials(deps.encryptionKeys, ownerOf(tenantId, kid), { secret: randomBytes(32).toString('base64url') });
  await addTokenKey(deps.db, { tenantId, kid, secret }, retire);
  openedOf(deps.db).delete(tenantId);
  return { kid };
}

/** Signs a token for one recipient; `ttlSeconds` is bounded by the purpose's longest lifetime. */
export async function issueRecipientToken(
  deps: RecipientTokenDeps,
  claims: { tenantId: string; recipientId: string; purpose: TokenPurpose; category?: string; channel?: string; ttlSeconds?: number },
): Promise<{ token: string; expiresAt: Date }> {
  let [key] = await keysOf(deps, claims.tenantId);
  if (!key) {
    await rotateTokenKey(deps, claims.tenantId);
    [key] = await keysOf(deps, claims.tenantId);
  }
  const limits = TOKEN_TTL[claims.purpose];
  const ttl = Math.min(claims.ttlSeconds ?? limits.default, limits.max);
  const nowSeconds = Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const exp = nowSeconds + ttl;
  const token = await new SignJWT({ tid: claims.tenantId, ...(claims.category ? { cat: claims.category } : {}), ...(claims.channel ? { ch: claims.channel } : {}) })
    .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(`tocsin:${claims.purpose}`)
    .setSubject(claims.recipientId)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(exp)
    .sign(key.secret);
  return { token, expiresAt: new Date(exp * 1000) };
}

/** The claims of a valid token for `purpose`, or null: forged, expired, retired, another purpose or malformed. */
export async function verifyRecipientToken(deps: RecipientTokenDeps, token: string, purpose: TokenPurpose): Promise<RecipientClaims | null> {
  let tenantId: unknown;
  let kid: unknown;
  try {
    tenantId = decodeJwt(token).tid;
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return null;
  }
  if (typeof tenantId !== 'string' || typeof kid !== 'string') return null;
  const key = (await keysOf(deps, tenantId)).find((k) => k.kid === kid);
  if (!key) return null;
  try {
    const { payload } = await jwtVerify(token, key.secret, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: `tocsin:${purpose}`,
      requiredClaims: ['sub', 'exp'],
      ...(deps.now ? { currentDate: new Date(deps.now()) } : {}),
    });
    if (payload.tid !== tenantId || typeof payload.sub !== 'string') return null;
    return {
      tenantId,
      recipientId: payload.sub,
      purpose,
      ...(typeof payload.cat === 'string' ? { category: payload.cat } : {}),
      ...(typeof payload.ch === 'string' ? { channel: payload.ch } : {}),
      expiresAt: new Date((payload.exp as number) * 1000),
    };
  } catch {
    return null;
  }
}

/** Re-seals every token secret under the first encryption key (a rotation of TOCSIN_ENCRYPTION_KEYS). */
export async function rewrapTokenKeys(deps: Pick<RecipientTokenDeps, 'db' | 'encryptionKeys'>): Promise<{ rewrapped: number; unreadable: number }> {
  const rows = await tokenKeysSealedElsewhere(deps.db, deps.encryptionKeys[0].id);
  return rewrapAll(
    deps.encryptionKeys,
    rows,
    (r) => ({ owner: ownerOf(r.tenantId, r.kid), value: r.secret }),
    (r, after) => replaceSealedTokenKey(deps.db, r.tenantId, r.kid, r.secret, after),
  );
}
