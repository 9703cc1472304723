// The API's guards through app.request(): webhook URLs that point inside are refused at PUT,
// and each tenant has its own request rate.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { CHANNELS } from '../domain/types.js';
import { openTestDatabase } from '../test/support.js';
import { apiConnectionOptions } from './temporal.js';
import { createApp, type AppDeps } from './app.js';

const ADMIN = 'admin-secret';
let db: Database;
let connection: Connection;

beforeAll(async () => {
  db = await openTestDatabase();
  // A lazy connection to nowhere: nothing here starts a workflow.
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

function api(overrides: Partial<AppDeps> = {}) {
  const app = createApp(
    {
      db: db.db,
      temporal: { client: new Client({ connection }), taskQueue: 'unused', ping: async () => {} },
      adminToken: ADMIN,
      channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as AppDeps['channels'],
      retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 10, maximumAttempts: 3, expirationSeconds: 60 },
      ...overrides,
    },
    { log: () => {} },
  );
  const req = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
  };
  const tenant = async (name: string) => {
    const r = await req('POST', '/v1/admin/tenants', ADMIN, { name });
    expect(r.status).toBe(201);
    return r.body.apiKey as string;
  };
  return { req, tenant };
}

describe('webhook URLs at PUT', () => {
  let req: ReturnType<typeof api>['req'];
  let key: string;
  beforeAll(async () => {
    const guarded = api();
    req = guarded.req;
    key = await guarded.tenant('Guarded');
  });

  it.each([
    'http://127.0.0.1:8080/hooks',
    'http://localhost.:8080@10.0.0.1/hooks', // user info, and a private literal
    'http://[::ffff:127.0.0.1]/hooks',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://0.0.0.0/',
    'https://user:pass@hooks.example.com/x',
  ])('%s → 400 naming webhookUrl, and nothing is stored', async (webhookUrl) => {
    const r = await req('PUT', '/v1/recipients/guarded-1', key, { webhookUrl });
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/application\/problem\+json/);
    expect(r.body.errors).toEqual([{ path: 'webhookUrl', message: expect.stringMatching(/WEBHOOK_ALLOWED_HOSTS/) }]);
    expect((await req('GET', '/v1/recipients/guarded-1', key)).status).toBe(404);
  });

  it('accepts public addresses and names (a name is checked when a send resolves it)', async () => {
    for (const webhookUrl of ['https://hooks.example.com/x', 'http://93.184.215.14/x', 'http://localhost:9/x']) {
      const r = await req('PUT', '/v1/recipients/guarded-2', key, { webhookUrl });
      expect(r.status).toBe(200);
      expect(r.body.webhookUrl).toBe(webhookUrl);
    }
  });

  it('a webhook step of an escalation policy is checked the same way', async () => {
    const r = await req('PUT', '/v1/escalation-policies/ops', key, { steps: [{ channel: 'webhook', target: 'http://10.1.2.3/x', ackTimeoutSeconds: 60 }] });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(['steps.0.target']);
  });

  it('WEBHOOK_ALLOWED_HOSTS exempts addresses and ranges', async () => {
    const allowed = api({ webhookAllowedHosts: ['127.0.0.1', '10.0.0.0/8'] });
    const k = await allowed.tenant('Local');
    expect((await allowed.req('PUT', '/v1/recipients/local-1', k, { webhookUrl: 'http://127.0.0.1:8080/hooks' })).status).toBe(200);
    expect((await allowed.req('PUT', '/v1/recipients/local-1', k, { webhookUrl: 'http://10.9.8.7/hooks' })).status).toBe(200);
    expect((await allowed.req('PUT', '/v1/recipients/local-1', k, { webhookUrl: 'http://192.168.0.1/hooks' })).status).toBe(400);
  });
});

describe('per-tenant rate limits', () => {
  it('a tenant past its burst gets 429 with Retry-After and the RateLimit fields; another tenant is not limited', async () => {
    const { req, tenant } = api({ rateLimit: { perSecond: 2, burst: 3 } });
    const [flood, quiet] = [await tenant('Flood'), await tenant('Quiet')];

    const first = await req('GET', '/v1/recipients/nobody', flood);
    expect(first.status).toBe(404); // answered, not limited
    expect(first.headers.get('ratelimit-policy')).toBe('"default";q=2;w=1, "burst";q=1;w=5');
    expect(first.headers.get('ratelimit')).toMatch(/^"default";r=1;t=1, "burst";r=1;t=0$/);

    // Fired together: within one second 3 pass (2 per second + 1 of burst); the rest are refused
    // (a margin is left for a slow machine whose requests straddle a second).
    const answers = await Promise.all(Array.from({ length: 12 }, () => req('GET', '/v1/recipients/nobody', flood)));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(4);
    const r = limited[0];
    expect(r.type).toMatch(/application\/problem\+json/);
    expect(r.body).toMatchObject({ status: 429, title: 'Too many requests' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.headers.get('ratelimit-policy')).toBe('"default";q=2;w=1, "burst";q=1;w=5');
    expect(r.headers.get('ratelimit')).toMatch(/^"default";r=0;t=[01], "burst";r=0;t=[1-5]$/);

    const other = await req('GET', '/v1/recipients/nobody', quiet);
    expect(other.status).toBe(404);
    expect(other.headers.get('ratelimit')).toMatch(/^"default";r=1;/);
  });

  it('defaults to 1,000 per second with bursts of 2,000', async () => {
    const { req, tenant } = api();
    const r = await req('GET', '/v1/recipients/nobody', await tenant('Default'));
    expect(r.headers.get('ratelimit-policy')).toBe('"default";q=1000;w=1, "burst";q=1000;w=10');
  });
});
