import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { and, desc, eq, inArray, lt, or } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { deliveries, idempotencyKeys, notifications } from '../../db/schema.js';
import { digestData } from '../../domain/digest.js';
import { NOTIFICATION_STATUSES, TERMINAL_STATUSES, type NotificationInput, type NotificationStatus } from '../../domain/types.js';
import { cancelNotificationUpdate, workflowIds } from '../../workflows/messages.js';
import { notificationStartOptions, prepareNotification, recordNotifications } from '../accept.js';
import type { AppDeps, Env } from '../deps.js';
import { cancelDigestWindow, joinDigest } from '../digest.js';
import { claimIdempotencyKey as claimKey } from '../idempotency.js';
import { canonicalJson, newId, sha256 } from '../ids.js';
import { badRequest, conflict, notFound, Problem } from '../problem.js';
import { NotificationBody, Pagination, RecipientId } from '../schemas.js';
import { validate } from '../validate.js';

const IdParam = z.object({ id: z.string().min(1).max(64) });
const ListQuery = Pagination.extend({ recipient: RecipientId.optional(), status: z.enum(NOTIFICATION_STATUSES).optional() });

type NotificationRow = typeof notifications.$inferSelect;
type DeliveryRow = typeof deliveries.$inferSelect;

export function presentNotification(n: NotificationRow, ds: DeliveryRow[]) {
  return {
    id: n.id,
    recipient: n.recipientId,
    template: n.templateKey,
    templateVersion: n.templateVersion,
    category: n.category,
    priority: n.priority,
    strategy: n.strategy,
    status: n.status,
    ...(n.reason ? { reason: n.reason } : {}),
    ...(n.releaseAt ? { releaseAt: n.releaseAt.toISOString() } : {}),
    sendAt: n.sendAt?.toISOString() ?? null,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
    deliveries: ds
      .sort((a, b) => a.position - b.position)
      .map((d) => ({
        channel: d.channel,
        status: d.status,
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
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at);
  if (!id || Number.isNaN(createdAt.getTime())) throw badRequest('cursor is not valid', [{ path: 'query.cursor', message: 'invalid cursor' }]);
  return { createdAt, id };
}

const unavailable = (err: unknown) =>
  Object.assign(new Problem(503, 'The workflow service is unavailable; nothing was accepted. Retry later.', [], { 'retry-after': '5' }), { cause: err });

export function notificationRoutes(deps: AppDeps) {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  const app = new Hono<Env>();

  /** Claims an Idempotency-Key: the id it already names, or null when it is new (and now ours). */
  const claimIdempotencyKey = (tenantId: string, key: string, hash: string, id: string) => claimKey(db, now(), tenantId, key, hash, id);

  /**
   * A repeated request with the same Idempotency-Key and body: answers the first request's
   * notification, and makes sure its workflow runs (the first request may have died between
   * writing the row and starting the workflow). A notification id never runs twice.
   */
  async function replay(id: string, input: NotificationInput, digest: boolean) {
    let row: { status: string; templateKey: string; templateVersion: number } | undefined;
    for (let i = 0; i < 50 && !row; i++) {
      [row] = await db
        .select({ status: notifications.status, templateKey: notifications.templateKey, templateVersion: notifications.templateVersion })
        .from(notifications)
        .where(eq(notifications.id, id));
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    if (!row) throw new Problem(409, 'The first request with this Idempotency-Key is still in progress; retry', [], { 'retry-after': '1' });
    if (!digest && row.status === 'accepted') {
      const pinned = { ...input, notificationId: id, template: { key: row.templateKey, version: row.templateVersion } };
      try {
        await temporal.client.workflow.start('notificationWorkflow', notificationStartOptions(pinned, temporal.taskQueue));
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw unavailable(err);
      }
    }
    return { id, status: row.status };
  }

  app.post('/', validate('json', NotificationBody), async (c) => {
    const tenantId = c.get('tenantId');
    const body = c.req.valid('json');
    const idemKey = c.req.header('idempotency-key');
    if (idemKey !== undefined && (idemKey.length === 0 || idemKey.length > 255))
      throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'header.Idempotency-Key', message: 'must be 1–255 characters' }]);

    // Validate everything before anything is written or started.
    const id = newId('ntf', now());
    if (body.digest && body.sendAt)
      throw badRequest('A digest is sent when its window closes: sendAt does not apply', [{ path: 'sendAt', message: 'not allowed with digest' }]);
    // A digest's template sees the joined items, not one request's data.
    const templateData = body.digest ? digestData([body.data]) : undefined;
    const input = await prepareNotification(db, tenantId, body, { id, retry: deps.retry, templateData });

    if (idemKey !== undefined) {
      const existing = await claimIdempotencyKey(tenantId, idemKey, sha256(canonicalJson(body)), id);
      if (existing) return c.json(await replay(existing, input, Boolean(body.digest)), 202);
    }
    const unclaim = async () => {
      if (idemKey !== undefined)
        await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, idemKey)));
    };

    if (body.digest) {
      let join;
      try {
        join = await joinDigest(temporal, { input, digest: body.digest });
      } catch (err) {
        await unclaim();
        throw unavailable(err);
      }
      // The window's row, if its digest workflow has not written it yet (the first write wins).
      await recordNotifications(db, [
        { input: join.input, workflowId: workflowIds.digest(tenantId, input.recipientId, body.digest.key), status: 'scheduled', releaseAt: join.releaseAt },
      ]);
      if (idemKey !== undefined)
        await db
          .update(idempotencyKeys)
          .set({ resourceId: join.notificationId })
          .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, idemKey)));
      return c.json({ id: join.notificationId, status: 'scheduled' }, 202);
    }

    await recordNotifications(db, [{ input, workflowId: workflowIds.notification(tenantId, id) }]);
    try {
      await temporal.client.workflow.start('notificationWorkflow', notificationStartOptions(input, temporal.taskQueue));
    } catch (err) {
      // Not started: undo, so that a retry of the same request can succeed.
      await db.delete(notifications).where(eq(notifications.id, id));
      await unclaim();
      throw unavailable(err);
    }
    return c.json({ id, status: 'accepted' }, 202);
  });

  app.get('/:id', validate('param', IdParam), async (c) => {
    return c.json(await loadNotification(db, c.get('tenantId'), c.req.valid('param').id));
  });

  app.get('/', validate('query', ListQuery), async (c) => {
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
    });
  });

  app.post('/:id/cancel', validate('param', IdParam), async (c) => {
    const tenantId = c.get('tenantId');
    const current = await loadNotification(db, tenantId, c.req.valid('param').id);
    const alreadyFinished = () => conflict(`The notification has already finished (${current.status})`);
    if (TERMINAL_STATUSES.includes(current.status as NotificationStatus)) {
      if (current.status === 'cancelled') return c.json({ status: 'cancelled' });
      throw alreadyFinished();
    }
    // A digest whose window is still open is cancelled by its digest workflow.
    if ((await cancelDigestWindow(db, temporal, tenantId, current.id)) === 'cancelled') return c.json({ status: 'cancelled' });
    let status: NotificationStatus;
    try {
      const handle = temporal.client.workflow.getHandle(workflowIds.notification(tenantId, current.id));
      ({ status } = await handle.executeUpdate(cancelNotificationUpdate));
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        const after = await loadNotification(db, tenantId, current.id);
        if (after.status === 'cancelled') return c.json({ status: 'cancelled' });
        throw conflict(`The notification has already finished (${after.status})`);
      }
      throw err;
    }
    if (status === 'cancelled') return c.json({ status });
    throw conflict(`The notification could not be cancelled: it ended ${status}`);
  });

  return app;
}
