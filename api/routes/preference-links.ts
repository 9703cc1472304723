// `POST /v1/recipients/{recipientId}/preference-link`: a signed link to the recipient's hosted
// preference page (api/routes/recipient-pages.ts), for a tenant to put in an email footer or an
// account page. The link is a recipient token of purpose `preferences`: it opens that page only.
import { createRoute, z } from '@hono/zod-openapi';
import { preferenceLink } from '../../usecases/recipient-links.js';
import { TOKEN_TTL } from '../../usecases/recipient-tokens.js';
import { RecipientId } from '../../usecases/schemas.js';
import { json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';

const { default: DEFAULT_TTL, max: MAX_TTL } = TOKEN_TTL.preferences;

const LinkBody = z
  .object({
    ttlSeconds: z
      .number()
      .int()
      .min(60)
      .max(MAX_TTL)
      .optional()
      .openapi({ description: `How long the link works, in seconds (default ${DEFAULT_TTL}, 7 days; at most ${MAX_TTL}, 90 days)` }),
  })
  .strict();

const LinkView = z
  .object({
    url: z.string().openapi({ description: '`{PUBLIC_BASE_URL}/preferences/{token}`', example: 'https://tocsin.example/preferences/eyJhbGciOi…' }),
    expiresAt: Timestamp,
  })
  .openapi('PreferenceLink');

const create = createRoute({
  method: 'post',
  path: '/{recipientId}/preference-link',
  summary: 'A signed link to the recipient’s hosted preference page',
  description:
    'The page (`GET /preferences/{token}`) lets the recipient turn channels and categories on or off and set quiet hours, with no login. Anyone holding the link can change that recipient’s preferences until it expires: send it to the recipient only.',
  security: security.tenant,
  request: { params: z.object({ recipientId: RecipientId }), body: jsonBody(LinkBody, false) },
  responses: { 201: json(LinkView, 'The link'), ...tenantProblems() },
});

export function preferenceLinkRoutes(deps: AppDeps) {
  const app = router<Env>();
  app.openapi(create, async (c) => {
    const body = (c.req.valid('json') as z.infer<typeof LinkBody> | undefined) ?? {};
    const link = await preferenceLink(
      { db: deps.db, encryptionKeys: deps.encryptionKeys ?? [], publicBaseUrl: deps.secrets?.publicBaseUrl ?? new URL(c.req.url).origin, ...(deps.now ? { now: deps.now } : {}) },
      c.get('tenantId'),
      c.req.valid('param').recipientId,
      body.ttlSeconds,
    );
    return c.json({ url: link.url, expiresAt: link.expiresAt.toISOString() }, 201);
  });
  return app;
}
