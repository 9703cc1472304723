// The bare one-activity workflow's worker as a process of its own, for the cluster bench
// (bench/cluster-run.ts): started by the cluster beside Tocsin's workers, with the same tuning
// (worker/index.ts workerTuning from the same config) and the same payload codec, on the
// task queue TEMPORAL_TASK_QUEUE (bench/protocol.ts BARE_TASK_QUEUE). Like Tocsin's workers on the
// cluster it loads a prebuilt workflow bundle (BARE_WORKFLOW_BUNDLE) rather than running webpack,
// and, given TEMPORAL_DEPLOYMENT_NAME, runs under Worker Deployment Versioning as they do (its own
// deployment, AUTO_UPGRADE, made current once it polls): the server's versioning work per task
// then falls on both sides alike.
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../config.js';
import { encryptionKeys } from '../runtime/index.js';
import { EncryptionCodec, encryptedDataConverter } from '../usecases/payload-codec.js';
import { quietSdkLogs, workerTuning } from '../worker/index.js';
import { deploymentVersion, setCurrentVersion, versionedWorkerOptions } from '../worker/versioning.js';
import { createBareActivities } from './bare-activities.js';

quietSdkLogs();
const config = loadConfig();
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const version = deploymentVersion(config);
const worker = await Worker.create({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  ...(process.env.BARE_WORKFLOW_BUNDLE
    ? { workflowBundle: { codePath: process.env.BARE_WORKFLOW_BUNDLE } }
    : { workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)) }),
  activities: createBareActivities({ webhookAllowedHosts: config.WEBHOOK_ALLOWED_HOSTS }),
  dataConverter: encryptedDataConverter(new EncryptionCodec(encryptionKeys(config).keys)),
  ...workerTuning(config),
  ...versionedWorkerOptions(version),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
const running = worker.run();
if (version) await setCurrentVersion(connection, config.TEMPORAL_NAMESPACE, version);
await running;
await connection.close();
