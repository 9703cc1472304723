import { and, eq, isNull } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { apiKeys, tenants } from '../../db/schema.js';
import { newApiKey, type KeyCache } from '../auth.js';
import type { AppDeps } from '../deps.js';
import { newId, secret } from '../../usecases/ids.js';
import { notFound } from '../problem.js';
import { ResourceId } from '../../usecases/schemas.js';
import { validate } from '../validate.js';

const TenantBody = z.object({ name: z.string().trim().min(1).max(200) });
const IdParam = z.object({ id: ResourceId });

export function adminRoutes({ db }: AppDeps, keys: KeyCache) {
  const app = new Hono();

  app.post('/tenants', validate('json', TenantBody), async (c) => {
    const { name } = c.req.valid('json');
    const id = newId('ten');
    const webhookSecret = secret('whsec');
    const key = newApiKey();
    await db.transaction(async (tx) => {
      await tx.insert(tenants).values({ id, name, webhookSecret });
      await tx.insert(apiKeys).values({ prefix: key.prefix, tenantId: id, hash: key.hash });
    });
    return c.json({ id, name, apiKey: key.key, webhookSecret }, 201);
  });

  app.post('/tenants/:id/api-keys', validate('param', IdParam), async (c) => {
    const { id } = c.req.valid('param');
    const [tenant] = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id));
    if (!tenant) throw notFound('Tenant');
    const key = newApiKey();
    await db.insert(apiKeys).values({ prefix: key.prefix, tenantId: id, hash: key.hash });
    return c.json({ apiKey: key.key, keyPrefix: key.prefix }, 201);
  });

  app.delete(
    '/tenants/:id/api-keys/:keyPrefix',
    validate('param', IdParam.extend({ keyPrefix: ResourceId })),
    async (c) => {
      const { id, keyPrefix } = c.req.valid('param');
      const revoked = await db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiKeys.tenantId, id), eq(apiKeys.prefix, keyPrefix), isNull(apiKeys.revokedAt)))
        .returning({ prefix: apiKeys.prefix });
      if (revoked.length === 0) throw notFound('API key');
      keys.delete(keyPrefix);
      return c.body(null, 204);
    },
  );

  return app;
}
