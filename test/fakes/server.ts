// The shared core of the fake provider servers: listen on a free local port, record every
// request, and answer either with the provider's default (success) response or with the next
// scripted one from a queue, so a test can inject 5xx, 429 + Retry-After, 4xx, slow answers
// and dropped connections.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  /** When the request arrived whole (Date.now()). */
  receivedAt: number;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Header names lower-cased, as node:http gives them. */
  headers: Record<string, string>;
  rawBody: string;
  /** The body as received, for binary bodies (an encrypted push). */
  rawBytes: Buffer;
  /** JSON bodies parsed; form bodies as an object of strings (repeated keys become arrays). */
  body: any;
  /** The status the fake answered with; unset while unanswered or when the socket was dropped. */
  status?: number;
}

export interface ScriptedResponse {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. Absent: the provider's default body. */
  body?: unknown;
  /** Wait this long before answering (or before the default answer). */
  delayMs?: number;
  /** Destroy the socket without answering: a network error for the client. */
  drop?: boolean;
  /**
   * The provider accepts the request at once (its default answer is made, so its state
   * changes) but the answer is lost: `'drop'` destroys the socket, a number of ms delays the
   * answer that long (past the client's timeout). An accepted send whose completion is lost.
   */
  acceptThen?: 'drop' | { answerDelayMs: number };
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeServer {
  /** Base URL, e.g. http://127.0.0.1:54321 (no trailing slash). */
  url: string;
  requests: RecordedRequest[];
  /** Queues scripted responses; each request takes the next one, then defaults resume. */
  enqueue(...responses: ScriptedResponse[]): void;
  /**
   * A standing scripted response for every request the queue does not script (an outage:
   * `{ status: 503 }`, a slow provider: `{ delayMs: 1500 }`); `undefined` restores the defaults.
   */
  setDefault(response: ScriptedResponse | undefined): void;
  close(): Promise<void>;
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (!raw) return undefined;
  if (contentType?.includes('application/json')) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return out;
  }
  return raw;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function write(res: ServerResponse, reply: Reply, recorded?: RecordedRequest): void {
  if (recorded) recorded.status = reply.status;
  const headers = { ...(reply.headers ?? {}) };
  let payload = '';
  if (typeof reply.body === 'string') payload = reply.body;
  else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json; charset=utf-8';
    }
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/**
 * Starts a fake provider on 127.0.0.1 with a free port. `handle` produces the provider's
 * default answer for a recorded request. A scripted response with a status or a body replaces
 * that answer (the handler is not called, so a rejected request changes no provider state);
 * a scripted status without a body gets `errorBody(status)`, the provider's own error JSON.
 */
export async function startFakeServer(
  handle: (req: RecordedRequest) => Reply,
  errorBody: (status: number) => unknown = () => undefined,
  /** Runs first, for checks that are asynchronous (a signature); it may annotate the request. */
  prepare?: (req: RecordedRequest) => Promise<void>,
  /** Serve HTTPS with this key and certificate (test/fakes/tls.ts) instead of HTTP. */
  tls?: { key: string; cert: string },
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const queue: ScriptedResponse[] = [];
  let standing: ScriptedResponse = {};
  const timers = new Set<NodeJS.Timeout>();

  const server = (tls ? createHttpsServer.bind(null, tls) : createServer)((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const rawBytes = Buffer.concat(chunks);
      const rawBody = rawBytes.toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const headers = flatHeaders(req);
      const recorded: RecordedRequest = {
        receivedAt: Date.now(),
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        rawBody,
        rawBytes,
        body: parseBody(rawBody, headers['content-type']),
      };
      requests.push(recorded);
      if (prepare) await prepare(recorded);
      const script = queue.shift() ?? standing;
      if (script.acceptThen) {
        const reply = handle(recorded);
        // The provider has done it, whether or not its answer arrives.
        recorded.status = reply.status;
        const lost = script.acceptThen;
        if (lost === 'drop') {
          req.socket.destroy();
          return;
        }
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) write(res, reply);
        }, lost.answerDelayMs);
        timers.add(t);
        return;
      }
      const answer = () => {
        if (script.drop) {
          req.socket.destroy();
          return;
        }
        if (script.status === undefined && script.body === undefined) {
          const reply = handle(recorded);
          write(res, { ...reply, headers: { ...(reply.headers ?? {}), ...(script.headers ?? {}) } }, recorded);
          return;
        }
        const status = script.status ?? 200;
        write(res, { status, headers: script.headers, body: script.body !== undefined ? script.body : errorBody(status) }, recorded);
      };
      if (script.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, script.delayMs);
        timers.add(t);
      } else answer();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    enqueue: (...responses) => void queue.push(...responses),
    setDefault: (response) => void (standing = response ?? {}),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A random lower-case hex string, for provider ids. */
export function hex(length: number): string {
  let s = '';
  while (s.length < length) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}
