// `npm start`: everything in one process tree on embedded defaults.
// First: the Temporal SDK's definitions from their JSON, before anything loads the SDK.
import '../runtime/temporal-proto.js';
import { loadConfig } from '../config.js';
import { initTelemetry, startTocsin } from '../runtime/index.js';
import { ensureCli } from './setup-temporal.mjs';

const config = loadConfig();
// Pretty lines on a terminal, JSON lines when piped (LOG_FORMAT overrides either way).
const format = config.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
const logger = initTelemetry(config, { format });
const started = Date.now();
const cliPath = config.TEMPORAL_ADDRESS ? undefined : ensureCli();
const running = await startTocsin(config, {
  api: true,
  worker: true,
  embeddedTemporal: true,
  temporalCliPath: cliPath,
  logger,
  // The embedded dev server kept dying although it was restarted: everything has stopped.
  onFatal: () => process.exit(1),
});

const ready = {
  apiUrl: running.apiUrl,
  dashboard: `${running.apiUrl}/dashboard`,
  metrics: `${running.apiUrl}/metrics`,
  temporalUi: running.uiUrl ?? null,
  temporal: running.temporalAddress,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  database: running.database.kind === 'pglite' ? `PGlite in ${config.DATA_DIR}/pglite` : 'PostgreSQL (DATABASE_URL)',
  seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
};
if (format === 'pretty') {
  // A person at a terminal: the banner, with the generated admin token. Log lines never carry it.
  process.stdout.write(`
Tocsin is ready (${ready.seconds} s)
  API          ${ready.apiUrl}   (GET /readyz)
  Dashboard    ${ready.dashboard}?token=<admin token>   (metrics: GET /metrics)
  Temporal UI  ${ready.temporalUi ?? `(external Temporal at ${ready.temporal})`}
  Payloads     encrypted (TOCSIN_ENCRYPTION_KEYS${config.TOCSIN_ENCRYPTION_KEYS ? '' : ` generated in ${config.DATA_DIR}/encryption-keys`}); to read them in the UI,
               open ${ready.apiUrl}/codec/session?token=<admin token> (README: Payloads at rest)
  Temporal     ${ready.temporal}, namespace ${ready.namespace}, task queue ${ready.taskQueue}
  Database     ${ready.database}
  Admin token  ${config.ADMIN_TOKEN ? '(ADMIN_TOKEN from the environment)' : running.adminToken}
Press Ctrl+C to stop.
`);
} else {
  logger.info({ ...ready, adminTokenIn: config.ADMIN_TOKEN ? 'ADMIN_TOKEN' : `${config.DATA_DIR}/admin-token` }, 'Tocsin is ready');
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping…`);
    await running.stop();
    process.exit(0);
  });
}
