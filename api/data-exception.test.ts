// No client value reaches a 5xx: numbers are bounded to their columns in the schemas, and a value
// PostgreSQL refuses anyway (SQLSTATE class 22) is a 400 problem, mapped in api/app.ts onError
// with api/problem.ts. On PGlite, and on PostgreSQL when DATABASE_URL is set (CI).
import { Connection } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { offlineAppDeps, openTestDatabase, testDatabaseKinds } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp } from './app.js';
import { dataExceptionOf, refusedValue } from './problem.js';

const ADMIN = 'admin-secret';

/** The error the database answers `sql` with. */
async function refusal(db: Database, query: ReturnType<typeof sql>): Promise<unknown> {
  try {
    await db.db.execute(query);
  } catch (err) {
    return err;
  }
  throw new Error('the database accepted the query');
}

describe.each(testDatabaseKinds)('values the database refuses, on %s', (kind) => {
  let db: Database;
  let connection: Connection;
  let app: ReturnType<typeof createApp>;
  let apiKey: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
  };

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(offlineAppDeps(db.db, connection, { adminToken: ADMIN }), { log: () => {} });
    const t = await app.request('/v1/admin/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Acme' }),
    });
    apiKey = ((await t.json()) as { apiKey: string }).apiKey;
    const created = await call('POST', '/v1/templates', { key: 'welcome', defaultLocale: 'en', content: { en: { inapp: { title: 'Hi', body: 'Hello' } } } });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db?.close();
  });

  it("answers schemathesis' preview with a version past int4 with a 400 naming the field, as for the path's version", async () => {
    const body = await call('POST', '/v1/templates/welcome/preview', { version: 87259864845, data: {} });
    expect(body.status, JSON.stringify(body.body)).toBe(400);
    expect(body.type).toContain('application/problem+json');
    expect(body.body.errors.map((e: { path: string }) => e.path)).toContain('version');
    const path = await call('GET', '/v1/templates/welcome/versions/87259864845');
    expect(path.status, JSON.stringify(path.body)).toBe(400);
    // The largest int4 passes the schema and is simply not there; version 1 is.
    expect((await call('POST', '/v1/templates/welcome/preview', { version: 2_147_483_647, data: {} })).status).toBe(404);
    expect((await call('POST', '/v1/templates/welcome/preview', { version: 1, data: {} })).status).toBe(200);
  });

  it('maps what the driver (through drizzle) raises for a class-22 refusal to a 400 problem, and nothing else', async () => {
    // A cast truncates a long string; storing it in a shorter column does not.
    await db.db.execute(sql`create table if not exists refusal_probe (v varchar(3))`);
    const cases: Array<[ReturnType<typeof sql>, string]> = [
      [sql`select ${'87259864845'}::int4`, '22003'],
      [sql`select ${'seven'}::int4`, '22P02'],
      [sql`insert into refusal_probe (v) values (${'abcdef'})`, '22001'],
      [sql`select ${'a\u0000b'}::text`, '22021'],
      [sql`select ${'2025-13-45'}::timestamptz`, '22008'],
    ];
    for (const [query, sqlstate] of cases) {
      const err = await refusal(db, query);
      const found = dataExceptionOf(err);
      expect(found?.sqlstate, String(err)).toBe(sqlstate);
      const problem = refusedValue(found!);
      expect(problem.status).toBe(400);
      expect(problem.detail).toContain(`SQLSTATE ${sqlstate}`);
      expect(problem.errors).toEqual([{ path: '(request)', message: expect.stringContaining(sqlstate) }]);
    }
    // Not the client's value: a query the server got wrong (42601 syntax error, 42P01 no table).
    expect(dataExceptionOf(await refusal(db, sql`selec 1`))).toBeUndefined();
    expect(dataExceptionOf(await refusal(db, sql`select * from no_such_table`))).toBeUndefined();
    expect(dataExceptionOf(new Error('plain'))).toBeUndefined();
  });

  it('answers a route whose query the database refuses with that 400 problem from onError, not a 500', async () => {
    // A route outside the schemas' reach, added to a real app before it serves: the one onError maps it.
    const app = createApp(offlineAppDeps(db.db, connection, { adminToken: ADMIN }), { log: () => {} });
    app.get('/probe/int4/:value', async (c) => {
      await db.db.execute(sql`select ${c.req.param('value')}::int4`);
      return c.text('stored');
    });
    const res = await app.request('/probe/int4/87259864845');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { status: number; detail: string; errors: { path: string }[] };
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request', errors: [{ path: '(request)' }] });
    expect(problem.detail).toContain('SQLSTATE 22003');
    expect((await app.request('/probe/int4/7')).status).toBe(200);
  });
});
