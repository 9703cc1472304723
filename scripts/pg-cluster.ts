// A private PostgreSQL cluster (Debian's binaries under /usr/lib/postgresql) in a temporary
// directory on a free loopback port, that can be stopped and started again on the same port
// and data: for the database-outage test and `npm run chaos`. scripts/ci-postgres.sh does the
// same for a shell.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../worker/dev-server.js';

export interface PgCluster {
  /** postgres://tocsin@127.0.0.1:<port>/tocsin */
  url: string;
  port: number;
  /** Starts the stopped server again, on the same port and data directory. */
  start(): void;
  /** Stops the server (`pg_ctl stop -m fast`: open sessions are terminated). */
  stop(): void;
  /** Stops the server and removes its directory. */
  destroy(): void;
}

/** The newest installed PostgreSQL's bin directory, or undefined when there is none. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

export async function startPgCluster(bin = postgresBin()): Promise<PgCluster> {
  if (!bin) throw new Error('No PostgreSQL server binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'tocsin-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // initdb refuses to run as root: run the cluster as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'ignore' });
    }
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    chownSync(dir, uid, -1);
  }
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    execFileSync(cmd as string, argv as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  let running = false;
  const start = () => {
    run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', options, 'start']);
    running = true;
  };
  const stop = () => {
    if (!running) return;
    run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    running = false;
  };
  try {
    run('initdb', ['-D', data, '-U', 'tocsin', '--auth=trust', '-E', 'UTF8']);
    start();
    run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'tocsin', 'tocsin']);
  } catch (err) {
    try {
      stop();
    } catch {}
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://tocsin@127.0.0.1:${port}/tocsin`,
    port,
    start,
    stop,
    destroy() {
      try {
        stop();
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
