// The notification routes: parse, authorize, and hand to usecases/accept.ts and usecases/notifications.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { CHANNELS, DELIVERY_STATUSES, NOTIFICATION_STATUSES, PRIORITIES } from '../../domain/types.js';
import { acceptFlowNotification, acceptNotification } from '../../usecases/accept.js';
import { cancelNotification, listNotifications, notificationView } from '../../usecases/notifications.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { NotificationBody, Pagination, RecipientId, ResourceId, TemplateKey } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';
import { withCriticalTurn, type CriticalRate } from '../critical-rate.js';

const IdParam = z.object({ id: ResourceId });
const ListQuery = Pagination.extend({ recipient: RecipientId.optional(), status: z.enum(NOTIFICATION_STATUSES).optional() });
const IdempotencyHeader = idempotencyHeader('notification');

/** What flows do by their own steps; a request naming a flow may not say it. */
const NOT_WITH_FLOW = ['channels', 'strategy', 'sendAt', 'digest', 'throttle'] as const;
/** A notification by template, or by flow (`flow` in place of `template`: README: "Flows"). */
const SendBody = NotificationBody.extend({
  template: TemplateKey.optional(),
  flow: TemplateKey.optional().openapi({ description: 'A flow’s key, in place of `template`: its latest version is pinned and run' }),
  strategy: z.enum(['all', 'first-success']).optional().openapi({ description: 'Default `all`' }),
})
  .strict()
  .superRefine((b, ctx) => {
    if ((b.template === undefined) === (b.flow === undefined)) ctx.addIssue({ code: 'custom', path: ['template'], message: 'give either template or flow' });
    if (b.flow !== undefined)
      for (const f of NOT_WITH_FLOW) if (b[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: 'not allowed with flow: the flow’s steps decide it' });
  })
  .meta({ oneOf: [{ required: ['template'] }, { required: ['flow'] }] });

const StepView = z.object({
  id: z.string(),
  type: z.string(),
  status: z.enum(['pending', 'running', 'done', 'skipped', 'failed']),
  outcome: z.string().optional(),
  startedAt: Timestamp.optional(),
  endedAt: Timestamp.optional(),
});

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
    flow: z.string().optional().openapi({ description: 'Sent by this flow (then `template` is its first send’s)' }),
    flowVersion: z.number().int().optional(),
    steps: z.array(StepView).optional().openapi({ description: 'A flow’s steps, in definition order, with their states' }),
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
      'Validates everything at once: a 400 names each field and nothing is started (also when the run would carry more than 480 KiB: template content of its channels, data and recipient). The template’s latest version is pinned; with `flow` in place of `template`, the flow’s latest version (and its templates’) is pinned and its steps run. A `critical` one takes a turn of the tenant’s critical rate (CRITICAL_RATE_PER_MINUTE or its own setting): past it, 429 `critical_rate_exceeded` and nothing is accepted.',
    security: security.tenant,
    request: { headers: IdempotencyHeader, body: jsonBody(SendBody) },
    responses: { 202: json(Accepted, 'Accepted (or, for a digest, joined to the open window: its id)'), ...tenantProblems(409) },
  });
  app.openapi(send, async (c) => {
    const tenantId = c.get('tenantId');
    const { flow, template, strategy, ...body } = c.req.valid('json');
    const idempotencyKey = idempotencyKeyOf(c);
    const { result, headers } = await withCriticalTurn(critical, tenantId, body.priority === 'critical', () =>
      flow !== undefined
        ? acceptFlowNotification(deps, tenantId, { recipient: body.recipient, flow, data: body.data, category: body.category, priority: body.priority }, { idempotencyKey })
        : acceptNotification(deps, tenantId, { ...body, template: template!, strategy: strategy ?? 'all' }, { idempotencyKey }),
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
