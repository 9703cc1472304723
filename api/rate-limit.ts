// Per-tenant request rate limits of one API instance, with rate-limiter-flexible's in-memory
// limiters: a steady quota per second, and a burst allowance on top for short peaks
// (BurstyRateLimiter takes from the burst limiter only when the steady one is spent).
//
// Together they approximate a token bucket of RATE_LIMIT_BURST tokens refilled at
// RATE_LIMIT_PER_SECOND: up to BURST requests in one second, PER_SECOND sustained. The burst
// allowance (BURST − PER_SECOND) renews every `burstWindow` seconds, chosen so that it adds
// at most a tenth to the sustained rate.
//
// Every tenant response carries the IETF RateLimit and RateLimit-Policy fields, in the syntax
// of draft-ietf-httpapi-ratelimit-headers-10/-11 (structured-field lists of quoted policy
// names with q/w and r/t parameters); a 429 adds Retry-After.
import type { MiddlewareHandler } from 'hono';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Env } from './deps.js';
import { Problem } from './problem.js';

interface RateLimitSettings {
  /** Sustained requests per second per tenant (RATE_LIMIT_PER_SECOND). */
  perSecond: number;
  /** Requests a tenant may make at once (RATE_LIMIT_BURST), at least `perSecond`. */
  burst: number;
}

const DEFAULT_RATE_LIMIT: RateLimitSettings = { perSecond: 1000, burst: 2000 };

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

export function tenantRateLimit(settings: RateLimitSettings = DEFAULT_RATE_LIMIT): MiddlewareHandler<Env> {
  const perSecond = Math.max(1, Math.floor(settings.perSecond));
  const extra = Math.max(0, Math.floor(settings.burst) - perSecond);
  const burstWindow = Math.max(1, Math.ceil((10 * extra) / perSecond));
  const steady = new RateLimiterMemory({ keyPrefix: 'tenant', points: perSecond, duration: 1 });
  const burst = extra > 0 ? new RateLimiterMemory({ keyPrefix: 'tenant-burst', points: extra, duration: burstWindow }) : undefined;
  const limiter = burst ? new BurstyRateLimiter(steady, burst) : steady;
  const policy = [`"default";q=${perSecond};w=1`, ...(burst ? [`"burst";q=${extra};w=${burstWindow}`] : [])].join(', ');

  /** `RateLimit`: what is left of each quota now, and when it renews. */
  const current = async (tenantId: string) => {
    const [s, b] = await Promise.all([steady.get(tenantId), burst?.get(tenantId)]);
    const item = (name: string, quota: number, res: RateLimiterRes | null | undefined) =>
      `"${name}";r=${res ? res.remainingPoints : quota};t=${res ? seconds(res.msBeforeNext) : 0}`;
    return [item('default', perSecond, s), ...(burst ? [item('burst', extra, b)] : [])].join(', ');
  };

  return async (c, next) => {
    const tenantId = c.get('tenantId');
    try {
      await limiter.consume(tenantId);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfter = Math.max(1, seconds(err.msBeforeNext));
      throw new Problem(429, `Rate limit exceeded: at most ${perSecond} requests per second per tenant${burst ? `, bursts of ${perSecond + extra}` : ''}; retry in ${retryAfter} s`, [], {
        'retry-after': String(retryAfter),
        'ratelimit-policy': policy,
        ratelimit: await current(tenantId),
      });
    }
    await next();
    try {
      // Ahead of the policies the answer names already (api/critical-rate.ts: "critical").
      const add = (name: string, value: string) => {
        const own = c.res.headers.get(name);
        c.res.headers.set(name, own ? `${value}, ${own}` : value);
      };
      add('ratelimit-policy', policy);
      add('ratelimit', await current(tenantId));
    } catch {
      // A response with immutable headers (none of ours today) goes out without them.
    }
  };
}
