// `npm run api`: the HTTP API alone, for a real PostgreSQL and an existing Temporal.
// First: the Temporal SDK's definitions from their JSON, before anything loads the SDK.
import './temporal-proto.js';
import { loadConfig } from '../config.js';
import { initTelemetry, startTocsin } from './index.js';

const config = loadConfig();
const logger = initTelemetry(config);
const running = await startTocsin(config, { api: true, logger });
logger.info({ apiUrl: running.apiUrl, temporal: running.temporalAddress }, `Tocsin API listening on ${running.apiUrl}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
