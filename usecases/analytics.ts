// Delivery analytics and failed-delivery tooling: the counts and latency percentiles per bucket
// and key, the failed deliveries a page at a time, and retries of finished notifications' failed
// deliveries, one (an Idempotency-Key names it) or in bulk over a range. A retry is a
// retryWorkflow per notification and request key (workflowIds.retry), so Temporal itself refuses
// a second run of the same request.
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import { z } from '@hono/zod-openapi';
import type { Db } from '../db/client.js';
import {
  deliveryAnalytics,
  failedDeliveriesPage,
  retryCandidatesPage,
  retryState,
  RETRYABLE_STATUSES,
  type AnalyticsGroupBy,
  type AnalyticsInterval,
  type DeliveryCursor,
} from '../db/analytics.js';
import { conflictWith, invalidInput, missing } from '../domain/errors.js';
import { ANALYTICS_MAX_DAYS, ANALYTICS_MAX_HOUR_DAYS, type RetryInput } from '../domain/retry.js';
import { CHANNELS, TERMINAL_STATUSES, type Channel, type NotificationStatus, type RetrySettings } from '../domain/types.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import type { TemporalDeps } from './temporal.js';

const DAY_MS = 24 * 3600_000;
/** Rows an analytics answer holds at most: a range's buckets times its keys. */
const ANALYTICS_MAX_ROWS = 10_000;
/** Notifications a bulk retry reads and starts per page. */
const BULK_PAGE = 200;
/** Starts in flight at once within a page. */
const BULK_PARALLEL = 20;

const Instant = z.iso.datetime({ offset: true }).max(40);

export const AnalyticsQuery = z.object({
  from: Instant.optional().openapi({ description: 'Start (inclusive); default `to` less 24 hours' }),
  to: Instant.optional().openapi({ description: 'End (exclusive); default now' }),
  interval: z.enum(['hour', 'day']).default('hour'),
  groupBy: z.enum(['channel', 'template', 'category', 'provider']).default('channel'),
});

export const FailedDeliveriesQuery = z.object({
  status: z.literal('failed').default('failed').openapi({ description: 'Only `failed` for now' }),
  channel: z.enum(CHANNELS).optional(),
  from: Instant.optional().openapi({ description: 'Created at or after; default `to` less 7 days' }),
  to: Instant.optional().openapi({ description: 'Created before; default now' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor from a previous page').optional(),
});

export const BulkRetryBody = z.object({
  status: z.literal('failed'),
  channel: z.enum(CHANNELS).optional(),
  from: Instant,
  to: Instant,
});

/** [from, to) from the query, with its defaults and bounds: 400 past them. */
function rangeOf(q: { from?: string; to?: string }, defaultDays: number, maxDays: number): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - defaultDays * DAY_MS);
  if (from.getTime() >= to.getTime()) throw invalidInput('from must be before to', [{ path: 'query.from', message: 'must be before to' }]);
  if (to.getTime() - from.getTime() > maxDays * DAY_MS)
    throw invalidInput(`The range is at most ${maxDays} days`, [{ path: 'query.to', message: `must be at most ${maxDays} days after from` }]);
  return { from, to };
}

const iso = (v: Date | string) => new Date(v).toISOString();

export interface AnalyticsBucket {
  bucket: string;
  key: string | null;
  sent: number;
  delivered: number;
  failed: number;
  bounced: number;
  skipped: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

/** The tenant's deliveries per bucket and key (README: "Analytics and failed deliveries"). */
export async function analyticsOfDeliveries(db: Db, tenantId: string, q: z.infer<typeof AnalyticsQuery>): Promise<{ data: AnalyticsBucket[] }> {
  const maxDays = q.interval === 'hour' ? ANALYTICS_MAX_HOUR_DAYS : ANALYTICS_MAX_DAYS;
  const { from, to } = rangeOf(q, 1, maxDays);
  const rows = await deliveryAnalytics(db, tenantId, {
    from,
    to,
    interval: q.interval as AnalyticsInterval,
    groupBy: q.groupBy as AnalyticsGroupBy,
    limit: ANALYTICS_MAX_ROWS + 1,
  });
  if (rows.length > ANALYTICS_MAX_ROWS)
    throw invalidInput(`The answer would hold more than ${ANALYTICS_MAX_ROWS} rows`, [{ path: 'query', message: 'narrow the range or use a coarser interval' }]);
  const ms = (v: number | null) => (v === null || v === undefined ? null : Math.round(Number(v)));
  return {
    data: rows.map((r) => ({
      bucket: iso(r.bucket),
      key: r.key,
      sent: Number(r.sent),
      delivered: Number(r.delivered),
      failed: Number(r.failed),
      bounced: Number(r.bounced),
      skipped: Number(r.skipped),
      latencyMs: { p50: ms(r.p50), p95: ms(r.p95), p99: ms(r.p99) },
    })),
  };
}

function encodeCursor(c: DeliveryCursor): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString('base64url');
}

function decodeCursor(cursor: string): DeliveryCursor {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([A-Za-z0-9._:-]{1,100})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const createdAt = new Date(m?.[1] ?? NaN);
  if (!m || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== m[1])
    throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  return { createdAt, id: m[2] };
}

/** A page of the tenant's failed deliveries with their errors, newest first. */
export async function listFailedDeliveries(db: Db, tenantId: string, q: z.infer<typeof FailedDeliveriesQuery>) {
  const { from, to } = rangeOf(q, 7, ANALYTICS_MAX_DAYS);
  const rows = await failedDeliveriesPage(db, tenantId, { from, to, channel: q.channel, after: q.cursor ? decodeCursor(q.cursor) : undefined, limit: q.limit + 1 });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => ({
      id: r.id,
      notificationId: r.notification_id,
      recipient: r.recipient_id,
      template: r.template_key,
      category: r.category,
      channel: r.channel as Channel,
      status: 'failed' as const,
      provider: r.provider,
      attempts: Number(r.attempts),
      error: { code: r.error_code ?? 'unknown', message: r.error_message ?? '' },
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    })),
    nextCursor: rows.length > q.limit && last ? encodeCursor({ createdAt: new Date(last.created_at), id: last.id }) : null,
  };
}

interface RetryDeps {
  db: Db;
  temporal: TemporalDeps;
  retry: RetrySettings;
}

/** A key's part of a workflow id: short and plain whatever the key holds. */
const keyPart = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 22);

/** Starts a retry run; false when one of that id already ran or runs (the request was made before). */
async function startRetry(deps: RetryDeps, tenantId: string, notificationId: string, key: string): Promise<boolean> {
  const input: RetryInput = { tenantId, notificationId, claim: key, retry: deps.retry };
  try {
    await deps.temporal.client.workflow.start('retryWorkflow', {
      taskQueue: deps.temporal.taskQueue,
      workflowId: workflowIds.retry(tenantId, notificationId, key),
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: SA.tenant, value: tenantId },
        { key: SA.kind, value: 'retry' },
      ],
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

/** Whether a retry run of this id exists (running or closed, within the namespace's retention). */
async function retryExists(deps: RetryDeps, workflowId: string): Promise<boolean> {
  try {
    await deps.temporal.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** The retry run a single retry with this Idempotency-Key starts (tests and tools find it by it). */
export const keyedRetryWorkflowId = (tenantId: string, notificationId: string, idempotencyKey: string) =>
  workflowIds.retry(tenantId, notificationId, `k-${keyPart(idempotencyKey)}`);

/**
 * Re-sends the failed deliveries of a finished notification: 202 once the retry has started
 * (or was started before under the same Idempotency-Key: nothing more is done). 404 unknown;
 * 409 while it is not finished or when nothing of it failed.
 */
export async function retryNotification(deps: RetryDeps, tenantId: string, notificationId: string, idempotencyKey?: string): Promise<{ id: string; status: 'retrying' }> {
  const state = await retryState(deps.db, tenantId, notificationId);
  if (!state) throw missing('Notification');
  const key = idempotencyKey ? `k-${keyPart(idempotencyKey)}` : `r-${randomUUID()}`;
  if (idempotencyKey && (await retryExists(deps, workflowIds.retry(tenantId, notificationId, key)))) return { id: notificationId, status: 'retrying' };
  if (!TERMINAL_STATUSES.includes(state.status as NotificationStatus)) throw conflictWith(`The notification has not finished (${state.status})`);
  if (!(RETRYABLE_STATUSES as readonly string[]).includes(state.status) || !state.deliveries.some((d) => d.status === 'failed'))
    throw conflictWith(`Nothing of the notification failed (${state.status})`);
  await startRetry(deps, tenantId, notificationId, key);
  return { id: notificationId, status: 'retrying' };
}

/**
 * Retries every finished notification with a failed delivery (of `channel`) created in
 * [from, to), a page at a time: one retry run each, whose id the request names (its
 * Idempotency-Key, else its body), so a repeated request starts none again. Answers how many
 * it started.
 */
export async function retryFailedDeliveries(deps: RetryDeps, tenantId: string, body: z.infer<typeof BulkRetryBody>, idempotencyKey?: string): Promise<{ count: number }> {
  const from = new Date(body.from);
  const to = new Date(body.to);
  if (from.getTime() >= to.getTime()) throw invalidInput('from must be before to', [{ path: 'from', message: 'must be before to' }]);
  if (to.getTime() - from.getTime() > ANALYTICS_MAX_DAYS * DAY_MS)
    throw invalidInput(`The range is at most ${ANALYTICS_MAX_DAYS} days`, [{ path: 'to', message: `must be at most ${ANALYTICS_MAX_DAYS} days after from` }]);
  const key = `b-${keyPart(idempotencyKey ?? JSON.stringify([from.toISOString(), to.toISOString(), body.channel ?? null]))}`;
  let count = 0;
  let after: DeliveryCursor | undefined;
  for (;;) {
    const page = await retryCandidatesPage(deps.db, tenantId, { from, to, channel: body.channel, after, limit: BULK_PAGE });
    for (let i = 0; i < page.length; i += BULK_PARALLEL) {
      const started = await Promise.all(page.slice(i, i + BULK_PARALLEL).map((c) => startRetry(deps, tenantId, c.notification_id, key)));
      count += started.filter(Boolean).length;
    }
    if (page.length < BULK_PAGE) break;
    const last = page[page.length - 1];
    after = { createdAt: new Date(last.created_at), id: last.notification_id };
  }
  return { count };
}
