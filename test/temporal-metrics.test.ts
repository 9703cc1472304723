// TEMPORAL_METRICS_PORT: the Temporal SDK's own metrics (worker and client: task latencies,
// slots, polls), served for Prometheus by the SDK's core once the runtime is installed with it.
// Its own file, since the runtime is installed once per process.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../telemetry/log.js';
import { installRuntime } from '../worker/index.js';
import { seed, startHarness, waitForState, type Harness } from './harness.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}

let h: Harness;
let port: number;
beforeAll(async () => {
  port = await freePort();
  // Before any Temporal connection: the runtime the harness would otherwise install quietly.
  installRuntime(createLogger({ level: 'error' }), { metricsAddress: `127.0.0.1:${port}` });
  h = await startHarness();
  await seed(h);
});
afterAll(() => h?.close());

describe('Temporal SDK metrics', () => {
  it('are served at the runtime metrics address (HOST:TEMPORAL_METRICS_PORT) once a worker has run a workflow', async () => {
    const res = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 1 }, name: 'Ann' } });
    await waitForState(h, res.body.id, (s) => s.status === 'sent');
    let text = '';
    for (let i = 0; i < 50 && !/temporal_activity_execution_latency/.test(text); i++) {
      text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(text).toMatch(/^temporal_workflow_completed\{.*workflow_type="notificationWorkflow".*\} [1-9]/m);
    expect(text).toMatch(/^temporal_activity_execution_latency_(bucket|count)\{.*activity_type="deliverWebhook"/m);
    expect(text).toMatch(/^temporal_worker_task_slots_available\{/m);
  });
});
