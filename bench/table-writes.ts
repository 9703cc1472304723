// Rows written per table (inserted + updated + deleted) in the cluster's databases, from
// PostgreSQL's own counters (pg_stat_user_tables): what a workflow costs in Temporal's history
// and visibility stores and in Tocsin's tables, counted rather than timed. Counters reach the
// view when a backend flushes them, at the latest 10 s after it went idle (PostgreSQL 15), so a
// reading waits that long after the load.
import postgres from 'postgres';

/** The databases a cluster keeps on its PostgreSQL: Temporal's two and Tocsin's (the URL's). */
export const CLUSTER_DATABASES = ['temporal', 'temporal_visibility'] as const;

/** PostgreSQL's idle flush interval for table statistics, and a margin. */
export const STATS_FLUSH_MS = 11_000;

export type TableWrites = Record<string, number>;

export interface TableWriteReader {
  /** `<database>.<table>` → rows written so far. */
  read(): Promise<TableWrites>;
  close(): Promise<void>;
}

/** Readers of `databaseUrl`'s database and of Temporal's two beside it on the same server. */
export function tableWriteReader(databaseUrl: string): TableWriteReader {
  const own = new URL(databaseUrl).pathname.slice(1);
  const clients = [own, ...CLUSTER_DATABASES].map((name) => {
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    return { name, sql: postgres(url.toString(), { max: 1, onnotice: () => {} }) };
  });
  return {
    async read() {
      const out: TableWrites = {};
      for (const { name, sql } of clients) {
        const rows = await sql<{ relname: string; n: string }[]>`select relname, (n_tup_ins + n_tup_upd + n_tup_del)::text as n from pg_stat_user_tables`;
        for (const r of rows) out[`${name}.${r.relname}`] = Number(r.n);
      }
      return out;
    },
    async close() {
      await Promise.all(clients.map((c) => c.sql.end({ timeout: 5 })));
    },
  };
}

/** after − before, per table, leaving out tables nothing was written to. */
export function writesDelta(before: TableWrites, after: TableWrites): TableWrites {
  const out: TableWrites = {};
  for (const [table, n] of Object.entries(after)) {
    const d = n - (before[table] ?? 0);
    if (d > 0) out[table] = d;
  }
  return out;
}
