// The whole stack booted as `npm start` boots it (embedded dev server, PGlite unless
// DATABASE_URL is passed, worker and API in this process) on free ports in a temporary
// DATA_DIR, with the typed client (client/): for the scripts that drive it (schemathesis, bench:mixed).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTocsinClient, type TocsinClient } from '../client/index.js';
import { loadConfig } from '../config.js';
import { freePort } from '../worker/dev-server.js';
import { startTocsin, type Running } from '../runtime/index.js';
import { quietSdkLogs } from '../worker/index.js';
import { ensureCli } from './setup-temporal.mjs';

export interface LocalStack {
  running: Running;
  adminToken: string;
  /** The typed client with this bearer token (a tenant's API key, or adminToken). */
  client(token: string): TocsinClient;
  /** Stops everything and removes the temporary DATA_DIR. */
  stop(): Promise<void>;
}

export async function startLocalStack(name: string, env: Record<string, string> = {}): Promise<LocalStack> {
  quietSdkLogs();
  const dataDir = mkdtempSync(join(tmpdir(), `tocsin-${name}-`));
  const adminToken = `${name}-admin`;
  const config = loadConfig({
    // The scripts print their own results: the stack's logs only from warnings up, unless asked.
    LOG_LEVEL: 'warn',
    ...process.env,
    DATABASE_URL: process.env.DATABASE_URL ?? '',
    ...env,
    DATA_DIR: dataDir,
    PORT: '0',
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    ADMIN_TOKEN: adminToken,
  });
  const running = await startTocsin(config, { api: true, worker: true, embeddedTemporal: true, temporalCliPath: ensureCli(), log: () => {} });
  return {
    running,
    adminToken,
    client: (token) => createTocsinClient({ baseUrl: running.apiUrl!, token }),
    async stop() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
