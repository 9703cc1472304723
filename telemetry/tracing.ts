// Traces: the OpenTelemetry SDK with Temporal's interceptors, so that an HTTP request's span
// (api/telemetry.ts) is the parent of the StartWorkflow span the client interceptor opens,
// whose context travels in the workflow's headers to the RunWorkflow span (workflow
// interceptors, exported through a sink) and on to each activity's RunActivity span.
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands in its own exporter); the SDK
// itself (telemetry/otel.ts) is loaded only then, so a process without tracing never holds it.
import { createRequire } from 'node:module';
import type { Tracing, TracingOptions } from './otel.js';

export type { Tracing, TracingOptions };

/** The workflow interceptors' module, bundled with the workflows when tracing is on. */
export const workflowTracingModule = createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export const TRACER_NAME = 'tocsin';

/**
 * Starts the OpenTelemetry SDK and registers it globally (tracer provider, W3C trace-context
 * propagation, AsyncLocalStorage context), or answers undefined when tracing is off.
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing | undefined> {
  if (!opts.endpoint && !opts.exporter) return undefined;
  const { startOtel } = await import('./otel.js');
  return startOtel(opts, { tracer: TRACER_NAME, workflowModule: workflowTracingModule });
}
