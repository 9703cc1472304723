// One database type over PGlite (embedded default) and postgres.js (DATABASE_URL).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Applies the committed drizzle-kit migrations (idempotent). */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * LISTENs on `channel`: on PostgreSQL over a connection of its own, which postgres.js opens
   * again and listens on again after a loss (`onListen` runs each time, so the caller can catch
   * up on what it missed); on PGlite in its one session. Resolves with the function that stops.
   */
  listen(channel: string, onNotify: (payload: string) => void, onListen?: () => void): Promise<() => Promise<void>>;
}

/** A round trip to the database: rejects while it cannot answer. */
export const ping = async (db: Db) => void (await db.execute(sql`select 1`));

export const migrationsFolder = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Every process migrates at start, and replicas start together: on PostgreSQL the migrations
 * run under this session-level advisory lock, taken on a connection of its own, so one process
 * applies them and the others, once it is released, find nothing left to do.
 */
export const MIGRATION_LOCK = "hashtext('tocsin migrations')";

async function withMigrationLock(url: string, fn: () => Promise<void>): Promise<void> {
  const lock = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await lock.unsafe(`select pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await fn();
    } finally {
      await lock.unsafe(`select pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  } finally {
    await lock.end({ timeout: 5 });
  }
}

interface DatabaseOptions {
  /** postgres://… for a real PostgreSQL; otherwise PGlite. */
  url?: string;
  /** PGlite data directory; in memory when omitted. */
  dataDir?: string;
  /** postgres.js pool size. */
  max?: number;
  /** postgres.js connect timeout; 3 s by default. */
  connectTimeoutSeconds?: number;
}

/**
 * postgres.js with every statement drizzle runs prepared. drizzle asks for an unnamed statement
 * (`prepare: false`) unless a query is given a name, and postgres.js then describes each
 * statement with parameters in a round trip of its own before running it: two round trips, and
 * a parse and a plan each time. Prepared, a statement is parsed once per connection (postgres.js
 * keeps them by text and parameter types; a connection lives 30–60 minutes) and runs in one
 * round trip. Transactions and savepoints hand drizzle clients of their own: those prepare too.
 */
function preparing(client: postgres.Sql): postgres.Sql {
  const wrapCallback = (args: unknown[]) => args.map((a) => (typeof a === 'function' ? (tx: postgres.Sql) => (a as (c: postgres.Sql) => unknown)(preparing(tx)) : a));
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'unsafe') return (query: string, params?: unknown[], opts?: object) => target.unsafe(query, params as never, { ...opts, prepare: true });
      if (prop === 'begin') return (...args: unknown[]) => (target.begin as (...a: unknown[]) => unknown)(...wrapCallback(args));
      if (prop === 'savepoint') return (...args: unknown[]) => ((target as unknown as { savepoint: (...a: unknown[]) => unknown }).savepoint)(...wrapCallback(args));
      return Reflect.get(target, prop);
    },
  });
}

/** Opens the database; PGlite (a WebAssembly PostgreSQL) is loaded only when there is no URL, so a process on a real PostgreSQL never holds it. */
export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url) {
    const client = postgres(opts.url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      // A server that does not answer fails the query within seconds (postgres.js waits 30 s by
      // default), so the API answers 503 instead of holding the request (isConnectionError).
      connect_timeout: opts.connectTimeoutSeconds ?? 3,
      // postgres.js waits before reconnecting after failed connects, 3^n/100 s up to 20 s, and a
      // query waits with it: during an outage requests hung for 10-20 s. A tenth of a second at most.
      backoff: (retries: number) => Math.min(0.02 * retries, 0.1),
    });
    const db = drizzlePostgres(preparing(client), { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      migrate: () => withMigrationLock(opts.url!, () => migratePostgres(drizzlePostgres(client), { migrationsFolder })),
      ping: () => ping(db),
      close: () => client.end({ timeout: 5 }),
      listen: async (channel, onNotify, onListen) => {
        const { unlisten } = await client.listen(channel, onNotify, onListen);
        return unlisten;
      },
    };
  }
  let dir: string | undefined;
  if (opts.dataDir) {
    dir = resolve(opts.dataDir);
    mkdirSync(dir, { recursive: true });
  }
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  const client = new PGlite(dir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  // One PGlite belongs to one process: calls to migrate() take turns.
  let migrations: Promise<void> = Promise.resolve();
  return {
    db,
    kind: 'pglite',
    migrate: () => (migrations = migrations.catch(() => {}).then(() => migratePglite(drizzlePglite(client), { migrationsFolder }))),
    ping: () => ping(db),
    close: () => client.close(),
    listen: async (channel, onNotify, onListen) => {
      const stop = await client.listen(channel, onNotify);
      onListen?.();
      return () => stop();
    },
  };
}

/** The rows of `db.execute`, which PGlite answers as `{ rows }` and postgres.js as an array. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}

/** Node's socket errors that mean the server could not be reached or the connection broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** postgres.js's own connection errors. */
const CLIENT_CODES = new Set(['CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/**
 * Whether an error (or one of its causes: drizzle wraps the driver's error in a
 * DrizzleQueryError) says the database is unreachable or going away, rather than that the
 * query was wrong: a socket error, a postgres.js connection error, or a SQLSTATE of class 08
 * (connection exception), 57P* (shutdown, cannot connect now), 53300 (too many connections) or
 * 57014 (statement timeout). These are worth retrying later; the API answers them with 503.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (NETWORK_CODES.has(code) || CLIENT_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code) || /^57P[0-9A-Z]{2}$/.test(code) || code === '53300' || code === '57014') return true;
  }
  return false;
}
