// Replicas start together and each migrates: on PostgreSQL the advisory lock lets one apply
// the migrations while the others wait, then find nothing to do.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { postgresUrl, testDatabaseKinds } from '../test/support.js';
import { MIGRATION_LOCK, migrationsFolder, openDatabase, rowsOf, type Database } from './client.js';

const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };

/** An empty PostgreSQL database (not migrated), dropped by the returned function. */
async function emptyPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgres(postgresUrl!, { max: 1, onnotice: () => {} });
  const name = `tocsin_migrate_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(postgresUrl!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

async function applied(db: Database): Promise<number> {
  const [row] = rowsOf<{ n: number }>(await db.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`));
  return row.n;
}

describe.each(testDatabaseKinds)('migrations started at once (replicas on PostgreSQL, callers in one process on PGlite) on %s', (kind) => {
  it('are applied once, and every one comes up migrated', async () => {
    if (kind === 'pglite') {
      const db = await openDatabase({});
      try {
        await Promise.all([db.migrate(), db.migrate(), db.migrate()]);
        expect(await applied(db)).toBe(journal.entries.length);
      } finally {
        await db.close();
      }
      return;
    }
    const { url, drop } = await emptyPostgres();
    const replicas = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url, max: 2 })));
    try {
      await Promise.all(replicas.map((r) => r.migrate()));
      for (const r of replicas) expect(await applied(r)).toBe(journal.entries.length);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await drop();
    }
  });
});

describe.each(testDatabaseKinds.filter((k) => k === 'postgres'))('the migration lock on %s', () => {
  it('makes a process wait while another holds it', async () => {
    const { url, drop } = await emptyPostgres();
    const holder = postgres(url, { max: 1, onnotice: () => {} });
    const replica = await openDatabase({ url, max: 2 });
    try {
      await holder.unsafe(`select pg_advisory_lock(${MIGRATION_LOCK})`);
      let done = false;
      const migrating = replica.migrate().then(() => (done = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false);
      await holder.unsafe(`select pg_advisory_unlock(${MIGRATION_LOCK})`);
      await migrating;
      expect(await applied(replica)).toBe(journal.entries.length);
    } finally {
      await holder.end();
      await replica.close();
      await drop();
    }
  });
});
