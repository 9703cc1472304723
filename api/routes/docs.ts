// GET /docs: the Scalar API reference of /openapi.json. Its script is served from node_modules by
// Tocsin itself (no CDN): the standalone bundle of @scalar/api-reference.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createRoute, z } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { problems, router, security } from '../contract.js';
import { Problem } from '../problem.js';

export const SCALAR_SCRIPT_PATH = '/docs/scalar.js';

/** The standalone (UMD) bundle of @scalar/api-reference, or null when the package is not installed. */
async function scalarBundle(): Promise<Buffer | null> {
  try {
    const manifest = createRequire(import.meta.url).resolve('@scalar/api-reference/package.json');
    return await readFile(join(dirname(manifest), 'dist', 'browser', 'standalone.js'));
  } catch {
    return null;
  }
}

const page = createRoute({
  method: 'get',
  path: '/',
  summary: 'The API reference (Scalar), rendered from /openapi.json',
  security: security.none,
  responses: { 200: { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } } },
});
const script = createRoute({
  method: 'get',
  path: '/scalar.js',
  summary: "The reference page's script, served from node_modules",
  security: security.none,
  responses: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: z.string() } } }, ...problems(404) },
});

export function docsRoutes() {
  const app = router();
  const reference = Scalar({ url: '/openapi.json', cdn: SCALAR_SCRIPT_PATH, pageTitle: 'Tocsin API' });
  app.openapi(page, (c, next) => reference(c, next) as never);
  let bundle: Promise<Buffer | null> | undefined;
  app.openapi(script, async (c) => {
    const js = await (bundle ??= scalarBundle());
    if (!js) throw new Problem(404, 'The API reference script is not installed: add @scalar/api-reference to the dependencies');
    return c.body(new Uint8Array(js), 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400' }) as never;
  });
  return app;
}
