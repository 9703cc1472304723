// Where a webhook may go. A receiver's URL is the tenant's to choose, so without a check it
// could point Tocsin at its own network (loopback, private ranges, the cloud metadata address
// 169.254.169.254). Address classes come from ipaddr.js: anything it does not call global
// `unicast` is refused, IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
// The operator's WEBHOOK_ALLOWED_HOSTS exempts named hosts, addresses and CIDR ranges.
//
// Pure (no I/O): the API checks literal addresses with it at PUT, the webhook sender checks each
// address a name resolves to at send time (activities/channels/webhook.ts).
import ipaddr from 'ipaddr.js';
import { invalidInput, type FieldError } from '../domain/errors.js';

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/** What WEBHOOK_ALLOWED_HOSTS lets through although it is not a public address. */
export interface WebhookAllowList {
  /** Host names, lower-case, without a trailing dot. */
  hosts: ReadonlySet<string>;
  /** Single addresses are ranges of their full length. */
  ranges: ReadonlyArray<[Ip, number]>;
}

const EMPTY_ALLOW_LIST: WebhookAllowList = { hosts: new Set(), ranges: [] };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})?(\.[a-z0-9_]([a-z0-9_-]{0,62})?)*$/;

const normalizeHost = (host: string) => host.toLowerCase().replace(/\.$/, '');

/** `[::1]` → `::1`: URL keeps IPv6 literals in brackets. */
const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/**
 * Parses the comma-separated WEBHOOK_ALLOWED_HOSTS (`localhost,127.0.0.1,10.0.0.0/8,fd00::/8`);
 * throws naming the first entry that is neither a host name, an address nor a CIDR range.
 */
export function parseAllowList(entries: string | readonly string[] | undefined): WebhookAllowList {
  const list = typeof entries === 'string' ? entries.split(',') : (entries ?? []);
  const hosts = new Set<string>();
  const ranges: Array<[Ip, number]> = [];
  for (const raw of list) {
    const entry = unbracket(raw.trim());
    if (!entry) continue;
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`"${raw.trim()}" is not a valid CIDR range`);
      ranges.push(ipaddr.parseCIDR(entry));
    } else if (ipaddr.isValid(entry)) {
      const ip = ipaddr.process(entry);
      ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else if (HOST_NAME.test(normalizeHost(entry))) {
      hosts.add(normalizeHost(entry));
    } else {
      throw new Error(`"${raw.trim()}" is neither a host name, an IP address nor a CIDR range`);
    }
  }
  return { hosts, ranges };
}

/** The ipaddr.js range name of an address that webhooks may not reach; undefined if public. */
export function blockedRange(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'invalid';
  const ip = ipaddr.process(address); // ::ffff:127.0.0.1 → 127.0.0.1
  const range = ip.range();
  return range === 'unicast' ? undefined : range;
}

function inAllowedRange(list: WebhookAllowList, address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const candidates = [ipaddr.parse(address), ipaddr.process(address)];
  return list.ranges.some(([net, bits]) => candidates.some((ip) => ip.kind() === net.kind() && ip.match(net, bits)));
}

/** Why `address` may not be reached (e.g. "127.0.0.1 (loopback)"), or undefined when it may. */
export function refuseAddress(address: string, list: WebhookAllowList): string | undefined {
  const range = blockedRange(address);
  if (range === undefined || inAllowedRange(list, address)) return undefined;
  return `${address} (${range === 'invalid' ? 'not an IP address' : range})`;
}

type WebhookTarget =
  | { ok: true; url: URL; /** Host without brackets. */ host: string; /** Set when the host is an IP literal. */ literal?: string; /** The host is named in the allow list. */ hostAllowed: boolean }
  | { ok: false; reason: string };

/**
 * Checks what can be checked without DNS: the scheme, user info, and a literal address.
 * A host name passes here; its addresses are checked when it is resolved.
 */
export function checkWebhookUrl(value: string, list: WebhookAllowList = EMPTY_ALLOW_LIST): WebhookTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `uses ${url.protocol.replace(/:$/, '')}; only http and https are allowed` };
  if (url.username || url.password) return { ok: false, reason: 'carries user info (user:password@), which is not allowed' };
  const host = unbracket(url.hostname);
  const hostAllowed = list.hosts.has(normalizeHost(host));
  if (ipaddr.isValid(host)) {
    const refused = hostAllowed ? undefined : refuseAddress(host, list);
    if (refused) return { ok: false, reason: `points at ${refused}` };
    return { ok: true, url, host, literal: host, hostAllowed };
  }
  return { ok: true, url, host, hostAllowed };
}

/** The hint operators see when a webhook is refused. */
export const ALLOW_LIST_HINT =
  'webhooks may not reach loopback, private, link-local, CGNAT, multicast or reserved addresses; to allow a local receiver, list it in WEBHOOK_ALLOWED_HOSTS (comma-separated hosts, IPs or CIDRs, e.g. WEBHOOK_ALLOWED_HOSTS=localhost,127.0.0.1,10.0.0.0/8)';

const lists = new WeakMap<readonly string[], WebhookAllowList>();

/**
 * Refuses, with one 400 naming every field, the webhook URLs given (as [field path, URL] pairs)
 * that may not receive webhooks: checked as far as can be without DNS (a host name is checked
 * when a send resolves it). `allowedHosts` is the operator's WEBHOOK_ALLOWED_HOSTS.
 */
export function refuseWebhookUrls(allowedHosts: readonly string[] | undefined, ...urls: Array<[path: string, url: string | null | undefined]>): void {
  let allow = EMPTY_ALLOW_LIST;
  if (allowedHosts) {
    allow = lists.get(allowedHosts) ?? parseAllowList(allowedHosts);
    lists.set(allowedHosts, allow);
  }
  const errors: FieldError[] = [];
  for (const [path, url] of urls) {
    if (!url) continue;
    const target = checkWebhookUrl(url, allow);
    if (!target.ok)
      errors.push({ path, message: `${target.reason}: webhooks may not reach loopback, private, link-local, CGNAT, multicast or reserved addresses (the operator can allow some with WEBHOOK_ALLOWED_HOSTS)` });
  }
  if (errors.length > 0) throw invalidInput(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
}
