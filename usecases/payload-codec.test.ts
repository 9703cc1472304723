import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec, ENCRYPTED_ENCODING, formatEncryptionKeys, generateEncryptionKey, KEY_ID_METADATA, parseEncryptionKeys, type EncryptionKey } from './payload-codec.js';

const key = (id: string): EncryptionKey => ({ id, key: randomBytes(32) });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

const input = { recipient: { email: 'alice@example.com', phone: '+15551234567' }, rendered: 'Your order 1234 shipped', data: { secret: 'tracking-XYZ' } };
const payload = (): Payload => defaultPayloadConverter.toPayload(input)!;

describe('EncryptionCodec', () => {
  it('round-trips a payload, metadata included, and writes nothing of it in clear', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const [sealed] = await codec.encode([payload()]);
    expect(text(sealed.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed.metadata![KEY_ID_METADATA])).toBe('k1');
    expect(Object.keys(sealed.metadata!).sort()).toEqual([METADATA_ENCODING_KEY, KEY_ID_METADATA].sort());
    const raw = Buffer.from(sealed.data!).toString('latin1');
    for (const clear of ['alice@example.com', '+15551234567', 'order 1234', 'tracking-XYZ', 'json/plain']) expect(raw).not.toContain(clear);
    const [opened] = await codec.decode([sealed]);
    expect(text(opened.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(opened)).toEqual(input);
  });

  it('seals each payload with a fresh nonce: the same input twice gives two ciphertexts', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const [a, b] = await codec.encode([payload(), payload()]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('rotates: a new first key seals, the old key id still opens what it sealed', async () => {
    const old = key('2026-01');
    const sealedOld = (await new EncryptionCodec([old]).encode([payload()]))[0];
    const rotated = new EncryptionCodec([key('2026-06'), old]);
    const [sealedNew] = await rotated.encode([payload()]);
    expect(text(sealedNew.metadata![KEY_ID_METADATA])).toBe('2026-06');
    const opened = await rotated.decode([sealedOld, sealedNew]);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([input, input]);
  });

  it('refuses a payload under a key it does not hold, naming the key id and what it holds', async () => {
    const [sealed] = await new EncryptionCodec([key('retired')]).encode([payload()]);
    await expect(new EncryptionCodec([key('current')]).decode([sealed])).rejects.toThrow(
      /encrypted under key "retired", which TOCSIN_ENCRYPTION_KEYS does not hold \(it holds "current"\)/,
    );
  });

  it('refuses altered ciphertext, an altered key id and a truncated payload', async () => {
    const k1 = key('k1');
    const codec = new EncryptionCodec([k1, key('k2')]);
    const [sealed] = await codec.encode([payload()]);
    const flipped = Buffer.from(sealed.data!);
    flipped[20] ^= 1;
    await expect(codec.decode([{ ...sealed, data: flipped }])).rejects.toThrow(/failed authentication under key "k1"/);
    // The key id is bound to the ciphertext: relabelled under another held key, it fails too.
    await expect(codec.decode([{ metadata: { ...sealed.metadata, [KEY_ID_METADATA]: Buffer.from('k2') }, data: sealed.data }])).rejects.toThrow(/failed authentication under key "k2"/);
    await expect(codec.decode([{ ...sealed, data: Buffer.from(sealed.data!).subarray(0, 20) }])).rejects.toThrow(/too short/);
    await expect(codec.decode([{ metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING) }, data: sealed.data }])).rejects.toThrow(/no encryption-key-id/);
  });

  it('passes unencrypted payloads through decode unchanged (runs started before the codec)', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const plain = payload();
    const empty: Payload = { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/null') } };
    const [a, b] = await codec.decode([plain, empty]);
    expect(a).toBe(plain);
    expect(b).toBe(empty);
  });
});

describe('TOCSIN_ENCRYPTION_KEYS', () => {
  it('parses id:base64key lists in order (standard and URL-safe base64) and formats them back', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const keys = parseEncryptionKeys(` one:${a.toString('base64')} , two.b_2-x:${b.toString('base64url')}`);
    expect(keys.map((k) => k.id)).toEqual(['one', 'two.b_2-x']);
    expect(keys[0].key.equals(a)).toBe(true);
    expect(keys[1].key.equals(b)).toBe(true);
    expect(parseEncryptionKeys(formatEncryptionKeys(keys))).toEqual(keys);
    const generated = generateEncryptionKey(new Date('2026-12-03T10:00:00Z'));
    expect(generated.id).toMatch(/^k20261203-[0-9a-f]{6}$/);
    expect(parseEncryptionKeys(formatEncryptionKeys([generated]))).toEqual([generated]);
  });

  it.each([
    ['', /at least one key/],
    ['nokey', /must be id:base64key/],
    [`bad id:${randomBytes(32).toString('base64')}`, /its id must be/],
    [`k1:${randomBytes(16).toString('base64')}`, /must be 32 bytes in base64 \(got 16 bytes\)/],
    ['k1:not base64!', /got no base64/],
    [`k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`, /appears twice/],
  ])('refuses %j', (spec, message) => {
    expect(() => parseEncryptionKeys(spec)).toThrow(message);
  });

  it('never repeats a key in its error message', () => {
    const secret = randomBytes(31).toString('base64');
    expect(() => parseEncryptionKeys(`k1:${secret}`)).toThrow(expect.objectContaining({ message: expect.not.stringContaining(secret) }));
  });
});
