// Lifecycle webhook endpoints (usecases/webhook-endpoints.ts): where a tenant hears of its
// notifications', deliveries', incidents' and recipients' changes, signed per Standard Webhooks.
import { createRoute, z } from '@hono/zod-openapi';
import {
  getWebhookEndpoint,
  listEndpoints,
  listWebhookDeliveries,
  putWebhookEndpoint,
  removeWebhookEndpoint,
  replayWebhookEvents,
  ReplayBody,
  rotateSecret,
  WEBHOOK_DELIVERY_STATUSES,
  WebhookDeliveriesQuery,
  WebhookEndpointBody,
  WebhookEndpointId,
} from '../../usecases/webhook-endpoints.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';

const Param = z.object({ endpointId: WebhookEndpointId });

const EndpointView = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()).openapi({ description: 'Event types, or `*`' }),
    enabled: z.boolean(),
    disabledReason: z.string().nullable().openapi({ description: 'Why Tocsin disabled it (every attempt failed for 5 days)' }),
    failingSince: Timestamp.nullable().openapi({ description: 'Since when every attempt failed; null after a success' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    secret: z.string().optional().openapi({ description: 'The signing secret (`whsec_…`): answered once, on creation' }),
  })
  .openapi('WebhookEndpoint');

const DeliveryView = z
  .object({
    id: z.string(),
    eventId: z.string().openapi({ description: 'The event id: its `webhook-id`, the same on every attempt and replay' }),
    type: z.string(),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: z.array(z.object({ statusCode: z.number().int().nullable(), error: z.string().nullable(), succeeded: z.boolean(), at: Timestamp })),
    nextAttemptAt: Timestamp.nullable(),
    createdAt: Timestamp,
  })
  .openapi('WebhookDelivery');

export function webhookEndpointRoutes(deps: AppDeps) {
  const app = router<Env>();
  const ucDeps = { db: deps.db, temporal: deps.temporal, encryptionKeys: deps.encryptionKeys, webhookAllowedHosts: deps.webhookAllowedHosts, now: deps.now };

  const put = createRoute({
    method: 'put',
    path: '/{endpointId}',
    summary: 'Create or change a lifecycle webhook endpoint',
    description:
      'On creation the answer carries the signing `secret` (once). The URL must not point at a loopback, private or reserved address (WEBHOOK_ALLOWED_HOSTS exempts some); it is checked again at every send. `enabled: true` re-enables an endpoint disabled for failing.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(WebhookEndpointBody) },
    responses: { 200: json(EndpointView, 'The endpoint as stored'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => c.json(await putWebhookEndpoint(ucDeps, c.get('tenantId'), c.req.valid('param').endpointId, c.req.valid('json')), 200));

  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'The tenant’s lifecycle webhook endpoints',
    security: security.tenant,
    responses: { 200: json(z.object({ data: z.array(EndpointView) }), 'Every endpoint, by id'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json({ data: await listEndpoints(deps.db, c.get('tenantId')) }, 200));

  const get = createRoute({
    method: 'get',
    path: '/{endpointId}',
    summary: 'One lifecycle webhook endpoint',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(EndpointView, 'The endpoint (without its secret)'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => c.json(await getWebhookEndpoint(deps.db, c.get('tenantId'), c.req.valid('param').endpointId), 200));

  const remove = createRoute({
    method: 'delete',
    path: '/{endpointId}',
    summary: 'Delete an endpoint with its deliveries log',
    security: security.tenant,
    request: { params: Param },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    await removeWebhookEndpoint(deps.db, c.get('tenantId'), c.req.valid('param').endpointId);
    return c.body(null, 204);
  });

  const rotate = createRoute({
    method: 'post',
    path: '/{endpointId}/rotate-secret',
    summary: 'Replace the signing secret; the previous one keeps signing for 24 hours',
    description: 'For 24 hours every message carries two `v1,` signatures in `webhook-signature`, one per secret, so receivers can switch at their pace.',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(z.object({ secret: z.string(), previousSecretExpiresAt: Timestamp }), 'The new secret'), ...tenantProblems() },
  });
  app.openapi(rotate, async (c) => c.json(await rotateSecret(ucDeps, c.get('tenantId'), c.req.valid('param').endpointId), 200));

  const deliveries = createRoute({
    method: 'get',
    path: '/{endpointId}/deliveries',
    summary: 'The endpoint’s deliveries log, newest first, each with its attempts',
    security: security.tenant,
    request: { params: Param, query: WebhookDeliveriesQuery },
    responses: {
      200: json(z.object({ data: z.array(DeliveryView), nextCursor: z.string().nullable() }), 'A page of deliveries; `nextCursor` continues it'),
      ...tenantProblems(),
    },
  });
  app.openapi(deliveries, async (c) => c.json(await listWebhookDeliveries(deps.db, c.get('tenantId'), c.req.valid('param').endpointId, c.req.valid('query')), 200));

  const replay = createRoute({
    method: 'post',
    path: '/{endpointId}/replay',
    summary: 'Send every event since a time again, under the same ids',
    security: security.tenant,
    request: { params: Param, body: jsonBody(ReplayBody) },
    responses: { 202: json(z.object({ count: z.number().int() }), 'How many events will be sent again'), ...tenantProblems() },
  });
  app.openapi(replay, async (c) => c.json(await replayWebhookEvents(ucDeps, c.get('tenantId'), c.req.valid('param').endpointId, c.req.valid('json').since), 202));

  return app;
}
