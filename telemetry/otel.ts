// The OpenTelemetry SDK behind telemetry/tracing.ts's startTracing, loaded only when tracing is on
// (tracing.ts takes only its types from here).
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

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

/** The SDK started and registered globally, with Temporal's interceptors for the API's client and the worker. */
export function startOtel(opts: TracingOptions, names: { tracer: string; workflowModule: string }): Tracing {
  const resource = new Resource({
    [ATTR_SERVICE_NAME]: opts.serviceName ?? 'tocsin',
    ...(opts.serviceVersion ? { [ATTR_SERVICE_VERSION]: opts.serviceVersion } : {}),
  });
  const processor: SpanProcessor = opts.exporter
    ? new SimpleSpanProcessor(opts.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint!.replace(/\/+$/, '')}/v1/traces` }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const tracer = trace.getTracer(names.tracer);
  return {
    tracer,
    clientInterceptors: [new OpenTelemetryWorkflowClientInterceptor({ tracer })],
    worker: {
      interceptors: {
        workflowModules: [names.workflowModule],
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
