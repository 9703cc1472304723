// The template routes: parse, authorize, and hand to usecases/templates.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { renderContent, TemplateRenderError } from '../../domain/templates.js';
import { contentFor, createTemplate, findTemplateVersion, missingTemplateVariables, missingVariablesError, publishTemplate, type TemplateVersionRow } from '../../usecases/templates.js';
import type { TemplateContent } from '../../domain/types.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { badRequest, notFound, unprocessable } from '../problem.js';
import { INT4_MAX, JsonObject, Locale, TemplateBody, TemplateKey, TemplateVersionNumber } from '../../usecases/schemas.js';

const KeyParam = z.object({ key: TemplateKey });
const CreateBody = TemplateBody.extend({ key: TemplateKey }).strict();
const UpdateBody = TemplateBody.extend({ key: TemplateKey.optional() }).strict();
const PreviewBody = z
  .object({
    data: JsonObject.default({}),
    locale: Locale.optional(),
    version: TemplateVersionNumber.optional(),
  })
  .strict();

const VersionParam = KeyParam.extend({ version: z.coerce.number().int().min(1).max(INT4_MAX).openapi({ type: 'integer', minimum: 1, maximum: INT4_MAX }) });
const ContentView = z.record(z.string(), z.record(z.string(), z.unknown()));
const TemplateView = z
  .object({ key: z.string(), version: z.number().int(), defaultLocale: z.string(), content: ContentView, createdAt: Timestamp })
  .openapi('Template');
const Published = z.object({ key: z.string(), version: z.number().int() });
const Preview = z
  .object({ key: z.string(), version: z.number().int(), locale: z.string(), content: z.record(z.string(), z.unknown()) })
  .openapi('TemplatePreview');

type VersionRow = TemplateVersionRow;

function present(row: VersionRow) {
  return {
    key: row.key,
    version: row.version,
    defaultLocale: row.defaultLocale,
    content: row.content,
    createdAt: row.createdAt.toISOString(),
  };
}

export function templateRoutes({ db }: AppDeps) {
  const app = router<Env>();

  const create = createRoute({
    method: 'post',
    path: '/',
    summary: 'Create a template (version 1)',
    description: 'Liquid in every text; a template past a parse or render bound is refused here.',
    security: security.tenant,
    request: { body: jsonBody(CreateBody) },
    responses: { 201: json(Published, 'Created'), ...tenantProblems(409) },
  });
  app.openapi(create, async (c) => {
    const tenantId = c.get('tenantId');
    const { key, defaultLocale, content } = c.req.valid('json');
    return c.json(await createTemplate(db, tenantId, { key, defaultLocale, content: content as TemplateContent }), 201);
  });

  const publish = createRoute({
    method: 'put',
    path: '/{key}',
    summary: 'Publish a new version (creates the template if it is new)',
    security: security.tenant,
    request: { params: KeyParam, body: jsonBody(UpdateBody) },
    responses: { 200: json(Published, 'The new version'), ...tenantProblems() },
  });
  app.openapi(publish, async (c) => {
    const tenantId = c.get('tenantId');
    const { key } = c.req.valid('param');
    const { defaultLocale, content, key: bodyKey } = c.req.valid('json');
    if (bodyKey !== undefined && bodyKey !== key) throw badRequest('key in the body differs from the path', [{ path: 'key', message: 'must match the path' }]);
    return c.json(await publishTemplate(db, tenantId, key, { defaultLocale, content: content as TemplateContent }), 200);
  });

  const latest = createRoute({
    method: 'get',
    path: '/{key}',
    summary: 'The latest version',
    security: security.tenant,
    request: { params: KeyParam },
    responses: { 200: json(TemplateView, 'The template version'), ...tenantProblems() },
  });
  app.openapi(latest, async (c) => {
    const row = await findTemplateVersion(db, c.get('tenantId'), c.req.valid('param').key);
    if (!row) throw notFound('Template');
    return c.json(present(row), 200);
  });

  const oneVersion = createRoute({
    method: 'get',
    path: '/{key}/versions/{version}',
    summary: 'One version',
    security: security.tenant,
    request: { params: VersionParam },
    responses: { 200: json(TemplateView, 'The template version'), ...tenantProblems() },
  });
  app.openapi(
    oneVersion,
    async (c) => {
      const { key, version } = c.req.valid('param');
      const row = await findTemplateVersion(db, c.get('tenantId'), key, version);
      if (!row) throw notFound('Template version');
      return c.json(present(row), 200);
    },
  );

  const preview = createRoute({
    method: 'post',
    path: '/{key}/preview',
    summary: 'Render with sample data',
    description: 'A variable that `data` lacks is a 400 naming it; a render past a bound is a 422 with `code`.',
    security: security.tenant,
    request: { params: KeyParam, body: jsonBody(PreviewBody, false) },
    responses: { 200: json(Preview, 'The rendered content per channel'), ...tenantProblems(422) },
  });
  app.openapi(preview, async (c) => {
    const { key } = c.req.valid('param');
    const { data, locale, version } = c.req.valid('json');
    const row = await findTemplateVersion(db, c.get('tenantId'), key, version);
    if (!row) throw notFound(version ? 'Template version' : 'Template');
    const chosen = contentFor(row, locale ?? row.defaultLocale);
    const missing = missingTemplateVariables(chosen.content, chosen.channels, data);
    if (missing.length) throw missingVariablesError(missing);
    let content;
    try {
      content = renderContent(chosen.content, chosen.channels, data);
    } catch (err) {
      if (!(err instanceof TemplateRenderError)) throw err;
      const path = `content.${chosen.locale}.${err.path}`;
      throw unprocessable(err.kind === 'limit' ? 'template_limit_exceeded' : 'template_render_failed', err.message, [{ path, message: err.reason }]);
    }
    return c.json({ key, version: row.version, locale: chosen.locale, content: content as Record<string, unknown> }, 200);
  });

  return app;
}
