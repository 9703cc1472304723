// GET /docs: the Scalar API reference of /openapi.json. Its script is served from node_modules by
// Tocsin itself (no CDN): the standalone bundle of @scalar/api-reference, which the package exports
// as `@scalar/api-reference/browser/standalone.js`. The page is ours, so no integration package
// (and none of its dependencies) is needed, and it turns off everything that would reach a
// third-party host: the default fonts, telemetry, the AI agent and the developer toolbar.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { createRoute, z } from '@hono/zod-openapi';
import { router, security } from '../contract.js';

const SCALAR_SCRIPT_PATH = '/docs/scalar.js';

/** Where the bundle is; resolved when the routes are built, so a missing package fails at start, not on a visit. */
const scalarBundlePath = () => createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js');

/** The configuration handed to `Scalar.createApiReference` (see the package's configuration reference). */
const CONFIGURATION = {
  url: '/openapi.json',
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  showDeveloperTools: 'never',
};

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Tocsin API</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <div id="app"></div>
    <script src="${SCALAR_SCRIPT_PATH}"></script>
    <script>
      Scalar.createApiReference('#app', ${JSON.stringify(CONFIGURATION).replace(/</g, '\\u003c')});
    </script>
  </body>
</html>
`;

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
  responses: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: z.string() } } } },
});

/** Whether an Accept-Encoding header takes gzip (and not with `q=0`). */
export function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding.trim() !== 'gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

type Bundle = { raw: Uint8Array<ArrayBuffer>; gzipped: Uint8Array<ArrayBuffer> };

export function docsRoutes() {
  const app = router();
  const path = scalarBundlePath();
  // Read and compressed once (3.5 MB, about 1 MB gzipped), off the event loop, on the first visit.
  let bundle: Promise<Bundle> | undefined;
  const load = async (): Promise<Bundle> => {
    const raw = await readFile(path);
    return { raw: new Uint8Array(raw), gzipped: new Uint8Array(await promisify(gzip)(raw)) };
  };
  app.openapi(page, (c) => c.html(PAGE, 200));
  app.openapi(script, async (c) => {
    const { raw, gzipped } = await (bundle ??= load().catch((err) => {
      bundle = undefined;
      throw err;
    }));
    const headers = { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400', vary: 'accept-encoding' };
    if (acceptsGzip(c.req.header('accept-encoding'))) return c.body(gzipped, 200, { ...headers, 'content-encoding': 'gzip' }) as never;
    return c.body(raw, 200, headers) as never;
  });
  return app;
}
