// Traces: one POST /v1/notifications gives one trace with the HTTP server span, the client's
// StartWorkflow span under it, the workflow's RunWorkflow span and its delivery activities'
// RunActivity spans, read from an in-memory exporter. The tracing interceptors, bundled into
// the workflow code, must change no workflow command: every committed history replays with them.
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, workflowTracingModule, type Tracing } from '../telemetry/tracing.js';
import { tracingOptions, workflowsPath } from '../worker/index.js';
import { FAILURE_CONVERTER_PATH } from '../usecases/payload-codec.js';
import { seed, startHarness, waitForState, type Harness } from './harness.js';
import { historyFromJson } from './replay/history-json.js';
import { quietTemporalLogs, testDataConverter } from './support.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let bundleDir: string;
let bundlePath: string;
let h: Harness;

beforeAll(async () => {
  quietTemporalLogs();
  tracing = (await startTracing({ exporter }))!;
  // The workflow code with the tracing interceptors in it, as a worker bundles it with OTEL_* set.
  bundleDir = mkdtempSync(join(tmpdir(), 'tocsin-traced-'));
  bundlePath = join(bundleDir, 'workflows.js');
  const silent = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} };
  const { code } = await bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH, workflowInterceptorModules: [workflowTracingModule], logger: silent as never });
  writeFileSync(bundlePath, code);
  h = await startHarness({ clientInterceptors: tracing.clientInterceptors, worker: { bundlePath, ...tracingOptions(tracing.worker, true) } });
  await seed(h);
}, 180_000);
afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
  rmSync(bundleDir, { recursive: true, force: true });
});

async function spansUntil(pred: (spans: ReadableSpan[]) => boolean, timeoutMs = 20_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (pred(spans)) return spans;
    if (Date.now() > deadline) throw new Error(`spans never matched: ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('traces', () => {
  it('link the HTTP request to its workflow and its delivery activities in one trace', async () => {
    exporter.reset();
    const res = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } }, { 'x-request-id': 'trace-me' });
    expect(res.status).toBe(202);
    await waitForState(h, res.body.id, (s) => s.status === 'sent');
    const spans = await spansUntil((all) => all.some((s) => s.name === 'RunWorkflow:notificationWorkflow') && all.filter((s) => s.name.startsWith('RunActivity:deliver')).length >= 2);

    const http = spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['tocsin.request_id'] === 'trace-me')!;
    expect(http).toBeDefined();
    expect(http.name).toBe('POST /v1/notifications');
    expect(http.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/notifications', 'http.response.status_code': 202 });
    const traceId = http.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const byName = (name: string) => inTrace.filter((s) => s.name === name);

    const [start] = byName('StartWorkflow:notificationWorkflow');
    expect(start, `spans of the trace: ${inTrace.map((s) => s.name).join(', ')}`).toBeDefined();
    expect(start.parentSpanId).toBe(http.spanContext().spanId);
    expect(start.attributes.temporalWorkflowId).toBe(`notification:${h.tenantId}:${res.body.id}`);

    const [run] = byName('RunWorkflow:notificationWorkflow');
    expect(run).toBeDefined();
    expect(run.parentSpanId).toBe(start.spanContext().spanId);

    const activities = inTrace.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activities.map((s) => s.name)).toEqual(expect.arrayContaining(['RunActivity:deliverInapp', 'RunActivity:deliverWebhook']));
    // Each activity hangs under the StartActivity span its workflow opened.
    const ids = new Set(inTrace.map((s) => s.spanContext().spanId));
    for (const a of activities) expect(ids.has(a.parentSpanId!)).toBe(true);
    expect(activities.every((a) => typeof a.attributes.temporalActivityId === 'string')).toBe(true);
  });

  it('leave every committed history replaying without nondeterminism', { timeout: 120_000 }, async () => {
    const replayDir = fileURLToPath(new URL('./replay/', import.meta.url));
    const files = readdirSync(replayDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(replayDir, d.name)).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`));
    expect(files.length).toBeGreaterThan(0);
    const results = Worker.runReplayHistories(
      { workflowBundle: { codePath: bundlePath }, replayName: 'tocsin-replay-traced', sinks: tracing.worker.sinks, dataConverter: testDataConverter },
      files.map((file) => ({ workflowId: file, history: historyFromJson(JSON.parse(readFileSync(join(replayDir, file), 'utf8'))) })),
    );
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of results) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
