// Traces: the OpenTelemetry SDK with Temporal's interceptors, so that an HTTP request's span
// (api/telemetry.ts) is the parent of the StartWorkflow span the client interceptor opens,
// whose context travels in the workflow's headers to the RunWorkflow span (workflow
// interceptors, exported through a sink) and on to each activity's RunActivity span.
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands in its own exporter); the SDK
// itself (telemetry/otel.ts) is loaded only then, so a process without tracing never holds it.
import { createRequire } from 'node:module';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The workflow interceptors' module, bundled with the workflows when tracing is on. */
export const workflowTracingModule = createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export const TRACER_NAME = 'tocsin';

export interface Tracing {
  tracer: Tracer;
  /** For the Temporal clients that start and signal workflows (the API's). */
  clientInterceptors: WorkflowClientInterceptor[];
  /** Interceptors and the span-exporting sink, for Worker.create (and replay workers). */
  worker: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go to <endpoint>/v1/traces over OTLP/HTTP. */
  endpoint?: string;
  serviceName?: string;
  serviceVersion?: string;
  /** Instead of OTLP: export synchronously to this exporter (tests: InMemorySpanExporter). */
  exporter?: SpanExporter;
}

/**
 * Starts the OpenTelemetry SDK and registers it globally (tracer provider, W3C trace-context
 * propagation, AsyncLocalStorage context), or answers undefined when tracing is off.
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing | undefined> {
  if (!opts.endpoint && !opts.exporter) return undefined;
  const { startOtel } = await import('./otel.js');
  return startOtel(opts, { tracer: TRACER_NAME, workflowModule: workflowTracingModule });
}
