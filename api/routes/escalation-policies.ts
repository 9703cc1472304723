// Escalation policies (usecases/escalation-policies.ts).
import { createRoute, z } from '@hono/zod-openapi';
import type { EscalationPolicyRow } from '../../db/escalation-policies.js';
import { ESCALATION_CHANNELS } from '../../domain/types.js';
import { getEscalationPolicy, putEscalationPolicy } from '../../usecases/escalation-policies.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { PolicyBody, PolicyKey } from '../../usecases/schemas.js';

const Param = z.object({ key: PolicyKey });
const PolicyView = z
  .object({
    key: z.string(),
    steps: z.array(z.object({ channel: z.enum(ESCALATION_CHANNELS), target: z.string(), ackTimeoutSeconds: z.number().int() })),
    repeat: z.number().int(),
    updatedAt: Timestamp,
  })
  .openapi('EscalationPolicy');

function present(row: EscalationPolicyRow) {
  return { key: row.key, steps: row.steps, repeat: row.repeat, updatedAt: row.updatedAt.toISOString() };
}

export function escalationPolicyRoutes(deps: AppDeps) {
  const app = router<Env>();

  const put = createRoute({
    method: 'put',
    path: '/{key}',
    summary: 'Create or replace an escalation policy',
    description: 'Steps run in order; `repeat` more passes follow. steps × (repeat + 1) ≤ 100.',
    security: security.tenant,
    request: { params: Param, body: jsonBody(PolicyBody) },
    responses: { 200: json(PolicyView, 'The policy'), ...tenantProblems() },
  });
  app.openapi(put, async (c) => {
    return c.json(present(await putEscalationPolicy(deps, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json'))), 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/{key}',
    summary: 'An escalation policy',
    security: security.tenant,
    request: { params: Param },
    responses: { 200: json(PolicyView, 'The policy'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(present(await getEscalationPolicy(deps, c.get('tenantId'), c.req.valid('param').key)), 200);
  });

  return app;
}
