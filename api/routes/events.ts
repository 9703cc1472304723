// Events (usecases/events.ts): a producer posts a fact, the tenant's rules decide who hears of it.
import { createRoute, z } from '@hono/zod-openapi';
import { acceptEvent, eventView } from '../../usecases/events.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { EventBody, ResourceId } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';

const IdParam = z.object({ id: ResourceId });
const EventView = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(['accepted', 'processed']),
    rules: z.array(z.string()),
    notifications: z.object({ count: z.number().int(), ids: z.array(z.string()) }),
    createdAt: Timestamp,
    processedAt: Timestamp.nullable(),
  })
  .openapi('Event');

export function eventRoutes(deps: AppDeps & { onInlineError?: (err: unknown) => void }) {
  const app = router<Env>();

  const post = createRoute({
    method: 'post',
    path: '/',
    summary: 'Post an event',
    description:
      'Recorded, then evaluated: every enabled rule for `name` whose `if` holds accepts one notification per recipient (the event’s `recipients`, else its `actor`; a topic’s subscribers; or a segment), exactly as POST /v1/notifications would. A small event (every rule takes its recipients from the event, and rules × recipients is at most 20) is evaluated at once, before the answer: it is already `processed` when the 202 arrives. Any other event, or one whose evaluation at once failed, is evaluated by its own workflow; GET /v1/events/{id} shows the same either way. The same Idempotency-Key with the same body answers the same id and sends nothing twice; with another body, 409.',
    security: security.tenant,
    request: { headers: idempotencyHeader('event'), body: jsonBody(EventBody) },
    responses: { 202: json(z.object({ id: z.string() }), 'Accepted; GET /v1/events/{id} shows what it matched'), ...tenantProblems(409) },
  });
  app.openapi(post, async (c) => c.json(await acceptEvent(deps, c.get('tenantId'), c.req.valid('json'), { idempotencyKey: idempotencyKeyOf(c) }), 202));

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'An event: the rules it matched and the notifications they accepted',
    description: '`status` is `processed` once every matched rule has accepted its notifications; `notifications.ids` lists at most 1,000 of them.',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(EventView, 'The event'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => c.json(await eventView(deps.db, c.get('tenantId'), c.req.valid('param').id), 200));

  return app;
}
