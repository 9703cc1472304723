// APNs over HTTP/2 with token authentication: POST /3/device/{token} on one HTTP/2 session (node's
// http2), with a JWT (ES256, signed by jose with the p8 key, `kid` = key id, `iss` = team id)
// that is made again every 50 minutes (Apple refuses tokens older than an hour and ones renewed
// more often than every 20 minutes). APNS_BASE_URL replaces https://api.push.apple.com; an
// `http://` base speaks HTTP/2 without TLS (a local server).
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { importPKCS8, SignJWT } from 'jose';
import { ErrorType } from '../../../domain/errors.js';
import { httpFailure, permanent } from '../../errors.js';
import { DeviceGone, type PushProvider } from './types.js';

export const DEFAULT_APNS_BASE_URL = 'https://api.push.apple.com';
const TOKEN_LIFETIME_MS = 50 * 60_000;

interface ApnsOptions {
  /** The p8 key (PEM) or a path to it. */
  key?: string;
  keyId?: string;
  teamId?: string;
  /** The app's bundle id (apns-topic). */
  topic?: string;
  baseUrl?: string;
  timeoutMs?: number;
}

export function createApnsProvider(opts: ApnsOptions): PushProvider | null {
  if (!opts.key || !opts.keyId || !opts.teamId || !opts.topic) return null;
  const pem = opts.key.includes('BEGIN PRIVATE KEY') ? opts.key : readFileSync(opts.key, 'utf8');
  const { keyId, teamId, topic } = opts;
  const base = (opts.baseUrl ?? DEFAULT_APNS_BASE_URL).replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let jwt: { value: string; at: number } | undefined;
  let session: http2.ClientHttp2Session | undefined;

  async function bearer(): Promise<string> {
    if (jwt && Date.now() - jwt.at < TOKEN_LIFETIME_MS) return jwt.value;
    const key = await importPKCS8(pem, 'ES256');
    const value = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: keyId }).setIssuer(teamId).setIssuedAt().sign(key);
    jwt = { value, at: Date.now() };
    return value;
  }

  function connection(): http2.ClientHttp2Session {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(base);
    s.on('error', () => undefined); // a broken session fails its streams; the next send connects again
    s.on('close', () => {
      if (session === s) session = undefined;
    });
    s.unref();
    session = s;
    return s;
  }

  function post(path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = connection().request({ ':method': 'POST', ':path': path, ...headers, 'content-type': 'application/json' }, { signal });
      stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      let responseHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ status: Number(responseHeaders[':status'] ?? 0), headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      stream.on('error', reject);
      stream.on('close', () => {
        if (!responseHeaders[':status']) reject(new Error('the stream closed without an answer'));
      });
      stream.end(body);
    });
  }

  return {
    name: 'apns',
    async send(device, m) {
      if (!device.token) throw permanent(ErrorType.NoAddress, 'an apns device without a token');
      const payload = JSON.stringify({ aps: { alert: { title: m.title, body: m.body }, sound: 'default' }, ...(m.url ? { url: m.url } : {}), ...(m.data ?? {}) });
      let answer: Awaited<ReturnType<typeof post>>;
      try {
        answer = await post(
          `/3/device/${encodeURIComponent(device.token)}`,
          {
            authorization: `bearer ${await bearer()}`,
            'apns-topic': topic,
            'apns-push-type': 'alert',
            'apns-priority': m.urgency === 'high' ? '10' : '5',
            'apns-collapse-id': m.collapseKey.slice(0, 64),
            'apns-expiration': String(Math.floor(Date.now() / 1000) + m.ttlSeconds),
          },
          payload,
          m.signal,
        );
      } catch (err) {
        m.signal.throwIfAborted();
        throw new Error(`apns request failed: ${(err as Error).message}`);
      }
      if (answer.status === 200) return String(answer.headers['apns-id'] ?? '');
      const reason = (JSON.parse(answer.body || '{}') as { reason?: string }).reason ?? '';
      if (answer.status === 410 || reason === 'BadDeviceToken' || reason === 'Unregistered' || reason === 'DeviceTokenNotForTopic') throw new DeviceGone('apns', reason || '410');
      if (answer.status === 403 && reason === 'ExpiredProviderToken') jwt = undefined;
      const retryAfter = answer.headers['retry-after'];
      throw httpFailure('apns', answer.status, reason, typeof retryAfter === 'string' ? retryAfter : null);
    },
    async close() {
      session?.close();
    },
  };
}
