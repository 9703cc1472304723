// The Hono application: createApp(deps) wires one sub-app per resource. Every route is declared
// with @hono/zod-openapi, so /openapi.json is generated from the schemas that validate.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { authenticate, createKeyCache, requireTenant, unauthenticatedAnswers } from './auth.js';
import { tenantRateLimit } from './rate-limit.js';
import { criticalRate } from './critical-rate.js';
import { tenantGate } from './tenant-gate.js';
import type { AppDeps, Env } from './deps.js';
import { DOCUMENT, router, SECURITY_SCHEMES, security } from './contract.js';
import { docsRoutes } from './routes/docs.js';
import { RequestError } from '../domain/errors.js';
import { isConnectionError } from '../db/client.js';
import { databaseUnavailable, dataExceptionOf, fromRequestError, refusedValue, Problem, problemResponse } from './problem.js';
import { adminRoutes } from './routes/admin.js';
import { healthRoutes } from './routes/health.js';
import { inboxRoutes } from './routes/inbox.js';
import { notificationRoutes } from './routes/notifications.js';
import { recipientRoutes } from './routes/recipients.js';
import { templateRoutes } from './routes/templates.js';
import { flowRoutes } from './routes/flows.js';
import { escalationPolicyRoutes } from './routes/escalation-policies.js';
import { integrationRoutes } from './routes/integrations.js';
import { deviceRoutes } from './routes/devices.js';
import { incidentRoutes } from './routes/incidents.js';
import { slackRoutes } from './routes/slack.js';
import { receiptRoutes } from './routes/receipts.js';
import { suppressionRoutes } from './routes/suppressions.js';
import { webhookEndpointRoutes } from './routes/webhook-endpoints.js';
import { analyticsRoutes, deliveryRoutes, notificationRetryRoutes } from './routes/analytics.js';
import { broadcastRoutes } from './routes/broadcasts.js';
import { topicRoutes } from './routes/topics.js';
import { ruleRoutes } from './routes/rules.js';
import { eventRoutes } from './routes/events.js';
import { scheduleRoutes } from './routes/schedules.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { acceptableInput } from './validate.js';
import { metricsRoutes } from './routes/metrics.js';
import { codecRoutes } from './routes/codec.js';
import { preferenceLinkRoutes } from './routes/preference-links.js';
import { preferencePageRoutes, unsubscribeRoutes } from './routes/recipient-pages.js';
import { meRoutes, recipientTokenDeps, recipientTokenRoutes, tokenSecretRoutes } from './routes/me.js';
import { inboxElementRoutes } from './routes/inbox-element.js';
import { createInboxStreams } from './inbox-streams.js';
import { loggedPath, requestTelemetry } from './telemetry.js';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../telemetry/log.js';

export type { AppDeps } from './deps.js';

const MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: AppDeps, opts: { logger?: Logger; log?: (msg: string, err?: unknown) => void } = {}) {
  const logger = opts.logger ?? createLogger({ level: 'warn' });
  const log = opts.log ?? ((msg, err) => logger.error({ err }, msg));
  const app = router<Env>();

  // A request id on every log line of a request (X-Request-Id in and out), its server span,
  // its count and duration in this process's metrics (served by /metrics).
  const metrics = new Registry();
  app.use('*', ...requestTelemetry(logger, metrics));

  // The size limit reads nothing when a request declares its Content-Length: one over 1 MiB is
  // refused first, unread, from the header alone (hono's bodyLimit would ask for the body stream,
  // for which @hono/node-server builds a whole WHATWG Request around the socket, about a
  // twentieth of an API's CPU per notification). A body without one is counted as it is read,
  // after credentials.
  const tooLarge = (): never => {
    // The unread body is left on the socket: closing it keeps a keep-alive client from
    // sending its next request into a connection the server is about to drop.
    throw new Problem(413, 'The request body is larger than 1 MiB', [], { connection: 'close' });
  };
  const declared = (c: Context) => c.req.header('content-length') !== undefined && c.req.header('transfer-encoding') === undefined;
  app.use('*', (c, next) => (declared(c) && Number.parseInt(c.req.header('content-length')!, 10) > MAX_BODY_BYTES ? tooLarge() : next()));
  const countedLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  // Credentials before any body is read (api/auth.ts): the admin token, or a tenant key from
  // the key cache or one lookup; a client address without valid credentials gets
  // UNAUTH_RATE_PER_SECOND answers a second, then 429. Receipts and Slack verify their
  // providers' signatures over the raw body themselves.
  const signed = ['/v1/receipts/', '/v1/slack/'];
  const keys = createKeyCache();
  const answers = unauthenticatedAnswers(deps.unauthenticated);
  // Browsers on CORS_ORIGINS may call /v1/me/* with a recipient token: the preflight is answered
  // here, before credentials (it carries none). No cookies: the token is the only credential.
  app.use(
    '/v1/me/*',
    cors({
      origin: [...(deps.corsOrigins ?? [])],
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
      exposeHeaders: ['Retry-After', 'RateLimit', 'RateLimit-Policy'],
      credentials: false,
      maxAge: 600,
    }),
  );
  app.use('/v1/*', authenticate({ db: deps.db, adminToken: deps.adminToken, keys, answers, signedPrefixes: signed, recipientTokens: recipientTokenDeps(deps) }));
  // A body without a declared length, counted as it is read (one with it was checked above).
  app.use('*', (c, next) => (declared(c) ? next() : countedLimit(c, next)));
  // Input every route can hold (api/validate.ts): JSON bodies, no NUL or unpaired surrogate in
  // a body, path or query, bounded nesting. Receipts and Slack verify their raw bodies first.
  app.use('/v1/*', acceptableInput({ rawBodyPrefixes: signed }));

  app.route('/', healthRoutes(deps));
  app.route('/metrics', metricsRoutes(deps, metrics));
  app.route('/dashboard', dashboardRoutes(deps));
  app.route('/codec', codecRoutes(deps));
  // Per-tenant rate limit of this instance, after auth so that the key is the tenant id
  // (api/rate-limit.ts: 429 with Retry-After and the IETF RateLimit fields); a tenant's
  // recipients (/v1/me, their links) spend the same budget.
  const rateLimit = tenantRateLimit(deps.rateLimit);
  // A recipient's links, outside /v1 and without an API key: the token in the path is the
  // credential, checked (and bad ones counted per address as above) before a body is read.
  // A valid link's requests count against its tenant's rate, with the tenant's API requests.
  app.route('/preferences', preferencePageRoutes(deps, answers, rateLimit));
  app.route('/unsubscribe', unsubscribeRoutes(deps, answers, rateLimit));
  app.route('/', inboxElementRoutes());
  const critical = criticalRate(deps.db, deps.criticalRatePerMinute);
  app.route('/v1/admin', adminRoutes(deps, keys, critical));
  // Slack signs its requests itself: `authenticate` lets /v1/slack/ through.
  app.route('/v1/slack', slackRoutes(deps));
  // Delivery receipts are signed by their providers (Twilio, Resend via Svix): let through too.
  app.route('/v1/receipts', receiptRoutes(deps));

  // Each tenant's requests take turns: a flood waits behind itself, not in front of others.
  const gate = tenantGate(deps.tenantGate);
  // One hub for the inbox streams of the tenant's routes and the recipient's own.
  const streamed = { ...deps, inboxStreams: deps.inboxStreams ?? createInboxStreams() };

  // The recipient's own side: `authenticate` took a recipient token and set tenant and recipient.
  const me = router<Env>();
  me.use('*', rateLimit);
  me.use('*', gate);
  me.route('/', meRoutes(streamed));
  // An unknown path below /v1/me ends here, not in the tenant's routes.
  me.all('*', (c) => problemResponse(c, new Problem(404, `No route for ${c.req.method} ${c.req.path}`)));
  app.route('/v1/me', me);

  const tenant = router<Env>();
  // `authenticate` set the tenant; a path it let through unchecked (an unknown one below
  // /v1/slack/ or /v1/receipts/) has none and stops here.
  tenant.use('*', requireTenant(answers));
  tenant.use('*', rateLimit);
  tenant.use('*', gate);
  tenant.route('/recipients', recipientRoutes(deps));
  tenant.route('/recipients', recipientTokenRoutes(deps));
  tenant.route('/recipient-token-secrets', tokenSecretRoutes(deps));
  tenant.route('/recipients', inboxRoutes(streamed));
  tenant.route('/recipients', deviceRoutes(deps));
  tenant.route('/recipients', preferenceLinkRoutes(deps));
  tenant.route('/templates', templateRoutes(deps));
  tenant.route('/flows', flowRoutes(deps));
  tenant.route('/notifications', notificationRoutes(deps, critical));
  tenant.route('/notifications', notificationRetryRoutes(deps));
  tenant.route('/analytics', analyticsRoutes(deps));
  tenant.route('/deliveries', deliveryRoutes(deps));
  tenant.route('/escalation-policies', escalationPolicyRoutes(deps));
  tenant.route('/incidents', incidentRoutes(deps, critical));
  tenant.route('/broadcasts', broadcastRoutes(deps));
  tenant.route('/topics', topicRoutes(deps));
  tenant.route('/rules', ruleRoutes(deps));
  // A small event whose inline evaluation failed goes to its workflow: worth a warning, not an error.
  tenant.route(
    '/events',
    eventRoutes({
      ...deps,
      // Its name and code only: a database error's message may quote a value.
      onInlineError: (err: unknown) => logger.warn({ error: (err as Error)?.name, code: (err as { code?: unknown })?.code }, 'an event evaluated at once failed; its workflow takes it over'),
    }),
  );
  tenant.route('/schedules', scheduleRoutes(deps));
  tenant.route('/integrations', integrationRoutes(deps));
  tenant.route('/suppressions', suppressionRoutes(deps));
  tenant.route('/webhook-endpoints', webhookEndpointRoutes(deps));
  app.route('/v1', tenant);

  // The document of everything above, generated once from the routes' own schemas.
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  const openapi = createRoute({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1), generated from the schemas the routes validate with',
    security: security.none,
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  });
  app.openapi(openapi, (c) => c.json((document ??= app.getOpenAPI31Document(DOCUMENT)) as unknown as Record<string, unknown>, 200));
  app.route('/docs', docsRoutes());

  app.notFound((c) => problemResponse(c, new Problem(404, `No route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof RequestError) err = fromRequestError(err);
    else if (!(err instanceof Problem) && isConnectionError(err)) err = databaseUnavailable(err);
    else if (!(err instanceof Problem) && !(err instanceof HTTPException)) {
      // A value the schemas let through and PostgreSQL refused: the client's 400, and a gap in
      // a schema worth closing (logged without the value).
      const refused = dataExceptionOf(err);
      if (refused) {
        logger.warn({ sqlstate: refused.sqlstate }, `the database refused a value of ${c.req.method} ${loggedPath(c.req.path)}`);
        err = refusedValue(refused);
      }
    }
    if (err instanceof Problem) {
      if (err.status >= 500) log(`${err.status} on ${c.req.method} ${loggedPath(c.req.path)}: ${err.detail}`, err.cause);
      return problemResponse(c, err);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      if (status === 400 && /json/i.test(err.message))
        return problemResponse(c, new Problem(400, 'The request body is not valid JSON', [{ path: '(body)', message: 'malformed JSON' }]));
      if (status < 500) return problemResponse(c, new Problem(status as Problem['status'], err.message || 'Bad request'));
    }
    if (err instanceof SyntaxError) return problemResponse(c, new Problem(400, 'The request body is not valid JSON', [{ path: '(body)', message: 'malformed JSON' }]));
    log(`unhandled error on ${c.req.method} ${loggedPath(c.req.path)}`, err);
    return problemResponse(c, new Problem(500, 'An internal error occurred; it has been logged'));
  });
  return app;
}
