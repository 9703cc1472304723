// The dashboard's access and assets through app.request(): the admin token as a bearer header,
// or once as ?token= (a cookie from then on); everything else is a 401 problem.
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { offlineAppDeps, openTestDatabase } from '../../test/support.js';
import { apiConnectionOptions } from '../temporal.js';
import { createApp } from '../app.js';
import { DASHBOARD_COOKIE } from './dashboard.js';

const ADMIN = 'admin-secret';
let db: Database;
let connection: Connection;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  db = await openTestDatabase();
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  app = createApp(
    offlineAppDeps(db.db, connection, { adminToken: ADMIN, temporalUi: { url: 'http://ui.example', namespace: 'default' } }),
    { log: () => {} },
  );
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

/** The session cookie `?token=` sets, as a Cookie header. */
async function session(): Promise<string> {
  const res = await app.request(`/dashboard?token=${ADMIN}`);
  const set = res.headers.get('set-cookie')!;
  return set.split(';')[0];
}

describe('/dashboard access', () => {
  it('trades ?token= for a session cookie and a redirect to the URL without it', async () => {
    const res = await app.request(`/dashboard?token=${ADMIN}&x=1`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard?x=1');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(new RegExp(`^${DASHBOARD_COOKIE}=[\\w-]+; Max-Age=43200; Path=/dashboard; HttpOnly; SameSite=Lax$`));
    // The cookie is not the token.
    expect(cookie).not.toContain(ADMIN);

    const page = await app.request('/dashboard', { headers: { cookie: cookie.split(';')[0] } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/dashboard/assets/uPlot.js');
  });

  it('marks the cookie Secure behind an HTTPS proxy', async () => {
    const res = await app.request(`/dashboard?token=${ADMIN}`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.headers.get('set-cookie')).toContain('; Secure');
  });

  it('answers the data to the bearer token or the cookie', async () => {
    for (const headers of [{ authorization: `Bearer ${ADMIN}` }, { cookie: await session() }] as Array<Record<string, string>>) {
      const res = await app.request('/dashboard/data', { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toMatchObject({ windowMinutes: 60, accepted: 0, channels: [], recentFailures: [] });
    }
  });

  it('refuses no credentials, a wrong token, a wrong bearer and a forged cookie with a 401 problem', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['/dashboard', {}],
      ['/dashboard/data', {}],
      ['/dashboard/assets/dashboard.js', {}],
      ['/dashboard?token=wrong', {}],
      ['/dashboard?token=', {}],
      ['/dashboard?token=%zz%00', {}],
      ['/dashboard', { authorization: 'Bearer wrong' }],
      // A wrong bearer is refused even with a good cookie: the header is what the client chose.
      ['/dashboard', { authorization: 'Bearer wrong', cookie: await session() }],
      ['/dashboard/data', { cookie: `${DASHBOARD_COOKIE}=${ADMIN}` }],
      ['/dashboard/data', { cookie: `${DASHBOARD_COOKIE}=` }],
    ];
    for (const [path, headers] of cases) {
      const res = await app.request(path, { headers });
      expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.headers.get('set-cookie')).toBeNull();
    }
  });
});

describe('/dashboard assets', () => {
  it('serves the page script and styles and uPlot from node_modules, and nothing else', async () => {
    const headers = { cookie: await session() };
    const expected: Record<string, string> = {
      'dashboard.js': 'text/javascript',
      'dashboard.css': 'text/css',
      'uPlot.js': 'text/javascript',
      'uPlot.css': 'text/css',
    };
    for (const [file, type] of Object.entries(expected)) {
      const res = await app.request(`/dashboard/assets/${file}`, { headers });
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect((await res.text()).length).toBeGreaterThan(500);
    }
    expect(await (await app.request('/dashboard/assets/uPlot.js', { headers })).text()).toContain('uPlot');
    for (const path of ['/dashboard/assets/index.html', '/dashboard/assets/..%2F..%2Fpackage.json', '/dashboard/assets/', '/dashboard/assets/%zz', '/dashboard/nope']) {
      const res = await app.request(path, { headers });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
