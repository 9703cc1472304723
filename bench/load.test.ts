import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPoster } from './load.js';

describe('jsonPoster', () => {
  const seen: Array<{ auth?: string; type?: string; body: unknown; socket: unknown }> = [];
  let url = '';
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { n: number };
    seen.push({ auth: req.headers.authorization, type: req.headers['content-type'], body, socket: req.socket });
    if (body.n === 13) res.writeHead(400, { 'content-type': 'application/problem+json' }).end('{"title":"no"}');
    else res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `ntf_${body.n}` }));
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/notifications`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('posts JSON with the bearer token over one kept-alive socket and answers the id of each 202', async () => {
    const post = jsonPoster(url, 'key', (n) => ({ n }), (id) => `${id}!`);
    const first = await post(1);
    const second = await post(2);
    post.close();
    expect([first.id, second.id]).toEqual(['ntf_1!', 'ntf_2!']);
    expect(seen.slice(-2).map(({ socket: _, ...s }) => s)).toEqual([
      { auth: 'Bearer key', type: 'application/json', body: { n: 1 } },
      { auth: 'Bearer key', type: 'application/json', body: { n: 2 } },
    ]);
    expect(seen.at(-1)!.socket).toBe(seen.at(-2)!.socket);
  });

  it('rejects an answer other than 202 with its status and body', async () => {
    const post = jsonPoster(url, 'key', (n) => ({ n }));
    await expect(post(13)).rejects.toThrow('POST /v1/notifications answered 400: {"title":"no"}');
    post.close();
  });

  it('retries a request on each stale kept-alive socket it meets until a fresh one answers', async () => {
    // Answers the first request of each connection; a later one on the same socket finds it
    // closed without an answer, as a server's keep-alive timeout does to a reused socket.
    const served = new WeakSet<object>();
    const dropped: number[] = [];
    const stale = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const { n } = JSON.parse(Buffer.concat(chunks).toString()) as { n: number };
      if (served.has(req.socket)) {
        dropped.push(n);
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `ntf_${n}` }));
    });
    await new Promise<void>((r) => stale.listen(0, '127.0.0.1', r));
    const post = jsonPoster(`http://127.0.0.1:${(stale.address() as AddressInfo).port}/v1/notifications`, 'key', (n) => ({ n }));
    try {
      // Three sockets in the pool, each of which has served its one request.
      expect((await Promise.all([1, 2, 3].map((n) => post(n)))).map((r) => r.id)).toEqual(['ntf_1', 'ntf_2', 'ntf_3']);
      expect((await post(4)).id).toBe('ntf_4');
      expect(dropped).toEqual([4, 4, 4]);
    } finally {
      post.close();
      await new Promise<void>((r) => stale.close(() => r()));
    }
  });
});
