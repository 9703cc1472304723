// Statements of a fixed shape on the hot path, whose SQL text drizzle builds once. Building a
// statement's text (walking its chunks, quoting names) is most of what drizzle costs a request:
// about a tenth of an API's CPU per notification and as much of a worker's activity (README:
// "Throughput and memory on the cluster"). Here the values are placeholders (sql.placeholder)
// filled at each run, as drizzle's own prepared queries fill theirs.
import type { SQL } from 'drizzle-orm';
import type { PgDialect } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';

interface Prepared {
  execute(values: Record<string, unknown>): Promise<unknown>;
}

/**
 * A statement built by `build(variant)` once per database (and transaction) and variant, run with
 * `values` for its placeholders. Answers what db.execute answers (rowsOf reads either driver's).
 */
export function fixedStatement<V extends string>(build: (variant: V) => SQL) {
  const built = new WeakMap<object, Map<V, Prepared>>();
  return (db: Db, variant: V, values: Record<string, unknown>): Promise<unknown> => {
    let byVariant = built.get(db);
    if (!byVariant) built.set(db, (byVariant = new Map()));
    let prepared = byVariant.get(variant);
    if (!prepared) {
      const session = db._.session as unknown as { dialect: PgDialect; prepareQuery(q: ReturnType<PgDialect['sqlToQuery']>, fields: undefined, name: undefined, arrayMode: boolean): Prepared };
      prepared = session.prepareQuery(session.dialect.sqlToQuery(build(variant)), undefined, undefined, false);
      byVariant.set(variant, prepared);
    }
    return prepared.execute(values);
  };
}
