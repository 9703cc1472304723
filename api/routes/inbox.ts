// The inbox routes: parse, authorize, and hand to usecases/inbox.ts; the SSE stream reads db/inbox.ts.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Db } from '../../db/client.js';
import { inboxAfter, inboxCounts, inboxSeqOf, lastInboxSeq } from '../../db/inbox.js';
import { listInbox, presentInboxMessage, readAllInbox, readInboxMessage, removeInboxMessage } from '../../usecases/inbox.js';
import { json, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { createInboxStreams, type InboxStreams } from '../inbox-streams.js';
import { Pagination, RecipientId, ResourceId } from '../../usecases/schemas.js';

const Param = z.object({ rid: RecipientId });
const MessageParam = Param.extend({ messageId: ResourceId });
const ListQuery = Pagination.extend({ unread: z.enum(['true', 'false']).optional() });
export const InboxMessage = z
  .object({
    id: z.string(),
    notificationId: z.string(),
    title: z.string(),
    body: z.string(),
    category: z.string().nullable(),
    read: z.boolean(),
    archived: z.boolean(),
    url: z.string().optional().openapi({ description: 'Where the item leads (the template’s `inapp.url`, an http(s) URL)' }),
    createdAt: Timestamp,
  })
  .openapi('InboxMessage');
const Message = InboxMessage;
export const Updated = z.object({ updated: z.number().int() });

/** The stream's answer, for the OpenAPI document. */
export const inboxStreamResponse = {
  description:
    'An endless event stream: `ready` once, then a `message` (data: the InboxMessage as JSON, id: its id) per new message. A reconnect with `Last-Event-ID` resumes after that message.',
  content: { 'text/event-stream': { schema: z.object({ event: z.enum(['ready', 'message']), data: z.string(), id: z.string().optional() }) } },
};

/**
 * Server-sent events: one `message` event per new inbox message of one recipient. The worker may
 * run in another process: a stream looks for rows past the last it sent whenever the database
 * notifies a new row for its recipient (api/inbox-streams.ts), and slowly in any case. A client
 * that reconnects with `Last-Event-ID` (EventSource does) gets what came after that message;
 * without it, or with an id not of this inbox, what comes from now on.
 */
export async function serveInboxStream(c: Context, db: Db, streams: InboxStreams, tenantId: string, rid: string): Promise<Response> {
  // A slot, or 429 before any database work; given back if the stream cannot start.
  const slot = streams.open(tenantId, rid);
  let seen: number;
  try {
    const lastId = c.req.header('last-event-id');
    const resumed = lastId && lastId.length <= 200 ? await inboxSeqOf(db, tenantId, rid, lastId) : null;
    seen = resumed ?? (await lastInboxSeq(db, tenantId, rid));
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
        const rows = await inboxAfter(db, tenantId, rid, seen, 100);
        for (const m of rows) {
          seen = m.seq;
          await stream.writeSSE({ event: 'message', id: m.id, data: JSON.stringify(presentInboxMessage(m)) });
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
}

export function inboxRoutes({ db, inboxStreams, temporal }: AppDeps) {
  const app = router<Env>();
  const streams = inboxStreams ?? createInboxStreams();

  const list = createRoute({
    method: 'get',
    path: '/{rid}/inbox',
    summary: 'In-app inbox, newest first',
    security: security.tenant,
    request: { params: Param, query: ListQuery },
    responses: { 200: json(z.object({ data: z.array(Message), nextCursor: z.string().nullable(), unread: z.number().int() }), 'A page, and the unread count'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => {
    return c.json(await listInbox(db, c.get('tenantId'), c.req.valid('param').rid, c.req.valid('query')), 200);
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
    return c.json(await inboxCounts(db, c.get('tenantId'), c.req.valid('param').rid), 200);
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
    return c.json(await readAllInbox(db, c.get('tenantId'), c.req.valid('param').rid, temporal), 200);
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
    return c.json(await readInboxMessage(db, c.get('tenantId'), rid, messageId, temporal), 200);
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
    await removeInboxMessage(db, c.get('tenantId'), rid, messageId);
    return c.body(null, 204);
  });

  // Server-sent events (serveInboxStream above).
  const stream = createRoute({
    method: 'get',
    path: '/{rid}/inbox/stream',
    summary: 'Server-sent events: `ready`, then one `message` per new inbox message',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: inboxStreamResponse, ...tenantProblems() },
  });
  app.openapi(stream, async (c) => serveInboxStream(c, db, streams, c.get('tenantId'), c.req.valid('param').rid) as never);

  return app;
}
