import { and, count, desc, eq, gt, lt, sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { inboxMessages } from '../../db/schema.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest, notFound } from '../problem.js';
import { Pagination, RecipientId, ResourceId } from '../../usecases/schemas.js';
import { validate } from '../validate.js';

const Param = z.object({ rid: RecipientId });
const MessageParam = Param.extend({ messageId: ResourceId });
const ListQuery = Pagination.extend({ unread: z.enum(['true', 'false']).optional() });

type Row = typeof inboxMessages.$inferSelect;
const present = (m: Row) => ({
  id: m.id,
  notificationId: m.notificationId,
  title: m.title,
  body: m.body,
  category: m.category,
  read: m.read,
  createdAt: m.createdAt.toISOString(),
});

export function inboxRoutes({ db }: AppDeps, opts: { pollMs?: number } = {}) {
  const app = new Hono<Env>();
  const mine = (tenantId: string, rid: string) => and(eq(inboxMessages.tenantId, tenantId), eq(inboxMessages.recipientId, rid));

  async function counts(tenantId: string, rid: string) {
    const [r] = await db
      .select({ total: count(), unread: sql<number>`count(*) filter (where not ${inboxMessages.read})`.mapWith(Number) })
      .from(inboxMessages)
      .where(mine(tenantId, rid));
    return { total: Number(r.total), unread: r.unread };
  }

  app.get('/:rid/inbox', validate('param', Param), validate('query', ListQuery), async (c) => {
    const tenantId = c.get('tenantId');
    const { rid } = c.req.valid('param');
    const q = c.req.valid('query');
    const conds = [mine(tenantId, rid)!];
    if (q.unread === 'true') conds.push(eq(inboxMessages.read, false));
    if (q.unread === 'false') conds.push(eq(inboxMessages.read, true));
    if (q.cursor) {
      const decoded = Buffer.from(q.cursor, 'base64url').toString();
      const seq = Number(decoded);
      if (!/^\d{1,16}$/.test(decoded) || !Number.isSafeInteger(seq))
        throw badRequest('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
      conds.push(lt(inboxMessages.seq, seq));
    }
    const rows = await db
      .select()
      .from(inboxMessages)
      .where(and(...conds))
      .orderBy(desc(inboxMessages.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const { unread } = await counts(tenantId, rid);
    return c.json({
      data: page.map(present),
      nextCursor: rows.length > q.limit ? Buffer.from(String(page[page.length - 1].seq)).toString('base64url') : null,
      unread,
    });
  });

  app.get('/:rid/inbox/count', validate('param', Param), async (c) => {
    return c.json(await counts(c.get('tenantId'), c.req.valid('param').rid));
  });

  app.post('/:rid/inbox/read-all', validate('param', Param), async (c) => {
    const updated = await db
      .update(inboxMessages)
      .set({ read: true })
      .where(and(mine(c.get('tenantId'), c.req.valid('param').rid), eq(inboxMessages.read, false)))
      .returning({ id: inboxMessages.id });
    return c.json({ updated: updated.length });
  });

  app.post('/:rid/inbox/:messageId/read', validate('param', MessageParam), async (c) => {
    const { rid, messageId } = c.req.valid('param');
    const where = and(mine(c.get('tenantId'), rid), eq(inboxMessages.id, messageId));
    const [exists] = await db.select({ read: inboxMessages.read }).from(inboxMessages).where(where);
    if (!exists) throw notFound('Inbox message');
    const updated = await db
      .update(inboxMessages)
      .set({ read: true })
      .where(and(where, eq(inboxMessages.read, false)))
      .returning({ id: inboxMessages.id });
    return c.json({ updated: updated.length });
  });

  app.delete('/:rid/inbox/:messageId', validate('param', MessageParam), async (c) => {
    const { rid, messageId } = c.req.valid('param');
    const deleted = await db
      .delete(inboxMessages)
      .where(and(mine(c.get('tenantId'), rid), eq(inboxMessages.id, messageId)))
      .returning({ id: inboxMessages.id });
    if (deleted.length === 0) throw notFound('Inbox message');
    return c.body(null, 204);
  });

  // Server-sent events: one `message` event per new inbox message. The worker may run in
  // another process, so new rows are found by polling the inbox's sequence.
  app.get('/:rid/inbox/stream', validate('param', Param), async (c) => {
    const tenantId = c.get('tenantId');
    const { rid } = c.req.valid('param');
    const pollMs = opts.pollMs ?? 1000;
    const [last] = await db
      .select({ seq: inboxMessages.seq })
      .from(inboxMessages)
      .where(mine(tenantId, rid))
      .orderBy(desc(inboxMessages.seq))
      .limit(1);
    let seen = last?.seq ?? 0;
    return streamSSE(c, async (stream) => {
      let open = true;
      stream.onAbort(() => {
        open = false;
      });
      await stream.writeSSE({ event: 'ready', data: '{}' });
      while (open) {
        const rows = await db
          .select()
          .from(inboxMessages)
          .where(and(mine(tenantId, rid), gt(inboxMessages.seq, seen)))
          .orderBy(inboxMessages.seq)
          .limit(100);
        for (const m of rows) {
          seen = m.seq;
          await stream.writeSSE({ event: 'message', id: m.id, data: JSON.stringify(present(m)) });
        }
        await stream.sleep(pollMs);
      }
    });
  });

  return app;
}
