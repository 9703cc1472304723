// Acceptance of notification and broadcast requests: validation against the tenant's data,
// pinning of what the workflow will use, and the rows that record it. The HTTP routes and the
// runs of schedules (activities) both accept through here, so a scheduled send is accepted
// exactly as a POST would be.
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type WorkflowStartOptions } from '@temporalio/client';
import { and, eq, inArray, asc } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { broadcastRecipients, broadcasts, deliveries, notificationEvents, notifications, recipients } from '../db/schema.js';
import { addressFor } from '../domain/preferences.js';
import { missingVariables } from '../domain/templates.js';
import type { Channel, NotificationInput, NotificationStatus, Priority, RetrySettings } from '../domain/types.js';
import { toRecipient } from '../activities/index.js';
import { broadcastSearchAttributes, notificationSearchAttributes, workflowIds, type BroadcastInput } from '../workflows/messages.js';
import { badRequest, Problem, type FieldError } from './problem.js';
import { contentFor, findTemplateVersion, missingVariablesProblem } from './routes/templates.js';
import { MAX_BROADCAST_RECIPIENTS, type BroadcastRequest, type NotificationRequest } from './schemas.js';

/**
 * Validates a notification request against the tenant's recipient and template, and pins
 * everything the workflow needs (template version, channels, retry settings). Throws a 400
 * Problem naming each field that is wrong. `templateData` is what the template will see when
 * it is not the request's `data` (a digest's `{items, count}`).
 */
export async function prepareNotification(
  db: Db,
  tenantId: string,
  body: NotificationRequest,
  opts: { id: string; retry: RetrySettings; templateData?: unknown },
): Promise<NotificationInput> {
  const [recipientRow] = await db
    .select()
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, body.recipient)));
  if (!recipientRow) throw badRequest(`Recipient ${body.recipient} does not exist`, [{ path: 'recipient', message: 'unknown recipient' }]);
  const version = await findTemplateVersion(db, tenantId, body.template);
  if (!version) throw badRequest(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  const recipient = toRecipient(recipientRow);
  const chosen = contentFor(version, recipient.locale);
  let channels: Channel[];
  if (body.channels) {
    const errors = body.channels.flatMap((ch, i) => {
      if (!chosen.channels.includes(ch)) return [{ path: `channels.${i}`, message: `template ${body.template} has no ${ch} content` }];
      if (!addressFor(recipient, ch)) return [{ path: `channels.${i}`, message: `recipient has no ${ch} address` }];
      return [];
    });
    if (errors.length) throw badRequest(errors.map((e) => e.message).join('; '), errors);
    channels = body.channels;
  } else {
    channels = chosen.channels.filter((ch) => addressFor(recipient, ch));
    if (channels.length === 0)
      throw badRequest('No channel has both template content and a recipient address', [{ path: 'channels', message: 'no deliverable channel' }]);
  }
  const missing = missingVariables(chosen.content, channels, opts.templateData ?? body.data);
  if (missing.length) throw missingVariablesProblem(missing);
  if (body.sendAt && Number.isNaN(Date.parse(body.sendAt))) throw badRequest('sendAt is not a valid date', [{ path: 'sendAt', message: 'invalid date' }]);
  return {
    tenantId,
    notificationId: opts.id,
    recipientId: body.recipient,
    template: { key: version.key, version: version.version },
    data: body.data,
    channels,
    strategy: body.strategy,
    category: body.category ?? null,
    priority: body.priority,
    sendAt: body.sendAt ? new Date(body.sendAt).toISOString() : null,
    retry: opts.retry,
    throttle: body.throttle ?? null,
  };
}

export interface NotificationRecord {
  input: NotificationInput;
  workflowId: string;
  status?: NotificationStatus;
  reason?: string | null;
  releaseAt?: string | null;
  broadcastId?: string | null;
}

/**
 * Writes accepted notifications (row, pending deliveries, first event) in one transaction.
 * Rows that exist already are left alone, so a retried page or a second writer changes
 * nothing. Answers the ids it wrote.
 */
export async function recordNotifications(db: Db, records: NotificationRecord[]): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(notifications)
      .values(
        records.map(({ input, ...r }) => ({
          id: input.notificationId,
          tenantId: input.tenantId,
          recipientId: input.recipientId,
          templateKey: input.template.key,
          templateVersion: input.template.version,
          category: input.category,
          priority: input.priority,
          strategy: input.strategy,
          channels: input.channels,
          data: input.data,
          status: r.status ?? 'accepted',
          reason: r.reason ?? null,
          sendAt: input.sendAt ? new Date(input.sendAt) : null,
          releaseAt: r.releaseAt ? new Date(r.releaseAt) : null,
          workflowId: r.workflowId,
          broadcastId: r.broadcastId ?? null,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: notifications.id });
    const ids = new Set(inserted.map((r) => r.id));
    const fresh = records.filter((r) => ids.has(r.input.notificationId));
    const rows = fresh.flatMap(({ input }) =>
      input.channels.map((channel, position) => ({ id: `${input.notificationId}.${channel}`, notificationId: input.notificationId, position, channel, status: 'pending' })),
    );
    if (rows.length) await tx.insert(deliveries).values(rows);
    if (fresh.length)
      await tx
        .insert(notificationEvents)
        .values(fresh.map((r) => ({ notificationId: r.input.notificationId, status: r.status ?? 'accepted', reason: r.reason ?? null })));
    return ids;
  });
}

/** How the notification workflow of an accepted input is started (API, schedules). */
export function notificationStartOptions(input: NotificationInput, taskQueue: string) {
  return {
    taskQueue,
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    args: [input] as [NotificationInput],
    // A running one is joined; a finished one is never run again (no second send).
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: notificationSearchAttributes(input),
  } satisfies WorkflowStartOptions;
}

/** Validates and records a notification in one go (a schedule's run). */
export async function acceptNotification(db: Db, tenantId: string, body: NotificationRequest, opts: { id: string; retry: RetrySettings }): Promise<NotificationInput> {
  const input = await prepareNotification(db, tenantId, body, opts);
  await recordNotifications(db, [{ input, workflowId: workflowIds.notification(tenantId, input.notificationId) }]);
  return input;
}

// Broadcasts.

/** A broadcast's `data` is copied into every recipient's notification: keep it small. */
const MAX_BROADCAST_DATA_BYTES = 16 * 1024;
const ID_CHUNK = 5000;

export interface BroadcastPlan {
  template: { key: string; version: number };
  channels: Channel[] | null;
  /** The audience, in the order it will be sent to. */
  recipientIds: string[];
}

/**
 * Validates a broadcast request: the template exists and has the asked-for channels, `data`
 * has every variable of every locale, every listed recipient exists. Throws a 400 Problem.
 */
export async function prepareBroadcast(db: Db, tenantId: string, body: BroadcastRequest): Promise<BroadcastPlan> {
  const version = await findTemplateVersion(db, tenantId, body.template);
  if (!version) throw badRequest(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  if (new TextEncoder().encode(JSON.stringify(body.data)).length > MAX_BROADCAST_DATA_BYTES)
    throw badRequest(`data is larger than ${MAX_BROADCAST_DATA_BYTES / 1024} KiB`, [{ path: 'data', message: 'too large for a broadcast' }]);
  const locales = Object.keys(version.content).map((l) => contentFor(version, l));
  const errors: FieldError[] = [];
  (body.channels ?? []).forEach((ch, i) => {
    if (!locales.some((l) => l.channels.includes(ch))) errors.push({ path: `channels.${i}`, message: `template ${body.template} has no ${ch} content` });
  });
  if (errors.length) throw badRequest(errors.map((e) => e.message).join('; '), errors);
  const missing = new Set<string>();
  for (const l of locales) {
    const channels = body.channels ? l.channels.filter((ch) => body.channels!.includes(ch)) : l.channels;
    for (const m of missingVariables(l.content, channels, body.data)) missing.add(m);
  }
  if (missing.size) throw missingVariablesProblem([...missing].sort());

  let recipientIds: string[];
  if (body.recipients) {
    recipientIds = [...new Set(body.recipients)];
    const unknown: string[] = [];
    for (let i = 0; i < recipientIds.length; i += ID_CHUNK) {
      const chunk = recipientIds.slice(i, i + ID_CHUNK);
      const found = await db
        .select({ id: recipients.id })
        .from(recipients)
        .where(and(eq(recipients.tenantId, tenantId), inArray(recipients.id, chunk)));
      const known = new Set(found.map((r) => r.id));
      unknown.push(...chunk.filter((id) => !known.has(id)));
    }
    if (unknown.length)
      throw badRequest(`${unknown.length} recipient(s) do not exist: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`, [
        { path: 'recipients', message: `unknown recipients: ${unknown.slice(0, 10).join(', ')}` },
      ]);
  } else {
    const rows = await db.select({ id: recipients.id }).from(recipients).where(eq(recipients.tenantId, tenantId)).orderBy(asc(recipients.id));
    recipientIds = rows.map((r) => r.id);
    if (recipientIds.length === 0) throw badRequest('The tenant has no recipients', [{ path: 'all', message: 'no recipients' }]);
    if (recipientIds.length > MAX_BROADCAST_RECIPIENTS)
      throw badRequest(`A broadcast reaches at most ${MAX_BROADCAST_RECIPIENTS} recipients`, [{ path: 'all', message: 'too many recipients' }]);
  }
  return { template: { key: version.key, version: version.version }, channels: body.channels ?? null, recipientIds };
}

export interface BroadcastTuning {
  pageSize: number;
  maxInFlight: number;
}
export const DEFAULT_BROADCAST_TUNING: BroadcastTuning = { pageSize: 500, maxInFlight: 1000 };

/** Records a prepared broadcast and its numbered audience; answers the workflow's pinned input. */
/** The pinned input of a recorded broadcast, as it was started (or as a restart must start it). */
export function broadcastInputOf(row: typeof broadcasts.$inferSelect, retry: RetrySettings, tuning?: BroadcastTuning): BroadcastInput {
  return {
    tenantId: row.tenantId,
    broadcastId: row.id,
    template: { key: row.templateKey, version: row.templateVersion },
    data: row.data,
    channels: row.channels as Channel[] | null,
    category: row.category,
    priority: row.priority as Priority,
    retry,
    total: row.total,
    ...(tuning ?? DEFAULT_BROADCAST_TUNING),
  };
}

export async function recordBroadcast(
  db: Db,
  tenantId: string,
  body: BroadcastRequest,
  plan: BroadcastPlan,
  opts: { id: string; retry: RetrySettings; tuning?: BroadcastTuning },
): Promise<BroadcastInput> {
  const input: BroadcastInput = {
    tenantId,
    broadcastId: opts.id,
    template: plan.template,
    data: body.data,
    channels: plan.channels,
    category: body.category ?? null,
    priority: body.priority,
    retry: opts.retry,
    total: plan.recipientIds.length,
    ...(opts.tuning ?? DEFAULT_BROADCAST_TUNING),
  };
  await db.transaction(async (tx) => {
    const inserted = await tx
      .insert(broadcasts)
      .values({
        id: input.broadcastId,
        tenantId,
        templateKey: input.template.key,
        templateVersion: input.template.version,
        data: input.data,
        channels: input.channels,
        category: input.category,
        priority: input.priority,
        audience: body.all ? 'all' : 'list',
        total: input.total,
        status: 'running',
        workflowId: workflowIds.broadcast(tenantId, input.broadcastId),
      })
      .onConflictDoNothing()
      .returning({ id: broadcasts.id });
    if (inserted.length === 0) return; // a retried activity: recorded already
    for (let i = 0; i < plan.recipientIds.length; i += ID_CHUNK)
      await tx
        .insert(broadcastRecipients)
        .values(plan.recipientIds.slice(i, i + ID_CHUNK).map((recipientId, j) => ({ broadcastId: input.broadcastId, seq: i + j, recipientId })));
  });
  return input;
}

/** How the broadcast workflow of an accepted broadcast is started. */
export function broadcastStartOptions(input: BroadcastInput, taskQueue: string) {
  return {
    taskQueue,
    workflowId: workflowIds.broadcast(input.tenantId, input.broadcastId),
    args: [input] as [BroadcastInput],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: broadcastSearchAttributes(input),
  } satisfies WorkflowStartOptions;
}

/** A 400 Problem whose field paths are prefixed (`notification.recipient`), for nested bodies. */
export function prefixProblem(err: unknown, prefix: string): unknown {
  if (!(err instanceof Problem) || err.status !== 400) return err;
  return new Problem(400, err.detail, err.errors.map((e) => ({ ...e, path: `${prefix}.${e.path}` })));
}
