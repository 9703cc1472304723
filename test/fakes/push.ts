// Fake push providers in their wire formats, each recording what it accepted:
// - FCM: an OAuth2 token endpoint (POST /token, grant_type jwt-bearer, whose assertion it
//   verifies with the service account's public key) and HTTP v1 messages:send (Bearer token);
//   a token in `gone` answers 404 UNREGISTERED.
// - APNs: HTTP/2 without TLS (h2c), POST /3/device/{token} with an ES256 provider token (kid,
//   iss) it verifies with the p8 key's public half; a token in `gone` answers 410 Unregistered.
// - Web Push: POST /push/{id}: checks the VAPID Authorization (`vapid t=<JWT>, k=<key>`) and
//   decrypts the aes128gcm body with the subscription's private key and auth secret; a
//   subscription in `gone` answers 410.
import { createECDH, generateKeyPairSync, randomBytes, type ECDH } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
// @ts-expect-error http_ece ships no types
import ece from 'http_ece';
import { decodeProtectedHeader, importJWK, importSPKI, jwtVerify, type JWK } from 'jose';
import { type FakeServer, hex, type RecordedRequest, type Reply, startFakeServer } from './server.js';

export interface FakeFcm extends FakeServer {
  /** The service account JSON to configure (FCM_SERVICE_ACCOUNT), its token_uri pointing here. */
  serviceAccount: string;
  messages: Array<{ message: any; accessToken: string }>;
  gone: Set<string>;
}

export async function startFakeFcm(projectId = 'tocsin-test'): Promise<FakeFcm> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
  const clientEmail = `tocsin@${projectId}.iam.gserviceaccount.com`;
  const issued = new Set<string>();
  const messages: FakeFcm['messages'] = [];
  const gone = new Set<string>();
  const verified = new WeakSet<RecordedRequest>();

  function handle(req: RecordedRequest): Reply {
    if (req.method === 'POST' && req.path === '/token') {
      if (!verified.has(req) || req.body?.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
      const accessToken = `ya29.${hex(24)}`;
      issued.add(accessToken);
      return { status: 200, body: { access_token: accessToken, expires_in: 3600, token_type: 'Bearer' } };
    }
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.path);
    if (req.method !== 'POST' || !m) return { status: 404, body: { error: { code: 404, status: 'NOT_FOUND', message: 'no such method' } } };
    const bearer = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
    if (!issued.has(bearer)) return { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' } } };
    const token = req.body?.message?.token;
    if (gone.has(token))
      return { status: 404, body: { error: { code: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.', details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }] } } };
    messages.push({ message: req.body.message, accessToken: bearer });
    return { status: 200, body: { name: `projects/${m[1]}/messages/0:${hex(16)}` } };
  }

  // The assertion (a JWT the service account's key signed) is verified before the handler runs.
  const server = await startFakeServer(handle, undefined, async (req) => {
    if (req.method !== 'POST' || req.path !== '/token') return;
    try {
      const { payload } = await jwtVerify(String(req.body?.assertion ?? ''), spki, { issuer: clientEmail });
      if (payload.scope === 'https://www.googleapis.com/auth/firebase.messaging') verified.add(req);
    } catch {
      // unverified: the handler answers invalid_grant
    }
  });
  return Object.assign(server, {
    serviceAccount: JSON.stringify({
      type: 'service_account',
      project_id: projectId,
      private_key_id: hex(20),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      token_uri: `${server.url}/token`,
    }),
    messages,
    gone,
  });
}

export interface ApnsRequest {
  token: string;
  headers: Record<string, string>;
  payload: any;
  claims: { iss?: string; iat?: number };
  kid?: string;
}

export interface FakeApns {
  url: string;
  /** The p8 key (PEM) to configure (APNS_KEY). */
  key: string;
  keyId: string;
  teamId: string;
  requests: ApnsRequest[];
  gone: Set<string>;
  close(): Promise<void>;
}

export async function startFakeApns(topic: string): Promise<FakeApns> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'ES256');
  const keyId = 'ABC123DEFG';
  const teamId = 'TEAM123456';
  const requests: ApnsRequest[] = [];
  const gone = new Set<string>();
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', async () => {
      const answer = (status: number, body?: unknown, extra: Record<string, string> = {}) => {
        stream.respond({ ':status': status, 'content-type': 'application/json', ...extra });
        stream.end(body === undefined ? '' : JSON.stringify(body));
      };
      const m = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(String(headers[':path']));
      if (headers[':method'] !== 'POST' || !m) return answer(404, { reason: 'BadPath' });
      const jwt = String(headers.authorization ?? '').replace(/^bearer /, '');
      let claims: ApnsRequest['claims'];
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(jwt).kid;
        claims = (await jwtVerify(jwt, spki, { issuer: teamId })).payload as ApnsRequest['claims'];
        if (kid !== keyId) throw new Error('kid');
      } catch {
        return answer(403, { reason: 'InvalidProviderToken' });
      }
      if (headers['apns-topic'] !== topic) return answer(400, { reason: 'DeviceTokenNotForTopic' });
      if (gone.has(m[1])) return answer(410, { reason: 'Unregistered', timestamp: Date.now() });
      const flat = Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith(':')).map(([k, v]) => [k, String(v)]));
      requests.push({ token: m[1], headers: flat, payload: JSON.parse(Buffer.concat(chunks).toString('utf8')), claims, kid });
      answer(200, undefined, { 'apns-id': crypto.randomUUID().toUpperCase() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyId,
    teamId,
    requests,
    gone,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
}

/** A browser's push subscription: the keys a service worker would make. */
export interface TestSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  ecdh: ECDH;
}

export interface FakeWebPush extends FakeServer {
  subscribe(id: string): TestSubscription;
  /** Decrypted payloads, with the headers that came with them. */
  received: Array<{ id: string; payload: any; ttl: string; urgency: string | undefined; topic: string | undefined; vapidKey: string }>;
  gone: Set<string>;
}

/** Served over HTTPS (as every push service is) with `tls`: give its certificate to the sender (WEBPUSH_CA). */
export async function startFakeWebPush(vapidPublicKey: string, tls: { key: string; cert: string }): Promise<FakeWebPush> {
  const subscriptions = new Map<string, TestSubscription>();
  const received: FakeWebPush['received'] = [];
  const gone = new Set<string>();
  const vapid = new WeakMap<RecordedRequest, string>();
  const server = await startFakeServer(
    (req) => {
      const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.path);
      const sub = m && subscriptions.get(m[1]);
      if (req.method !== 'POST' || !m || !sub) return { status: 404, body: 'no such subscription' };
      if (gone.has(m[1])) return { status: 410, body: 'push subscription has unsubscribed or expired' };
      if (!vapid.has(req)) return { status: 403, body: 'bad VAPID' };
      if (req.headers['content-encoding'] !== 'aes128gcm') return { status: 415, body: 'aes128gcm only' };
      const plain = ece.decrypt(req.rawBytes, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.keys.auth }) as Buffer;
      received.push({ id: m[1], payload: JSON.parse(plain.toString('utf8')), ttl: req.headers.ttl, urgency: req.headers.urgency, topic: req.headers.topic, vapidKey: vapid.get(req)! });
      return { status: 201, headers: { location: `https://${req.headers.host}/messages/${hex(12)}` }, body: '' };
    },
    undefined,
    // Authorization: vapid t=<JWT signed ES256 by the application server>, k=<its public key>
    async (req) => {
      const auth = /^vapid t=([^,]+),\s*k=(.+)$/.exec(req.headers.authorization ?? '');
      if (!auth || auth[2] !== vapidPublicKey) return;
      const raw = Buffer.from(auth[2], 'base64url');
      const jwk: JWK = { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') };
      try {
        const { payload } = await jwtVerify(auth[1], await importJWK(jwk, 'ES256'), { audience: `https://${req.headers.host}` });
        if (typeof payload.sub === 'string' && typeof payload.exp === 'number') vapid.set(req, auth[2]);
      } catch {
        // unverified: 403
      }
    },
    tls,
  );
  return Object.assign(server, {
    subscribe(id: string): TestSubscription {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const sub = { endpoint: `${server.url}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') }, ecdh };
      subscriptions.set(id, sub);
      return sub;
    },
    received,
    gone,
  });
}
