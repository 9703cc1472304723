// What providers and receivers send back is cleaned before it is stored: a NUL or an unpaired
// surrogate in an error body, a message id or a receipt never makes a record fail (issue 10).
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyReceipt } from '../usecases/receipts.js';
import type { Database } from '../db/client.js';
import * as s from '../db/schema.js';
import { unstorable } from '../domain/text.js';
import { openTestDatabase, testDatabaseKinds } from './support.js';
import { describeError, httpFailure, permanent } from '../activities/errors.js';
import { createActivities } from '../activities/index.js';

const HOSTILE = `bad\u0000request \ud800 ${'x'.repeat(5000)}`;

describe('provider text in failures', () => {
  it('httpFailure, permanent and describeError quote provider text cleaned and capped', () => {
    for (const failure of [httpFailure('webhook', 400, HOSTILE), httpFailure('webhook', 503, HOSTILE), permanent('provider_rejected' as never, HOSTILE)]) {
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(unstorable(failure.message)).toBeNull();
      expect(failure.message.length).toBeLessThanOrEqual(1000);
      expect(failure.message).toContain('badrequest \uFFFD');
    }
    const described = describeError(new Error(HOSTILE));
    expect(unstorable(described.message)).toBeNull();
    expect(described.message.length).toBeLessThanOrEqual(1000);
  });
});

describe.each(testDatabaseKinds)('records of provider answers on %s', (kind) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(kind);
    await db.db.insert(s.tenants).values({ id: 'ten_text', name: 'Acme', webhookSecret: 'w' });
  });
  afterAll(async () => {
    await db.close();
  });

  async function delivery(n: number, channel: 'webhook' | 'sms') {
    const id = `ntf_text_${n}`;
    await db.db.insert(s.notifications).values({
      id,
      tenantId: 'ten_text',
      recipientId: 'u1',
      templateKey: 't',
      templateVersion: 1,
      priority: 'normal',
      strategy: 'all',
      channels: [channel],
      data: {},
      status: 'sending',
      workflowId: `notification:ten_text:${id}`,
    });
    await db.db.insert(s.deliveries).values({ id: `${id}.${channel}`, notificationId: id, position: 0, channel, status: 'sending' });
    return { notificationId: id, deliveryId: `${id}.${channel}` };
  }
  const row = async (id: string) => (await db.db.select().from(s.deliveries).where(eq(s.deliveries.id, id)))[0];

  it('a delivery failure quoting a receiver’s NUL-laden body is recorded, cleaned', async () => {
    const { notificationId, deliveryId } = await delivery(1, 'webhook');
    // What the workflow hands the record activity: the failure's type and message as thrown.
    await createActivities({ db: db.db, senders: {} }).recordStatus({
      tenantId: 'ten_text',
      notificationId,
      status: 'failed',
      deliveries: [{ channel: 'webhook', status: 'failed', error: { code: 'provider\u0000rejected', message: `webhook answered 400: ${HOSTILE}` }, attempt: 1 }],
    });
    const d = await row(deliveryId);
    expect(d.status).toBe('failed');
    expect(d.errorCode).toBe('providerrejected');
    expect(d.errorMessage).toMatch(/^webhook answered 400: badrequest \uFFFD x+…$/);
    expect(d.errorMessage!.length).toBeLessThanOrEqual(1000);
  });

  it('a provider message id with a NUL is recorded, cleaned', async () => {
    const { notificationId, deliveryId } = await delivery(2, 'sms');
    await createActivities({ db: db.db, senders: {} }).recordDelivery({
      notificationId,
      delivery: { channel: 'sms', status: 'sent', provider: 'twilio', providerMessageId: 'SM\u0000\udfff1', attempt: 1 },
    });
    expect(await row(deliveryId)).toMatchObject({ status: 'sent', providerMessageId: 'SM\uFFFD1' });
  });

  it('a receipt whose ids and bounce message hold NUL and unpaired surrogates is applied, cleaned', async () => {
    const { notificationId, deliveryId } = await delivery(3, 'sms');
    await createActivities({ db: db.db, senders: {} }).recordDelivery({
      notificationId,
      delivery: { channel: 'sms', status: 'sent', provider: 'twilio', providerMessageId: 'SMabc', attempt: 1 },
    });
    const outcome = await applyReceipt(db.db, {
      id: 'twilio:SMabc\u0000:failed',
      provider: 'twilio',
      providerMessageId: 'SMabc',
      event: 'fail\u0000ed',
      change: { status: 'failed', error: { code: '30003\ud800', message: HOSTILE } },
    });
    expect(outcome).toBe('applied');
    const d = await row(deliveryId);
    expect(d).toMatchObject({ status: 'failed', errorCode: '30003\uFFFD' });
    expect(unstorable(d.errorMessage!)).toBeNull();
    const [receipt] = await db.db.select().from(s.receipts).where(eq(s.receipts.deliveryId, deliveryId));
    expect(receipt).toMatchObject({ id: 'twilio:SMabc:failed', status: 'failed' });
  });
});
