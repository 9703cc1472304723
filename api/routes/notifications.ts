// The notification routes: parse, authorize, and hand to usecases/accept.ts and usecases/notifications.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { CHANNELS, DELIVERY_STATUSES, NOTIFICATION_STATUSES, PRIORITIES } from '../../domain/types.js';
import { acceptNotification } from '../../usecases/accept.js';
import { cancelNotification, listNotifications, notificationView } from '../../usecases/notifications.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { NotificationBody, Pagination, RecipientId, ResourceId } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';
import { withCriticalTurn, type CriticalRate } from '../critical-rate.js';

const IdParam = z.object({ id: ResourceId });
const ListQuery = Pagination.extend({ recipient: RecipientId.optional(), status: z.enum(NOTIFICATION_STATUSES).optional() });
const IdempotencyHeader = idempotencyHeader('notification');

const NotificationView = z
  .object({
    id: z.string(),
    recipient: z.string(),
    template: z.string(),
    templateVersion: z.number().int(),
    category: z.string().nullable(),
    priority: z.enum(PRIORITIES),
    strategy: z.enum(['all', 'first-success']),
    status: z.enum(NOTIFICATION_STATUSES),
    reason: z.string().optional(),
    releaseAt: Timestamp.optional(),
    sendAt: Timestamp.nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    deliveries: z.array(
      z.object({
        channel: z.enum(CHANNELS),
        status: z.enum(DELIVERY_STATUSES),
        attempts: z.number().int(),
        provider: z.string().nullable(),
        providerMessageId: z.string().nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
        sentAt: Timestamp.nullable(),
        deliveredAt: Timestamp.nullable(),
      }),
    ),
  })
  .openapi('Notification');
const Accepted = z.object({ id: z.string(), status: z.enum(NOTIFICATION_STATUSES) }).openapi('NotificationAccepted');
const Cancelled = z.object({ status: z.literal('cancelled') });

export function notificationRoutes(deps: AppDeps, critical: CriticalRate) {
  const app = router<Env>();

  const send = createRoute({
    method: 'post',
    path: '/',
    summary: 'Send a notification',
    description:
      'Validates everything at once: a 400 names each field and nothing is started (also when the run would carry more than 480 KiB: template content of its channels, data and recipient). The template’s latest version is pinned. A `critical` one takes a turn of the tenant’s critical rate (CRITICAL_RATE_PER_MINUTE or its own setting): past it, 429 `critical_rate_exceeded` and nothing is accepted.',
    security: security.tenant,
    request: { headers: IdempotencyHeader, body: jsonBody(NotificationBody) },
    responses: { 202: json(Accepted, 'Accepted (or, for a digest, joined to the open window: its id)'), ...tenantProblems(409) },
  });
  app.openapi(send, async (c) => {
    const tenantId = c.get('tenantId');
    const body = c.req.valid('json');
    const { result, headers } = await withCriticalTurn(critical, tenantId, body.priority === 'critical', () =>
      acceptNotification(deps, tenantId, body, { idempotencyKey: idempotencyKeyOf(c) }),
    );
    return c.json(result, 202, headers);
  });

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'A notification with one entry per channel delivery',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(NotificationView, 'The notification'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await notificationView(deps.db, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'Notifications, newest first',
    security: security.tenant,
    request: { query: ListQuery },
    responses: { 200: json(z.object({ data: z.array(NotificationView), nextCursor: z.string().nullable() }), 'A page'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => {
    return c.json(await listNotifications(deps.db, c.get('tenantId'), c.req.valid('query')), 200);
  });

  const cancel = createRoute({
    method: 'post',
    path: '/{id}/cancel',
    summary: 'Cancel; nothing is sent after 200',
    description: 'Idempotent for a cancelled notification; 409 when it has already finished otherwise.',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(Cancelled, 'Cancelled'), ...tenantProblems(409) },
  });
  app.openapi(cancel, async (c) => {
    return c.json(await cancelNotification(deps, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  return app;
}
