// Bearer credentials: the admin token for /v1/admin/*, tenant API keys for the rest.
// Keys are stored as SHA-256 hashes and compared in constant time.
import { and, eq, isNull } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/client.js';
import { apiKeys } from '../db/schema.js';
import { Lru } from '../domain/lru.js';
import type { Env } from './deps.js';
import { constantTimeEqual, secret, sha256 } from '../usecases/ids.js';
import { Problem } from './problem.js';

export const unauthorized = () =>
  new Problem(401, 'Missing or invalid credentials', [], { 'www-authenticate': 'Bearer realm="tocsin"' });

export function bearer(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1] : null;
}

/** `tsk_<12 chars>_<secret>`: the first part is the prefix that names a key for revocation. */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = secret('tsk', 9);
  const key = `${prefix}_${secret('s', 24).slice(2)}`;
  return { key, prefix, hash: sha256(key) };
}

function prefixOf(key: string): string | null {
  const m = key.match(/^(tsk_[A-Za-z0-9_-]{12})_/);
  return m ? m[1] : null;
}

export function adminAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    const given = bearer(c.req.header('authorization'));
    if (!given || !constantTimeEqual(given, token)) throw unauthorized();
    await next();
  };
}

/**
 * How long a verified key is trusted without a lookup. A key revoked through this API process
 * stops at once (it is forgotten); through another instance, within this time.
 */
export const API_KEY_CACHE_MS = 10_000;

/** Verified keys by prefix, with the key's hash (never the key itself), per API process. */
export type KeyCache = Lru<string, { hash: string; tenantId: string }>;
export const createKeyCache = (): KeyCache => new Lru(10_000, API_KEY_CACHE_MS);

export function tenantAuth(db: Db, verified: KeyCache): MiddlewareHandler<Env> {
  return async (c, next) => {
    const given = bearer(c.req.header('authorization'));
    const prefix = given && prefixOf(given);
    if (!given || !prefix) throw unauthorized();
    const hash = sha256(given);
    const hit = verified.get(prefix);
    let tenantId = hit && constantTimeEqual(hash, hit.hash) ? hit.tenantId : undefined;
    if (tenantId === undefined) {
      const [row] = await db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)));
      if (!row || !constantTimeEqual(hash, row.hash)) throw unauthorized();
      tenantId = row.tenantId;
      verified.set(prefix, { hash, tenantId });
    }
    c.set('tenantId', tenantId);
    await next();
  };
}
