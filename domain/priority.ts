// Priority lanes and tenant fairness on Temporal's task-queue Priority (README: "Priority and
// fairness"). Pure: the API, the use-cases and the workflows all compute a run's Priority here.
import type { Priority } from './types.js';

/** Temporal's priority keys: 1 dispatches first; the server's default (no key) is 3. */
const PRIORITY_KEYS: Readonly<Record<Priority, number>> = { critical: 1, high: 2, normal: 3, low: 4 };

/** Recipients of a broadcast go after every single send, whatever the broadcast's priority. */
export const BULK_PRIORITY_KEY = 5;

/** Incidents page people: they are dispatched with critical sends. */
const INCIDENT_PRIORITY_KEY = PRIORITY_KEYS.critical;

/**
 * Where the API shares its process with a worker (`npm start`), runs of these lanes start
 * eagerly: their first workflow task runs here at once instead of waiting for a poll. The other
 * lanes start through the server's matching, which orders them by priority and, within a lane,
 * shares the worker between tenants: an eager start would skip that queue.
 */
export function startsEagerly(priority: Priority): boolean {
  return PRIORITY_KEYS[priority] <= PRIORITY_KEYS.high;
}

/** `matching.priorityLevels`, the server's number of keys (5 by default, its maximum key). */
export const PRIORITY_LEVELS = 5;

/** Temporal's `Priority` message, as the SDKs take it. */
export interface TaskPriority {
  priorityKey: number;
  /** The tenant id: each tenant's tasks get their share of the workers within a priority key. */
  fairnessKey: string;
  /** Set only when the operator weights the tenant; unset is 1 (and inherited by children and activities). */
  fairnessWeight?: number;
}

/** Operator-configured fairness weights by tenant id (`TENANT_FAIRNESS_WEIGHTS`). */
export type FairnessWeights = Readonly<Record<string, number>>;

function taskPriority(tenantId: string, priorityKey: number, weights?: FairnessWeights): TaskPriority {
  const weight = weights?.[tenantId];
  return { priorityKey, fairnessKey: tenantId, ...(weight !== undefined && weight !== 1 ? { fairnessWeight: weight } : {}) };
}

/** The Priority of a notification's run and its activities; `bulk` for a broadcast's recipients. */
export function notificationPriority(n: { tenantId: string; priority: Priority }, opts: { bulk?: boolean; weights?: FairnessWeights } = {}): TaskPriority {
  return taskPriority(n.tenantId, opts.bulk ? BULK_PRIORITY_KEY : PRIORITY_KEYS[n.priority], opts.weights);
}

/** Broadcasts (and their pages of recipients) run in the bulk lane. */
export function broadcastPriority(b: { tenantId: string }, weights?: FairnessWeights): TaskPriority {
  return taskPriority(b.tenantId, BULK_PRIORITY_KEY, weights);
}

export function incidentPriority(i: { tenantId: string }, weights?: FairnessWeights): TaskPriority {
  return taskPriority(i.tenantId, INCIDENT_PRIORITY_KEY, weights);
}

/**
 * Parses `TENANT_FAIRNESS_WEIGHTS` (`{"acme":3,"beta":0.5}`): positive finite numbers only,
 * as the server refuses others.
 */
export function parseFairnessWeights(raw: string | undefined): FairnessWeights {
  if (raw === undefined || raw.trim() === '') return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('TENANT_FAIRNESS_WEIGHTS must be a JSON object of tenant id to weight');
  const out: Record<string, number> = {};
  for (const [tenant, w] of Object.entries(parsed)) {
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) throw new Error(`TENANT_FAIRNESS_WEIGHTS.${tenant} must be a positive number`);
    out[tenant] = w;
  }
  return out;
}
