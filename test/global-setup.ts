// Runs once per `npm test`: provisions the Temporal servers (cached outside the repo) and
// bundles the workflow code once, so each suite's Worker starts in milliseconds.
// With TOCSIN_CLUSTER=1 it also starts the production shape's Temporal part (scripts/cluster-stack.ts:
// PostgreSQL, two server nodes, the balancer in front of them, the namespace and search
// attributes, the Web UI the dashboard links to) and hands its address to the suites: startTestStack and localEnv (test/support.ts)
// then run on it instead of a dev server each. The time-skipping suites keep the Java test server.
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
    /** With TOCSIN_CLUSTER=1: the cluster's frontend (the balancer), namespace, data directory and Web UI. */
    temporalCluster?: { address: string; namespace: string; dataDir: string; uiUrl: string };
  }
}

/** Whether this run's end-to-end suites go to a real Temporal cluster (TOCSIN_CLUSTER=1). */
export const onCluster = (env: Record<string, string | undefined> = process.env) => /^(1|true|yes)$/i.test(env.TOCSIN_CLUSTER ?? '');

export default async function setup(project: TestProject) {
  const { cli, testServer } = ensureTemporal();
  const dir = mkdtempSync(join(tmpdir(), 'tocsin-bundle-'));
  const code = await bundleWorkflows();
  const bundlePath = join(dir, 'workflows.js');
  writeFileSync(bundlePath, code);
  project.provide('temporalCliPath', cli!);
  project.provide('temporalTestServerPath', testServer!);
  project.provide('workflowBundlePath', bundlePath);
  if (!onCluster()) return () => rmSync(dir, { recursive: true, force: true });

  // Loaded only here: a normal run never imports the cluster's scripts.
  const { startCluster, tempDataDir } = await import('../scripts/cluster-stack.js');
  const dataDir = tempDataDir('tocsin-test-cluster-');
  const started = Date.now();
  // Compose's dynamic config (temporal/dynamicconfig.yaml): one partition per task queue, as the
  // suites' dev servers have (test/support.ts localEnv), so priority and fairness order exactly.
  const cluster = await startCluster({ dataDir, temporalOnly: true, ui: true, log: (m) => process.stderr.write(`[test cluster] ${m}\n`) });
  process.stderr.write(`[test cluster] Temporal on ${cluster.address} (nodes ${cluster.frontends.join(', ')}) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  project.provide('temporalCluster', { address: cluster.address, namespace: cluster.namespace, dataDir, uiUrl: cluster.uiUrl });
  return async () => {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
}
