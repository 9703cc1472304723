import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createApp } from './app.js';
import { openApiDocument } from './openapi.js';
import { acceptsGzip } from './routes/docs.js';

const inertDeps = {
  db: {} as never,
  temporal: { client: {} as never, taskQueue: 'x', ping: async () => {} },
  adminToken: 'x',
  channels: {} as never,
  retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 1, maximumAttempts: 1, expirationSeconds: 1 },
};

type Operation = { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; requestBody?: any; parameters?: any[] };
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

function operations() {
  const doc = openApiDocument() as unknown as { paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>> };
  return Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => ({ path, method: m, op: item[m]! })));
}

describe('OpenAPI document', () => {
  it('describes exactly the routes the app mounts', () => {
    const app = createApp(inertDeps);
    const mounted = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    expect([...mounted].filter((r) => !documented.has(r)).sort()).toEqual([]);
    expect([...documented].filter((r) => !mounted.has(r)).sort()).toEqual([]);
    expect(documented.size).toBeGreaterThan(40);
  });

  it('is OpenAPI 3.1 with the request schemas the validators use', () => {
    const doc = openApiDocument() as any;
    expect(doc.openapi).toBe('3.1.0');
    const body = doc.paths['/v1/notifications'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['recipient']));
    // A template or a flow (README: "Flows"), exactly one.
    expect(body.oneOf).toEqual([{ required: ['template'] }, { required: ['flow'] }]);
    expect(body.properties.priority.enum).toEqual(['low', 'normal', 'high', 'critical']);
    expect(body.additionalProperties).toBe(false);
    const params = doc.paths['/v1/recipients/{recipientId}'].put.parameters;
    expect(params).toEqual([expect.objectContaining({ name: 'recipientId', in: 'path', required: true, schema: expect.objectContaining({ pattern: '^[A-Za-z0-9._:@-]{1,128}$' }) })]);
    expect(doc.components.securitySchemes).toHaveProperty('apiKey');
  });

  it('gives every operation its answers, client errors as problem+json', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => s.startsWith('2')), where).toBe(true);
      // A page for people (the recipient's preference and unsubscribe pages) may answer a refusal as a page.
      const page = !path.startsWith('/v1/') && Object.keys(op.responses['200']?.content ?? {}).includes('text/html');
      for (const status of statuses.filter((s) => s.startsWith('4') || s === '503' && path.startsWith('/v1'))) {
        const types = Object.keys(op.responses[status].content ?? {});
        if (page && types.length === 1 && types[0] === 'text/html') continue;
        expect(types, `${where} ${status}`).toEqual(['application/problem+json']);
      }
      if (path.startsWith('/v1/')) expect(statuses, where).toEqual(expect.arrayContaining(['400', '401', '413', '503']));
      // Provider callbacks read their signed bodies raw; everything else refuses what is not JSON.
      if (path.startsWith('/v1/') && !/\/(receipts|slack)\//.test(path)) expect(statuses, where).toEqual(expect.arrayContaining(['404', '415']));
      expect(op.security, where).toBeDefined();
    }
  });

  it('is served at /openapi.json, and /docs renders it without a CDN', async () => {
    const app = createApp(inertDeps);
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    const page = await app.request('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('/openapi.json');
    expect(html).toContain('src="/docs/scalar.js"');
    expect(html).not.toMatch(/https?:\/\//);
    // The script is the installed package's standalone bundle, byte for byte, gzipped for browsers that take it.
    const installed = await readFile(createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js'));
    const script = await app.request('/docs/scalar.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('content-encoding')).toBeNull();
    const js = Buffer.from(await script.arrayBuffer());
    expect(js.equals(installed)).toBe(true);
    expect(js.toString('utf8')).toContain('createApiReference');
    const gzipped = await app.request('/docs/scalar.js', { headers: { 'accept-encoding': 'br, gzip, deflate' } });
    expect([gzipped.status, gzipped.headers.get('content-encoding'), gzipped.headers.get('content-type')]).toEqual([200, 'gzip', 'text/javascript; charset=utf-8']);
    const packed = Buffer.from(await gzipped.arrayBuffer());
    expect(packed.length).toBeLessThan(installed.length / 2);
    expect(gunzipSync(packed).equals(installed)).toBe(true);
  });

  it('gzips the script only for an Accept-Encoding that takes gzip', () => {
    expect(['gzip', 'deflate, gzip;q=0.5', 'GZIP', 'br;q=1, gzip'].map(acceptsGzip)).toEqual([true, true, true, true]);
    expect([undefined, '', 'identity', 'gzip;q=0', 'x-gzip2', 'br'].map(acceptsGzip)).toEqual([false, false, false, false, false, false]);
  });
});
