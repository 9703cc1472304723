// `npm start`: everything in one process tree on embedded defaults.
import { loadConfig } from '../config.js';
import { startTocsin } from '../runtime/index.js';
import { ensureCli } from './setup-temporal.mjs';

const config = loadConfig();
const started = Date.now();
const cliPath = config.TEMPORAL_ADDRESS ? undefined : ensureCli();
const running = await startTocsin(config, { api: true, worker: true, embeddedTemporal: true, temporalCliPath: cliPath });

console.log(`
Tocsin is ready (${((Date.now() - started) / 1000).toFixed(1)} s)
  API          ${running.apiUrl}   (GET /readyz)
  Temporal UI  ${running.uiUrl ?? `(external Temporal at ${running.temporalAddress})`}
  Temporal     ${running.temporalAddress}, namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}
  Database     ${running.database.kind === 'pglite' ? `PGlite in ${config.DATA_DIR}/pglite` : 'PostgreSQL (DATABASE_URL)'}
  Admin token  ${config.ADMIN_TOKEN ? '(ADMIN_TOKEN from the environment)' : running.adminToken}
Press Ctrl+C to stop.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    await running.stop();
    process.exit(0);
  });
}
