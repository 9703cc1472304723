// Slack interactivity through app.request(): every request's signature is checked by
// @slack/bolt's verifier before anything is read; requests are signed here as Slack signs them.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACK_ACTION_ID } from '../../domain/incidents.js';
import { CHANNELS } from '../../domain/types.js';
import { slackSignedHeaders } from '../../test/fakes/receipts.js';
import { openTestDatabase } from '../../test/support.js';
import { apiConnectionOptions } from '../temporal.js';
import { createApp } from '../app.js';
import type { Database } from '../../db/client.js';

const SIGNING_SECRET = 'slack-signing-secret-0123456789';
const NOW = Date.parse('2025-06-02T12:00:00Z');
const nowSeconds = Math.floor(NOW / 1000);

/** A press of the Acknowledge button of an incident that does not exist: verified, then nothing to do. */
const press = `payload=${encodeURIComponent(
  JSON.stringify({ type: 'block_actions', user: { id: 'U024BE7LH', username: 'ann' }, actions: [{ action_id: ACK_ACTION_ID, value: 'inc_unknown' }] }),
)}`;

describe('Slack interactivity signatures', () => {
  let db: Database;
  let connection: Connection;

  beforeAll(async () => {
    db = await openTestDatabase();
    // Nothing here reaches Temporal: a lazy connection to nowhere would fail loudly if it did.
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  const appWith = (slackSigningSecret: string | undefined) =>
    createApp(
      {
        db: db.db,
        temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
        adminToken: 'admin',
        channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as Record<(typeof CHANNELS)[number], 'configured'>,
        retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
        secrets: { slackSigningSecret },
        now: () => NOW,
      },
      { log: () => {} },
    );
  const post = (app: ReturnType<typeof appWith>, headers: Record<string, string>, body = press) =>
    app.request('/v1/slack/interactivity', { method: 'POST', headers, body });

  it('accepts a request signed with the signing secret within five minutes', async () => {
    const app = appWith(SIGNING_SECRET);
    expect((await post(app, slackSignedHeaders(press, SIGNING_SECRET, nowSeconds))).status).toBe(200);
    expect((await post(app, slackSignedHeaders(press, SIGNING_SECRET, nowSeconds - 4 * 60))).status).toBe(200);
    // Past the signature, the body is read: a signed body without a JSON payload is a 400.
    const notJson = 'payload=%7Bnot-json';
    const res = await post(app, slackSignedHeaders(notJson, SIGNING_SECRET, nowSeconds), notJson);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('refuses a bad, stale or missing signature with a 401 problem', async () => {
    const app = appWith(SIGNING_SECRET);
    const good = slackSignedHeaders(press, SIGNING_SECRET, nowSeconds);
    const refused = [
      await post(app, slackSignedHeaders(press, 'not-the-signing-secret', nowSeconds)),
      // Stale: a valid signature more than five minutes old (a replay).
      await post(app, slackSignedHeaders(press, SIGNING_SECRET, nowSeconds - 6 * 60)),
      // Signed for another body, or for another timestamp than the header's.
      await post(app, slackSignedHeaders(press.replace('inc_unknown', 'inc_other'), SIGNING_SECRET, nowSeconds)),
      await post(app, { ...good, 'x-slack-request-timestamp': String(nowSeconds - 1) }),
      await post(app, { ...good, 'x-slack-request-timestamp': 'soon' }),
      await post(app, { ...good, 'x-slack-signature': good['x-slack-signature'].replace('v0=', 'v1=') }),
      await post(app, { 'content-type': 'application/x-www-form-urlencoded' }),
      // No signing secret configured: nothing verifies.
      await post(appWith(undefined), good),
    ];
    for (const res of refused) {
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    }
  });
});
