// The database layer on PGlite and, when DATABASE_URL is set (CI), on a real PostgreSQL,
// with the committed migrations applied the way production applies them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, testDatabaseKinds } from './support.js';
import { createActivities } from '../activities/index.js';
import { createInappSender } from '../activities/channels/inapp.js';
import { openDatabase, type Database } from '../db/client.js';
import * as s from '../db/schema.js';

describe.each(testDatabaseKinds)('database on %s', (kind) => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('applies the migrations idempotently', async () => {
    await database.migrate();
    const tables = await database.db.execute<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    const names = ((tables as any).rows ?? tables).map((r: any) => r.table_name);
    expect(names).toEqual(expect.arrayContaining(['tenants', 'api_keys', 'recipients', 'templates', 'template_versions', 'notifications', 'deliveries', 'delivery_attempts', 'notification_events', 'inbox_messages', 'idempotency_keys', 'escalation_policies', 'incidents', 'incident_events']));
  });

  it('round-trips preferences as JSON and enforces one inbox message per notification', async () => {
    const { db } = database;
    await db.insert(s.tenants).values({ id: 't1', name: 'T', webhookSecret: 'w' });
    await db.insert(s.recipients).values({ tenantId: 't1', id: 'r1', preferences: { channels: { sms: false }, quietHours: { start: '22:00', end: '07:00' } } });
    const [r] = await db.select().from(s.recipients).where(eq(s.recipients.id, 'r1'));
    expect(r.preferences).toEqual({ channels: { sms: false }, quietHours: { start: '22:00', end: '07:00' } });
    expect(r.locale).toBe('en');
    expect(r.timezone).toBe('UTC');

    await db.insert(s.notifications).values({ id: 'n1', tenantId: 't1', recipientId: 'r1', templateKey: 'k', templateVersion: 1, priority: 'normal', strategy: 'all', channels: ['inapp'], data: {}, status: 'accepted', workflowId: 'w' });
    await db.insert(s.deliveries).values({ id: 'n1.inapp', notificationId: 'n1', position: 0, channel: 'inapp', status: 'pending' });
    const sender = createInappSender(db);
    const req = {
      deliveryId: 'n1.inapp',
      notificationId: 'n1',
      tenant: { id: 't1', webhookSecret: 'w' },
      recipient: { id: 'r1', email: null, phone: null, slack: null, webhookUrl: null, pagerRoutingKey: null, whatsapp: null, telegramChatId: null, locale: 'en', timezone: 'UTC', name: null },
      address: 'r1',
      template: { key: 'k', version: 1 },
      content: { inapp: { title: 'T', body: 'B' } },
      data: {},
      category: null,
      signal: new AbortController().signal,
    };
    // A retried activity must not create a second message.
    await sender.send(req);
    await sender.send(req);
    expect(await db.select().from(s.inboxMessages)).toHaveLength(1);
  });

  it('records status history and never moves a delivered delivery back', async () => {
    const { db } = database;
    const acts = createActivities({ db, senders: {} });
    await db.update(s.deliveries).set({ status: 'delivered' }).where(eq(s.deliveries.id, 'n1.inapp'));
    await acts.recordStatus({ tenantId: 't1', notificationId: 'n1', status: 'sent', deliveries: [{ channel: 'inapp', status: 'sent', provider: 'tocsin', providerMessageId: 'x' }] });
    const [d] = await db.select().from(s.deliveries).where(eq(s.deliveries.id, 'n1.inapp'));
    expect(d.status).toBe('delivered');
    const events = await db.select().from(s.notificationEvents).where(eq(s.notificationEvents.notificationId, 'n1'));
    expect(events.map((e) => e.status)).toEqual(['sent']);
    const [n] = await db.select().from(s.notifications).where(eq(s.notifications.id, 'n1'));
    expect(n.status).toBe('sent');

    // A receipt said the message failed: a late record of the send does not undo that.
    await db.update(s.deliveries).set({ status: 'failed' }).where(eq(s.deliveries.id, 'n1.inapp'));
    await acts.recordDelivery({ notificationId: 'n1', delivery: { channel: 'inapp', status: 'sent' } });
    const [after] = await db.select().from(s.deliveries).where(eq(s.deliveries.id, 'n1.inapp'));
    expect(after.status).toBe('failed');
  });

  it('fails a record the database refuses for good (database_rejected), and leaves it unwritten', async () => {
    const { db } = database;
    const acts = createActivities({ db, senders: {} });
    // PostgreSQL refuses NUL in text: writing it again would fail again, so it is not retried.
    const refused = await acts
      .recordStatus({ tenantId: 't1', notificationId: 'n1', status: 'failed', reason: 'bad\u0000reason' })
      .then(() => null, (err: unknown) => err);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({ type: 'database_rejected', nonRetryable: true });
    const [n] = await db.select().from(s.notifications).where(eq(s.notifications.id, 'n1'));
    expect(n.status).toBe('sent');
  });
});

describe.each(testDatabaseKinds.filter((k) => k === 'postgres'))('statements on %s', () => {
  // A fresh database, reached over one connection (so the statements a query prepared are the
  // ones this session lists), its URL changed by `edit`; answers the statements left prepared.
  async function preparedAfterAQuery(edit: (url: URL) => void = () => {}): Promise<string[]> {
    const fresh = await openTestDatabase('postgres');
    const url = new URL(fresh.url!);
    edit(url);
    const database = await openDatabase({ url: url.toString(), max: 1 });
    try {
      await database.db.select().from(s.tenants).where(eq(s.tenants.id, 'nobody'));
      const rows = await database.db.execute<{ statement: string }>(sql`select statement from pg_prepared_statements`);
      return ((rows as any).rows ?? rows).map((r: { statement: string }) => r.statement);
    } finally {
      await database.close();
      await fresh.close();
    }
  }

  it('are prepared: parsed once per connection and run in one round trip', async () => {
    const statements = await preparedAfterAQuery();
    expect(statements.some((q) => q.includes('from "tenants"'))).toBe(true);
  });

  it('are not prepared with ?prepare=false in DATABASE_URL (a pooler in transaction mode)', async () => {
    expect(await preparedAfterAQuery((url) => url.searchParams.set('prepare', 'false'))).toEqual([]);
  });
});

describe('database errors that are not the data', () => {
  it('stay retryable: a closed connection is not classified as a refusal', async () => {
    const database = await openTestDatabase('pglite');
    const acts = createActivities({ db: database.db, senders: {} });
    await database.close();
    const err = await acts.recordStatus({ tenantId: 't1', notificationId: 'n1', status: 'sent' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
  });
});

describe('embedded PGlite in DATA_DIR', () => {
  it('keeps its data across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tocsin-pglite-'));
    try {
      const first = await openDatabase({ dataDir: dir });
      await first.migrate();
      await first.db.insert(s.tenants).values({ id: 'kept', name: 'Kept', webhookSecret: 'w' });
      await first.close();
      const second = await openDatabase({ dataDir: dir });
      await second.migrate();
      expect((await second.db.select().from(s.tenants)).map((t) => t.id)).toEqual(['kept']);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
