import { createRoute, z } from '@hono/zod-openapi';
import { ping } from '../../db/client.js';
import { CHANNELS } from '../../domain/types.js';
import { json, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    detail: z.string().optional(),
    checks: z.object({ database: Check, temporal: Check }),
    channels: z.object(Object.fromEntries(CHANNELS.map((c) => [c, z.enum(['configured', 'unconfigured'])])) as Record<(typeof CHANNELS)[number], z.ZodEnum<{ configured: 'configured'; unconfigured: 'unconfigured' }>>),
  })
  .openapi('Readiness');

const liveness = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness',
  security: security.none,
  responses: { 200: json(z.object({ status: z.literal('ok') }), 'The process lives') },
});
const readiness = createRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness of the database and Temporal, and which channels are configured',
  security: security.none,
  responses: { 200: json(Readiness, 'Ready'), 503: json(Readiness, 'Not ready: `detail` names what failed') },
});

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

export function healthRoutes(deps: AppDeps) {
  const app = router();
  app.openapi(liveness, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readiness, async (c) => {
    const check = async (fn: () => Promise<void>) => {
      try {
        await withTimeout(fn(), 3000);
        return { ok: true as const };
      } catch (err) {
        return { ok: false as const, error: (err as Error).message };
      }
    };
    const [database, temporal] = await Promise.all([check(() => ping(deps.db)), check(deps.temporal.ping)]);
    const ready = database.ok && temporal.ok;
    const failed = [!database.ok && 'database', !temporal.ok && 'temporal'].filter(Boolean);
    return c.json(
      {
        status: ready ? ('ready' as const) : ('unavailable' as const),
        ...(ready ? {} : { detail: `Not ready: ${failed.join(' and ')} did not answer` }),
        checks: { database, temporal },
        channels: deps.channels,
      },
      ready ? 200 : 503,
    );
  });
  return app;
}
