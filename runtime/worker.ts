// `npm run worker`: the Temporal worker alone, for a real PostgreSQL and an existing Temporal.
// First: the Temporal SDK's definitions from their JSON, before anything loads the SDK.
import './temporal-proto.js';
import { loadConfig } from '../config.js';
import { initTelemetry, startTocsin } from './index.js';

const config = loadConfig();
const logger = initTelemetry(config);
const running = await startTocsin(config, { worker: true, logger });
logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, temporal: running.temporalAddress }, `Tocsin worker polling ${config.TEMPORAL_TASK_QUEUE}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
