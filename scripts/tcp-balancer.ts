// A loopback TCP balancer (issue 24): the Temporal TypeScript client and worker take one address,
// so `npm run cluster` puts this in front of both server nodes' frontends. Each accepted
// connection is piped whole to one target, taken round-robin; a target that refuses (or does not
// answer within connectTimeoutMs) is skipped for the next, so once a node is down every new
// connection goes to the other. gRPC runs over long-lived HTTP/2 connections: a node that stops
// closes its piped connections, and the SDK's reconnect lands on a node that is up.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpBalancerOptions {
  /** `host:port` of each target, tried in turn. */
  targets: string[];
  /** The port to accept on (0: free-picked). */
  port?: number;
  host?: string;
  /** How long a target may take to accept before the next is tried. */
  connectTimeoutMs?: number;
}

export interface TcpBalancer {
  /** `host:port` clients connect to. */
  address: string;
  port: number;
  /** Connections piped so far, per target (same order as `targets`). */
  accepted: number[];
  /** Stops accepting and closes every piped connection. */
  close(): Promise<void>;
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Connects to `address`, or rejects on refusal, error or timeout. */
function dial(address: string, timeoutMs: number): Promise<Socket> {
  return new Promise((ok, fail) => {
    // No Nagle: gRPC writes small HTTP/2 frames and waits for the answer, so a held-back segment
    // waits for the peer's delayed ACK (tens of milliseconds) on every exchange.
    const upstream = connect({ ...splitAddress(address), noDelay: true });
    const timer = setTimeout(() => {
      upstream.destroy();
      fail(new Error(`${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.removeAllListeners('error');
      ok(upstream);
    });
    upstream.once('error', (err) => {
      clearTimeout(timer);
      upstream.destroy();
      fail(err);
    });
  });
}

export async function startTcpBalancer(opts: TcpBalancerOptions): Promise<TcpBalancer> {
  const { targets } = opts;
  if (targets.length === 0) throw new Error('startTcpBalancer: no targets');
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.connectTimeoutMs ?? 2000;
  const accepted = targets.map(() => 0);
  const open = new Set<Socket>();
  let next = 0;

  const server = createServer({ pauseOnConnect: true, noDelay: true }, async (client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    // An error before the pipe (the client gave up) only ends this connection.
    client.on('error', () => client.destroy());
    const first = next;
    next = (next + 1) % targets.length;
    for (let k = 0; k < targets.length && !client.destroyed; k++) {
      const i = (first + k) % targets.length;
      let upstream: Socket;
      try {
        upstream = await dial(targets[i], timeoutMs);
      } catch {
        continue; // refused or silent: the next target
      }
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      accepted[i]++;
      open.add(upstream);
      upstream.once('close', () => {
        open.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.once('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      return;
    }
    // Every target refused: a reset, as a refusal would have been.
    if (!client.destroyed) client.resetAndDestroy();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    accepted,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        for (const s of open) s.destroy();
      }),
  };
}
