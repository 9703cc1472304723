// `npm run migrate`: applies the committed migrations to DATABASE_URL (or the embedded PGlite in
// DATA_DIR) and exits. The compose deployment runs it once, as a job the API and the workers wait
// for; they migrate at start too, which then finds nothing to do (see MIGRATION_LOCK).
import { join, resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { createLogger } from '../telemetry/log.js';
import { openDatabase } from '../db/client.js';

const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT ?? 'json' });
const database = await openDatabase({ url: config.DATABASE_URL, dataDir: join(resolve(config.DATA_DIR), 'pglite'), max: 1 });
try {
  await database.migrate();
  logger.info({ database: database.kind }, 'migrations applied');
} finally {
  await database.close();
}
