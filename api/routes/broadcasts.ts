// The broadcast routes: parse, authorize, and hand to usecases/broadcasts.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { BROADCAST_STATUSES } from '../../domain/broadcast.js';
import { acceptBroadcast, broadcastView, cancelBroadcast } from '../../usecases/broadcasts.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { BroadcastBody, ResourceId } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';

const IdParam = z.object({ id: ResourceId });
const IdempotencyHeader = idempotencyHeader('broadcast');
const Count = z.number().int();
const BroadcastView = z
  .object({
    id: z.string(),
    status: z.enum(BROADCAST_STATUSES),
    template: z.string(),
    templateVersion: z.number().int(),
    total: Count,
    sent: Count,
    failed: Count,
    suppressed: Count,
    cancelled: Count,
    pending: Count,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Broadcast');
const Started = z.object({ id: z.string(), status: z.enum(BROADCAST_STATUSES), total: Count });

export function broadcastRoutes(deps: AppDeps) {
  const app = router<Env>();

  const send = createRoute({
    method: 'post',
    path: '/',
    summary: 'Send to many recipients (up to 100,000, or all)',
    security: security.tenant,
    request: { headers: IdempotencyHeader, body: jsonBody(BroadcastBody) },
    responses: { 202: json(Started, 'Accepted; its progress is at GET /v1/broadcasts/{id}'), ...tenantProblems(409) },
  });
  app.openapi(send, async (c) => {
    return c.json(await acceptBroadcast(deps, c.get('tenantId'), c.req.valid('json'), { idempotencyKey: idempotencyKeyOf(c) }), 202);
  });

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'Broadcast progress',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(BroadcastView, 'The broadcast'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await broadcastView(deps.db, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  const cancel = createRoute({
    method: 'post',
    path: '/{id}/cancel',
    summary: 'Stop every recipient not yet sent',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(BroadcastView, 'The broadcast'), ...tenantProblems(409) },
  });
  app.openapi(cancel, async (c) => {
    return c.json(await cancelBroadcast(deps, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  return app;
}
