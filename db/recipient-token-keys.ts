// The tenants' recipient-token secrets, sealed like integration credentials.
import { and, desc, eq, isNull, ne, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { recipientTokenKeys } from './schema.js';

export type RecipientTokenKeyRow = typeof recipientTokenKeys.$inferSelect;

/** The tenant's unretired token keys, newest first. */
export async function tokenKeysOf(db: Db, tenantId: string): Promise<RecipientTokenKeyRow[]> {
  return db
    .select()
    .from(recipientTokenKeys)
    .where(and(eq(recipientTokenKeys.tenantId, tenantId), isNull(recipientTokenKeys.retiredAt)))
    .orderBy(desc(recipientTokenKeys.createdAt), desc(recipientTokenKeys.kid));
}

/** Adds a key; with `retireOthers`, every older key stops verifying at once. */
export async function addTokenKey(db: Db, row: Pick<RecipientTokenKeyRow, 'tenantId' | 'kid' | 'secret'>, retireOthers: boolean): Promise<void> {
  await db.transaction(async (tx) => {
    if (retireOthers)
      await tx
        .update(recipientTokenKeys)
        .set({ retiredAt: sql`now()` })
        .where(and(eq(recipientTokenKeys.tenantId, row.tenantId), isNull(recipientTokenKeys.retiredAt)));
    await tx.insert(recipientTokenKeys).values(row).onConflictDoNothing();
  });
}

/** Token keys sealed under another encryption key than `keyId` (for re-sealing at start). */
export async function tokenKeysSealedElsewhere(db: Db, keyId: string): Promise<Array<Pick<RecipientTokenKeyRow, 'tenantId' | 'kid' | 'secret'>>> {
  return db
    .select({ tenantId: recipientTokenKeys.tenantId, kid: recipientTokenKeys.kid, secret: recipientTokenKeys.secret })
    .from(recipientTokenKeys)
    .where(ne(sql`split_part(${recipientTokenKeys.secret}, '.', 2)`, keyId));
}

/** Replaces a key's sealed secret if it is still `before`. */
export async function replaceSealedTokenKey(db: Db, tenantId: string, kid: string, before: string, after: string): Promise<void> {
  await db
    .update(recipientTokenKeys)
    .set({ secret: after })
    .where(and(eq(recipientTokenKeys.tenantId, tenantId), eq(recipientTokenKeys.kid, kid), eq(recipientTokenKeys.secret, before)));
}
