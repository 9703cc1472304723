// Escalation policies: ordered steps, each a channel, a target and an acknowledgement timeout,
// and `repeat` more passes over them (bounded: POLICY_LIMITS in usecases/schemas.ts). An incident
// pins its policy when it is triggered.
import { createRoute, z } from '@hono/zod-openapi';
import { findPolicy, putPolicy, type EscalationPolicyRow } from '../../db/escalation-policies.js';
import type { EscalationStep } from '../../domain/types.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { notFound } from '../problem.js';
import { PolicyBody, PolicyKey } from '../../usecases/schemas.js';
import { webhookUrlGuard } from '../webhook-url.js';

export { PolicyBody };


const Param = z.object({ key: PolicyKey });
const PolicyView = z
  .object({
    key: z.string(),
    steps: z.array(z.object({ channel: z.enum(['slack', 'pager', 'sms', 'email', 'webhook']), target: z.string(), ackTimeoutSeconds: z.number().int() })),
    repeat: z.number().int(),
    updatedAt: Timestamp,
  })
  .openapi('EscalationPolicy');

export interface EscalationPolicy {
  key: string;
  steps: EscalationStep[];
  repeat: number;
}

function present(row: EscalationPolicyRow) {
  return { key: row.key, steps: row.steps, repeat: row.repeat, updatedAt: row.updatedAt.toISOString() };
}

export function escalationPolicyRoutes({ db, webhookAllowedHosts }: AppDeps) {
  const app = router<Env>();
  const checkWebhookUrl = webhookUrlGuard(webhookAllowedHosts);

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
    const tenantId = c.get('tenantId');
    const { key } = c.req.valid('param');
    const body = c.req.valid('json');
    checkWebhookUrl(...body.steps.flatMap((step, i) => (step.channel === 'webhook' ? [[`steps.${i}.target`, step.target] as [string, string]] : [])));
    return c.json(present(await putPolicy(db, tenantId, key, body)), 200);
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
    const row = await findPolicy(db, c.get('tenantId'), c.req.valid('param').key);
    if (!row) throw notFound('Escalation policy');
    return c.json(present(row), 200);
  });

  return app;
}
