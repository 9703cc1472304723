import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import type { AppDeps } from '../deps.js';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

export function healthRoutes(deps: AppDeps) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const check = async (fn: () => Promise<void>) => {
      try {
        await withTimeout(fn(), 3000);
        return { ok: true as const };
      } catch (err) {
        return { ok: false as const, error: (err as Error).message };
      }
    };
    const [database, temporal] = await Promise.all([check(async () => void (await deps.db.execute(sql`select 1`))), check(deps.temporal.ping)]);
    const ready = database.ok && temporal.ok;
    const failed = [!database.ok && 'database', !temporal.ok && 'temporal'].filter(Boolean);
    return c.json(
      {
        status: ready ? 'ready' : 'unavailable',
        ...(ready ? {} : { detail: `Not ready: ${failed.join(' and ')} did not answer` }),
        checks: { database, temporal },
        channels: deps.channels,
      },
      ready ? 200 : 503,
    );
  });
  return app;
}
