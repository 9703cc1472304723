// The benchmark's webhook receiver: answers 200 to every POST and records when each
// notification first arrived (performance.now() of the bench process, the same clock the
// load generator uses), so "sent" means "the provider has it", not "a row says so".
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Receiver {
  url: string;
  /** First arrival per notificationId. */
  arrivals: Map<string, number>;
  /** Arrivals of an id already seen (provider retries). */
  duplicates(): number;
  /**
   * Resolves when every id has arrived; rejects when none of the missing ones has arrived
   * for `stallMs` (something is stuck, not merely slow).
   */
  waitFor(ids: Iterable<string>, stallMs: number): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startReceiver(): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  let duplicates = 0;
  let lastArrival = performance.now();
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const at = performance.now();
      const id = (JSON.parse(body) as { notificationId?: unknown }).notificationId;
      if (typeof id === 'string') {
        if (arrivals.has(id)) duplicates++;
        else arrivals.set(id, at);
        lastArrival = at;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } catch {
      res.writeHead(400).end();
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    duplicates: () => duplicates,
    async waitFor(ids, stallMs) {
      const missing = new Set(ids);
      const since = performance.now();
      for (;;) {
        for (const id of missing) if (arrivals.has(id)) missing.delete(id);
        if (missing.size === 0) return;
        if (performance.now() - Math.max(since, lastArrival) > stallMs) {
          throw new Error(`${missing.size} notifications never reached the webhook receiver (nothing arrived for ${stallMs / 1000} s), e.g. ${[...missing].slice(0, 3).join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
