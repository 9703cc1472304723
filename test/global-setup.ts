// Runs once per `npm test`: provisions the Temporal servers (cached outside the repo) and
// bundles the workflow code once, so each suite's Worker starts in milliseconds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureTemporal } from '../scripts/setup-temporal.mjs';
import { bundleWorkflows } from '../worker/bundle.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalCliPath: string;
    temporalTestServerPath: string;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const { cli, testServer } = ensureTemporal();
  const dir = mkdtempSync(join(tmpdir(), 'tocsin-bundle-'));
  const code = await bundleWorkflows();
  const bundlePath = join(dir, 'workflows.js');
  writeFileSync(bundlePath, code);
  project.provide('temporalCliPath', cli!);
  project.provide('temporalTestServerPath', testServer!);
  project.provide('workflowBundlePath', bundlePath);
  return () => rmSync(dir, { recursive: true, force: true });
}
