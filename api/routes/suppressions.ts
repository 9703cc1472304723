// A tenant's suppressions (usecases/suppressions.ts): addresses no notification is sent to on a
// channel. Listed, added by hand (`manual`), lifted, except `stop`, which only the person lifts.
import { createRoute, z } from '@hono/zod-openapi';
import { SUPPRESSION_REASONS } from '../../domain/suppressions.js';
import { listSuppressions, suppress, unsuppress } from '../../usecases/suppressions.js';
import { Pagination, SUPPRESSION_ADDRESS, SuppressibleChannel, SuppressionBody } from '../../usecases/schemas.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest } from '../problem.js';

const SuppressionView = z
  .object({
    channel: SuppressibleChannel,
    address: z.string().nullable().openapi({ description: 'Null once the person was erased: the suppression stays, as a hash' }),
    reason: z.enum(SUPPRESSION_REASONS),
    createdAt: Timestamp,
  })
  .openapi('Suppression');

export function suppressionRoutes(deps: AppDeps) {
  const { db } = deps;
  const app = router<Env>();

  const list = createRoute({
    method: 'get',
    path: '/',
    summary: 'The tenant’s suppressed addresses, newest first',
    security: security.tenant,
    request: { query: Pagination.extend({ channel: SuppressibleChannel.optional() }) },
    responses: {
      200: json(z.object({ data: z.array(SuppressionView), nextCursor: z.string().nullable() }), 'A page of suppressions; `nextCursor` continues it'),
      ...tenantProblems(),
    },
  });
  app.openapi(list, async (c) => c.json(await listSuppressions(db, c.get('tenantId'), c.req.valid('query')), 200));

  const add = createRoute({
    method: 'post',
    path: '/',
    summary: 'Suppress an address (reason `manual`)',
    description: 'Idempotent: an address already suppressed stays as it is, with its reason.',
    security: security.tenant,
    request: { body: jsonBody(SuppressionBody) },
    responses: { 201: json(SuppressionView, 'The suppression as stored'), ...tenantProblems() },
  });
  app.openapi(add, async (c) => c.json(await suppress(db, c.get('tenantId'), c.req.valid('json')), 201));

  const remove = createRoute({
    method: 'delete',
    path: '/{channel}/{address}',
    summary: 'Lift a suppression',
    description: 'A `stop` cannot be lifted here (409): only the person’s START does.',
    security: security.tenant,
    request: { params: z.object({ channel: SuppressibleChannel, address: z.string().min(1).max(320) }) },
    responses: { 204: { description: 'Lifted' }, ...tenantProblems(409) },
  });
  app.openapi(remove, async (c) => {
    const { channel, address } = c.req.valid('param');
    const valid = SUPPRESSION_ADDRESS[channel].safeParse(address);
    if (!valid.success) throw badRequest('The address is not one of the channel', [{ path: 'address', message: `must be a ${channel} address: ${valid.error.issues[0]?.message ?? 'invalid'}` }]);
    await unsuppress(db, c.get('tenantId'), channel, address);
    return c.body(null, 204);
  });

  return app;
}
