// The inbox's SSE streams through app.request(), on PGlite and (when DATABASE_URL is set)
// PostgreSQL: woken by the database's LISTEN/NOTIFY when the in-app channel writes a row (the
// safety poll is set far beyond the test's timeout, so an arrival can only come from a
// notification), capped per tenant and per recipient with 429, and every ending frees its slot.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInappSender } from '../activities/channels/inapp.js';
import { notifyInbox } from '../db/inbox-notify.js';
import { inboxMessages } from '../db/schema.js';
import { CHANNELS } from '../domain/types.js';
import { sendRequest } from '../test/fakes/send-request.js';
import { openTestDatabase, testDatabaseKinds } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp, type AppDeps } from './app.js';
import { createInboxStreams, type InboxStreams } from './inbox-streams.js';

const ADMIN = 'admin-secret';
/** Far longer than any test here runs: a stream that sees a new row was woken by a notification. */
const NEVER_MS = 10 * 60_000;

describe.each(testDatabaseKinds)('inbox streams on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let connection: Connection;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    // A lazy connection to nowhere: nothing here starts a workflow.
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  /** An app whose streams listen on the test database, with its own caps. */
  async function api(caps: { perTenant?: number; perRecipient?: number } = {}) {
    const streams = createInboxStreams({ listen: db.listen, safetyPollMs: NEVER_MS, pollMs: NEVER_MS, ...caps });
    const app = createApp(
      {
        db: db.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: ADMIN,
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        inboxStreams: streams,
      },
      { log: () => {} },
    );
    const res = await app.request('/v1/admin/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'streams' }),
    });
    const { id: tenantId, apiKey } = (await res.json()) as { id: string; apiKey: string };
    const open = (rid: string) => app.request(`/v1/recipients/${rid}/inbox/stream`, { headers: { authorization: `Bearer ${apiKey}` } });
    return { app, streams, tenantId, open };
  }

  /** Reads a stream's events as text, up to a pattern. */
  function reader(res: Response) {
    const r = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    return {
      async until(pattern: RegExp) {
        while (!pattern.test(text)) {
          const { value, done } = await r.read();
          if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
          text += decoder.decode(value);
        }
        return text;
      },
      /** Resolves true once the server ends the stream. */
      async ended() {
        for (;;) if ((await r.read()).done) return true;
      },
      cancel: () => r.cancel(),
    };
  }

  /** What the in-app channel writes for a notification to `rid` (the real writer, and its NOTIFY). */
  const deliver = (tenantId: string, rid: string, n: string) =>
    createInappSender(db.db).send(
      sendRequest({
        notificationId: `ntf_${kind}_${n}`,
        tenant: { ...sendRequest().tenant, id: tenantId },
        recipient: { ...sendRequest().recipient, id: rid },
        content: { inapp: { title: `Hello ${n}`, body: 'body' } },
      }),
    );

  it('a new inbox row reaches an open stream by notification, the safety poll set beyond the test', async () => {
    const { streams, tenantId, open } = await api();
    const res = await open('ann');
    expect(res.status).toBe(200);
    const ann = reader(res);
    await ann.until(/event: ready\n/);
    expect(streams.count(tenantId)).toBe(1);

    await deliver(tenantId, 'bob', 'other'); // another recipient's row wakes no one here
    await deliver(tenantId, 'ann', 'first');
    const text = await ann.until(/event: message\n(.+\n)*\n/);
    expect(text).toContain(`id: msg_ntf_${kind}_first`);
    expect(text).not.toContain('other');
    await deliver(tenantId, 'ann', 'second');
    expect(await ann.until(/Hello second/)).toContain(`id: msg_ntf_${kind}_second`);

    await ann.cancel();
    expect(streams.count(tenantId)).toBe(0);
    await streams.close();
  });

  it('rows written in a transaction, as a broadcast batch writes them, reach the stream at commit', async () => {
    const { streams, tenantId, open } = await api();
    const ann = reader(await open('ann'));
    await ann.until(/event: ready\n/);
    await db.db.transaction(async (tx) => {
      await tx.insert(inboxMessages).values(
        ['ann', 'bob'].map((rid) => ({ id: `msg_tx_${kind}_${rid}`, tenantId, recipientId: rid, notificationId: `ntf_tx_${kind}_${rid}`, title: `In a batch for ${rid}`, body: 'b' })),
      );
      await notifyInbox(tx, tenantId, ['ann', 'bob']);
    });
    expect(await ann.until(/In a batch for ann/)).toContain(`id: msg_tx_${kind}_ann`);
    await ann.cancel();
    await streams.close();
  });

  it('caps streams per recipient and per tenant with 429, and a closed stream frees its slot', async () => {
    const { streams, tenantId, open } = await api({ perTenant: 3, perRecipient: 2 });
    const a1 = reader(await open('ann'));
    const a2 = reader(await open('ann'));
    await Promise.all([a1.until(/event: ready/), a2.until(/event: ready/)]);

    const third = await open('ann');
    expect(third.status).toBe(429);
    expect(third.headers.get('content-type')).toContain('application/problem+json');
    expect(third.headers.get('retry-after')).toBe('5');
    expect(((await third.json()) as { detail: string }).detail).toMatch(/recipient's inbox has 2 streams open/);

    const b1 = reader(await open('bob'));
    await b1.until(/event: ready/);
    const overTenant = await open('carol');
    expect(overTenant.status).toBe(429);
    expect(((await overTenant.json()) as { detail: string }).detail).toMatch(/tenant has 3 inbox streams open/);
    expect(streams.count(tenantId)).toBe(3);

    // The client going away frees the slot: ann may open again, and the freed one still streams.
    await a1.cancel();
    expect(streams.count(tenantId)).toBe(2);
    const again = await open('ann');
    expect(again.status).toBe(200);
    const a3 = reader(again);
    await a3.until(/event: ready/);
    await deliver(tenantId, 'ann', 'capped');
    await a3.until(/Hello capped/);
    await a2.until(/Hello capped/);

    // The server closing ends every stream and frees every slot.
    await streams.close();
    expect(await Promise.all([a2.ended(), a3.ended(), b1.ended()])).toEqual([true, true, true]);
    expect(streams.count()).toBe(0);
  });

  // A database of its own to lose (opening and migrating a PGlite takes a while on a busy machine).
  it('a stream whose database fails ends and frees its slot', { timeout: 120_000 }, async () => {
    const failing = await openTestDatabase(kind);
    // No listener, polling often: the database goes away, and the stream's next look fails.
    const streams = createInboxStreams({ pollMs: 50 });
    const app = createApp(
      {
        db: failing.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: ADMIN,
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        inboxStreams: streams,
      },
      { log: () => {} },
    );
    const t = (await (
      await app.request('/v1/admin/tenants', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: '{"name":"f"}' })
    ).json()) as { id: string; apiKey: string };
    const res = await app.request('/v1/recipients/ann/inbox/stream', { headers: { authorization: `Bearer ${t.apiKey}` } });
    const s = reader(res);
    await s.until(/event: ready/);
    expect(streams.count(t.id)).toBe(1);
    await failing.close();
    expect(await s.ended()).toBe(true);
    expect(streams.count(t.id)).toBe(0);
    await streams.close();
  });
});

/** Guards for the hub alone (no database): the caps count per tenant and per recipient. */
describe('inbox stream slots', () => {
  let streams: InboxStreams;
  beforeAll(() => {
    streams = createInboxStreams({ perTenant: 2, perRecipient: 1 });
  });
  afterAll(() => streams.close());

  it('counts and frees slots, closing twice frees once', () => {
    const a = streams.open('t1', 'ann');
    expect(() => streams.open('t1', 'ann')).toThrow(/1 streams open/);
    const b = streams.open('t1', 'bob');
    expect(() => streams.open('t1', 'carol')).toThrow(/2 inbox streams open/);
    expect(streams.open('t2', 'ann').ended).toBe(false); // another tenant has its own count
    a.close();
    a.close();
    expect(streams.count('t1')).toBe(1);
    expect(a.ended).toBe(true);
    b.close();
    expect(streams.count('t1')).toBe(0);
  });
});
