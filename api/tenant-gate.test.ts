import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { Env } from './deps.js';
import { Problem, problemResponse } from './problem.js';
import { tenantGate } from './tenant-gate.js';

/** An app whose requests name their tenant and wait until the test lets them finish. */
function gated(concurrency: number, maxWaiting: number) {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const app = new Hono<Env>();
  app.use('*', async (c, next) => {
    c.set('tenantId', c.req.header('x-tenant')!);
    await next();
  });
  app.use('*', tenantGate({ concurrency, maxWaiting }));
  app.get('/:name', async (c) => {
    const name = c.req.param('name');
    started.push(name);
    await new Promise<void>((done) => finish.set(name, done));
    return c.json({ name });
  });
  app.onError((err, c) => (err instanceof Problem ? problemResponse(c, err) : c.text('unexpected', 500)));
  const request = (tenant: string, name: string) => app.request(`/${name}`, { headers: { 'x-tenant': tenant } });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { started, finish, request, settle };
}

describe('per-tenant fair admission', () => {
  it("lets another tenant's request in at once while one tenant's flood waits its turn, in order", async () => {
    const g = gated(2, 100);
    const flood = Array.from({ length: 6 }, (_, i) => g.request('a', `a${i}`));
    await g.settle();
    expect(g.started).toEqual(['a0', 'a1']);

    const fromB = g.request('b', 'b0');
    await g.settle();
    expect(g.started).toEqual(['a0', 'a1', 'b0']);

    // A's line moves one at a time, first come first served.
    g.finish.get('a0')!();
    await g.settle();
    expect(g.started).toEqual(['a0', 'a1', 'b0', 'a2']);
    g.finish.get('b0')!();
    expect((await fromB).status).toBe(200);
    for (let i = 1; i <= 5; i++) {
      await g.settle();
      g.finish.get(`a${i}`)!();
    }
    const answers = await Promise.all(flood);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(g.started.filter((n) => n.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('answers 429 problem+json with Retry-After once the line is full, and serves the line after', async () => {
    const g = gated(1, 2);
    const kept = [g.request('a', 'a0'), g.request('a', 'a1'), g.request('a', 'a2')];
    await g.settle();
    const refused = await g.request('a', 'a3');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await refused.json()).detail).toMatch(/1 at once, 2 waiting/);
    expect(g.started).toEqual(['a0']);
    for (const name of ['a0', 'a1', 'a2']) {
      await g.settle();
      g.finish.get(name)!();
    }
    expect((await Promise.all(kept)).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('releases the turn of a request whose handler fails', async () => {
    const app = new Hono<Env>();
    app.use('*', async (c, next) => {
      c.set('tenantId', 'a');
      await next();
    });
    app.use('*', tenantGate({ concurrency: 1, maxWaiting: 10 }));
    let calls = 0;
    app.get('/', () => {
      calls += 1;
      throw new Problem(400, 'bad');
    });
    app.onError((err, c) => problemResponse(c, err as Problem));
    const answers = await Promise.all(Array.from({ length: 5 }, () => app.request('/')));
    expect(answers.map((r) => r.status)).toEqual([400, 400, 400, 400, 400]);
    expect(calls).toBe(5);
  });
});
