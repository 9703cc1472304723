// The logger: JSON lines with secrets redacted (by field name and by shape in free text), and
// a request id on every line of a request, echoed in X-Request-Id.
import { Writable } from 'node:stream';
import { Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.js';
import type { Database } from '../db/client.js';
import { offlineAppDeps, openTestDatabase } from './support.js';
import { apiConnectionOptions } from '../api/temporal.js';
import { activityLogContext, createLogger, scrubSecrets, temporalLogger } from '../telemetry/log.js';

/** A logger at `level` whose lines land, parsed, in `lines`. */
function capture(level: 'info' | 'debug' = 'info') {
  const lines: Array<Record<string, any>> = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger({ level, destination }) };
}

describe('log lines', () => {
  it('are JSON with a level, a time and the service, and honour the level', () => {
    const { lines, logger } = capture('info');
    logger.debug('hidden');
    logger.info({ n: 1 }, 'shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'shown', n: 1, service: 'tocsin' });
    expect(typeof lines[0].time).toBe('number');
  });

  it('redact secrets by field name, nested or not, and by their shape in messages and errors', () => {
    const { lines, logger } = capture();
    const apiKey = 'tsk_abcdefghijkl_s3cr3tS3cr3t';
    logger.info(
      {
        req: { headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } },
        apiKey,
        tenant: { webhookSecret: 'whsec_c2VjcmV0', name: 'Acme' },
        slack: { botToken: 'xoxb-1-2-3' },
      },
      `calling with Bearer ${apiKey} and whsec_c2VjcmV0`,
    );
    logger.error({ err: new Error(`provider refused key re_12345678abcdef (admin adm_tok3n)`) }, 'send failed');
    logger.warn('signing with whsec_ab+c/d=e failed');
    const text = JSON.stringify(lines);
    for (const secret of [apiKey, 's3cr3tS3cr3t', 'whsec_c2VjcmV0', 'xoxb-1-2-3', 're_12345678abcdef', 'adm_tok3n', 'ab+c', 'c/d=e']) expect(text).not.toContain(secret);
    expect(lines[0].req.headers).toEqual({ authorization: '[REDACTED]', 'content-type': 'application/json' });
    expect(lines[0]).toMatchObject({ apiKey: '[REDACTED]', tenant: { webhookSecret: '[REDACTED]', name: 'Acme' }, slack: { botToken: '[REDACTED]' } });
    expect(lines[0].msg).toBe('calling with Bearer [REDACTED] and whsec_[REDACTED]');
    expect(lines[1].err).toMatchObject({ type: 'Error', message: 'provider refused key re_[REDACTED] (admin adm_[REDACTED])' });
    expect(lines[2].msg).toBe('signing with whsec_[REDACTED] failed');
    expect(scrubSecrets('no secret here: order 7')).toBe('no secret here: order 7');
  });

  it('carry the Temporal SDK metadata (workflow and activity ids) of SDK lines', () => {
    const { lines, logger } = capture('debug');
    const sdk = temporalLogger(logger);
    sdk.info('Activity completed', { workflowId: 'notification:t:n', runId: 'r1', activityId: '3', activityType: 'deliverWebhook', sdkComponent: 'activity' });
    sdk.trace('too fine');
    sdk.log('WARN', 'Workflow task failed', { workflowId: 'notification:t:n' });
    sdk.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING' });
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, component: 'temporal', msg: 'Activity completed', workflowId: 'notification:t:n', runId: 'r1', activityId: '3', activityType: 'deliverWebhook' }),
      expect.objectContaining({ level: 40, component: 'temporal', msg: 'Workflow task failed', workflowId: 'notification:t:n' }),
      // The SDK's own info chatter is debug.
      expect.objectContaining({ level: 20, msg: 'Worker state changed', state: 'RUNNING' }),
    ]);
  });
});

describe('activity lines', () => {
  it('carry the workflow and activity ids when our own code logs inside an activity', async () => {
    const { lines, logger } = capture();
    const env = new MockActivityEnvironment(
      { activityId: '4', activityType: 'deliverWebhook', workflowType: 'notificationWorkflow', workflowExecution: { workflowId: 'notification:t:n', runId: 'run-1' }, attempt: 2 },
      { interceptors: [activityLogContext] },
    );
    await env.run(async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.warn('webhook address refused');
    });
    logger.info('outside');
    expect(lines[0]).toMatchObject({ msg: 'webhook address refused', workflowId: 'notification:t:n', workflowRunId: 'run-1', workflowType: 'notificationWorkflow', activityId: '4', activityType: 'deliverWebhook', attempt: 2 });
    expect(lines[1].workflowId).toBeUndefined();
  });
});

describe('request ids', () => {
  let db: Database;
  let connection: Connection;
  const { lines, logger } = capture();
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    db = await openTestDatabase();
    // A Temporal that never answers: a notification's start fails with 503, which is logged.
    connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
    app = createApp(
      offlineAppDeps(db.db, connection),
      { logger },
    );
  });
  afterAll(async () => {
    await connection.close().catch(() => {});
    await db.close();
  });

  it('keeps an incoming X-Request-Id, echoes it, and puts it on the request line, without the query', async () => {
    const res = await app.request('/healthz?token=adm_secret', { headers: { 'x-request-id': 'req-abc-123' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    const line = lines.find((l) => l.reqId === 'req-abc-123');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', path: '/healthz', status: 200 });
    expect(JSON.stringify(lines)).not.toContain('adm_secret');
  });

  it('makes one up when none (or an unusable one) comes, different per request', async () => {
    const a = await app.request('/healthz');
    const b = await app.request('/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    const [ida, idb] = [a.headers.get('x-request-id'), b.headers.get('x-request-id')];
    expect(ida).toMatch(/^[0-9a-f-]{36}$/);
    expect(idb).toMatch(/^[0-9a-f-]{36}$/);
    expect(ida).not.toBe(idb);
    expect(lines.filter((l) => l.reqId === ida || l.reqId === idb).map((l) => l.path)).toEqual(['/healthz', '/healthz']);
  });

  it('puts the same id on every line a request logs, its error included, and no credential', async () => {
    const admin = await app.request('/v1/admin/tenants', {
      method: 'POST',
      headers: { authorization: 'Bearer admin-secret', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Acme' }),
    });
    const { apiKey } = (await admin.json()) as { apiKey: string };
    await app.request('/v1/recipients/user-42', { method: 'PUT', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ann' }) });
    await app.request('/v1/templates', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'hello', content: { en: { inapp: { title: 'Hi', body: 'Hello' } } } }),
    });
    const res = await app.request('/v1/notifications', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-request-id': 'send-1' },
      body: JSON.stringify({ recipient: 'user-42', template: 'hello' }),
    });
    expect(res.status).toBe(503);
    const mine = lines.filter((l) => l.reqId === 'send-1');
    expect(mine.map((l) => l.level)).toEqual([50, 30]);
    expect(mine[0].msg).toMatch(/503 on POST \/v1\/notifications/);
    expect(mine[1]).toMatchObject({ msg: 'request', status: 503 });
    expect(JSON.stringify(lines)).not.toContain(apiKey);
    expect(JSON.stringify(lines)).not.toContain('admin-secret');
  });
});
