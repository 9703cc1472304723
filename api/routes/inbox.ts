import { and, count, desc, eq, gt, lt, sql } from 'drizzle-orm';
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { inboxMessages } from '../../db/schema.js';
import { json, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { createInboxStreams } from '../inbox-streams.js';
import { badRequest, notFound } from '../problem.js';
import { Pagination, RecipientId, ResourceId } from '../../usecases/schemas.js';

const Param = z.object({ rid: RecipientId });
const MessageParam = Param.extend({ messageId: ResourceId });
const ListQuery = Pagination.extend({ unread: z.enum(['true', 'false']).optional() });
const Message = z
  .object({
    id: z.string(),
    notificationId: z.string(),
    title: z.string(),
    body: z.string(),
    category: z.string().nullable(),
    read: z.boolean(),
    createdAt: Timestamp,
  })
  .openapi('InboxMessage');
const Updated = z.object({ updated: z.number().int() });

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

export function inboxRoutes({ db, inboxStreams }: AppDeps) {
  const app = router<Env>();
  const streams = inboxStreams ?? createInboxStreams();
  const mine = (tenantId: string, rid: string) => and(eq(inboxMessages.tenantId, tenantId), eq(inboxMessages.recipientId, rid));

  async function counts(tenantId: string, rid: string) {
    const [r] = await db
      .select({ total: count(), unread: sql<number>`count(*) filter (where not ${inboxMessages.read})`.mapWith(Number) })
      .from(inboxMessages)
      .where(mine(tenantId, rid));
    return { total: Number(r.total), unread: r.unread };
  }

  const list = createRoute({
    method: 'get',
    path: '/{rid}/inbox',
    summary: 'In-app inbox, newest first',
    security: security.tenant,
    request: { params: Param, query: ListQuery },
    responses: { 200: json(z.object({ data: z.array(Message), nextCursor: z.string().nullable(), unread: z.number().int() }), 'A page, and the unread count'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => {
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
    }, 200);
  });

  const count_ = createRoute({
    method: 'get',
    path: '/{rid}/inbox/count',
    summary: 'Inbox counts',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(z.object({ total: z.number().int(), unread: z.number().int() }), 'Counts'), ...tenantProblems() },
  });
  app.openapi(count_, async (c) => {
    return c.json(await counts(c.get('tenantId'), c.req.valid('param').rid), 200);
  });

  const readAll = createRoute({
    method: 'post',
    path: '/{rid}/inbox/read-all',
    summary: 'Mark every message read',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(Updated, 'How many were unread'), ...tenantProblems() },
  });
  app.openapi(readAll, async (c) => {
    const updated = await db
      .update(inboxMessages)
      .set({ read: true })
      .where(and(mine(c.get('tenantId'), c.req.valid('param').rid), eq(inboxMessages.read, false)))
      .returning({ id: inboxMessages.id });
    return c.json({ updated: updated.length }, 200);
  });

  const read = createRoute({
    method: 'post',
    path: '/{rid}/inbox/{messageId}/read',
    summary: 'Mark a message read',
    security: security.tenant,
    request: { params: MessageParam },
    responses: { 200: json(Updated, '1 if it was unread, else 0'), ...tenantProblems() },
  });
  app.openapi(read, async (c) => {
    const { rid, messageId } = c.req.valid('param');
    const where = and(mine(c.get('tenantId'), rid), eq(inboxMessages.id, messageId));
    const [exists] = await db.select({ read: inboxMessages.read }).from(inboxMessages).where(where);
    if (!exists) throw notFound('Inbox message');
    const updated = await db
      .update(inboxMessages)
      .set({ read: true })
      .where(and(where, eq(inboxMessages.read, false)))
      .returning({ id: inboxMessages.id });
    return c.json({ updated: updated.length }, 200);
  });

  const remove = createRoute({
    method: 'delete',
    path: '/{rid}/inbox/{messageId}',
    summary: 'Delete a message',
    security: security.tenant,
    request: { params: MessageParam },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    const { rid, messageId } = c.req.valid('param');
    const deleted = await db
      .delete(inboxMessages)
      .where(and(mine(c.get('tenantId'), rid), eq(inboxMessages.id, messageId)))
      .returning({ id: inboxMessages.id });
    if (deleted.length === 0) throw notFound('Inbox message');
    return c.body(null, 204);
  });

  // Server-sent events: one `message` event per new inbox message. The worker may run in
  // another process: a stream looks for rows past the last it sent whenever the database
  // notifies a new row for its recipient (api/inbox-streams.ts), and slowly in any case.
  const stream = createRoute({
    method: 'get',
    path: '/{rid}/inbox/stream',
    summary: 'Server-sent events: `ready`, then one `message` per new inbox message',
    security: security.tenant,
    request: { params: Param },
    responses: {
      200: {
        description: 'An endless event stream: `ready` once, then a `message` (data: the InboxMessage as JSON, id: its id) per new message',
        content: { 'text/event-stream': { schema: z.object({ event: z.enum(['ready', 'message']), data: z.string(), id: z.string().optional() }) } },
      },
      ...tenantProblems(),
    },
  });
  app.openapi(stream, async (c) => {
    const tenantId = c.get('tenantId');
    const { rid } = c.req.valid('param');
    // A slot, or 429 before any database work; given back if the stream cannot start.
    const slot = streams.open(tenantId, rid);
    let seen: number;
    try {
      const [last] = await db
        .select({ seq: inboxMessages.seq })
        .from(inboxMessages)
        .where(mine(tenantId, rid))
        .orderBy(desc(inboxMessages.seq))
        .limit(1);
      seen = last?.seq ?? 0;
    } catch (err) {
      slot.close();
      throw err;
    }
    return streamSSE(c, async (stream) => {
      // Every way a stream ends frees its slot: the client going away (abort), the server
      // closing (the hub ends the slot), a failed query (the stream ends; the client reconnects).
      stream.onAbort(() => slot.close());
      try {
        await stream.writeSSE({ event: 'ready', data: '{}' });
        while (!slot.ended) {
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
          // A full page: there may be more at once.
          if (rows.length < 100) await slot.next();
        }
      } catch {
        // The database failed: end the stream; EventSource reconnects by itself.
      } finally {
        slot.close();
      }
    });
  });

  return app;
}
