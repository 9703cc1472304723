// Migration 0002 rewrites webhook secrets issued before Standard Webhooks (`whsec_` + base64url
// text, used as a key by its own bytes) into Standard Webhooks secrets of the same key, so a
// receiver that kept its old secret still verifies (as a raw key). The migrator has already
// run it on an empty table here; the test runs its statement again over secrets of the old
// shape, on PGlite and (with DATABASE_URL) on PostgreSQL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../activities/channels/webhook.js';
import { openTestDatabase, testDatabaseKinds } from './support.js';
import { migrationsFolder, type Database } from '../db/client.js';
import * as s from '../db/schema.js';

const migration = readFileSync(join(migrationsFolder, '0002_standard_webhooks_secrets.sql'), 'utf8');

describe.each(testDatabaseKinds)('webhook secrets before Standard Webhooks, on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('become whsec_ + base64 of their own bytes, and sign as the old secret used as a raw key', async () => {
    const { db } = database;
    const old = {
      ten_issued: `whsec_${randomBytes(24).toString('base64url')}`, // what POST /v1/admin/tenants issued
      ten_short: 'w',
      ten_long: `whsec_${'x'.repeat(120)}`, // longer than PostgreSQL's 76-character base64 lines
    };
    await db.insert(s.tenants).values(Object.entries(old).map(([id, webhookSecret]) => ({ id, name: id, webhookSecret })));
    await db.execute(sql.raw(migration));

    const rows = await db.select({ id: s.tenants.id, webhookSecret: s.tenants.webhookSecret }).from(s.tenants);
    const now = new Date();
    const body = '{"id":"dlv_1","channel":"webhook"}';
    for (const [id, secret] of Object.entries(old)) {
      const stored = rows.find((r) => r.id === id)!.webhookSecret;
      expect(stored).toBe(`whsec_${Buffer.from(secret, 'utf8').toString('base64')}`);
      const headers = signWebhook(stored, 'dlv_1', body, now);
      // A receiver with the old secret, as a raw key; and one with the rewritten secret.
      expect(new Webhook(secret, { format: 'raw' }).verify(body, headers)).toEqual(JSON.parse(body));
      expect(new Webhook(stored).verify(body, headers)).toEqual(JSON.parse(body));
    }
  });
});
