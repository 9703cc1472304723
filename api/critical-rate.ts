// `critical` is a tenant's right, not a default (contract: "Payloads at rest and limits"). Runs
// in the critical lane go ahead of every tenant's other sends (priority is strict across
// tenants), so each tenant may ask for at most CRITICAL_RATE_PER_MINUTE new critical runs per
// minute, or its own `criticalRatePerMinute` (the admin tenant API sets it). Counted, per API
// instance as the request rate is (api/rate-limit.ts), are:
//   - notifications sent with `priority: critical` (digested ones too: each request is one);
//   - triggers that open a new incident (its escalation then pages without asking again; a
//     trigger that joins the open incident of its dedupKey costs nothing).
// Broadcasts run in the bulk lane whatever their priority, so they are not counted.
//
// Past it, 429 problem+json with Retry-After and the IETF RateLimit fields for the "critical"
// policy; nothing is accepted. A request refused for another reason (400, 503) gives its turn back.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../db/client.js';
import { criticalRateSetting } from '../db/tenants.js';
import { Lru } from '../domain/lru.js';
import { Problem } from './problem.js';

const DEFAULT_CRITICAL_RATE_PER_MINUTE = 60;
/** The largest per-tenant setting the admin API takes. */
export const MAX_CRITICAL_RATE_PER_MINUTE = 1_000_000;

const WINDOW_SECONDS = 60;
/** A tenant's own setting reaches the other API instances within this time (this one at once). */
const SETTING_TTL_MS = 30_000;

/** One turn taken: give it back when nothing was accepted after all. */
interface CriticalTurn {
  /** The RateLimit fields after this turn, for the answer. */
  headers: Record<string, string>;
  giveBack(): Promise<void>;
}

export interface CriticalRate {
  /** Takes one turn of the tenant's critical rate, or throws 429. */
  take(tenantId: string): Promise<CriticalTurn>;
  /** Forgets a tenant's cached setting (after the admin API changed it). */
  forget(tenantId: string): void;
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

export function criticalRate(db: Db, perMinute = DEFAULT_CRITICAL_RATE_PER_MINUTE): CriticalRate {
  const settings = new Lru<string, number | null>(10_000, SETTING_TTL_MS);
  // One fixed-window limiter per rate in use: a tenant whose setting changes starts a new window.
  const limiters = new Map<number, RateLimiterMemory>();
  const limiterOf = (rate: number) => {
    let l = limiters.get(rate);
    if (!l) limiters.set(rate, (l = new RateLimiterMemory({ keyPrefix: `critical-${rate}`, points: rate, duration: WINDOW_SECONDS })));
    return l;
  };

  async function rateOf(tenantId: string): Promise<number> {
    let own = settings.get(tenantId);
    if (own === undefined) {
      own = (await criticalRateSetting(db, tenantId)) ?? null;
      settings.set(tenantId, own);
    }
    return own ?? perMinute;
  }

  const fields = (rate: number, res: RateLimiterRes) => ({
    'ratelimit-policy': `"critical";q=${rate};w=${WINDOW_SECONDS}`,
    ratelimit: `"critical";r=${res.remainingPoints};t=${seconds(res.msBeforeNext)}`,
  });

  return {
    async take(tenantId) {
      const rate = await rateOf(tenantId);
      const limiter = limiterOf(rate);
      let res: RateLimiterRes;
      try {
        res = await limiter.consume(tenantId);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        const retryAfter = Math.max(1, seconds(err.msBeforeNext));
        throw new Problem(
          429,
          `Critical rate exceeded: this tenant may send at most ${rate} critical notifications (and new incidents) per minute; retry in ${retryAfter} s, or send at priority high`,
          [],
          { 'retry-after': String(retryAfter), ...fields(rate, err) },
          'critical_rate_exceeded',
        );
      }
      return { headers: fields(rate, res), giveBack: async () => void (await limiter.reward(tenantId, 1)) };
    },
    forget: (tenantId) => settings.delete(tenantId),
  };
}

/**
 * Runs `accept` on one turn of the tenant's critical rate when `critical`: the turn is given
 * back when `accept` throws, or when `taken(result)` says no new critical run came of it. The
 * answer carries the "critical" RateLimit fields.
 */
export async function withCriticalTurn<T>(
  rate: CriticalRate,
  tenantId: string,
  critical: boolean,
  accept: () => Promise<T>,
  taken: (result: T) => boolean = () => true,
): Promise<{ result: T; headers: Record<string, string> }> {
  if (!critical) return { result: await accept(), headers: {} };
  const turn = await rate.take(tenantId);
  let result: T;
  try {
    result = await accept();
  } catch (err) {
    await turn.giveBack();
    throw err;
  }
  if (taken(result)) return { result, headers: turn.headers };
  await turn.giveBack();
  return { result, headers: {} };
}
