// Escalation policies: ordered steps, each a channel, a target and an acknowledgement timeout,
// and `repeat` more passes over them (bounded: POLICY_LIMITS in usecases/schemas.ts). An incident
// pins its policy when it is triggered.
import type { Db } from '../db/client.js';
import { findPolicy, putPolicy, type EscalationPolicyRow } from '../db/escalation-policies.js';
import { missing } from '../domain/errors.js';
import type { EscalationStep } from '../domain/types.js';
import { refuseWebhookUrls } from './webhook-address.js';

interface PolicyDeps {
  db: Db;
  /** The operator's WEBHOOK_ALLOWED_HOSTS. */
  webhookAllowedHosts?: readonly string[];
}

/** Creates or replaces a policy; a webhook step's refused target is a 400 naming the step. */
export async function putEscalationPolicy(deps: PolicyDeps, tenantId: string, key: string, policy: { steps: EscalationStep[]; repeat: number }): Promise<EscalationPolicyRow> {
  refuseWebhookUrls(deps.webhookAllowedHosts, ...policy.steps.flatMap((step, i) => (step.channel === 'webhook' ? [[`steps.${i}.target`, step.target] as [string, string]] : [])));
  return putPolicy(deps.db, tenantId, key, policy);
}

export async function getEscalationPolicy(deps: PolicyDeps, tenantId: string, key: string): Promise<EscalationPolicyRow> {
  const row = await findPolicy(deps.db, tenantId, key);
  if (!row) throw missing('Escalation policy');
  return row;
}
