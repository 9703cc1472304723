// Rules (usecases/rules.ts): which notifications an event accepts.
import { createRoute, z } from '@hono/zod-openapi';
import { CHANNELS, PRIORITIES } from '../../domain/types.js';
import { getRule, listRules, putRule, removeRule } from '../../usecases/rules.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { Pagination, RuleBody, RuleKey } from '../../usecases/schemas.js';

const Param = z.object({ key: RuleKey });
const RuleView = z
  .object({
    key: z.string(),
    event: z.string(),
    if: z.string().optional(),
    recipients: z.union([z.object({ from: z.literal('event') }), z.object({ topic: z.string() }), z.object({ segment: z.string() })]),
    template: z.string().optional(),
    flow: z.string().optional(),
    channels: z.array(z.enum(CHANNELS)).optional(),
    category: z.string().optional(),
    priority: z.enum(PRIORITIES).optional(),
    strategy: z.enum(['all', 'first-success']).optional(),
    throttle: z.object({ key: z.string(), limit: z.number().int(), windowSeconds: z.number().int() }).optional(),
    enabled: z.boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Rule');
const RulePage = z.object({ data: z.array(RuleView), nextCursor: z.string().nullable() }).openapi('RulePage');

export function ruleRoutes(deps: AppDeps) {
  const app = router<Env>();

  const put = createRoute({
    method: 'put',
    path: '/{key}',
    summary: 'Create or replace a rule',
    description:
      'Expressions are CEL: `if` over `event` (`name`, `data`, `actor`), `recipients.segment` over `event` and `recipient` (`id`, `locale`, `timezone`, `attributes`). Each is compiled and checked here: a bad one is a 400 whose detail names the expression and the position. The template (or flow) and topic must exist. `digest` is not supported on rules yet (400).',
    security: security.tenant,
    request: { params: Param, body: jsonBody(RuleBody) },
    responses: { 200: json(RuleView, 'The rule'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => c.json(await putRule(deps.db, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json')), 200));

  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'The tenant’s rules, by key',
    security: security.tenant,
    request: { query: Pagination },
    responses: { 200: json(RulePage, 'Rules'), ...tenantProblems() },
  });
  app.openapi(list, async (c) => c.json(await listRules(deps.db, c.get('tenantId'), c.req.valid('query')), 200));

  const get = createRoute({
    method: 'get',
    path: '/{key}',
    summary: 'A rule',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(RuleView, 'The rule'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => c.json(await getRule(deps.db, c.get('tenantId'), c.req.valid('param').key), 200));

  const del = createRoute({
    method: 'delete',
    path: '/{key}',
    summary: 'Delete a rule',
    description: 'Events posted from now on no longer match it; a run already under way keeps the rules it pinned.',
    security: security.tenant,
    request: { params: Param },
    responses: { 204: { description: 'Deleted' }, ...tenantProblems() },
  });
  app.openapi(del, async (c) => {
    await removeRule(deps.db, c.get('tenantId'), c.req.valid('param').key);
    return c.body(null, 204);
  });

  return app;
}
