// Worker Deployment Versioning on the Temporal dev server (the time-skipping test server has no
// deployments): a worker started from config with a deployment name makes its version current,
// and workflows run on it with the behaviour their type declares (workflows/index.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startTocsin, type Running } from '../runtime/index.js';
import { defaultBuildId } from '../worker/versioning.js';
import { localEnv, TEST_ENCRYPTION_KEYS, uniqueQueue } from './support.js';
import { until } from './until.js';

let dev: TestWorkflowEnvironment;
let tocsin: Running;
let dataDir: string;
const taskQueue = uniqueQueue('versioned');
const deploymentName = `tocsin-${taskQueue}`;
const buildId = `test-${taskQueue}`;

beforeAll(async () => {
  dev = await localEnv();
  dataDir = mkdtempSync(join(tmpdir(), 'tocsin-versioning-'));
  const config = loadConfig({
    TEMPORAL_ADDRESS: dev.address,
    // Required with TEMPORAL_ADDRESS; the same keys as the suite's client (dev.client).
    TOCSIN_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_DEPLOYMENT_NAME: deploymentName,
    TEMPORAL_BUILD_ID: buildId,
    DATA_DIR: dataDir,
  });
  tocsin = await startTocsin(config, { worker: true, workflowBundle: { codePath: inject('workflowBundlePath') }, log: () => {} });
});

afterAll(async () => {
  await tocsin?.stop();
  await dev?.teardown();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The versioning info the server keeps for a run, once its first workflow task completed. */
async function versioningOf(workflowId: string) {
  return until(
    async () => (await dev.client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo,
    (v) => Boolean(v?.behavior),
    20_000,
    100,
  );
}

describe('worker deployment versioning', () => {
  it('makes the worker version current at start', async () => {
    const res = await dev.connection.workflowService.describeWorkerDeployment({ namespace: dev.namespace ?? 'default', deploymentName });
    expect(res.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion).toMatchObject({ deploymentName, buildId });
  });

  it('runs a short workflow type PINNED to the version that started it', async () => {
    const handle = await dev.client.workflow.start('incidentResolutionWorkflow', {
      taskQueue,
      workflowId: `${taskQueue}-resolution`,
      args: [{ pages: [], messages: [], incident: { incidentId: 'inc_1', summary: 's', severity: 'info', status: 'resolved' } }],
    });
    expect(await handle.result()).toEqual({ sent: 0, failed: 0 });
    const info = await versioningOf(handle.workflowId);
    expect(info?.behavior).toBe(1 /* VERSIONING_BEHAVIOR_PINNED */);
    expect(info?.deploymentVersion).toMatchObject({ deploymentName, buildId });
  });

  it('runs a long workflow type AUTO_UPGRADE on the current version', async () => {
    // A digest with no window waits a minute for an arrival: long enough to look at.
    const handle = await dev.client.workflow.start('digestWorkflow', { taskQueue, workflowId: `${taskQueue}-digest`, args: [{ windows: [] }] });
    try {
      const info = await versioningOf(handle.workflowId);
      expect(info?.behavior).toBe(2 /* VERSIONING_BEHAVIOR_AUTO_UPGRADE */);
      expect(info?.deploymentVersion).toMatchObject({ deploymentName, buildId });
    } finally {
      await handle.terminate('test over');
    }
  });

  it('derives a default build id from the package version and the workflow sources', () => {
    expect(defaultBuildId()).toMatch(/^\d+\.\d+\.\d+-[0-9a-f]{12}$/);
    expect(loadConfig({}).TEMPORAL_DEPLOYMENT_NAME).toBeUndefined();
  });
});
