import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { codecCorsOrigins, encryptionKeys } from './index.js';

describe('encryptionKeys', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'tocsin-keys-'));
    dirs.push(d);
    return d;
  };

  it('generates one key into DATA_DIR (mode 0600) when unset, and reads the same one at the next start', () => {
    const dir = dataDir();
    const first = encryptionKeys(loadConfig({ DATA_DIR: dir }));
    expect(first.file).toBe(join(dir, 'encryption-keys'));
    expect(first.keys).toHaveLength(1);
    expect(first.keys[0].key).toHaveLength(32);
    expect(statSync(first.file!).mode & 0o777).toBe(0o600);
    expect(readFileSync(first.file!, 'utf8').trim()).toMatch(/^k\d{8}-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=$/);
    const again = encryptionKeys(loadConfig({ DATA_DIR: dir }));
    expect(again.keys).toEqual(first.keys);
  });

  it('takes TOCSIN_ENCRYPTION_KEYS as given and writes no file', () => {
    const dir = dataDir();
    const keys = encryptionKeys(loadConfig({ DATA_DIR: dir, TOCSIN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 9).toString('base64')}` }));
    expect(keys.file).toBeUndefined();
    expect(keys.keys.map((k) => k.id)).toEqual(['k1']);
    expect(() => statSync(join(dir, 'encryption-keys'))).toThrow(/ENOENT/);
  });

  it('refuses to start on an existing Temporal cluster without TOCSIN_ENCRYPTION_KEYS, saying how to set it', () => {
    expect(() => encryptionKeys(loadConfig({ DATA_DIR: dataDir(), TEMPORAL_ADDRESS: 'temporal:7233' }))).toThrow(
      /TOCSIN_ENCRYPTION_KEYS is required with TEMPORAL_ADDRESS.*openssl rand -base64 32/,
    );
  });
});

describe('codecCorsOrigins', () => {
  it("allows the Temporal UI's origin, and both loopback names for a loopback UI", () => {
    expect(codecCorsOrigins(undefined)).toEqual([]);
    expect(codecCorsOrigins('https://temporal.example.com/ui/')).toEqual(['https://temporal.example.com']);
    expect(codecCorsOrigins('http://127.0.0.1:8233')).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
  });
});
