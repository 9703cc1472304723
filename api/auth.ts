// Bearer credentials: the admin token for /v1/admin/*, recipient tokens for /v1/me/*, tenant API
// keys for the rest, checked before any body is read. Keys are stored as SHA-256 hashes and
// compared in constant time; recipient tokens are JWTs (usecases/recipient-tokens.ts). Answers
// to requests without valid credentials are limited per client address.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../db/client.js';
import { liveApiKey } from '../db/tenants.js';
import { Lru } from '../domain/lru.js';
import type { Env } from './deps.js';
import { constantTimeEqual, sha256 } from '../usecases/ids.js';
import { MAX_RECIPIENT_TOKEN_LENGTH, tenantKeysCached, verifyRecipientToken, type RecipientTokenDeps } from '../usecases/recipient-tokens.js';
import { clientAddress } from './client-address.js';
import { Problem } from './problem.js';

export const unauthorized = (headers: Record<string, string> = {}) =>
  new Problem(401, 'Missing or invalid credentials', [], { 'www-authenticate': 'Bearer realm="tocsin"', ...headers });

export function bearer(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1] : null;
}

/** The prefix of a key in the form usecases/tenants.ts `newApiKey` makes. */
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
 * stops at once (it is forgotten); through another instance, within this time. An unknown
 * prefix is remembered as long.
 */
const API_KEY_CACHE_MS = 10_000;

/** Prefixes each of the two caches holds at most (about 100 bytes an entry). */
const API_KEY_CACHE_ENTRIES = 10_000;

type KeyRow = { hash: string; tenantId: string };

/**
 * Key prefixes this API process has looked up, per process: those of live keys with the key's
 * stored hash (never a key) and tenant, and well-formed prefixes that name no live key, so
 * that a client repeating an unknown key costs no query. Both bounded and expiring; concurrent
 * lookups of one prefix share one query.
 */
export class KeyCache {
  private readonly known: Lru<string, KeyRow>;
  private readonly unknown: Lru<string, true>;
  private readonly pending = new Map<string, Promise<KeyRow | null>>();

  constructor({ entries = API_KEY_CACHE_ENTRIES, ttlMs = API_KEY_CACHE_MS, now = Date.now }: { entries?: number; ttlMs?: number; now?: () => number } = {}) {
    this.known = new Lru(entries, ttlMs, now);
    this.unknown = new Lru(entries, ttlMs, now);
  }

  /** The row of a prefix, `null` if it names no live key, `undefined` if not cached. */
  cached(prefix: string): KeyRow | null | undefined {
    return this.known.get(prefix) ?? (this.unknown.get(prefix) ? null : undefined);
  }

  /** The row of a prefix from `query` (one query at a time per prefix), remembered either way. */
  lookup(prefix: string, query: () => Promise<KeyRow | undefined>): Promise<KeyRow | null> {
    let running = this.pending.get(prefix);
    if (!running) {
      running = query()
        .then((row) => {
          if (row) this.known.set(prefix, { hash: row.hash, tenantId: row.tenantId });
          else this.unknown.set(prefix, true);
          return row ?? null;
        })
        .finally(() => this.pending.delete(prefix));
      this.pending.set(prefix, running);
    }
    return running;
  }

  /** A key was created here: its prefix is no longer unknown (it never was, but a guess may have been). */
  created(prefix: string): void {
    this.unknown.delete(prefix);
  }

  /** A key was revoked here: it stops at once. */
  revoked(prefix: string): void {
    this.known.delete(prefix);
    this.unknown.set(prefix, true);
  }
}
export const createKeyCache = () => new KeyCache();

/**
 * UNAUTH_RATE_PER_SECOND answers a second per client address (api/client-address.ts) to
 * requests without valid credentials; TRUSTED_PROXY_HOPS says whose address that is.
 */
interface UnauthenticatedLimit {
  perSecond: number;
  trustedProxyHops: number;
}
const DEFAULT_UNAUTHENTICATED_LIMIT: UnauthenticatedLimit = { perSecond: 20, trustedProxyHops: 0 };

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** How long a refused request's connection stays open after its answer, discarding what the client still sends. */
const LINGER_MS = 2_000;

/**
 * A lingering close (RFC 9112 §9.6) for a refused request that carries a body: after the answer
 * Node half-closes the connection (`Connection: close`) and discards the unread body as it
 * arrives, instead of closing at once, which would reset the connection under a client still
 * sending and lose the answer it has not read yet. The body is never parsed; after LINGER_MS
 * the connection is closed whatever is left.
 */
function lingerAfterAnswer(c: Context): void {
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket as (Socket & { destroySoon?: () => void }) | undefined;
  if (!socket) return;
  socket.destroySoon = function (this: Socket) {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * The answers to requests without valid credentials, counted per client address in this
 * process (rate-limiter-flexible, a fixed one-second window): a 401 while the address has
 * answers left this second, a 429 with Retry-After past them; both carry the IETF RateLimit
 * fields of the "unauthenticated" policy, as api/rate-limit.ts does for tenants.
 */
export function unauthenticatedAnswers(settings: UnauthenticatedLimit = DEFAULT_UNAUTHENTICATED_LIMIT) {
  const points = Math.max(1, Math.floor(settings.perSecond));
  const limiter = new RateLimiterMemory({ keyPrefix: 'unauthenticated', points, duration: 1 });
  const policy = `"unauthenticated";q=${points};w=1`;
  const fields = (res: RateLimiterRes) => ({ 'ratelimit-policy': policy, ratelimit: `"unauthenticated";r=${res.remainingPoints};t=${seconds(res.msBeforeNext)}` });
  const address = (c: Context) => clientAddress(c, settings.trustedProxyHops);
  return {
    /**
     * The answer to a request whose credentials are missing or wrong, counted against its
     * address. A body it carries is never read: the answer closes the connection (as for a
     * body over the size limit), so that the client does not send its next request behind
     * an unread body on a connection the server drops.
     */
    async refuse(c: Context): Promise<Problem> {
      const body = c.req.header('transfer-encoding') !== undefined || Number(c.req.header('content-length') ?? 0) > 0;
      const close: Record<string, string> = body ? { connection: 'close' } : {};
      if (body) lingerAfterAnswer(c);
      try {
        return unauthorized({ ...fields(await limiter.consume(address(c))), ...close });
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        const retryAfter = Math.max(1, seconds(err.msBeforeNext));
        return new Problem(429, `Too many requests without valid credentials: at most ${points} per second per client address; retry in ${retryAfter} s`, [], {
          'retry-after': String(retryAfter),
          ...fields(err),
          ...close,
        });
      }
    },
    /** Whether the request's address has had all its answers this second: then no lookup is made for it. */
    async spent(c: Context): Promise<boolean> {
      const res = await limiter.get(address(c));
      return res !== null && res.remainingPoints <= 0;
    },
  };
}
type UnauthenticatedAnswers = ReturnType<typeof unauthenticatedAnswers>;

/** The one path on which a recipient token may come as `?token=` (EventSource sends no headers). */
const ME_STREAM_PATH = '/v1/me/inbox/stream';

/**
 * Credentials, checked before anything reads the request's body (api/app.ts mounts this ahead
 * of bodies being parsed): the admin token under /v1/admin, a recipient token (purpose `me`)
 * under /v1/me, a tenant API key elsewhere under /v1, except below `signedPrefixes`, whose
 * routes verify their providers' signatures over the raw body themselves. A key answers from
 * the KeyCache when it can; a lookup (of a key, or of a tenant's token secrets) is made only for
 * one not cached and an address that still has unauthenticated answers left this second.
 */
export function authenticate(opts: {
  db: Db;
  adminToken: string;
  keys: KeyCache;
  answers: UnauthenticatedAnswers;
  signedPrefixes: readonly string[];
  /** Verifies recipient tokens; unset (no TOCSIN_ENCRYPTION_KEYS): /v1/me opens to nothing. */
  recipientTokens?: RecipientTokenDeps;
}): MiddlewareHandler<Env> {
  const { db, adminToken, keys, answers, signedPrefixes, recipientTokens } = opts;
  const query = (prefix: string) => () => liveApiKey(db, prefix);
  return async (c, next) => {
    const path = c.req.path;
    if (signedPrefixes.some((p) => path.startsWith(p))) return next();
    const given = bearer(c.req.header('authorization'));
    if (path === '/v1/admin' || path.startsWith('/v1/admin/')) {
      if (!given || !constantTimeEqual(given, adminToken)) throw await answers.refuse(c);
      return next();
    }
    if (path === '/v1/me' || path.startsWith('/v1/me/')) {
      // A recipient token and nothing else: a tenant key (no JWT) verifies as nothing here.
      const token = given ?? (path === ME_STREAM_PATH && c.req.method === 'GET' ? (c.req.query('token') ?? null) : null);
      if (!token || token.length > MAX_RECIPIENT_TOKEN_LENGTH || !recipientTokens) throw await answers.refuse(c);
      if (!tenantKeysCached(recipientTokens, token) && (await answers.spent(c))) throw await answers.refuse(c);
      const claims = await verifyRecipientToken(recipientTokens, token, 'me');
      if (!claims) throw await answers.refuse(c);
      c.set('tenantId', claims.tenantId);
      c.set('recipientId', claims.recipientId);
      return next();
    }
    const prefix = given && prefixOf(given);
    if (!given || !prefix) throw await answers.refuse(c);
    let row = keys.cached(prefix);
    if (row === undefined) {
      if (await answers.spent(c)) throw await answers.refuse(c);
      row = await keys.lookup(prefix, query(prefix));
    }
    if (!row || !constantTimeEqual(sha256(given), row.hash)) throw await answers.refuse(c);
    c.set('tenantId', row.tenantId);
    return next();
  };
}

/** For routes mounted behind `authenticate`: a request it let through unchecked (below a signed prefix) has no tenant. */
export function requireTenant(answers: UnauthenticatedAnswers): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (!c.get('tenantId')) throw await answers.refuse(c);
    await next();
  };
}
