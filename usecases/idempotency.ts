// Idempotency-Key: the first request with a key claims it for the resource it creates; a repeat
// with the same body answers that resource, with another body 409. Keys expire after a day.
import type { Db } from '../db/client.js';
import { deleteIdempotencyKey, findIdempotencyKey, insertIdempotencyKey } from '../db/idempotency-keys.js';
import { conflictWith, RequestError } from '../domain/errors.js';
import { canonicalJson, sha256 } from './ids.js';

const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** The hash a key's request body is compared by. */
export const requestHash = (body: unknown) => sha256(canonicalJson(body));

/** Claims a key for resource `id`: null when it is new (and now ours), else the id it already names. */
export async function claimIdempotencyKey(db: Db, nowMs: number, tenantId: string, key: string, hash: string, id: string): Promise<string | null> {
  for (let i = 0; i < 3; i++) {
    if (await insertIdempotencyKey(db, { tenantId, key, requestHash: hash, resourceId: id })) return null;
    const existing = await findIdempotencyKey(db, tenantId, key);
    if (!existing) continue;
    if (existing.createdAt.getTime() < nowMs - IDEMPOTENCY_TTL_MS) {
      await deleteIdempotencyKey(db, tenantId, key, existing.createdAt);
      continue;
    }
    if (existing.requestHash !== hash) throw conflictWith('This Idempotency-Key was used with a different request body');
    return existing.resourceId;
  }
  throw Object.assign(new RequestError('conflict', 'This Idempotency-Key is being used concurrently; retry', [], 1));
}
