// The erasure and retention workflows' activities: thin wrappers over usecases/erasure.ts with
// the worker's database and Temporal client.
import { Context } from '@temporalio/activity';
import { Client } from '@temporalio/client';
import type { ConnectionLike } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { cancelRecipientNotifications, deleteListedRuns, deleteRecipientNotifications, finishRecipientErasure, purgeOnce, type ErasureInput } from '../usecases/erasure.js';

export interface ErasureActivityDeps {
  db: Db;
  /** The worker's connection: erasure cancels notifications and deletes histories through it. */
  connection: ConnectionLike;
  namespace: string;
  taskQueue: string;
}

export function createErasureActivities(deps: ErasureActivityDeps) {
  const client = new Client({ connection: deps.connection, namespace: deps.namespace });
  const temporal = { client, taskQueue: deps.taskQueue };
  return {
    /** Cancels a page of the recipient's running notifications; answers how many were running. */
    cancelRecipientNotifications: (input: ErasureInput) => cancelRecipientNotifications({ db: deps.db, temporal }, input),
    /** Deletes a page of the recipient's notifications (histories and rows); 0 when none is left. */
    deleteRecipientNotifications: (input: ErasureInput) => deleteRecipientNotifications({ db: deps.db, client, namespace: deps.namespace }, input),
    /** Deletes the runs the search attributes name as the recipient's (digests), heartbeating per run. */
    deleteListedRuns: (input: ErasureInput) => deleteListedRuns({ client, namespace: deps.namespace }, input, () => Context.current().heartbeat()),
    finishRecipientErasure: (input: ErasureInput) => finishRecipientErasure(deps.db, input),
    /** One bounded retention pass over rows older than `days`. */
    purgeExpired: (input: { days: number }) => purgeOnce(deps.db, input.days),
  };
}

export type ErasureActivities = ReturnType<typeof createErasureActivities>;
export type { ErasureInput };
