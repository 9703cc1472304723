// The `sending` record of a run whose delivery woke it (activities/index.ts sendingRecord): folded
// into the outcome's statement when the attempt answered first, else written on its own, guarded so
// that a late, repeated or out-of-order write moves nothing that has moved on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../db/client.js';
import { recordOutcome, type DeliveryRecord } from '../db/deliveries.js';
import { recordAccepted } from '../db/notifications.js';
import { deliveries, notificationEvents, notifications } from '../db/schema.js';
import type { NotificationInput } from '../domain/types.js';
import { createTenant } from '../usecases/tenants.js';

describe('the sending record of a run its delivery woke', () => {
  let dir: string;
  let database: Database;
  let tenantId: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tocsin-sending-record-'));
    database = await openDatabase({ dataDir: dir });
    await database.migrate();
    tenantId = (await createTenant(database.db, { name: 's', criticalRatePerMinute: null })).id;
  });
  afterAll(async () => {
    await database?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  const accepted = async (id: string) => {
    const input: NotificationInput = { tenantId, notificationId: id, recipientId: 'r1', template: { key: 'k', version: 1 }, data: {}, channels: ['webhook'], strategy: 'all', category: null, priority: 'normal', sendAt: null, retry: { maximumAttempts: 3, initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, expirationSeconds: 60 }, throttle: null };
    await recordAccepted(database.db, input, `w-${id}`);
  };
  const sending: DeliveryRecord[] = [{ channel: 'webhook', status: 'sending' }];
  const sent: DeliveryRecord[] = [{ channel: 'webhook', status: 'sent', provider: 'webhook', providerMessageId: 'm1', error: null, attempt: 1 }];
  const sendingWrite = (id: string) => recordOutcome(database.db, id, sending, { status: 'sending', reason: null, releaseAt: null }, { onlyFromAccepted: true });
  const sentWrite = (id: string, foldSendingMsAgo?: number) =>
    recordOutcome(database.db, id, sent, { status: 'sent', reason: null, releaseAt: null }, foldSendingMsAgo === undefined ? {} : { foldSendingMsAgo });
  const state = async (id: string) => {
    const [n] = await database.db.select().from(notifications).where(eq(notifications.id, id));
    const [d] = await database.db.select().from(deliveries).where(eq(deliveries.notificationId, id));
    const events = await database.db.select().from(notificationEvents).where(eq(notificationEvents.notificationId, id)).orderBy(asc(notificationEvents.id));
    return { status: n.status, delivery: d.status, events: events.map((e) => e.status), at: events.map((e) => new Date(e.at).getTime()) };
  };

  it('folds `sending` into the outcome of an accepted run: both events, the sending one dated when the attempt began', async () => {
    await accepted('ntf_fold');
    await sentWrite('ntf_fold', 60_000);
    const s = await state('ntf_fold');
    expect(s).toMatchObject({ status: 'sent', delivery: 'sent', events: ['accepted', 'sending', 'sent'] });
    expect(s.at[2] - s.at[1]).toBeGreaterThanOrEqual(59_000);
  });

  it('folds nothing into the outcome of a run already recorded sending', async () => {
    await accepted('ntf_written');
    await sendingWrite('ntf_written');
    expect(await state('ntf_written')).toMatchObject({ status: 'sending', delivery: 'sending', events: ['accepted', 'sending'] });
    await sentWrite('ntf_written', 10);
    expect(await state('ntf_written')).toMatchObject({ status: 'sent', delivery: 'sent', events: ['accepted', 'sending', 'sent'] });
  });

  it('a repeated or late sending write changes nothing that moved on', async () => {
    await accepted('ntf_late');
    await sendingWrite('ntf_late');
    await sendingWrite('ntf_late');
    expect(await state('ntf_late')).toMatchObject({ status: 'sending', delivery: 'sending', events: ['accepted', 'sending'] });
    await sentWrite('ntf_late');
    await sendingWrite('ntf_late');
    expect(await state('ntf_late')).toMatchObject({ status: 'sent', delivery: 'sent', events: ['accepted', 'sending', 'sent'] });
  });
});
