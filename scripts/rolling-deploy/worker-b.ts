// A worker of build B (workflows-b.ts) for the rolling deploy: `npm run worker` with the changed
// workflow module bundled in. Its version is TEMPORAL_DEPLOYMENT_NAME + TEMPORAL_BUILD_ID.
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config.js';
import { initTelemetry, startTocsin } from '../../runtime/index.js';
import { bundleWorkflows } from '../../worker/bundle.js';

const config = loadConfig();
const logger = initTelemetry(config);
const code = await bundleWorkflows({ workflowsPath: fileURLToPath(new URL('./workflows-b.ts', import.meta.url)), tracing: Boolean(config.OTEL_EXPORTER_OTLP_ENDPOINT) });
const running = await startTocsin(config, { worker: true, logger, workflowBundle: { code } });
logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: running.temporalAddress }, `Tocsin worker polling ${config.TEMPORAL_TASK_QUEUE} (build B)`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
