// Integration credentials at rest: envelope encryption under TOCSIN_ENCRYPTION_KEYS. Each
// credential set gets its own random data key; the data key seals the credentials' JSON with
// AES-256-GCM, and the first TOCSIN_ENCRYPTION_KEYS key seals the data key (AES-256-GCM too),
// bound to the integration (tenant and id as associated data), so a sealed value copied to
// another row does not open. Any listed key opens; `rewrap` moves a value to the first key
// without touching the credentials, which is what a key rotation does to every row.
//
// Sealed form (one string): `v1.<key id>.<wrapped data key>.<sealed credentials>`, each part
// base64url of nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from './payload-codec.js';

const NONCE = 12;
const TAG = 16;

function seal(key: Buffer, plain: Buffer, aad: string): string {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

function open(key: Buffer, sealed: string, aad: string): Buffer {
  const raw = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(raw.subarray(raw.length - TAG));
  return Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]);
}

/** What a sealed value is bound to: its integration. */
export interface CredentialOwner {
  tenantId: string;
  integrationId: string;
}

const aadOf = (o: CredentialOwner, part: 'key' | 'data') => `tocsin/integration/${part}/${o.tenantId}/${o.integrationId}`;

export function sealCredentials(keys: readonly EncryptionKey[], owner: CredentialOwner, credentials: Record<string, string>): string {
  const [kek] = keys;
  const dataKey = randomBytes(32);
  try {
    return ['v1', kek.id, seal(kek.key, dataKey, aadOf(owner, 'key')), seal(dataKey, Buffer.from(JSON.stringify(credentials)), aadOf(owner, 'data'))].join('.');
  } finally {
    dataKey.fill(0);
  }
}

function parts(sealed: string) {
  const [version, keyId, wrapped, data] = sealed.split('.');
  if (version !== 'v1' || !keyId || !wrapped || !data) throw new Error('not a sealed credential value');
  return { keyId, wrapped, data };
}

function dataKeyOf(keys: readonly EncryptionKey[], owner: CredentialOwner, sealed: string) {
  const p = parts(sealed);
  const kek = keys.find((k) => k.id === p.keyId);
  if (!kek) throw new Error(`the credentials are sealed under key "${p.keyId}", which TOCSIN_ENCRYPTION_KEYS no longer lists`);
  return { ...p, dataKey: open(kek.key, p.wrapped, aadOf(owner, 'key')) };
}

export function openCredentials(keys: readonly EncryptionKey[], owner: CredentialOwner, sealed: string): Record<string, string> {
  const { dataKey, data } = dataKeyOf(keys, owner, sealed);
  try {
    return JSON.parse(open(dataKey, data, aadOf(owner, 'data')).toString('utf8')) as Record<string, string>;
  } finally {
    dataKey.fill(0);
  }
}

/** The key a value is sealed under. */
export const sealedKeyId = (sealed: string) => parts(sealed).keyId;

/** The same credentials with their data key sealed under the first key: nothing else changes. */
export function rewrapCredentials(keys: readonly EncryptionKey[], owner: CredentialOwner, sealed: string): string {
  const { dataKey, data } = dataKeyOf(keys, owner, sealed);
  try {
    return ['v1', keys[0].id, seal(keys[0].key, dataKey, aadOf(owner, 'key')), data].join('.');
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Moves each row's sealed value under the first key (a key rotation): `replace` stores the new
 * form. A value sealed under a key no longer listed is left as it is and counted.
 */
export async function rewrapAll<T>(
  keys: readonly EncryptionKey[],
  rows: readonly T[],
  sealed: (row: T) => { owner: CredentialOwner; value: string },
  replace: (row: T, after: string) => Promise<void>,
): Promise<{ rewrapped: number; unreadable: number }> {
  let rewrapped = 0;
  let unreadable = 0;
  for (const row of rows) {
    const { owner, value } = sealed(row);
    let after: string;
    try {
      after = rewrapCredentials(keys, owner, value);
    } catch {
      unreadable++;
      continue;
    }
    await replace(row, after);
    rewrapped++;
  }
  return { rewrapped, unreadable };
}

/** A credential as answers show it: its first three and last four characters (`re_…4f2a`), or only `…` when short. */
export function maskCredential(value: string): string {
  return value.length >= 12 ? `${value.slice(0, 3)}…${value.slice(-4)}` : '…';
}
