// Topics and their subscribers (usecases/topics.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { getTopic, listSubscribers, putTopic, removeTopic, subscribe, unsubscribe } from '../../usecases/topics.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { Pagination, RecipientId, SubscribersBody, TopicBody, TopicKey } from '../../usecases/schemas.js';

const Param = z.object({ key: TopicKey });
const TopicView = z
  .object({ key: z.string(), name: z.string().nullable(), subscribers: z.number().int(), createdAt: Timestamp, updatedAt: Timestamp })
  .openapi('Topic');
const SubscriberPage = z.object({ data: z.array(z.string()), nextCursor: z.string().nullable() }).openapi('TopicSubscribers');
const ListQuery = Pagination.extend({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export function topicRoutes(deps: AppDeps) {
  const app = router<Env>();

  const put = createRoute({
    method: 'put',
    path: '/{key}',
    summary: 'Create or rename a topic',
    security: security.tenant,
    request: { params: Param, body: jsonBody(TopicBody, false) },
    responses: { 200: json(TopicView, 'The topic'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => c.json(await putTopic(deps.db, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json') ?? {}), 200));

  const get = createRoute({
    method: 'get',
    path: '/{key}',
    summary: 'A topic with its number of subscribers',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(TopicView, 'The topic'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => c.json(await getTopic(deps.db, c.get('tenantId'), c.req.valid('param').key), 200));

  const del = createRoute({
    method: 'delete',
    path: '/{key}',
    summary: 'Delete a topic and its subscriptions',
    description: 'Rules that name it reach no one until it is created again.',
    security: security.tenant,
    request: { params: Param },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(del, async (c) => {
    await removeTopic(deps.db, c.get('tenantId'), c.req.valid('param').key);
    return c.body(null, 204);
  });

  const add = createRoute({
    method: 'post',
    path: '/{key}/subscribers',
    summary: 'Subscribe up to 1,000 recipients',
    description: 'Already subscribed ones are left as they are (`added` counts the new ones). An unknown recipient is a 400 naming it, and nothing is written.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(SubscribersBody) },
    responses: { 200: json(z.object({ added: z.number().int() }), 'Subscribed'), ...tenantProblems() },
  });
  app.openapi(add, async (c) => c.json(await subscribe(deps.db, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json').recipients), 200));

  const remove = createRoute({
    method: 'delete',
    path: '/{key}/subscribers/{recipientId}',
    summary: 'Unsubscribe a recipient',
    security: security.tenant,
    request: { params: z.object({ key: TopicKey, recipientId: RecipientId }) },
    responses: { 204: { description: 'Unsubscribed' }, ...tenantProblems() },
  });
  app.openapi(remove, async (c) => {
    const { key, recipientId } = c.req.valid('param');
    await unsubscribe(deps.db, c.get('tenantId'), key, recipientId);
    return c.body(null, 204);
  });

  const list = createRoute({
    method: 'get',
    path: '/{key}/subscribers',
    summary: 'A page of subscribers, by recipient id',
    security: security.tenant,
    request: { params: Param, query: ListQuery },
    responses: { 200: json(SubscriberPage, 'Subscribers'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json(await listSubscribers(deps.db, c.get('tenantId'), c.req.valid('param').key, c.req.valid('query')), 200));

  return app;
}
