// The embedded Temporal dev server (Temporal CLI `server start-dev`) with its Web UI.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS } from '../domain/workflow-ids.js';

interface DevServerOptions {
  cliPath: string;
  ip?: string;
  port: number;
  uiPort: number;
  /** The codec server the Web UI decodes payloads with (`--ui-codec-endpoint`), e.g. http://127.0.0.1:3000/codec. */
  uiCodecEndpoint?: string;
  namespace: string;
  /** SQLite file that keeps the server's state across restarts; in memory when omitted. */
  dbFile?: string;
  logFile?: string;
  readyTimeoutMs?: number;
  /** Told when the server exited unexpectedly and is started again, and when it is back. */
  onRestart?: (message: string) => void;
  /** Unexpected exits within a minute that are restarted; one more calls onGiveUp. Default 5. */
  maxRestarts?: number;
  /** Called when the server keeps exiting: restarts stopped. */
  onGiveUp?: (err: Error) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  /** The running server's process id. */
  pid(): number | undefined;
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

/**
 * Starts the dev server and watches it: when it exits without being stopped (killed, crashed),
 * it is started again with the same ports and state file, so the worker's and the API's
 * connections find it again and every run carries on from the state file. More than
 * `maxRestarts` unexpected exits within a minute give up: `onGiveUp` is called (npm start
 * stops then, with a message, for a supervisor to act).
 */
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
  if (opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  for (const sa of SEARCH_ATTRIBUTE_FLAGS) args.push('--search-attribute', sa);
  args.push(...dynamicConfigArgs());
  const address = `${ip}:${opts.port}`;
  const log = opts.logFile ? (mkdirSync(dirname(opts.logFile), { recursive: true }), createWriteStream(opts.logFile, { flags: 'a' })) : undefined;

  const launch = () => {
    const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (log) {
      child.stdout!.pipe(log, { end: false });
      child.stderr!.pipe(log, { end: false });
    } else {
      child.stdout!.resume();
      child.stderr!.resume();
    }
    return child;
  };

  /** Resolves once the server answers and its namespace is registered; rejects if it exits first. */
  async function ready(child: ChildProcess): Promise<void> {
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`The Temporal dev server exited early (${code ?? signal})`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      try {
        const conn = await Promise.race([Connection.connect({ address, connectTimeout: 1000 }), exited]);
        try {
          await conn.workflowService.getSystemInfo({});
          // The namespace is registered shortly after the frontend answers.
          await conn.workflowService.describeNamespace({ namespace: opts.namespace });
        } finally {
          await conn.close();
        }
        return;
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null) throw err;
        if (Date.now() > deadline) throw new Error(`The Temporal dev server did not answer on ${address} in time`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  let child = launch();
  try {
    await ready(child);
  } catch (err) {
    await stopChild(child);
    throw err;
  }

  let stopping = false;
  const exits: number[] = [];
  const maxRestarts = opts.maxRestarts ?? 5;
  const watch = (c: ChildProcess) =>
    c.once('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      exits.push(now);
      while (exits.length && exits[0] < now - 60_000) exits.shift();
      const why = `The embedded Temporal dev server exited unexpectedly (${signal ?? `code ${code}`})`;
      if (exits.length > maxRestarts) {
        opts.onGiveUp?.(new Error(`${why}, ${exits.length} times within a minute: giving up. Its state is in ${opts.dbFile ?? '(memory)'}.`));
        return;
      }
      opts.onRestart?.(`${why}: starting it again on ${address}${opts.dbFile ? ` with ${opts.dbFile}` : ''}`);
      const next = launch();
      child = next;
      watch(next);
      ready(next).then(
        () => opts.onRestart?.(`The embedded Temporal dev server is back on ${address}`),
        (err) => {
          // An exit before it was ready is handled by watch(); only a hang is reported here.
          if (!stopping && next.exitCode === null && next.signalCode === null) opts.onRestart?.(`${(err as Error).message}; still waiting`);
        },
      );
    });
  watch(child);

  return {
    address,
    uiUrl: `http://${ip}:${opts.uiPort}`,
    pid: () => child.pid,
    stop: async () => {
      stopping = true;
      await stopChild(child);
      log?.end();
    },
  };
}
