// Which client a request comes from, for the limit on unauthenticated answers (api/auth.ts).
//
// The socket's peer address, unless TRUSTED_PROXY_HOPS says that many reverse proxies stand in
// front of the API: each appends the address it received the request from to X-Forwarded-For,
// so the client is the entry that many places from the right of `X-Forwarded-For, socket`.
// Entries further left are whatever the client wrote and are never used. An IPv6 client
// counts by its /64, the block one subscriber holds, so that it cannot step through addresses.
import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/** The request's client, as the key its limit is counted under. */
export function clientAddress(c: Context, trustedProxyHops = 0): string {
  let socket: string | undefined;
  try {
    socket = getConnInfo(c).remote.address;
  } catch {
    // app.request() in tests: no socket, one shared client.
  }
  const chain = trustedProxyHops > 0 ? (c.req.header('x-forwarded-for') ?? '').split(',').map((a) => a.trim()) : [];
  chain.push(socket ?? 'unknown');
  const chosen = chain[Math.max(0, chain.length - 1 - trustedProxyHops)];
  return addressKey(isIP(stripZone(chosen)) ? chosen : (socket ?? 'unknown'));
}

const stripZone = (address: string) => address.replace(/%.*$/, '');

/** IPv4 as is (also when IPv4-mapped), IPv6 as its /64 prefix; anything else unchanged. */
export function addressKey(address: string): string {
  const a = stripZone(address).toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1];
  if (isIP(a) !== 6) return a;
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  // A trailing dotted IPv4 part stands for two groups.
  const width = (gs: string[]) => gs.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - width(h) - width(t)).fill('0'), ...t];
  return `${all
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
