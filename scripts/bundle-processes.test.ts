// The compiled API and worker keep runtime/index.ts's lazy imports: packages reached only through
// `import()` (the worker runtime, provider SDKs, the routes) load when first asked for, not when the
// process starts. Without code splitting esbuild inlines those modules and hoists their packages to
// static imports, and every API process carried the worker's native runtime and every SDK (about
// 50 MB of resident set each).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleProcesses } from './bundle-processes.js';

/** The packages a compiled entry loads at start: its static imports and those of the chunks it statically imports. */
function packagesAtStart(entry: string): Set<string> {
  const dir = dirname(entry);
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [entry];
  for (let file = queue.shift(); file; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^import\s+(?:[^;]*?from\s+)?"([^"]+)"/gm)) {
      if (m[1].startsWith('./')) queue.push(join(dir, m[1]));
      else if (!m[1].startsWith('node:')) packages.add(m[1]);
    }
  }
  return packages;
}

const PROVIDER_SDKS = ['twilio', '@slack/bolt', '@vonage/server-sdk', 'google-auth-library', 'web-push', 'nodemailer', 'resend'];

describe('the compiled API and worker processes', () => {
  it('an API loads neither the worker runtime nor a provider SDK at start; a worker loads them when it starts its worker, not the routes', async () => {
    const { api, worker, preload } = await bundleProcesses();
    // What runs before either (node --import) loads no package: it runs before the Temporal SDK.
    expect(packagesAtStart(preload)).toEqual(new Set());
    const apiPackages = packagesAtStart(api);
    expect(apiPackages).toContain('@temporalio/client');
    expect(apiPackages).toContain('postgres');
    for (const p of ['@temporalio/worker', '@temporalio/activity', ...PROVIDER_SDKS]) expect(apiPackages, p).not.toContain(p);
    const workerPackages = packagesAtStart(worker);
    for (const p of ['@temporalio/worker', ...PROVIDER_SDKS, 'hono/cors', 'rate-limiter-flexible', 'prom-client']) expect(workerPackages, p).not.toContain(p);
  });
});
