import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maskCredential, openCredentials, rewrapCredentials, sealCredentials, sealedKeyId } from './credentials.js';

const key = (id: string) => ({ id, key: randomBytes(32) });
const owner = { tenantId: 'ten_a', integrationId: 'primary' };

describe('integration credentials (envelope encryption)', () => {
  const one = key('one');
  const two = key('two');
  const credentials = { apiKey: 're_live_0123456789abcdef' };

  it('seals under the first key, opens with it, and holds nothing in clear', () => {
    const sealed = sealCredentials([one, two], owner, credentials);
    expect(sealedKeyId(sealed)).toBe('one');
    expect(sealed).not.toContain('re_live');
    expect(Buffer.from(sealed.split('.')[3], 'base64url').toString('latin1')).not.toContain('re_live');
    expect(openCredentials([one], owner, sealed)).toEqual(credentials);
    // A fresh data key and nonce each time.
    expect(sealCredentials([one], owner, credentials)).not.toBe(sealed);
  });

  it('is bound to its integration: a value copied to another row does not open', () => {
    const sealed = sealCredentials([one], owner, credentials);
    expect(() => openCredentials([one], { ...owner, integrationId: 'backup' }, sealed)).toThrow();
    expect(() => openCredentials([one], { ...owner, tenantId: 'ten_b' }, sealed)).toThrow();
  });

  it('a rotation re-seals the data key under the new first key; the credentials part is unchanged and the old key is no longer needed', () => {
    const sealed = sealCredentials([one], owner, credentials);
    const rotated = rewrapCredentials([two, one], owner, sealed);
    expect(sealedKeyId(rotated)).toBe('two');
    expect(rotated.split('.')[3]).toBe(sealed.split('.')[3]);
    expect(openCredentials([two], owner, rotated)).toEqual(credentials);
    expect(() => openCredentials([one], owner, rotated)).toThrow(/no longer lists/);
    expect(() => openCredentials([two], owner, 'garbage')).toThrow(/not a sealed credential value/);
  });

  it('masks as the first three and last four characters, or only … when short', () => {
    expect(maskCredential('re_live_0123456789abcdef')).toBe('re_…cdef');
    expect(maskCredential('short')).toBe('…');
  });
});
