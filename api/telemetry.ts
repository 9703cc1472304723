// Per-request telemetry: a request id (an incoming X-Request-Id is kept, else a new one, and
// echoed in the response) on every log line of the request, a server span that the Temporal
// client interceptor makes the parent of the workflows the request starts, one access line
// when the response is ready, and this process's request counts and durations by route.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { matchedRoutes } from 'hono/route';
import { Counter, Histogram, type Registry } from 'prom-client';
import { withLogContext, type Logger } from '../telemetry/log.js';
import { TRACER_NAME } from '../telemetry/tracing.js';

export function requestTelemetry(logger: Logger, registry?: Registry): MiddlewareHandler[] {
  const registers = registry ? [registry] : [];
  const requests = new Counter({ name: 'tocsin_http_requests_total', help: "This API process's requests, by method, route and status", labelNames: ['method', 'route', 'status'], registers });
  const durations = new Histogram({
    name: 'tocsin_http_request_duration_seconds',
    help: "This API process's time to a response, by method and route",
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const observe: MiddlewareHandler<{ Variables: RequestIdVariables }> = async (c, next) => {
    const reqId = c.get('requestId');
    const started = performance.now();
    // Without a registered tracer provider (OTEL_EXPORTER_OTLP_ENDPOINT unset) this span is a no-op.
    const parent = propagation.extract(context.active(), Object.fromEntries(c.req.raw.headers));
    const span = trace.getTracer(TRACER_NAME).startSpan(
      c.req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': loggedPath(c.req.path), 'tocsin.request_id': reqId } },
      parent,
    );
    try {
      await withLogContext({ reqId }, () => context.with(trace.setSpan(parent, span), next));
    } finally {
      const status = c.res.status;
      // The route pattern of the handler that serves this method and path (also when a
      // middleware answered first: a 401 on POST /v1/notifications is that route's).
      const route = matchedRoutes(c).find((r) => r.method !== 'ALL')?.path;
      const matched = route !== undefined;
      if (matched) {
        span.updateName(`${c.req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      // Route patterns, never raw paths, so that the series stay few whatever is requested.
      const labels = { method: c.req.method, route: matched ? route : 'unmatched' };
      requests.inc({ ...labels, status: String(status) });
      durations.observe(labels, (performance.now() - started) / 1000);
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      // The path without its query: a query may carry a token (the dashboard's ?token=).
      const ms = Math.round((performance.now() - started) * 10) / 10;
      withLogContext({ reqId }, () => logger.info({ method: c.req.method, path: loggedPath(c.req.path), status, ms }, 'request'));
    }
  };
  return [requestId(), observe as MiddlewareHandler];
}

/**
 * A request's path as logs and traces show it: the token of a recipient's link
 * (`/preferences/{token}`, `/unsubscribe/{token}`) is a credential and stays out.
 */
export function loggedPath(path: string): string {
  return path.replace(/^\/(preferences|unsubscribe)\/[^/]*/, '/$1/{token}');
}
