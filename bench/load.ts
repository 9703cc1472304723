// Load generators and statistics for `npm run bench`.
import { Agent, request } from 'node:http';

export interface Sent {
  id: string;
  /** When the request was due: the start for closed loops, the schedule for open loops. */
  dueAt: number;
  /** When the accept answer (HTTP 202, workflow start) came back. */
  acceptedAt: number;
}

export type Offer = (i: number) => Promise<{ id: string; acceptedAt: number }>;

/** Retries of one request on kept-alive sockets the server had closed (more than a bench's requests in flight). */
const STALE_SOCKET_RETRIES = 64;

/**
 * An Offer that POSTs `body(i)` as JSON to `url` with a bearer token and takes the accepted
 * notification's id from its 202 answer (`idOf`: from the answer's id). It posts through
 * node:http on keep-alive sockets rather than fetch: the load generator shares the machine's
 * cores with what it measures, and undici's WHATWG streams cost it about as much CPU per request
 * as a Temporal start call (README: "Throughput and memory on the cluster").
 */
export function jsonPoster(url: string, token: string, body: (i: number) => unknown, idOf: (id: string) => string = (id) => id): Offer & { close(): void } {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true });
  const offer = (i: number, retries = 0): Promise<{ id: string; acceptedAt: number }> =>
    new Promise<{ id: string; acceptedAt: number }>((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body(i)));
      const req = request(
        target,
        { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': payload.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const acceptedAt = performance.now();
            const text = Buffer.concat(chunks).toString();
            const id = res.statusCode === 202 ? (JSON.parse(text) as { id?: string }).id : undefined;
            if (!id) reject(new Error(`POST ${target.pathname} answered ${res.statusCode}: ${text}`));
            else resolve({ id: idOf(id), acceptedAt });
          });
        },
      );
      // A kept-alive socket the server closed as it was reused: the request never reached it
      // (node's documented case for a retry, req.reusedSocket). After an idle pause every pooled
      // socket may be stale, so the retry may meet another one: each failure drops its socket,
      // and a fresh socket's error is never retried. Any other error is the answer.
      req.on('error', (err: NodeJS.ErrnoException) =>
        req.reusedSocket && err.code === 'ECONNRESET' && retries < STALE_SOCKET_RETRIES ? offer(i, retries + 1).then(resolve, reject) : reject(err),
      );
      req.end(payload);
    });
  return Object.assign((i: number) => offer(i), { close: () => agent.destroy() });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Closed loop: `count` requests, at most `concurrency` in flight, each sent as soon as a slot frees. */
export async function closedLoop(count: number, concurrency: number, offer: Offer): Promise<Sent[]> {
  const out: Sent[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const dueAt = performance.now();
        out[i] = { dueAt, ...(await offer(i)) };
      }
    }),
  );
  return out;
}

/**
 * Open loop: requests due every 1/rate seconds for `seconds`, each fired at its time whether
 * or not earlier ones have answered. Latency counts from the due time, so a stalled
 * generator or server shows up in the numbers instead of hiding (no coordinated omission).
 */
export async function openLoop(rate: number, seconds: number, offer: Offer): Promise<{ sent: Sent[]; maxLagMs: number }> {
  const count = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  const pending: Array<Promise<Sent>> = [];
  let maxLagMs = 0;
  for (let i = 0; i < count; i++) {
    const dueAt = start + i * interval;
    const wait = dueAt - performance.now();
    if (wait > 1) await sleep(wait);
    maxLagMs = Math.max(maxLagMs, performance.now() - dueAt);
    pending.push(offer(i).then((r) => ({ dueAt, ...r })));
  }
  return { sent: await Promise.all(pending), maxLagMs };
}

/** Nearest-rank percentile. */
export function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
