// Escalation policies: a tenant's steps and repeats, by key.
import { and, eq, sql } from 'drizzle-orm';
import type { EscalationStep } from '../domain/types.js';
import type { Db } from './client.js';
import { escalationPolicies } from './schema.js';

export type EscalationPolicyRow = typeof escalationPolicies.$inferSelect;

export async function findPolicy(db: Db, tenantId: string, key: string): Promise<EscalationPolicyRow | undefined> {
  const [row] = await db
    .select()
    .from(escalationPolicies)
    .where(and(eq(escalationPolicies.tenantId, tenantId), eq(escalationPolicies.key, key)));
  return row;
}

/** Creates the policy or replaces its steps and repeats. */
export async function putPolicy(db: Db, tenantId: string, key: string, policy: { steps: EscalationStep[]; repeat: number }): Promise<EscalationPolicyRow> {
  const [row] = await db
    .insert(escalationPolicies)
    .values({ tenantId, key, steps: policy.steps, repeat: policy.repeat })
    .onConflictDoUpdate({
      target: [escalationPolicies.tenantId, escalationPolicies.key],
      set: { steps: policy.steps, repeat: policy.repeat, updatedAt: sql`now()` },
    })
    .returning();
  return row;
}
