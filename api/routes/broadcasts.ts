import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { and, count, eq, sql } from 'drizzle-orm';
import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { broadcasts, notifications } from '../../db/schema.js';
import { BROADCAST_STATUSES, broadcastCounts, type BroadcastStatus } from '../../domain/broadcast.js';
import { cancelBroadcastSignal } from '../../domain/workflow-messages.js';
import { workflowIds } from '../../domain/workflow-ids.js';
import { type BroadcastInput } from '../../domain/broadcast.js';
import { broadcastInputOf, broadcastStartOptions, prepareBroadcast, recordBroadcast } from '../../usecases/accept.js';
import { idempotencyHeader, json, jsonBody, router, security, tenantProblems, Timestamp } from '../contract.js';
import type { AppDeps, Env } from '../deps.js';
import { claimIdempotencyKey, releaseIdempotencyKey, requestHash } from '../../usecases/idempotency.js';
import { newId } from '../../usecases/ids.js';
import { conflict, notFound, Problem } from '../problem.js';
import { BroadcastBody, ResourceId } from '../../usecases/schemas.js';
import { idempotencyKeyOf } from '../validate.js';

const IdParam = z.object({ id: ResourceId });
const IdempotencyHeader = idempotencyHeader('broadcast');
const Count = z.number().int();
const BroadcastView = z
  .object({
    id: z.string(),
    status: z.enum(BROADCAST_STATUSES),
    template: z.string(),
    templateVersion: z.number().int(),
    total: Count,
    sent: Count,
    failed: Count,
    suppressed: Count,
    cancelled: Count,
    pending: Count,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('Broadcast');
const Started = z.object({ id: z.string(), status: z.enum(BROADCAST_STATUSES), total: Count });

/** A broadcast with its live progress, counted from its notifications' statuses. */
async function loadBroadcast(db: Db, tenantId: string, id: string) {
  const [b] = await db
    .select()
    .from(broadcasts)
    .where(and(eq(broadcasts.tenantId, tenantId), eq(broadcasts.id, id)));
  if (!b) throw notFound('Broadcast');
  const rows = await db
    .select({ status: notifications.status, n: count() })
    .from(notifications)
    .where(eq(notifications.broadcastId, id))
    .groupBy(notifications.status);
  const status = b.status as BroadcastStatus;
  return {
    id: b.id,
    status,
    template: b.templateKey,
    templateVersion: b.templateVersion,
    ...broadcastCounts(b.total, Object.fromEntries(rows.map((r) => [r.status, r.n])), status),
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

export function broadcastRoutes(deps: AppDeps) {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  // A repeat of a request whose broadcast already runs under the other type finds its id taken
  // (the id is the business id): it is left alone either way.
  const workflowType = deps.broadcastBatches === false ? 'broadcastWorkflow' : 'broadcastBatchWorkflow';
  const app = router<Env>();

  /** Starts a recorded broadcast's workflow; one already started (or finished) is left alone. */
  async function start(input: BroadcastInput) {
    try {
      await temporal.client.workflow.start(workflowType, broadcastStartOptions(input, temporal.taskQueue, temporal.fairnessWeights));
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw Object.assign(new Problem(503, 'The workflow service is unavailable; nothing was accepted. Retry later.', [], { 'retry-after': '5' }), { cause: err });
    }
  }

  const send = createRoute({
    method: 'post',
    path: '/',
    summary: 'Send to many recipients (up to 100,000, or all)',
    security: security.tenant,
    request: { headers: IdempotencyHeader, body: jsonBody(BroadcastBody) },
    responses: { 202: json(Started, 'Accepted; its progress is at GET /v1/broadcasts/{id}'), ...tenantProblems(409) },
  });
  app.openapi(send, async (c) => {
    const tenantId = c.get('tenantId');
    const body = c.req.valid('json');
    const idemKey = idempotencyKeyOf(c);
    const plan = await prepareBroadcast(db, tenantId, body);
    const id = newId('bc', now());
    if (idemKey !== undefined) {
      const existing = await claimIdempotencyKey(db, now(), tenantId, idemKey, requestHash(body), id);
      if (existing) {
        // A repeat: the first request's broadcast, started if that request died before starting it.
        const [row] = await db.select().from(broadcasts).where(eq(broadcasts.id, existing));
        if (!row) throw new Problem(409, 'The first request with this Idempotency-Key is still in progress; retry', [], { 'retry-after': '1' });
        if (row.status === 'running') await start(broadcastInputOf(row, deps.retry, deps.broadcastTuning));
        return c.json({ id: row.id, status: row.status as BroadcastStatus, total: row.total }, 202);
      }
    }
    const input = await recordBroadcast(db, tenantId, body, plan, { id, retry: deps.retry, tuning: deps.broadcastTuning });
    try {
      await start(input);
    } catch (err) {
      await db.delete(broadcasts).where(eq(broadcasts.id, id));
      if (idemKey !== undefined) await releaseIdempotencyKey(db, tenantId, idemKey);
      throw err;
    }
    return c.json({ id, status: 'running' as const, total: input.total }, 202);
  });

  const get = createRoute({
    method: 'get',
    path: '/{id}',
    summary: 'Broadcast progress',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(BroadcastView, 'The broadcast'), ...tenantProblems() },
  });
  app.openapi(get, async (c) => {
    return c.json(await loadBroadcast(db, c.get('tenantId'), c.req.valid('param').id), 200);
  });

  const cancel = createRoute({
    method: 'post',
    path: '/{id}/cancel',
    summary: 'Stop every recipient not yet sent',
    security: security.tenant,
    request: { params: IdParam },
    responses: { 200: json(BroadcastView, 'The broadcast'), ...tenantProblems(409) },
  });
  app.openapi(cancel, async (c) => {
    const tenantId = c.get('tenantId');
    const { id } = c.req.valid('param');
    // The broadcast reads cancelled from now on; its workflow, signalled, starts no further
    // recipient and cancels every notification not yet sent.
    const [cancelled] = await db
      .update(broadcasts)
      .set({ status: 'cancelled', updatedAt: sql`now()` })
      .where(and(eq(broadcasts.tenantId, tenantId), eq(broadcasts.id, id), eq(broadcasts.status, 'running')))
      .returning({ id: broadcasts.id });
    const current = await loadBroadcast(db, tenantId, id);
    if (!cancelled && current.status === 'completed') throw conflict('The broadcast has already completed');
    try {
      await temporal.client.workflow.getHandle(workflowIds.broadcast(tenantId, id)).signal(cancelBroadcastSignal);
    } catch (err) {
      // Finished: nothing is left to stop.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    return c.json(current, 200);
  });

  return app;
}
