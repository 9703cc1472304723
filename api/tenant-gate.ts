// Per-tenant fair admission in one API instance: at most `concurrency` requests of a tenant are
// worked on at once (database statements, workflow starts), the rest of that tenant's wait in
// its own line, first come first served. One tenant's flood then queues behind itself, not in
// front of another tenant's requests, before anything reaches PostgreSQL or Temporal (whose
// matching then orders the runs by priority and tenant). A line longer than `maxWaiting` answers
// 429 with Retry-After, so no client can pile up unbounded work in the process.
import type { MiddlewareHandler } from 'hono';
import type { Env } from './deps.js';
import { Problem } from './problem.js';

interface TenantGateSettings {
  /** Requests of one tenant worked on at once (TENANT_MAX_CONCURRENT_REQUESTS). */
  concurrency: number;
  /** Requests of one tenant that may wait for a turn; more answer 429. */
  maxWaiting: number;
}

const DEFAULT_TENANT_GATE: TenantGateSettings = { concurrency: 8, maxWaiting: 1000 };

interface Line {
  active: number;
  waiting: Array<() => void>;
}

export function tenantGate(settings: TenantGateSettings = DEFAULT_TENANT_GATE): MiddlewareHandler<Env> {
  const lines = new Map<string, Line>();
  const release = (tenantId: string, line: Line) => {
    const next = line.waiting.shift();
    if (next) return next(); // the turn passes on: `active` stays
    line.active -= 1;
    if (line.active === 0) lines.delete(tenantId);
  };
  return async (c, next) => {
    const tenantId = c.get('tenantId');
    let line = lines.get(tenantId);
    if (!line) lines.set(tenantId, (line = { active: 0, waiting: [] }));
    if (line.active < settings.concurrency) line.active += 1;
    else if (line.waiting.length >= settings.maxWaiting)
      throw new Problem(429, `Too many requests in progress for this tenant (${settings.concurrency} at once, ${settings.maxWaiting} waiting); retry in 1 s`, [], {
        'retry-after': '1',
      });
    else await new Promise<void>((turn) => line!.waiting.push(turn));
    try {
      await next();
    } finally {
      release(tenantId, line);
    }
  };
}
