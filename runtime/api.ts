// `npm run api`: the HTTP API alone, for a real PostgreSQL and an existing Temporal.
import { loadConfig } from '../config.js';
import { startTocsin } from './index.js';

const config = loadConfig();
const running = await startTocsin(config, { api: true });
console.log(`Tocsin API listening on ${running.apiUrl} (Temporal ${running.temporalAddress})`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.stop().then(() => process.exit(0)));
