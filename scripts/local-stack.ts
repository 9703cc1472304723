// The whole stack booted as `npm start` boots it (embedded dev server, PGlite unless
// DATABASE_URL is passed, worker and API in this process) on free ports in a temporary
// DATA_DIR, with a JSON client: for the scripts that drive it (schemathesis, bench:mixed).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { freePort } from '../worker/dev-server.js';
import { startTocsin, type Running } from '../runtime/index.js';
import { quietSdkLogs } from '../worker/index.js';
import { ensureCli } from './setup-temporal.mjs';

export interface LocalStack {
  running: Running;
  adminToken: string;
  /** A JSON request with a bearer token; throws on any answer that is not 2xx. */
  call(token: string, method: string, path: string, body?: unknown): Promise<any>;
  /** Stops everything and removes the temporary DATA_DIR. */
  stop(): Promise<void>;
}

export async function startLocalStack(name: string, env: Record<string, string> = {}): Promise<LocalStack> {
  quietSdkLogs();
  const dataDir = mkdtempSync(join(tmpdir(), `tocsin-${name}-`));
  const adminToken = `${name}-admin`;
  const config = loadConfig({
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
    async call(token, method, path, body) {
      const res = await fetch(`${running.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async stop() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
