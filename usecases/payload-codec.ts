// The payload codec: every Temporal payload that Tocsin's clients and workers write (workflow
// inputs, activity arguments and results, signals, queries, updates, memos) is sealed with
// AES-256-GCM under TOCSIN_ENCRYPTION_KEYS before it leaves the process, so addresses, rendered
// messages and `data` never sit in clear in a workflow history (README: "Payloads at rest").
//
// A sealed payload: metadata `encoding: binary/encrypted`, `encryption-key-id: <id>`; data
// `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)` of the whole original payload (its metadata
// too), as protobuf. The first key seals; every key opens, so keys rotate. A payload that is not
// sealed (written before the codec, or by a client without it) passes decode unchanged.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { METADATA_ENCODING_KEY, ValueError, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const ProtoPayload = proto.temporal.api.common.v1.Payload;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/**
 * `id1:base64key,id2:base64key` (each key 32 bytes, standard or URL-safe base64) → the keys, the
 * first one sealing. Throws an Error whose message says what is wrong, never a key.
 */
export function parseEncryptionKeys(spec: string): EncryptionKey[] {
  const entries = spec.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('must hold at least one key: id:base64key');
  const keys: EncryptionKey[] = [];
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at).trim();
    const encoded = at < 0 ? '' : entry.slice(at + 1).trim();
    const which = `key ${i + 1}${KEY_ID.test(id) ? ` ("${id}")` : ''}`;
    if (at < 0) throw new Error(`${which} must be id:base64key (no ":" found)`);
    if (!KEY_ID.test(id)) throw new Error(`${which}: its id must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (keys.some((k) => k.id === id)) throw new Error(`${which}: the id "${id}" appears twice`);
    const key = BASE64.test(encoded) ? Buffer.from(encoded, encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
    if (key.length !== KEY_BYTES)
      throw new Error(`${which} must be ${KEY_BYTES} bytes in base64 (got ${BASE64.test(encoded) ? `${key.length} bytes` : 'no base64'}); make one with: openssl rand -base64 32`);
    keys.push({ id, key });
  });
  return keys;
}

/** The TOCSIN_ENCRYPTION_KEYS form of keys. */
export function formatEncryptionKeys(keys: readonly EncryptionKey[]): string {
  return keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
}

/** A fresh random key; its id names the day it was made, so a rotation's keys sort by age. */
export function generateEncryptionKey(now = new Date()): EncryptionKey {
  return { id: `k${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`, key: randomBytes(KEY_BYTES) };
}

const utf8 = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** AES-256-GCM over whole payloads; the key id is bound into the tag as associated data. */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly keyId: string;

  constructor(keys: readonly EncryptionKey[]) {
    if (keys.length === 0) throw new Error('EncryptionCodec needs at least one key');
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.keyId = keys[0].id;
  }

  /** Whether a payload is sealed by this codec's scheme (under any key). */
  static isEncrypted(payload: Payload): boolean {
    return utf8(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.open(p));
  }

  seal(payload: Payload): Payload {
    const key = this.keys.get(this.keyId)!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(this.keyId));
    const body = cipher.update(ProtoPayload.encode(payload).finish());
    const data = Buffer.concat([nonce, body, cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(this.keyId) },
      data,
    };
  }

  open(payload: Payload): Payload {
    if (!EncryptionCodec.isEncrypted(payload)) return payload;
    const keyId = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new ValueError(`An encrypted payload has no ${KEY_ID_METADATA} in its metadata`);
    const key = this.keys.get(keyId);
    if (!key)
      throw new ValueError(
        `A payload is encrypted under key "${keyId}", which TOCSIN_ENCRYPTION_KEYS does not hold (it holds ${[...this.keys.keys()].map((k) => `"${k}"`).join(', ')}): add that key back after the current one`,
      );
    const data = Buffer.from(payload.data ?? []);
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new ValueError(`An encrypted payload (key "${keyId}") is too short to hold a nonce and a tag`);
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(keyId));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ValueError(`An encrypted payload failed authentication under key "${keyId}": it was altered, or that id names another key`);
    }
    return ProtoPayload.decode(plain);
  }
}

/**
 * Temporal's default failure converter with `encodeCommonAttributes`: failure messages and stack
 * traces travel as a payload, which the codec encrypts. A prebuilt workflow bundle must be built
 * with it (bundleWorkflowCode's failureConverterPath).
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('../domain/failure-converter.cjs', import.meta.url));

/** The data converter of every Temporal Client and Worker Tocsin creates: the default payload converter, then the codec. */
export function encryptedDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}
