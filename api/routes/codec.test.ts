// The codec server through app.request(): Temporal's remote-codec protocol, the admin token (or
// the session cookie /codec/session sets), CORS for the Temporal UI, and 400s for bad input.
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { offlineAppDeps, openTestDatabase } from '../../test/support.js';
import { EncryptionCodec } from '../../usecases/payload-codec.js';
import { apiConnectionOptions } from '../temporal.js';
import { createApp } from '../app.js';
import { CODEC_COOKIE } from './codec.js';

const ADMIN = 'admin-secret';
const UI = 'http://127.0.0.1:8233';
const previous = { id: 'previous', key: randomBytes(32) };
const codec = new EncryptionCodec([{ id: 'current', key: randomBytes(32) }, previous]);
let db: Database;
let connection: Connection;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  db = await openTestDatabase();
  connection = Connection.lazy(apiConnectionOptions('127.0.0.1:1'));
  app = createApp(
    offlineAppDeps(db.db, connection, { adminToken: ADMIN, codec: { codec, corsOrigins: [UI] }, temporalUi: { url: UI, namespace: 'default' } }),
    { log: () => {} },
  );
});
afterAll(async () => {
  await connection.close().catch(() => {});
  await db.close();
});

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});

const post = (op: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` }) =>
  app.request(`/codec/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const value = { email: 'alice@example.com', data: { n: 1 } };

describe('POST /codec/decode and /codec/encode', () => {
  it('decodes what the codec encoded, under the current and an older key, and passes clear payloads through', async () => {
    const older = new EncryptionCodec([previous]);
    const [sealedNow] = await codec.encode([defaultPayloadConverter.toPayload(value)!]);
    const [sealedBefore] = await older.encode([defaultPayloadConverter.toPayload(value)!]);
    const clear = defaultPayloadConverter.toPayload('plain')!;
    const res = await post('decode', { payloads: [sealedNow, sealedBefore, clear].map(toJson) });
    expect(res.status).toBe(200);
    const { payloads } = await res.json();
    expect(payloads.map((p: any) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([value, value, 'plain']);
  });

  it('encodes under the current key, and what it encodes decodes back', async () => {
    const res = await post('encode', { payloads: [toJson(defaultPayloadConverter.toPayload(value)!)] });
    expect(res.status).toBe(200);
    const { payloads } = await res.json();
    expect(Buffer.from(payloads[0].metadata['encryption-key-id'], 'base64').toString()).toBe('current');
    expect(Buffer.from(payloads[0].data, 'base64').toString('latin1')).not.toContain('alice@example.com');
    const [decoded] = await codec.decode([fromJson(payloads[0])]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(value);
  });

  it('answers 401 without the admin token, before reading the body', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${ADMIN}x` }] as Array<Record<string, string>>) {
      const res = await post('decode', '{not json', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('answers 400 problem+json for malformed bodies, naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /not valid JSON/],
      [{}, /payloads/],
      [{ payloads: [{ data: 'not base64!' }] }, /payloads\.0\.data: must be base64/],
      [{ payloads: [{ metadata: { encoding: 42 } }] }, /payloads\.0\.metadata\.encoding/],
    ];
    for (const [body, detail] of cases) {
      const res = await post('decode', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect((await res.json()).detail).toMatch(detail);
    }
  });

  it('answers 400 naming the payload for an unknown key id or altered ciphertext', async () => {
    const [stranger] = await new EncryptionCodec([{ id: 'elsewhere', key: randomBytes(32) }]).encode([defaultPayloadConverter.toPayload(value)!]);
    const [ours] = await codec.encode([defaultPayloadConverter.toPayload(value)!]);
    const altered = Buffer.from(ours.data!);
    altered[altered.length - 1] ^= 0xff;
    const unknown = await post('decode', { payloads: [toJson(ours), toJson(stranger)] });
    expect(unknown.status).toBe(400);
    const body = await unknown.json();
    expect(body.errors).toEqual([{ path: 'payloads.1', message: expect.stringMatching(/key "elsewhere", which TOCSIN_ENCRYPTION_KEYS does not hold/) }]);
    const tampered = await post('decode', { payloads: [toJson({ ...ours, data: altered })] });
    expect(tampered.status).toBe(400);
    expect((await tampered.json()).errors[0]).toMatchObject({ path: 'payloads.0', message: expect.stringMatching(/failed authentication/) });
  });

  it('answers the Temporal UI’s preflight without credentials, and allows its origin with credentials', async () => {
    const pre = await app.request('/codec/decode', {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(UI);
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase().split(',').map((h) => h.trim()).sort()).toEqual(['authorization', 'content-type', 'x-namespace']);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');

    const res = await post('decode', { payloads: [] }, { origin: UI, authorization: `Bearer ${ADMIN}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    // A refusal carries the CORS headers too, so the UI can show why.
    const refused = await post('decode', { payloads: [] }, { origin: UI });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(UI);

    const other = await app.request('/codec/decode', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets a browser in with the session cookie that /codec/session sets for the admin token', async () => {
    expect((await app.request('/codec/session?token=wrong')).status).toBe(401);
    const res = await app.request(`/codec/session?token=${ADMIN}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(UI);
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(new RegExp(`^${CODEC_COOKIE}=`));
    expect(setCookie).toMatch(/Path=\/codec/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toContain(ADMIN);
    const cookie = setCookie.split(';')[0];
    expect((await post('decode', { payloads: [] }, { cookie })).status).toBe(200);
    expect((await post('decode', { payloads: [] }, { cookie: `${CODEC_COOKIE}=forged` })).status).toBe(401);
  });

  it('is in /openapi.json', async () => {
    const doc = await (await app.request('/openapi.json')).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/codec/decode', '/codec/encode', '/codec/session']));
    expect(doc.paths['/codec/decode'].post.security).toEqual([{ admin: [] }]);
  });
});
