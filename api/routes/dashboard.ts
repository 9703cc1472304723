// The operator dashboard: GET /dashboard (the page), GET /dashboard/data (the JSON it polls)
// and its assets, uPlot's among them, served from node_modules so the page needs no CDN.
// Admin only: the admin token as a bearer header, or once as ?token=, which sets a session
// cookie and redirects to the same URL without it (so the token leaves the address bar and
// the history). The cookie holds an HMAC of the admin token, never the token: any replica
// verifies it without shared state, and changing ADMIN_TOKEN ends every session.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { dashboardData, dashboardTenants, tenantDashboardData } from '../../usecases/dashboard.js';
import { ResourceId } from '../../usecases/schemas.js';
import { constantTimeEqual } from '../../usecases/ids.js';
import { bearer, unauthorized } from '../auth.js';
import type { AppDeps } from '../deps.js';
import { json, problems, router, security } from '../contract.js';

export const DASHBOARD_COOKIE = 'tocsin_dashboard';
const SESSION_SECONDS = 12 * 3600;

const pageDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard');
const uplotFile = (name: string) => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

/** The page's files, read once: name → [content type, body]. */
const assets: Record<string, [string, string]> = {
  'dashboard.js': ['text/javascript; charset=utf-8', readFileSync(join(pageDir, 'dashboard.js'), 'utf8')],
  'dashboard.css': ['text/css; charset=utf-8', readFileSync(join(pageDir, 'dashboard.css'), 'utf8')],
  'uPlot.js': ['text/javascript; charset=utf-8', readFileSync(uplotFile('uPlot.iife.min.js'), 'utf8')],
  'uPlot.css': ['text/css; charset=utf-8', readFileSync(uplotFile('uPlot.min.css'), 'utf8')],
};
const page = readFileSync(join(pageDir, 'index.html'), 'utf8');

// Scripts and styles only from here; uPlot sizes its elements through the CSSOM, which CSP allows.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const sessionValue = (adminToken: string) => createHmac('sha256', adminToken).update('tocsin dashboard session v1').digest('base64url');

function dashboardAuth(adminToken: string): MiddlewareHandler {
  const session = sessionValue(adminToken);
  return async (c, next) => {
    const header = bearer(c.req.header('authorization'));
    if (header !== null) {
      if (!constantTimeEqual(header, adminToken)) throw unauthorized();
      return next();
    }
    const query = c.req.query('token');
    if (query !== undefined) {
      if (!constantTimeEqual(query, adminToken)) throw unauthorized();
      const url = new URL(c.req.url);
      url.searchParams.delete('token');
      const https = url.protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
      setCookie(c, DASHBOARD_COOKIE, session, { path: '/dashboard', httpOnly: true, sameSite: 'Lax', secure: https, maxAge: SESSION_SECONDS });
      c.header('cache-control', 'no-store');
      c.header('referrer-policy', 'no-referrer');
      return c.redirect(`${url.pathname}${url.search}`, 303);
    }
    const cookie = getCookie(c, DASHBOARD_COOKIE);
    if (cookie === undefined || !constantTimeEqual(cookie, session)) throw unauthorized();
    return next();
  };
}

const pageRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'The operator dashboard; ?token=<admin token> once sets a session cookie and redirects here without it',
  security: security.admin,
  request: { query: z.object({ token: z.string().optional().openapi({ description: 'The admin token, once: it becomes a session cookie' }) }) },
  responses: {
    200: { description: 'The dashboard page', content: { 'text/html': { schema: z.string() } } },
    303: { description: 'Session cookie set: the same page without the token' },
    ...problems(401),
  },
});
const dataRoute = createRoute({
  method: 'get',
  path: '/data',
  summary: 'What the dashboard shows: the last hour per channel, latency percentiles, open incidents, recent failures',
  security: security.admin,
  responses: { 200: json(z.record(z.string(), z.unknown()), 'The dashboard data'), ...problems(401, 503) },
});
const tenantsRoute = createRoute({
  method: 'get',
  path: '/tenants',
  summary: 'The tenants the dashboard offers a view of, by name',
  security: security.admin,
  responses: { 200: json(z.object({ data: z.array(z.object({ id: z.string(), name: z.string() })) }), 'Tenants'), ...problems(401, 503) },
});
const tenantDataRoute = createRoute({
  method: 'get',
  path: '/tenants/{id}/data',
  summary: 'One tenant over the last 24 hours: deliveries by status and channel, latency percentiles, latest failures',
  security: security.admin,
  request: { params: z.object({ id: ResourceId }) },
  responses: { 200: json(z.record(z.string(), z.unknown()), 'The tenant’s figures'), ...problems(400, 401, 404, 503) },
});
const assetRoute = createRoute({
  method: 'get',
  path: '/assets/{file}',
  summary: "The dashboard's script and styles, and uPlot's",
  security: security.admin,
  request: { params: z.object({ file: z.string().max(100) }) },
  responses: {
    200: { description: 'JavaScript or CSS', content: { 'text/javascript': { schema: z.string() }, 'text/css': { schema: z.string() } } },
    ...problems(401, 404),
  },
});

export function dashboardRoutes(deps: AppDeps) {
  const app = router();
  const ui = deps.temporalUi ?? { namespace: 'default' };
  app.use('*', dashboardAuth(deps.adminToken));
  app.openapi(pageRoute, (c) => {
    c.header('content-security-policy', CSP);
    c.header('referrer-policy', 'no-referrer');
    c.header('cache-control', 'no-store');
    return c.html(page) as never;
  });
  app.openapi(dataRoute, async (c) => {
    c.header('cache-control', 'no-store');
    return c.json((await dashboardData(deps.db, ui)) as unknown as Record<string, unknown>, 200);
  });
  app.openapi(tenantsRoute, async (c) => {
    c.header('cache-control', 'no-store');
    return c.json(await dashboardTenants(deps.db), 200);
  });
  app.openapi(tenantDataRoute, async (c) => {
    c.header('cache-control', 'no-store');
    return c.json((await tenantDashboardData(deps.db, ui, c.req.valid('param').id)) as unknown as Record<string, unknown>, 200);
  });
  app.openapi(assetRoute, (c) => {
    const asset = assets[c.req.valid('param').file];
    if (!asset) return c.notFound() as never;
    return c.body(asset[1], 200, { 'content-type': asset[0], 'cache-control': 'private, max-age=3600' }) as never;
  });
  return app;
}
