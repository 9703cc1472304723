// A worker of build B (workflows-b.ts) for the rolling deploy: `npm run worker` with the changed
// workflow module bundled in. Its version is TEMPORAL_DEPLOYMENT_NAME + TEMPORAL_BUILD_ID.
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../../config.js';
import { initTelemetry, startTocsin } from '../../runtime/index.js';
import { FAILURE_CONVERTER_PATH } from '../../usecases/payload-codec.js';

const config = loadConfig();
const logger = initTelemetry(config);
const { code } = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('./workflows-b.ts', import.meta.url)),
  failureConverterPath: FAILURE_CONVERTER_PATH,
  logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never,
});
const running = await startTocsin(config, { worker: true, logger, workflowBundle: { code } });
logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: running.temporalAddress }, `Tocsin worker polling ${config.TEMPORAL_TASK_QUEUE} (build B)`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
