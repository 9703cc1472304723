// OTEL_EXPORTER_OTLP_ENDPOINT: spans leave over OTLP/HTTP to <endpoint>/v1/traces; unset, no
// tracing at all. The receiver is a plain local HTTP server recording what it is sent.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, TRACER_NAME } from './tracing.js';

const received: Array<{ url?: string; type?: string; body: string }> = [];
const server = createServer(async (req: IncomingMessage, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  received.push({ url: req.url, type: req.headers['content-type'], body });
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
});
let endpoint: string;
beforeAll(async () => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

describe('startTracing', () => {
  it('is off without an endpoint or exporter', async () => {
    expect(await startTracing({})).toBeUndefined();
    expect(trace.getTracer(TRACER_NAME).startSpan('x').isRecording()).toBe(false);
  });

  it('exports spans over OTLP/HTTP to <endpoint>/v1/traces with the service name, flushing at shutdown', async () => {
    const tracing = (await startTracing({ endpoint, serviceName: 'tocsin-test' }))!;
    const span = tracing.tracer.startSpan('POST /v1/notifications');
    expect(span.isRecording()).toBe(true);
    span.end();
    await tracing.shutdown();
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ url: '/v1/traces', type: 'application/json' });
    const body = JSON.parse(received[0].body);
    const resource = body.resourceSpans[0].resource.attributes;
    expect(resource).toContainEqual({ key: 'service.name', value: { stringValue: 'tocsin-test' } });
    expect(body.resourceSpans[0].scopeSpans[0].spans[0].name).toBe('POST /v1/notifications');
    // After shutdown the global tracer is a no-op again.
    expect(trace.getTracer(TRACER_NAME).startSpan('y').isRecording()).toBe(false);
  });
});
