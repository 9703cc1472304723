import { createRoute, z } from '@hono/zod-openapi';
import type { KeyCache } from '../auth.js';
import { adminProblems, json, jsonBody, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';
import { notFound } from '../problem.js';
import { ResourceId } from '../../usecases/schemas.js';
import { changeTenantSettings, createTenant, issueApiKey, revokeTenantApiKey } from '../../usecases/tenants.js';
import { MAX_CRITICAL_RATE_PER_MINUTE, type CriticalRate } from '../critical-rate.js';

const CriticalRatePerMinute = z
  .number()
  .int()
  .min(1)
  .max(MAX_CRITICAL_RATE_PER_MINUTE)
  .nullable()
  .meta({
    description:
      'Critical notifications (and new incidents) this tenant may send per minute, per API instance; null: the CRITICAL_RATE_PER_MINUTE setting (default 60). Past it, 429.',
    examples: [600],
  });
const TenantName = z.string().trim().min(1).max(200).meta({ pattern: '\\S' });
const TenantBody = z.object({ name: TenantName, criticalRatePerMinute: CriticalRatePerMinute.optional() });
const TenantSettingsBody = z
  .object({ name: TenantName.optional(), criticalRatePerMinute: CriticalRatePerMinute.optional() })
  .strict()
  .refine((b) => b.name !== undefined || b.criticalRatePerMinute !== undefined, 'give name, criticalRatePerMinute or both')
  .meta({ minProperties: 1 });
const TenantSettings = z.object({ id: z.string(), name: z.string(), criticalRatePerMinute: z.number().int().nullable() }).openapi('TenantSettings');
const IdParam = z.object({ id: ResourceId });

export function adminRoutes({ db }: AppDeps, keys: KeyCache, critical: CriticalRate) {
  const app = router();

  const postTenant = createRoute({
    method: 'post',
    path: '/tenants',
    summary: 'Create a tenant',
    description: 'Its API key is shown once and stored only as a hash.',
    security: security.admin,
    request: { body: jsonBody(TenantBody) },
    responses: {
      201: json(
        z.object({ id: z.string(), name: z.string(), apiKey: z.string(), webhookSecret: z.string(), criticalRatePerMinute: z.number().int().nullable() }).openapi('Tenant'),
        'The tenant, its first API key and its webhook signing secret',
      ),
      ...adminProblems(),
    },
  });
  app.openapi(postTenant, async (c) => {
    const { name, criticalRatePerMinute = null } = c.req.valid('json');
    const { keyPrefix, ...tenant } = await createTenant(db, { name, criticalRatePerMinute });
    keys.created(keyPrefix);
    return c.json(tenant, 201);
  });

  const updateTenant = createRoute({
    method: 'patch',
    path: '/tenants/{id}',
    summary: "Change a tenant's name or settings",
    description: 'Only the fields given change; `criticalRatePerMinute: null` returns the tenant to the CRITICAL_RATE_PER_MINUTE setting.',
    security: security.admin,
    request: { params: IdParam, body: jsonBody(TenantSettingsBody) },
    responses: { 200: json(TenantSettings, 'The tenant as it is now'), ...adminProblems() },
  });
  app.openapi(updateTenant, async (c) => {
    const { id } = c.req.valid('param');
    const row = await changeTenantSettings(db, id, c.req.valid('json'));
    if (!row) throw notFound('Tenant');
    critical.forget(id);
    return c.json(row, 200);
  });

  const issueKey = createRoute({
    method: 'post',
    path: '/tenants/{id}/api-keys',
    summary: 'Issue another API key (rotation)',
    description: 'Old keys keep working until revoked.',
    security: security.admin,
    request: { params: IdParam },
    responses: { 201: json(z.object({ apiKey: z.string(), keyPrefix: z.string() }), 'The new key, shown once'), ...adminProblems() },
  });
  app.openapi(issueKey, async (c) => {
    const { id } = c.req.valid('param');
    const key = await issueApiKey(db, id);
    if (!key) throw notFound('Tenant');
    keys.created(key.keyPrefix);
    return c.json(key, 201);
  });

  const revokeKey = createRoute({
    method: 'delete',
    path: '/tenants/{id}/api-keys/{keyPrefix}',
    summary: 'Revoke an API key',
    security: security.admin,
    request: { params: IdParam.extend({ keyPrefix: ResourceId }) },
    responses: { 204: { description: 'Revoked' }, ...adminProblems() },
  });
  app.openapi(
    revokeKey,
    async (c) => {
      const { id, keyPrefix } = c.req.valid('param');
      if (!(await revokeTenantApiKey(db, id, keyPrefix))) throw notFound('API key');
      keys.revoked(keyPrefix);
      return c.body(null, 204);
    },
  );

  return app;
}
