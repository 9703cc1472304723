// What the use-cases need of Temporal to start and signal workflows.
import type { Client } from '@temporalio/client';
import type { FairnessWeights } from '../domain/priority.js';

export interface TemporalDeps {
  client: Client;
  taskQueue: string;
  /** A worker shares this process and connection (`npm start`): start workflows eagerly. */
  eagerStart?: boolean;
  /** Operator-set fairness weights by tenant (README: "Priority and fairness"). */
  fairnessWeights?: FairnessWeights;
}
