// runtime/temporal-proto.ts gives the Temporal SDK the definitions its json-module.js would have
// made. Each case runs in a process of its own, with a fresh require cache.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const preload = fileURLToPath(new URL('./temporal-proto.ts', import.meta.url));

/**
 * In a new process: what importing the preload answered (before or after the SDK loaded its
 * definitions), the definitions as @temporalio/proto exports them, and a request encoded with them.
 */
async function load(order: 'preload first' | 'sdk first') {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(preload)});
    const sdk = () => require('@temporalio/proto');
    if (${JSON.stringify(order)} === 'sdk first') sdk();
    const { preloaded, preloadTemporalProto } = await import(${JSON.stringify(preload)});
    const proto = sdk();
    const request = proto.temporal.api.workflowservice.v1.StartWorkflowExecutionRequest.encode({
      namespace: 'default', workflowId: 'w-1', workflowType: { name: 'notify' }, taskQueue: { name: 'notifications' },
      priority: { priorityKey: 2, fairnessKey: 'tenant-a' },
    }).finish();
    process.stdout.write(JSON.stringify({ preloaded, again: preloadTemporalProto(), json: proto.toJSON(), request: Buffer.from(request).toString('hex') }));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as { preloaded: boolean; again: boolean; json: unknown; request: string };
}

describe('the Temporal SDK definitions loaded from their JSON', () => {
  it('are the ones its own module makes, and are loaded once', async () => {
    const [preloaded, sdk] = await Promise.all([load('preload first'), load('sdk first')]);
    expect(preloaded.preloaded).toBe(true);
    expect(preloaded.again).toBe(false);
    expect(sdk.preloaded).toBe(false);
    expect(preloaded.json).toEqual(sdk.json);
    expect(preloaded.request).toBe(sdk.request);
    expect(preloaded.request.length).toBeGreaterThan(40);
  }, 60_000);
});
