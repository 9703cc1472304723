// Integrations (usecases/integrations.ts): a tenant's own providers per channel.
import { createRoute, z } from '@hono/zod-openapi';
import { unavailable } from '../../domain/errors.js';
import { deleteIntegration, listIntegrations, putIntegration } from '../../usecases/integrations.js';
import { IntegrationBody, IntegrationId } from '../../usecases/schemas.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';

const Param = z.object({ integrationId: IntegrationId });
const IntegrationView = z
  .object({
    id: z.string(),
    channel: z.string(),
    provider: z.string(),
    credentials: z.record(z.string(), z.string()).openapi({ description: 'Masked: the first three and last four characters (`re_…4f2a`), or `…`' }),
    settings: z.object({
      from: z.string().optional(),
      baseUrl: z.string().optional(),
      ratePerSecond: z.number().optional(),
      breakerFailures: z.number().int().optional(),
      breakerCooldownSeconds: z.number().int().optional(),
    }),
    priority: z.number().int(),
    enabled: z.boolean(),
    health: z.object({
      state: z.enum(['closed', 'open', 'half_open']),
      failures: z.number().int().openapi({ description: 'Consecutive transient failures' }),
      openedAt: Timestamp.nullable(),
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Integration');

export function integrationRoutes(deps: AppDeps) {
  const app = router<Env>();
  const keys = () => {
    if (!deps.encryptionKeys?.length) throw unavailable('Integrations need TOCSIN_ENCRYPTION_KEYS to seal credentials', undefined);
    return deps.encryptionKeys;
  };

  const put = createRoute({
    method: 'put',
    path: '/{integrationId}',
    summary: 'Create or replace one of the tenant’s own providers for a channel',
    description:
      'Credentials are write-only: sealed at rest (envelope encryption under TOCSIN_ENCRYPTION_KEYS) and answered masked. Deliveries of the channel try the enabled integrations in `priority` order (1 first), failing over on transient errors, before the platform provider.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(IntegrationBody) },
    responses: { 200: json(IntegrationView, 'The stored integration, credentials masked'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    const view = await putIntegration({ db: deps.db, encryptionKeys: keys(), webhookAllowedHosts: deps.webhookAllowedHosts }, c.get('tenantId'), c.req.valid('param').integrationId, c.req.valid('json'));
    return c.json(view, 200);
  });

  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'The tenant’s integrations with their circuit breakers’ health',
    security: security.tenant,
    responses: { 200: json(z.object({ data: z.array(IntegrationView) }), 'Every integration, by channel and priority'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json({ data: await listIntegrations(deps, c.get('tenantId')) }, 200));

  const remove = createRoute({
    method: 'delete',
    path: '/{integrationId}',
    summary: 'Delete an integration',
    security: security.tenant,
    request: { params: Param },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    await deleteIntegration(deps, c.get('tenantId'), c.req.valid('param').integrationId);
    return c.body(null, 204);
  });

  return app;
}
