// The flow routes: parse, authorize, and hand to usecases/flows.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { getFlow, previewFlow, publishFlow } from '../../usecases/flows.js';
import { JsonObject, RecipientId, TemplateKey } from '../../usecases/schemas.js';
import { MAX_FLOW_STEPS } from '../../domain/flows.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';

const KeyParam = z.object({ key: TemplateKey });
/** A step: `send`, `delay`, `wait`, `branch` (with nested `then`/`else`), `fetch` or `throttle` (README: "Flows"); checked whole at PUT. */
const Step = z
  .object({ id: z.string().max(64), type: z.enum(['send', 'delay', 'wait', 'branch', 'fetch', 'throttle', 'digest']) })
  .catchall(z.unknown())
  .openapi('FlowStep');
const FlowBody = z.object({ steps: z.array(Step).min(1).max(MAX_FLOW_STEPS) }).strict();
const Published = z.object({ key: z.string(), version: z.number().int() });
const FlowView = z.object({ key: z.string(), version: z.number().int(), steps: z.array(z.record(z.string(), z.unknown())), createdAt: Timestamp }).openapi('Flow');
const SampleRecipient = z
  .object({
    id: z.string().max(200).optional(),
    locale: z.string().max(35).optional(),
    timezone: z.string().max(64).optional(),
    name: z.string().max(200).nullable().optional(),
    email: z.string().max(320).nullable().optional(),
    attributes: JsonObject.optional(),
  })
  .strict();
const PreviewBody = z
  .object({
    data: JsonObject.default({}),
    recipient: z.union([RecipientId, SampleRecipient]).default({}),
    assume: z.record(z.string().max(64), z.enum(['matched', 'timed_out', 'allowed', 'throttled'])).optional(),
    fetched: z.record(z.string().max(64), z.unknown()).optional(),
  })
  .strict();
const PreviewStep = z.object({
  id: z.string(),
  type: z.string(),
  outcome: z.string().optional(),
  seconds: z.number().int().optional(),
  until: z.string().optional(),
  channels: z.array(z.string()).optional(),
  template: z.object({ key: z.string(), version: z.number().int() }).optional(),
  rendered: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
});
const Preview = z.object({ key: z.string(), version: z.number().int(), path: z.array(PreviewStep), data: z.record(z.string(), z.unknown()) }).openapi('FlowPreview');

export function flowRoutes(deps: AppDeps) {
  const app = router<Env>();

  const publish = createRoute({
    method: 'put',
    path: '/{key}',
    summary: 'Publish a new version of a flow (creates it if it is new)',
    description:
      'Checked whole: unique step ids, templates that exist with content for each send step’s channels, CEL that compiles, at most 50 steps nested 4 deep, delays and waits at most a year, fetch URLs the address guard lets through, no channel sent twice on one path. A 400 names each wrong step. Notifications already running keep the version they were accepted with.',
    security: security.tenant,
    request: { params: KeyParam, body: jsonBody(FlowBody) },
    responses: { 200: json(Published, 'The new version'), ...tenantProblems() },
  });
  app.openapi(publish, async (c) => {
    return c.json(await publishFlow(deps, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json')), 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/{key}',
    summary: 'A flow’s latest version',
    security: security.tenant,
    request: { params: KeyParam },
    responses: { 200: json(FlowView, 'The flow'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => c.json(await getFlow(deps.db, c.get('tenantId'), c.req.valid('param').key), 200));

  const preview = createRoute({
    method: 'post',
    path: '/{key}/preview',
    summary: 'The path a run would take, and what each send would render, without sending',
    description:
      'Waits are assumed to time out and throttles to allow unless `assume` gives a step’s outcome; nothing is fetched: `fetched` gives what a fetch step would answer. `recipient` is a recipient’s id or a sample recipient.',
    security: security.tenant,
    request: { params: KeyParam, body: jsonBody(PreviewBody) },
    responses: { 200: json(Preview, 'The path'), ...tenantProblems() },
  });
  app.openapi(preview, async (c) => c.json(await previewFlow(deps.db, c.get('tenantId'), c.req.valid('param').key, c.req.valid('json')), 200));

  return app;
}
