// Worker Deployment Versioning: the worker's version (deployment name + build id) and making it
// the deployment's current version, so new runs and AUTO_UPGRADE runs go to it. The versioning
// behaviour of each workflow type is declared in workflows/index.ts.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeConnection } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { Config } from '../config.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * `<package version>-<12 hex of the sources bundled into the workflows>`: any change to the
 * workflow code (workflows/, domain/) is a new build, and a rebuild of the same code is not.
 */
export function defaultBuildId(): string {
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'domain']) {
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
      hash.update(`${dir}/${name}\0`).update(readFileSync(join(root, dir, name))).update('\0');
    }
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return `${version}-${hash.digest('hex').slice(0, 12)}`;
}

/** The worker's deployment version, or undefined (unversioned) when no deployment name is set. */
export function deploymentVersion(config: Pick<Config, 'TEMPORAL_DEPLOYMENT_NAME' | 'TEMPORAL_BUILD_ID'>): WorkerDeploymentVersion | undefined {
  if (!config.TEMPORAL_DEPLOYMENT_NAME) return undefined;
  return { deploymentName: config.TEMPORAL_DEPLOYMENT_NAME, buildId: config.TEMPORAL_BUILD_ID ?? defaultBuildId() };
}

/**
 * The Worker options of a worker of `version` (none when unversioned): Worker Deployment Versioning
 * on, and AUTO_UPGRADE for a workflow type that declares no behaviour (workflows/index.ts declares
 * each of Tocsin's) and for runs begun before versioning was turned on.
 */
export function versionedWorkerOptions(version: WorkerDeploymentVersion | undefined) {
  return version ? { workerDeploymentOptions: { version, useWorkerVersioning: true as const, defaultVersioningBehavior: 'AUTO_UPGRADE' as const } } : {};
}

/**
 * Makes `version` its deployment's current version (what `temporal worker deployment
 * set-current-version` does). The server knows a version only once its workers poll, so this
 * retries until it does or `timeoutMs` passes.
 */
export async function setCurrentVersion(
  connection: NativeConnection,
  namespace: string,
  version: WorkerDeploymentVersion,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        identity: `tocsin-worker@${version.buildId}`,
      });
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      // NOT_FOUND / FAILED_PRECONDITION: the version's pollers have not reached the server yet.
      if ((code !== 5 && code !== 9) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
