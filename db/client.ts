// One database type over PGlite (embedded default) and postgres.js (DATABASE_URL).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
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
}

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

export interface DatabaseOptions {
  /** postgres://… for a real PostgreSQL; otherwise PGlite. */
  url?: string;
  /** PGlite data directory; in memory when omitted. */
  dataDir?: string;
  /** postgres.js pool size. */
  max?: number;
}

export function openDatabase(opts: DatabaseOptions): Database {
  if (opts.url) {
    const client = postgres(opts.url, { max: opts.max ?? 10, onnotice: () => {} });
    const db = drizzlePostgres(client, { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      migrate: () => withMigrationLock(opts.url!, () => migratePostgres(drizzlePostgres(client), { migrationsFolder })),
      ping: async () => void (await db.execute(sql`select 1`)),
      close: () => client.end({ timeout: 5 }),
    };
  }
  let dir: string | undefined;
  if (opts.dataDir) {
    dir = resolve(opts.dataDir);
    mkdirSync(dir, { recursive: true });
  }
  const client = new PGlite(dir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  // One PGlite belongs to one process: calls to migrate() take turns.
  let migrations: Promise<void> = Promise.resolve();
  return {
    db,
    kind: 'pglite',
    migrate: () => (migrations = migrations.catch(() => {}).then(() => migratePglite(drizzlePglite(client), { migrationsFolder }))),
    ping: async () => void (await db.execute(sql`select 1`)),
    close: () => client.close(),
  };
}

/** The rows of `db.execute`, which PGlite answers as `{ rows }` and postgres.js as an array. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}
