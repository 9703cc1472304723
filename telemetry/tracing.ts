// Traces: the OpenTelemetry SDK with Temporal's interceptors, so that an HTTP request's span
// (api/telemetry.ts) is the parent of the StartWorkflow span the client interceptor opens,
// whose context travels in the workflow's headers to the RunWorkflow span (workflow
// interceptors, exported through a sink) and on to each activity's RunActivity span.
// Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands in its own exporter).
import { createRequire } from 'node:module';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

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

interface TracingOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go to <endpoint>/v1/traces over OTLP/HTTP. */
  endpoint?: string;
  serviceName?: string;
  serviceVersion?: string;
  /** Instead of OTLP: export synchronously to this exporter (tests: InMemorySpanExporter). */
  exporter?: SpanExporter;
}

/**
 * Starts the OpenTelemetry SDK and registers it globally (tracer provider, W3C trace-context
 * propagation, AsyncLocalStorage context), or returns undefined when tracing is off.
 */
export function startTracing(opts: TracingOptions): Tracing | undefined {
  if (!opts.endpoint && !opts.exporter) return undefined;
  const resource = new Resource({
    [ATTR_SERVICE_NAME]: opts.serviceName ?? 'tocsin',
    ...(opts.serviceVersion ? { [ATTR_SERVICE_VERSION]: opts.serviceVersion } : {}),
  });
  const processor: SpanProcessor = opts.exporter
    ? new SimpleSpanProcessor(opts.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint!.replace(/\/+$/, '')}/v1/traces` }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const tracer = trace.getTracer(TRACER_NAME);
  return {
    tracer,
    clientInterceptors: [new OpenTelemetryWorkflowClientInterceptor({ tracer })],
    worker: {
      interceptors: {
        workflowModules: [workflowTracingModule],
        activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
      },
      sinks: { exporter: makeWorkflowExporter(processor, resource) },
    },
    shutdown: async () => {
      await provider.forceFlush();
      await provider.shutdown();
      trace.disable();
    },
  };
}
