// GET /inbox.js: the embeddable inbox, a dependency-free custom element `<tocsin-inbox>`
// (api/inbox-element.js) that any page may load. It calls /v1/me/* with a recipient token, so
// the page's origin must be in CORS_ORIGINS.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRoute, z } from '@hono/zod-openapi';
import { router, security } from '../contract.js';

const source = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'inbox-element.js'), 'utf8');

const route = createRoute({
  method: 'get',
  path: '/inbox.js',
  summary: 'The embeddable inbox: a custom element <tocsin-inbox api="…" token="…">',
  description: 'Plain JavaScript with no dependencies. The embedding page’s origin must be in CORS_ORIGINS.',
  security: security.none,
  responses: { 200: { description: 'The script', content: { 'text/javascript': { schema: z.string() } } } },
});

export function inboxElementRoutes() {
  const app = router();
  app.openapi(route, (c) =>
    // Cached for an hour by browsers and CDNs; any page may load it (it carries no secret).
    c.body(source, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    }) as never,
  );
  return app;
}
