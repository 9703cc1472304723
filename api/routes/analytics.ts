// Analytics and failed deliveries (usecases/analytics.ts): the counts and latency percentiles of
// the tenant's deliveries, its failed deliveries, and retries of them, one notification at a time
// or in bulk over a range.
import { createRoute, z } from '@hono/zod-openapi';
import { CHANNELS } from '../../domain/types.js';
import {
  AnalyticsQuery,
  BulkRetryBody,
  FailedDeliveriesQuery,
  analyticsOfDeliveries,
  listFailedDeliveries,
  retryFailedDeliveries,
  retryNotification,
} from '../../usecases/analytics.js';
import { ResourceId } from '../../usecases/schemas.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { idempotencyKeyOf } from '../validate.js';

const Latency = z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() });
const AnalyticsBucket = z
  .object({
    bucket: Timestamp.openapi({ description: 'Start of the UTC hour or day the deliveries were created (their notification accepted) in' }),
    key: z.string().nullable().openapi({ description: 'The channel, template, category or provider; null when the delivery has none' }),
    sent: z.number().int().openapi({ description: 'Reached the provider (delivered and bounced ones included)' }),
    delivered: z.number().int(),
    failed: z.number().int(),
    bounced: z.number().int(),
    skipped: z.number().int(),
    latencyMs: Latency.openapi({ description: 'From when the notification was due (acceptance, or its later sendAt) to the send, over the sent ones' }),
  })
  .openapi('DeliveryAnalyticsBucket');

const FailedDelivery = z
  .object({
    id: z.string(),
    notificationId: z.string(),
    recipient: z.string(),
    template: z.string().nullable(),
    category: z.string().nullable(),
    channel: z.enum(CHANNELS),
    status: z.literal('failed'),
    provider: z.string().nullable(),
    attempts: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('FailedDelivery');

/** GET /v1/analytics/deliveries. */
export function analyticsRoutes(deps: AppDeps) {
  const app = router<Env>();
  const deliveries = createRoute({
    method: 'get',
    path: '/deliveries',
    summary: 'Deliveries per time bucket and key, with latency percentiles',
    description: `The range is at most 92 days (7 with \`interval=hour\`); default the last 24 hours. An answer holds at most 10,000 rows.`,
    security: security.tenant,
    request: { query: AnalyticsQuery },
    responses: { 200: json(z.object({ data: z.array(AnalyticsBucket) }), 'One row per bucket and key that had deliveries, oldest first'), ...tenantProblems() },
  });
  app.openapi(deliveries, async (c) => c.json(await analyticsOfDeliveries(deps.db, c.get('tenantId'), c.req.valid('query')), 200));
  return app;
}

/** GET /v1/deliveries and POST /v1/deliveries/retry. */
export function deliveryRoutes(deps: AppDeps) {
  const app = router<Env>();
  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'Failed deliveries with their errors, newest first',
    description: 'Created in [from, to): at most 92 days, default the last 7.',
    security: security.tenant,
    request: { query: FailedDeliveriesQuery },
    responses: { 200: json(z.object({ data: z.array(FailedDelivery), nextCursor: z.string().nullable() }), 'A page; `nextCursor` continues it'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json(await listFailedDeliveries(deps.db, c.get('tenantId'), c.req.valid('query')), 200));

  const bulk = createRoute({
    method: 'post',
    path: '/retry',
    summary: 'Retry every finished notification with a failed delivery in a range',
    description:
      'Each notification (failed or partially sent, with a failed delivery of `channel` created in [from, to), at most 92 days) is retried once per request: the same request again (the same Idempotency-Key, or without one the same body) starts no retry again. `count` is how many this request started.',
    security: security.tenant,
    request: { headers: idempotencyHeader('bulk retry'), body: jsonBody(BulkRetryBody) },
    responses: { 202: json(z.object({ count: z.number().int() }), 'Retries started'), ...tenantProblems() },
  });
  app.openapi(bulk, async (c) => c.json(await retryFailedDeliveries(deps, c.get('tenantId'), c.req.valid('json'), idempotencyKeyOf(c)), 202));
  return app;
}

/** POST /v1/notifications/{id}/retry. */
export function notificationRetryRoutes(deps: AppDeps) {
  const app = router<Env>();
  const retry = createRoute({
    method: 'post',
    path: '/{id}/retry',
    summary: 'Send a finished notification’s failed deliveries again',
    description:
      'Once per notification and Idempotency-Key: the same key again answers 202 and does nothing more. 409 while the notification has not finished, or when nothing of it failed.',
    security: security.tenant,
    request: { params: z.object({ id: ResourceId }), headers: idempotencyHeader('retry') },
    responses: { 202: json(z.object({ id: z.string(), status: z.literal('retrying') }), 'The retry started (or had, under this key)'), ...tenantProblems(409) },
  });
  app.openapi(retry, async (c) => c.json(await retryNotification(deps, c.get('tenantId'), c.req.valid('param').id, idempotencyKeyOf(c)), 202));
  return app;
}
