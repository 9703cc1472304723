// `npm run worker`: the Temporal worker alone, for a real PostgreSQL and an existing Temporal.
import { loadConfig } from '../config.js';
import { startTocsin } from './index.js';

const config = loadConfig();
const running = await startTocsin(config, { worker: true });
console.log(`Tocsin worker polling ${config.TEMPORAL_TASK_QUEUE} on ${running.temporalAddress}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
