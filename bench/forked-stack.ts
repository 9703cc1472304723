// The system under test in its own process (bench/stack.ts, booted as `npm start` boots it, on
// free ports in a temporary DATA_DIR), so that its event loop and RSS are its own and the load
// generator and the webhook receiver of a benchmark run beside it, not inside it.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../worker/dev-server.js';
import type { StackMessage } from './protocol.js';

export type Ready = Extract<StackMessage, { type: 'ready' }>;
export type Rss = Extract<StackMessage, { type: 'rss' }>;

export interface ForkedStack {
  child: ChildProcess;
  ready: Promise<Ready>;
  rss(): Promise<Rss | null>;
  /** Stops the stack (SIGKILLs it and its dev server after 30 s) and removes its DATA_DIR. */
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('..', import.meta.url));

export async function startForkedStack(name: string, env: NodeJS.ProcessEnv, log: (m: string) => void): Promise<ForkedStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `tocsin-${name}-`));
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    ADMIN_TOKEN: name,
  };
  delete childEnv.TEMPORAL_ADDRESS; // always the embedded dev server, fresh
  log(`booting the stack in ${dataDir}`);
  const child = fork(fileURLToPath(new URL('./stack.ts', import.meta.url)), [], {
    cwd: root,
    env: childEnv,
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let pids: number[] = [];
  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stack did not start within 300 s')), 300_000);
    child.on('message', (m: StackMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        pids = m.pids;
        resolve(m);
      } else if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`stack: ${m.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the stack exited (${code ?? signal}) before it was ready`));
    });
  });
  ready.catch(() => {});

  const rss = () =>
    new Promise<Rss | null>((resolve) => {
      if (!child.connected) return resolve(null);
      const timer = setTimeout(() => resolve(null), 5000);
      const onMessage = (m: StackMessage) => {
        if (m.type !== 'rss') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
      child.send({ type: 'rss' });
    });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.connected) child.send({ type: 'stop' });
      else child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 30_000))]);
      if (killed) {
        log('the stack did not stop within 30 s: killing it and its dev server');
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { child, ready, rss, stop };
}
