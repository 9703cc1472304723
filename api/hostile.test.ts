// What a hostile client sends, through app.request() and, for the connection-level cases, over a
// real socket: every answer is a 4xx problem, and nothing is written. No Temporal needed: every
// request here is refused before a workflow would start.
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { CHANNELS } from '../domain/types.js';
import { openTestDatabase } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp } from './app.js';

const ADMIN = 'admin-secret';
const NOW = Date.parse('2025-06-02T12:00:00Z');
let db: Database;
let app: ReturnType<typeof createApp>;
let connection: Connection;
let apiKey: string;

beforeAll(async () => {
  db = await openTestDatabase();
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  app = createApp(
    {
      db: db.db,
      temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
      adminToken: ADMIN,
      channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as any,
      retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
      now: () => NOW,
    },
    { log: () => {} },
  );
  const t = await req('POST', '/v1/admin/tenants', { token: ADMIN, raw: JSON.stringify({ name: 'Acme' }) });
  apiKey = t.body.apiKey;
  expect((await req('PUT', '/v1/recipients/u1', { raw: JSON.stringify({ email: 'ann@example.com' }) })).status).toBe(200);
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

async function req(method: string, path: string, opts: { token?: string; raw?: string; type?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? apiKey}` };
  if (opts.raw !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const res = await app.request(path, { method, headers, body: opts.raw });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : null };
}

/** A 400 problem naming `path`. */
function expectRefused(r: Awaited<ReturnType<typeof req>>, path: string | RegExp) {
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.type).toContain('application/problem+json');
  const paths = r.body.errors.map((e: { path: string }) => e.path);
  if (typeof path === 'string') expect(paths).toContain(path);
  else expect(paths.some((p: string) => path.test(p)), paths.join(', ')).toBe(true);
}

const rows = async () => ({
  recipients: (await db.db.query.recipients.findMany()).length,
  notifications: (await db.db.query.notifications.findMany()).length,
  broadcasts: (await db.db.query.broadcasts.findMany()).length,
  templates: (await db.db.query.templates.findMany()).length,
  policies: (await db.db.query.escalationPolicies.findMany()).length,
});

describe('text the database cannot hold', () => {
  it('refuses NUL and unpaired surrogates anywhere in a JSON body, naming the path, and writes nothing', async () => {
    const before = await rows();
    // Raw JSON text: the escapes reach JSON.parse exactly as a client would send them.
    const cases: Array<[string, string, string, string]> = [
      ['PUT', '/v1/recipients/u2', '{"name":"a\\u0000b"}', 'name'],
      ['PUT', '/v1/recipients/u2', '{"name":"\\ud800"}', 'name'],
      ['PUT', '/v1/recipients/u2', '{"name":"x\\udc00y"}', 'name'],
      ['PUT', '/v1/recipients/u2/preferences', '{"categories":{"a\\u0000":{"enabled":false}}}', 'categories.a\\u0000'],
      ['POST', '/v1/notifications', '{"recipient":"u1","template":"t","data":{"deep":[{"x":"\\u0000"}]}}', 'data.deep.0.x'],
      ['POST', '/v1/templates', '{"key":"t","content":{"en":{"sms":{"text":"hi \\ud83d"}}}}', 'content.en.sms.text'],
      ['PUT', '/v1/escalation-policies/p', '{"steps":[{"channel":"slack","target":"C\\u0000","ackTimeoutSeconds":60}]}', 'steps.0.target'],
      ['POST', '/v1/broadcasts', '{"all":true,"template":"t","data":{"\\udfff":1}}', 'data.\udfff'],
      ['POST', '/v1/incidents', '{"policy":"p","summary":"db \\u0000 down","severity":"critical"}', 'summary'],
    ];
    for (const [method, path, raw, field] of cases) {
      const r = await req(method, path, { raw });
      expectRefused(r, field);
      expect(r.body.errors[0].message).toMatch(/NUL|surrogate/);
    }
    // A well-formed pair is text like any other.
    expect((await req('PUT', '/v1/recipients/u3', { raw: '{"name":"\\ud83d\\ude00"}' })).body.name).toBe('😀');
    expect(await rows()).toEqual({ ...before, recipients: before.recipients + 1 });
  });

  it('refuses NUL in path and query parameters with 400, never 500', async () => {
    const before = await rows();
    for (const [method, path] of [
      ['PUT', '/v1/recipients/a%00b'],
      ['GET', '/v1/recipients/%00'],
      ['GET', '/v1/notifications/ntf_%00'],
      ['POST', '/v1/notifications/%00/cancel'],
      ['POST', '/v1/broadcasts/bc%00/cancel'],
      ['GET', '/v1/incidents/%00'],
      ['POST', '/v1/recipients/u1/inbox/msg%00/read'],
      ['GET', '/v1/templates/t%00'],
      ['PUT', '/v1/schedules/s%00'],
      ['POST', '/v1/admin/tenants/ten%00/api-keys'],
    ]) {
      const r = await req(method, path, { token: path.includes('/admin/') ? ADMIN : undefined, raw: method === 'PUT' ? '{}' : undefined });
      expectRefused(r, /^path\.\d+$/);
    }
    expectRefused(await req('GET', '/v1/recipients/%E0%A4'), /^path\.\d+$/);
    expectRefused(await req('GET', '/v1/notifications?recipient=u%001'), 'query.recipient');
    expectRefused(await req('GET', '/v1/recipients/u1/inbox?unread=%00'), 'query.unread');
    expect(await rows()).toEqual(before);
  });

  it('validates path ids with the same schemas as ids in bodies', async () => {
    for (const path of ['/v1/notifications/bad%20id!', '/v1/broadcasts/' + 'x'.repeat(65), '/v1/incidents/a%2Fb', '/v1/recipients/u1/inbox/%3Cscript%3E/read']) {
      const r = await req(path.endsWith('/read') ? 'POST' : 'GET', path);
      expectRefused(r, /^(param\.|path\.)/);
    }
  });
});

describe('bounds, each named in the 400', () => {
  const notification = (extra: Record<string, unknown>) => JSON.stringify({ recipient: 'u1', template: 't', ...extra });

  it('data: at most 64 KiB as JSON and 32 levels deep', async () => {
    const big = await req('POST', '/v1/notifications', { raw: notification({ data: { blob: 'x'.repeat(64 * 1024) } }) });
    expectRefused(big, 'data');
    expect(big.body.detail).toMatch(/64 KiB/);
    let deep: unknown = {};
    for (let i = 0; i < 32; i++) deep = { d: deep };
    const tooDeep = await req('POST', '/v1/notifications', { raw: notification({ data: deep }) });
    expectRefused(tooDeep, 'data');
    expect(tooDeep.body.detail).toMatch(/32 levels/);
    // 32 levels pass the bound: refused only for the unknown template, later on.
    const ok = await req('POST', '/v1/notifications', { raw: notification({ data: (deep as { d: unknown }).d }) });
    expect(ok.status).toBe(400);
    expect(ok.body.errors.map((e: { path: string }) => e.path)).toEqual(['template']);
    // The same bound for broadcasts, template previews and incident details.
    expectRefused(await req('POST', '/v1/broadcasts', { raw: JSON.stringify({ all: true, template: 't', data: deep }) }), 'data');
    expectRefused(await req('POST', '/v1/templates/t/preview', { raw: JSON.stringify({ data: deep }) }), 'data');
    expectRefused(await req('POST', '/v1/incidents', { raw: JSON.stringify({ policy: 'p', summary: 's', severity: 'critical', details: deep }) }), 'details');
    expect(await db.db.query.notifications.findMany()).toHaveLength(0);
  });

  it('a body nested 10,000 levels deep is a 400, not a 500', async () => {
    for (const raw of [
      '['.repeat(10_000) + ']'.repeat(10_000),
      notification({}).replace(/}$/, `,"data":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`),
    ]) {
      const r = await req('POST', '/v1/notifications', { raw });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].message).toMatch(/nest deeper than 64 levels/);
    }
    expect((await req('PUT', '/v1/recipients/u4', { raw: `{"name":${'['.repeat(100_000)}${']'.repeat(100_000)}}` })).status).toBe(400);
    expect(await db.db.query.notifications.findMany()).toHaveLength(0);
  });

  it('sendAt: between a day ago and a year ahead; year 0000 is a 400', async () => {
    for (const sendAt of ['0000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', new Date(NOW - 25 * 3600_000).toISOString(), new Date(NOW + 367 * 86400_000).toISOString()]) {
      const r = await req('POST', '/v1/notifications', { raw: notification({ sendAt }) });
      expectRefused(r, 'sendAt');
    }
    // Within the window the request goes on to be checked against the tenant's data.
    const inWindow = await req('POST', '/v1/notifications', { raw: notification({ sendAt: new Date(NOW + 86400_000).toISOString() }) });
    expect(inWindow.body.errors.map((e: { path: string }) => e.path)).toEqual(['template']);
  });

  it('cursors: garbage, bad base64 and forged cursors are 400s', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const cursor of ['!!', 'Zm9v', b64('0000-01-01T00:00:00.000Z|ntf_x'), b64('2025-01-01T00:00:00.000Z|ntf_\u0000'), b64('garbage|'), b64('2025-13-45T00:00:00.000Z|x'), 'a'.repeat(501)]) {
      expectRefused(await req('GET', `/v1/notifications?cursor=${encodeURIComponent(cursor)}`), 'query.cursor');
    }
    for (const cursor of ['!!', b64('12abc'), b64('1e3'), b64('-1'), b64('99999999999999999')]) {
      expectRefused(await req('GET', `/v1/recipients/u1/inbox?cursor=${encodeURIComponent(cursor)}`), 'query.cursor');
    }
    const real = b64('2025-01-01T00:00:00.000Z|ntf_0abc');
    expect((await req('GET', `/v1/notifications?cursor=${real}`)).status).toBe(200);
  });

  it('maps and lists are bounded', async () => {
    const categories = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`c${i}`, { enabled: false }]));
    expectRefused(await req('PUT', '/v1/recipients/u1/preferences', { raw: JSON.stringify({ categories }) }), 'categories');
    const content = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`en-x-p${i}`, { sms: { text: 'hi' } }]));
    expectRefused(await req('POST', '/v1/templates', { raw: JSON.stringify({ key: 'many', content }) }), 'content');
  });
});

describe('HTTP edges over a real socket', () => {
  let server: ReturnType<typeof serve>;
  let port: number;
  beforeAll(async () => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function send(agent: Agent, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const r = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers: { authorization: `Bearer ${apiKey}`, ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      // Once the server has answered, it may stop reading what is left of a refused body.
      r.on('error', (err) => (r.writableFinished ? undefined : reject(err)));
      if (body) r.end(body);
      else r.end();
    });
  }

  it('counts a body sent without a length (chunked) as it is read: 413 past 1 MiB, read as usual below it', async () => {
    const agent = new Agent({ keepAlive: false });
    try {
      const chunked = { 'content-type': 'application/json', 'transfer-encoding': 'chunked' };
      const big = Buffer.from(JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
      expect((await send(agent, 'PUT', '/v1/recipients/u6', big, chunked)).status).toBe(413);
      expect(await db.db.query.recipients.findFirst({ where: (r, { eq }) => eq(r.id, 'u6') })).toBeUndefined();
      const small = await send(agent, 'PUT', '/v1/recipients/u6', Buffer.from(JSON.stringify({ email: 'six@example.com' })), chunked);
      expect(small.status).toBe(200);
      expect(JSON.parse(small.body).email).toBe('six@example.com');
    } finally {
      agent.destroy();
    }
  });

  it('after a 413 the next request on a keep-alive client still succeeds', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = Buffer.from(JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
      const refused = await send(agent, 'PUT', '/v1/recipients/u5', big, { 'content-type': 'application/json', 'content-length': String(big.length) });
      expect(refused.status).toBe(413);
      expect(refused.headers.connection).toBe('close');
      const next = await send(agent, 'GET', '/v1/recipients/u1');
      expect(next.status).toBe(200);
      expect(JSON.parse(next.body).email).toBe('ann@example.com');
      // The same with global fetch (undici), whose pool reported "other side closed".
      const viaFetch = await fetch(`http://127.0.0.1:${port}/v1/recipients/u5`, { method: 'PUT', body: big, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } });
      expect(viaFetch.status).toBe(413);
      await viaFetch.arrayBuffer();
      const after = await fetch(`http://127.0.0.1:${port}/v1/recipients/u1`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(after.status).toBe(200);
      expect(await db.db.query.recipients.findFirst({ where: (r, { eq }) => eq(r.id, 'u5') })).toBeUndefined();
    } finally {
      agent.destroy();
    }
  });

  /** The status of a request written byte for byte, as `curl -X POST` sends it: no Content-Length, no Content-Type. */
  function rawStatus(method: string, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAuthorization: Bearer ${apiKey}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      socket.on('error', reject);
    });
  }

  it('a POST with neither body nor Content-Type is not a 415 (curl -X POST …/cancel)', async () => {
    for (const path of ['/v1/broadcasts/bc_nothing/cancel', '/v1/notifications/ntf_nothing/cancel', '/v1/recipients/u1/inbox/msg_nothing/read']) {
      expect(await rawStatus('POST', path), path).toBe(404);
    }
    expect(await rawStatus('POST', '/v1/recipients/u1/inbox/read-all')).toBe(200);
    // A body that is not JSON is still refused.
    const agent = new Agent({ keepAlive: false });
    try {
      expect((await send(agent, 'POST', '/v1/notifications/ntf_nothing/cancel', Buffer.from('x=1'), { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    } finally {
      agent.destroy();
    }
  });
});
