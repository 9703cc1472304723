// The incident routes: parse, authorize, and hand to usecases/incidents.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { withCriticalTurn, type CriticalRate } from '../critical-rate.js';
import { INCIDENT_SEVERITIES, INCIDENT_STATUSES } from '../../domain/incidents.js';
import { ESCALATION_CHANNELS } from '../../domain/types.js';
import { actOnIncident, incidentView, triggerIncident, type IncidentAction } from '../../usecases/incidents.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { JsonObject, PolicyKey, ResourceId } from '../../usecases/schemas.js';

const IdParam = z.object({ id: ResourceId });
const Actor = z.string().trim().min(1).max(200).meta({ pattern: '\\S' });

const IncidentBody = z
  .object({
    policy: PolicyKey,
    summary: z.string().min(1).max(1024),
    severity: z.enum(INCIDENT_SEVERITIES),
    dedupKey: z.string().min(1).max(255).optional(),
    details: JsonObject.optional(),
  })
  .strict();

const IncidentView = z
  .object({
    id: z.string(),
    status: z.enum(INCIDENT_STATUSES),
    step: z.number().int(),
    cycle: z.number().int(),
    timeline: z.array(
      z.object({
        at: Timestamp,
        type: z.enum(['triggered', 'notified', 'escalated', 'acknowledged', 'unacknowledged', 'resolved', 'exhausted', 'deduplicated']),
        channel: z.enum(ESCALATION_CHANNELS).optional(),
        target: z.string().optional(),
        by: z.string().optional(),
      }),
    ),
    policy: z.string(),
    summary: z.string(),
    severity: z.enum(INCIDENT_SEVERITIES),
    dedupKey: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Incident');
const Triggered = z.object({ id: z.string(), status: z.enum(INCIDENT_STATUSES) });

export function incidentRoutes(deps: AppDeps, critical: CriticalRate) {
  const app = router<Env>();

  const triggerRoute = createRoute({
    method: 'post',
    path: '/',
    summary: 'Trigger an incident',
    description:
      'While an incident with the same `dedupKey` is open, the trigger joins it and answers its id. A trigger that opens a new incident takes a turn of the tenant’s critical rate: past it, 429 `critical_rate_exceeded`.',
    security: security.tenant,
    request: { body: jsonBody(IncidentBody) },
    responses: { 202: json(Triggered, 'Triggered, or joined to the open incident'), ...tenantProblems() },
  });
  app.openapi(triggerRoute, async (c) => {
    const tenantId = c.get('tenantId');
    const { result, headers } = await triggerIncident(deps, tenantId, c.req.valid('json'), (open, opened) => withCriticalTurn(critical, tenantId, true, open, opened));
    return c.json(result, 202, headers);
  });

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'An incident with its timeline',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(IncidentView, 'The incident'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await incidentView(deps.db, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  const action = (path: string, summary: string, body: z.ZodType, required: boolean) =>
    createRoute({
      method: 'post',
      path,
      summary,
      security: security.tenant,
      request: { params: IdParam, body: jsonBody(body, required) },
      responses: { 200: json(IncidentView, 'The incident as the action left it'), ...tenantProblems(409) },
    });
  const ByRequired = z.object({ by: Actor }).strict();
  const ByOptional = z.object({ by: Actor.optional() }).strict();

  const routes: Array<[IncidentAction, string, z.ZodType, boolean]> = [
    ['acknowledge', 'Acknowledge: stops every pending page', ByRequired, true],
    // Not in the v1 contract yet: back to `triggered`, escalating again from the first step.
    ['unacknowledge', 'Unacknowledge: escalation restarts from the first step', ByOptional, false],
    ['resolve', 'Resolve: pages are resolved, Slack messages updated', ByOptional, false],
  ];
  for (const [name, summary, body, required] of routes) {
    app.openapi(action(`/{id}/${name}`, summary, body, required), async (c) => {
      const { by } = c.req.valid('json') as { by?: string };
      return c.json(await actOnIncident(deps, c.get('tenantId'), c.req.valid('param').id, name, by), 200);
    });
  }

  return app;
}
