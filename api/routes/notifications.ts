import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { and, desc, eq, inArray, lt, or } from 'drizzle-orm';
import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { deliveries, notifications } from '../../db/schema.js';
import { CHANNELS, NOTIFICATION_STATUSES, PRIORITIES, TERMINAL_STATUSES, type Channel, type NotificationStatus, type Priority } from '../../domain/types.js';
import { acceptNotification } from '../../usecases/accept.js';
import { cancelDigestWindow } from '../../usecases/digest.js';
import { cancelNotificationUpdate } from '../../domain/workflow-messages.js';
import { workflowIds } from '../../domain/workflow-ids.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest, conflict, notFound } from '../problem.js';
import { NotificationBody, Pagination, RecipientId, ResourceId } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';
import { withCriticalTurn, type CriticalRate } from '../critical-rate.js';

const IdParam = z.object({ id: ResourceId });
const ListQuery = Pagination.extend({ recipient: RecipientId.optional(), status: z.enum(NOTIFICATION_STATUSES).optional() });
const IdempotencyHeader = idempotencyHeader('notification');

const DELIVERY_STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'skipped', 'cancelled'] as const;
export const NotificationView = z
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

type NotificationRow = typeof notifications.$inferSelect;
type DeliveryRow = typeof deliveries.$inferSelect;

export function presentNotification(n: NotificationRow, ds: DeliveryRow[]) {
  return {
    id: n.id,
    recipient: n.recipientId,
    template: n.templateKey,
    templateVersion: n.templateVersion,
    category: n.category,
    priority: n.priority as Priority,
    strategy: n.strategy as 'all' | 'first-success',
    status: n.status as NotificationStatus,
    ...(n.reason ? { reason: n.reason } : {}),
    ...(n.releaseAt ? { releaseAt: n.releaseAt.toISOString() } : {}),
    sendAt: n.sendAt?.toISOString() ?? null,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
    deliveries: ds
      .sort((a, b) => a.position - b.position)
      .map((d) => ({
        channel: d.channel as Channel,
        status: d.status as (typeof DELIVERY_STATUSES)[number],
        attempts: d.attempts,
        provider: d.provider,
        providerMessageId: d.providerMessageId,
        error: d.errorCode ? { code: d.errorCode, message: d.errorMessage ?? '' } : null,
        sentAt: d.sentAt?.toISOString() ?? null,
        deliveredAt: d.deliveredAt?.toISOString() ?? null,
      })),
  };
}

async function loadNotification(db: Db, tenantId: string, id: string) {
  const [n] = await db
    .select()
    .from(notifications)
    .where(and(eq(notifications.tenantId, tenantId), eq(notifications.id, id)));
  if (!n) throw notFound('Notification');
  const ds = await db.select().from(deliveries).where(eq(deliveries.notificationId, id));
  return presentNotification(n, ds);
}

function encodeCursor(n: { createdAt: Date; id: string }) {
  return Buffer.from(`${n.createdAt.toISOString()}|${n.id}`).toString('base64url');
}
/** A cursor this API handed out, or 400: anything else never reaches a query. */
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9._:-]{1,64})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const createdAt = new Date(m?.[1] ?? NaN);
  if (!m || Number.isNaN(createdAt.getTime()) || createdAt.getTime() < 0 || createdAt.toISOString() !== m[1])
    throw badRequest('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return { createdAt, id: m[2] };
}

export function notificationRoutes(deps: AppDeps, critical: CriticalRate) {
  const { db, temporal } = deps;
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
    return c.json(await loadNotification(db, c.get('tenantId'), c.req.valid('param').id), 200);
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
    const tenantId = c.get('tenantId');
    const q = c.req.valid('query');
    const conds = [eq(notifications.tenantId, tenantId)];
    if (q.recipient) conds.push(eq(notifications.recipientId, q.recipient));
    if (q.status) conds.push(eq(notifications.status, q.status));
    if (q.cursor) {
      const cur = decodeCursor(q.cursor);
      conds.push(or(lt(notifications.createdAt, cur.createdAt), and(eq(notifications.createdAt, cur.createdAt), lt(notifications.id, cur.id)))!);
    }
    const rows = await db
      .select()
      .from(notifications)
      .where(and(...conds))
      .orderBy(desc(notifications.createdAt), desc(notifications.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const ds = page.length ? await db.select().from(deliveries).where(inArray(deliveries.notificationId, page.map((n) => n.id))) : [];
    return c.json({
      data: page.map((n) => presentNotification(n, ds.filter((d) => d.notificationId === n.id))),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]) : null,
    }, 200);
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
    const tenantId = c.get('tenantId');
    const current = await loadNotification(db, tenantId, c.req.valid('param').id);
    const alreadyFinished = () => conflict(`The notification has already finished (${current.status})`);
    if (TERMINAL_STATUSES.includes(current.status as NotificationStatus)) {
      if (current.status === 'cancelled') return c.json({ status: 'cancelled' as const }, 200);
      throw alreadyFinished();
    }
    // A digest whose window is still open is cancelled by its digest workflow.
    if ((await cancelDigestWindow(db, temporal, tenantId, current.id)) === 'cancelled') return c.json({ status: 'cancelled' as const }, 200);
    let status: NotificationStatus;
    try {
      const handle = temporal.client.workflow.getHandle(workflowIds.notification(tenantId, current.id));
      ({ status } = await handle.executeUpdate(cancelNotificationUpdate));
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        const after = await loadNotification(db, tenantId, current.id);
        if (after.status === 'cancelled') return c.json({ status: 'cancelled' as const }, 200);
        throw conflict(`The notification has already finished (${after.status})`);
      }
      throw err;
    }
    if (status === 'cancelled') return c.json({ status }, 200);
    throw conflict(`The notification could not be cancelled: it ended ${status}`);
  });

  return app;
}
