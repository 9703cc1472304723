// The embedded Temporal dev server (Temporal CLI `server start-dev`) with its Web UI.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS } from '../domain/workflow-ids.js';

export interface DevServerOptions {
  cliPath: string;
  ip?: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** SQLite file that keeps the server's state across restarts; in memory when omitted. */
  dbFile?: string;
  logFile?: string;
  readyTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Server settings the embedded dev server runs with (the compose deployment sets the same). */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  // The API and the worker share `npm start`'s process: first workflow tasks skip matching.
  'system.enableEagerWorkflowStart': true,
  // Priority lanes and tenant fairness (README: "Priority and fairness"). Server 1.29 matches
  // by priority key only with the new matcher, and by fairness key only with fairness on (which
  // implies the new matcher); both are off by default.
  'matching.useNewMatcher': true,
  'matching.enableFairness': true,
};

/** `DEV_SERVER_DYNAMIC_CONFIG` as `temporal server start-dev` flags (also the test suites' dev servers). */
export function dynamicConfigArgs(config: Record<string, unknown> = DEV_SERVER_DYNAMIC_CONFIG): string[] {
  return Object.entries(config).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]);
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  for (const p of [opts.port, opts.uiPort]) {
    if (await portInUse(p, ip)) throw new Error(`Port ${p} on ${ip} is in use: is another Temporal dev server running? Set TEMPORAL_DEV_PORT / TEMPORAL_UI_PORT, or TEMPORAL_ADDRESS to use it.`);
  }
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(opts.port), '--ui-port', String(opts.uiPort), '--namespace', opts.namespace, '--log-level', 'warn'];
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  for (const sa of SEARCH_ATTRIBUTE_FLAGS) args.push('--search-attribute', sa);
  args.push(...dynamicConfigArgs());
  const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
  } else {
    child.stdout!.resume();
    child.stderr!.resume();
  }
  const address = `${ip}:${opts.port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`The Temporal dev server exited early (${code ?? signal})`))),
  );
  exited.catch(() => {});
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      try {
        const conn = await Promise.race([Connection.connect({ address, connectTimeout: 1000 }), exited]);
        await conn.workflowService.getSystemInfo({});
        // The namespace is registered shortly after the frontend answers.
        await conn.workflowService.describeNamespace({ namespace: opts.namespace });
        await conn.close();
        break;
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null) throw err;
        if (Date.now() > deadline) throw new Error(`The Temporal dev server did not answer on ${address} in time`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { address, uiUrl: `http://${ip}:${opts.uiPort}`, stop: () => stopChild(child) };
}
