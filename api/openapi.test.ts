import { describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { CHANNELS } from '../domain/types.js';
import { createApp } from './app.js';
import { OPERATIONS, openApiDocument } from './openapi.js';

describe('OpenAPI document', () => {
  it('describes exactly the routes the app mounts', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1' });
    const app = createApp({
      db: {} as never,
      temporal: { client: new Client({ connection }), taskQueue: 'x', ping: async () => {} },
      adminToken: 'x',
      channels: Object.fromEntries(CHANNELS.map((c) => [c, 'configured'])) as never,
      retry: { initialIntervalSeconds: 1, backoffCoefficient: 2, maximumIntervalSeconds: 1, maximumAttempts: 1, expirationSeconds: 1 },
    });
    const mounted = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const documented = new Set(Object.entries(OPERATIONS).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect([...mounted].filter((r) => !documented.has(r)).sort()).toEqual([]);
    expect([...documented].filter((r) => !mounted.has(r)).sort()).toEqual([]);
    await connection.close().catch(() => {});
  });

  it('is served at /openapi.json with request schemas from the validators', async () => {
    const doc = openApiDocument() as any;
    expect(doc.openapi).toBe('3.1.0');
    const body = doc.paths['/v1/notifications'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['recipient', 'template']));
    expect(body.properties.priority.enum).toEqual(['low', 'normal', 'high', 'critical']);
  });
});
