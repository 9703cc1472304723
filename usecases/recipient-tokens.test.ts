// Recipient tokens on PGlite (and PostgreSQL when DATABASE_URL is set): what verifies and what
// does not. A token names its tenant, recipient and purpose; each tenant's secrets are its own.
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, testDatabaseKinds, TEST_ENCRYPTION_KEYS } from '../test/support.js';
import { parseEncryptionKeys } from './payload-codec.js';
import { issueRecipientToken, rotateTokenKey, verifyRecipientToken, type RecipientTokenDeps } from './recipient-tokens.js';
import { createTenant } from './tenants.js';

describe.each(testDatabaseKinds)('recipient tokens on %s', (kind) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let deps: RecipientTokenDeps;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    deps = { db: db.db, encryptionKeys: parseEncryptionKeys(TEST_ENCRYPTION_KEYS) };
    acme = (await createTenant(db.db, { name: 'Acme', criticalRatePerMinute: null })).id;
    globex = (await createTenant(db.db, { name: 'Globex', criticalRatePerMinute: null })).id;
  });
  afterAll(async () => {
    await db.close();
  });

  const issue = (tenantId: string, more: Partial<Parameters<typeof issueRecipientToken>[1]> = {}, d: RecipientTokenDeps = deps) =>
    issueRecipientToken(d, { tenantId, recipientId: 'ann', purpose: 'me', ...more });

  it('verifies a valid token as its tenant, recipient and purpose, with its expiry', async () => {
    const before = Date.now();
    const { token, expiresAt } = await issue(acme, { ttlSeconds: 600 });
    expect(expiresAt.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 600_000);
    const claims = await verifyRecipientToken(deps, token, 'me');
    expect(claims).toMatchObject({ tenantId: acme, recipientId: 'ann', purpose: 'me' });
    expect(claims!.expiresAt.getTime()).toBe(expiresAt.getTime());
  });

  it('bounds the lifetime by the purpose’s longest', async () => {
    const { expiresAt } = await issue(acme, { ttlSeconds: 10 * 365 * 86_400 });
    expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(30 * 86_400_000 + 1000);
  });

  it('refuses an expired token', async () => {
    // Issued two hours ago for one hour.
    const { token } = await issue(acme, { ttlSeconds: 3600 }, { ...deps, now: () => Date.now() - 2 * 3600_000 });
    expect(await verifyRecipientToken(deps, token, 'me')).toBeNull();
  });

  it('refuses a forged token: another secret under the same key id, an altered payload, garbage', async () => {
    const { token } = await issue(acme);
    const { kid } = decodeProtectedHeader(token);
    const forged = await new SignJWT({ tid: acme })
      .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
      .setIssuer('tocsin')
      .setAudience('tocsin:me')
      .setSubject('ann')
      .setExpirationTime('1h')
      .sign(randomBytes(32));
    expect(await verifyRecipientToken(deps, forged, 'me')).toBeNull();
    // The same signature over another recipient.
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const altered = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url');
    expect(await verifyRecipientToken(deps, `${header}.${altered}.${signature}`, 'me')).toBeNull();
    // No signature at all (alg none).
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${payload}.`;
    expect(await verifyRecipientToken(deps, none, 'me')).toBeNull();
    for (const junk of ['', 'x', 'a.b.c', 'tsk_0123456789ab_secret']) expect(await verifyRecipientToken(deps, junk, 'me')).toBeNull();
  });

  it('refuses a token of another purpose', async () => {
    const { token } = await issue(acme, { purpose: 'preferences' });
    expect(await verifyRecipientToken(deps, token, 'me')).toBeNull();
    expect(await verifyRecipientToken(deps, token, 'preferences')).toMatchObject({ purpose: 'preferences' });
  });

  it('keeps old tokens through a rotation, and refuses them once it retires the old secrets', async () => {
    const { token: old } = await issue(globex);
    await rotateTokenKey(deps, globex);
    const { token: middle } = await issue(globex);
    expect(decodeProtectedHeader(middle).kid).not.toBe(decodeProtectedHeader(old).kid);
    expect(await verifyRecipientToken(deps, old, 'me')).not.toBeNull();
    await rotateTokenKey(deps, globex, true);
    expect(await verifyRecipientToken(deps, old, 'me')).toBeNull();
    expect(await verifyRecipientToken(deps, middle, 'me')).toBeNull();
    const { token: fresh } = await issue(globex);
    expect(await verifyRecipientToken(deps, fresh, 'me')).toMatchObject({ tenantId: globex });
  });

  it('refuses a token that names another tenant than the one whose secret signed it', async () => {
    // Acme's secret and key id, but Globex named: Globex has no such key.
    const { token } = await issue(acme);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const moved = Buffer.from(JSON.stringify({ ...claims, tid: globex })).toString('base64url');
    expect(await verifyRecipientToken(deps, `${header}.${moved}.${signature}`, 'me')).toBeNull();
    // Globex's own token verifies as Globex's, never as Acme's.
    const { token: theirs } = await issue(globex);
    expect(await verifyRecipientToken(deps, theirs, 'me')).toMatchObject({ tenantId: globex });
  });
});
