// Webhook channel: a JSON POST to the recipient's webhookUrl, signed per Standard Webhooks
// (https://www.standardwebhooks.com) by the `standardwebhooks` library: `webhook-id` (the
// delivery's id, the same on every retry), `webhook-timestamp` and `webhook-signature:
// v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, keyed with the tenant's `whsec_`
// secret, so a receiver verifies with any Standard Webhooks library.
//
// The address guard (usecases/webhook-address.ts) runs on every send: the URL's scheme, user
// info and literal address first, then every address its host name resolves to. The request
// then connects to the addresses that were checked: node:http's `lookup` hook answers with
// them instead of asking DNS a second time, so a name cannot resolve to a public address for
// the check and to a private one for the connection (DNS rebinding). The URL's host name
// still goes into the Host header and the TLS server name.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { ErrorType } from '../../domain/errors.js';
import { ALLOW_LIST_HINT, checkWebhookUrl, parseAllowList, refuseAddress, type WebhookAllowList } from '../../usecases/webhook-address.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

const MAX_RESPONSE_BYTES = 64 * 1024;

/** The Standard Webhooks headers of one message `id` with `body`, sent at `at`, signed with a `whsec_` secret. */
export function signWebhook(secret: string, id: string, body: string, at: Date): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  let signer: Webhook;
  try {
    signer = new Webhook(secret);
  } catch {
    // Tenants are issued `whsec_` + base64 (migration 0002 rewrote older secrets so): only a
    // secret written into the database by hand gets here.
    throw permanent(ErrorType.ChannelUnconfigured, "the tenant's webhook secret is not a Standard Webhooks secret (whsec_ + base64)");
  }
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signer.sign(id, at, body),
  };
}

/** Every address a host name resolves to (getaddrinfo, as the connection would see them). */
export type ResolveHost = (host: string) => Promise<LookupAddress[]>;

export const resolveWithDns: ResolveHost = (host) =>
  new Promise((ok, fail) => dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => (err ? fail(err) : ok(addresses))));

/** A `lookup` for net.connect that answers with addresses already resolved and checked. */
export function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    const usable = family ? addresses.filter((a) => a.family === family) : addresses;
    if (usable.length === 0) {
      const err = Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' });
      callback(err, '', 0);
    } else if (options.all) {
      (callback as unknown as (err: null, all: LookupAddress[]) => void)(null, usable);
    } else {
      callback(null, usable[0].address, usable[0].family);
    }
  };
}

/** Reads at most `limit` bytes of a response body, then stops. */
export async function readCapped(res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
    if (size >= limit) {
      res.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

interface WebhookSenderOptions {
  timeoutMs?: number;
  now?: () => number;
  /** WEBHOOK_ALLOWED_HOSTS: hosts, addresses and CIDR ranges exempt from the address guard. */
  allowedHosts?: string | readonly string[] | WebhookAllowList;
  /** How host names are resolved (tests hand in a fixed table); DNS by default. */
  resolve?: ResolveHost;
  /** Called with the reason each time a send is refused by the address guard. */
  onBlocked?: (reason: string) => void;
}

/** What a guarded POST got back: the status, the first 64 KiB of the body, `Retry-After`. */
export interface GuardedResponse {
  status: number;
  text: string;
  retryAfter: string | undefined;
}

/** One guarded request: its method, body (JSON), headers, cancellation and response cap. */
export interface GuardedRequest {
  method: 'GET' | 'POST';
  body?: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Bytes of the answer read at most (64 KiB unless given). */
  maxBytes?: number;
}

/**
 * A request through the address guard: the URL's scheme, user info and literal address first,
 * then every address its host name resolves to, and the connection goes to the checked
 * addresses (pinned lookup). A refused address throws `address_blocked` (permanent), naming
 * `what` ("webhook to …", "fetch of …"); redirects are not followed. The recipient webhook
 * channel, the lifecycle webhooks and a flow's `fetch` step all send with it.
 */
export function createGuardedRequest(opts: WebhookSenderOptions & { what?: string; userAgent?: string } = {}) {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const allow = typeof opts.allowedHosts === 'object' && 'hosts' in opts.allowedHosts ? opts.allowedHosts : parseAllowList(opts.allowedHosts);
  const resolve = opts.resolve ?? resolveWithDns;
  const what = opts.what ?? 'webhook to';
  // One keep-alive pool per sender (no module state); connections come from pinned lookups only.
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  const blocked = (url: string, reason: string) => {
    const message = `${what} ${url} refused: it ${reason}`;
    opts.onBlocked?.(message);
    return permanent(ErrorType.AddressBlocked, `${message}; ${ALLOW_LIST_HINT}`);
  };

  return async function request(address: string, req: GuardedRequest): Promise<GuardedResponse> {
    const target = checkWebhookUrl(address, allow);
    if (!target.ok) throw blocked(address, target.reason);
    const { url, host } = target;
    // A name is resolved once; each of its addresses must pass, unless the name itself is allowed.
    const addresses = target.literal ? [{ address: host, family: isIP(host) }] : await resolve(host);
    if (!target.hostAllowed) {
      for (const { address: a } of addresses) {
        const refused = refuseAddress(a, allow);
        if (refused) throw blocked(address, `resolves to ${refused}`);
      }
    }
    const protocol = url.protocol as 'http:' | 'https:';
    const { body } = req;
    // node:http never follows redirects: a 3xx comes back to us as it is.
    const res = await new Promise<IncomingMessage>((ok, fail) => {
      const outgoing = (protocol === 'https:' ? https : http).request(
        {
          protocol,
          hostname: host,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: req.method,
          agent: agents[protocol],
          lookup: pinnedLookup(addresses),
          signal: AbortSignal.any([req.signal, AbortSignal.timeout(timeoutMs)]),
          headers: {
            ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
            'user-agent': opts.userAgent ?? 'Tocsin-Webhooks/1',
            ...req.headers,
          },
        },
        ok,
      );
      outgoing.once('error', fail);
      outgoing.end(body);
    });
    const text = await readCapped(res, req.maxBytes ?? MAX_RESPONSE_BYTES);
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode ?? 0, text, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
  };
}

/** A guarded JSON POST (createGuardedRequest): the webhook channel's and lifecycle webhooks' sender. */
export function createGuardedPost(opts: WebhookSenderOptions = {}) {
  const request = createGuardedRequest(opts);
  return (address: string, body: string, headers: Record<string, string>, signal: AbortSignal) => request(address, { method: 'POST', body, headers, signal });
}

export function createWebhookSender(opts: WebhookSenderOptions = {}): ChannelSender {
  const now = opts.now ?? Date.now;
  const post = createGuardedPost(opts);

  return {
    channel: 'webhook',
    provider: 'webhook',
    async send(req: SendRequest) {
      const body = JSON.stringify({
        id: req.deliveryId,
        notificationId: req.notificationId,
        recipient: req.recipient.id,
        template: req.template.key,
        channel: 'webhook',
        content: req.content.webhook ?? {},
        data: req.data,
      });
      const signed = signWebhook(req.tenant.webhookSecret, req.deliveryId, body, new Date(now()));
      const { status, text, retryAfter } = await post(req.address, body, signed, req.signal);
      if (status >= 200 && status < 300) return { provider: 'webhook', providerMessageId: null };
      if (status >= 300 && status < 400) {
        // Redirects are not followed: a receiver must answer at the URL it registered.
        throw permanent(ErrorType.ProviderRejected, `webhook answered ${status}: redirects are not followed`);
      }
      throw httpFailure('webhook', status, text, retryAfter, now());
    },
  };
}
