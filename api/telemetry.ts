// Per-request telemetry: a request id (an incoming X-Request-Id is kept, else a new one, and
// echoed in the response) on every log line of the request, a server span that the Temporal
// client interceptor makes the parent of the workflows the request starts, and one access
// line when the response is ready.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { withLogContext, type Logger } from '../telemetry/log.js';
import { TRACER_NAME } from '../telemetry/tracing.js';

export function requestTelemetry(logger: Logger): MiddlewareHandler[] {
  const observe: MiddlewareHandler<{ Variables: RequestIdVariables }> = async (c, next) => {
    const reqId = c.get('requestId');
    const started = performance.now();
    // Without a registered tracer provider (OTEL_EXPORTER_OTLP_ENDPOINT unset) this span is a no-op.
    const parent = propagation.extract(context.active(), Object.fromEntries(c.req.raw.headers));
    const span = trace.getTracer(TRACER_NAME).startSpan(
      c.req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path, 'tocsin.request_id': reqId } },
      parent,
    );
    try {
      await withLogContext({ reqId }, () => context.with(trace.setSpan(parent, span), next));
    } finally {
      const status = c.res.status;
      const route = c.req.routePath;
      if (route && route !== '*' && route !== '/*') {
        span.updateName(`${c.req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      // The path without its query: a query may carry a token (the dashboard's ?token=).
      const ms = Math.round((performance.now() - started) * 10) / 10;
      withLogContext({ reqId }, () => logger.info({ method: c.req.method, path: c.req.path, status, ms }, 'request'));
    }
  };
  return [requestId(), observe as MiddlewareHandler];
}
