// Runs once per `npm test`: provisions the Temporal servers (cached outside the repo) and
// bundles the workflow code once, so each suite's Worker starts in milliseconds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { ensureTemporal } from '../scripts/setup-temporal.mjs';
import { workflowsPath } from '../worker/index.js';
import { FAILURE_CONVERTER_PATH } from '../usecases/payload-codec.js';

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
  const { code } = await bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH, logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never });
  const bundlePath = join(dir, 'workflows.js');
  writeFileSync(bundlePath, code);
  project.provide('temporalCliPath', cli!);
  project.provide('temporalTestServerPath', testServer!);
  project.provide('workflowBundlePath', bundlePath);
  return () => rmSync(dir, { recursive: true, force: true });
}
