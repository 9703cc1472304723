// Acceptance of notification requests: validation against the tenant's data,
// pinning of what the workflow will use, and the rows that record it. The HTTP routes and the
// runs of schedules (activities) both accept through here, so a scheduled send is accepted
// exactly as a POST would be.
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client, type WorkflowStartOptions } from '@temporalio/client';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { deliveries, idempotencyKeys, notificationEvents, notifications, recipients, templates } from '../db/schema.js';
import { digestData, jsonBytes } from '../domain/digest.js';
import { addressFor } from '../domain/preferences.js';
import { notificationPriority, startsEagerly, type FairnessWeights } from '../domain/priority.js';
import { deliveryId } from '../domain/delivery.js';
import type { Channel, NotificationInput, NotificationStatus, Priority, RetrySettings } from '../domain/types.js';
import { invalidInput, RequestError, unavailable, type FieldError } from '../domain/errors.js';
import { joinDigest } from './digest.js';
import type { TemporalDeps } from './temporal.js';

import { claimIdempotencyKey, requestHash } from './idempotency.js';
import { newId } from './ids.js';
import { toRecipient } from '../db/recipients.js';
import { notificationSearchAttributes, workflowIds } from '../domain/workflow-ids.js';
import { LIMITS, type NotificationRequest } from './schemas.js';
import { checkRunPayload, DIGEST_DATA_BYTES } from './payload-size.js';
import { contentFor, findTemplateVersion, loadTemplateVersion, missingTemplateVariables, missingVariablesError } from './templates.js';

/**
 * `sendAt` lies between a day ago (a client's clock a little behind) and a year ahead: a
 * timer further out is a mistake, and a year like 0000 is one PostgreSQL cannot store.
 */
function checkSendAt(sendAt: string, nowMs: number) {
  const at = Date.parse(sendAt);
  if (!(at >= nowMs - LIMITS.sendAtPastMs && at <= nowMs + LIMITS.sendAtFutureMs)) {
    const message = 'must lie between a day ago and a year (366 days) ahead';
    throw invalidInput(`sendAt ${message}`, [{ path: 'sendAt', message }]);
  }
}

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
  // The recipient and the template's latest version number in one round trip.
  const [found] = await db
    .select({
      recipient: recipients,
      latest: sql<number | null>`(select ${templates.latestVersion} from ${templates} where ${templates.tenantId} = ${tenantId} and ${templates.key} = ${body.template})`,
    })
    .from(recipients)
    .where(and(eq(recipients.tenantId, tenantId), eq(recipients.id, body.recipient)));
  if (!found) throw invalidInput(`Recipient ${body.recipient} does not exist`, [{ path: 'recipient', message: 'unknown recipient' }]);
  const recipientRow = found.recipient;
  const version = found.latest === null ? null : await loadTemplateVersion(db, tenantId, body.template, Number(found.latest));
  if (!version) throw invalidInput(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  const recipient = toRecipient(recipientRow);
  const chosen = contentFor(version, recipient.locale);
  let channels: Channel[];
  if (body.channels) {
    const errors = body.channels.flatMap((ch, i) => {
      if (!chosen.channels.includes(ch)) return [{ path: `channels.${i}`, message: `template ${body.template} has no ${ch} content` }];
      if (!addressFor(recipient, ch)) return [{ path: `channels.${i}`, message: `recipient has no ${ch} address` }];
      return [];
    });
    if (errors.length) throw invalidInput(errors.map((e) => e.message).join('; '), errors);
    channels = body.channels;
  } else {
    channels = chosen.channels.filter((ch) => addressFor(recipient, ch));
    if (channels.length === 0)
      throw invalidInput('No channel has both template content and a recipient address', [{ path: 'channels', message: 'no deliverable channel' }]);
  }
  const missing = missingTemplateVariables(chosen.content, channels, opts.templateData ?? body.data);
  if (missing.length) throw missingVariablesError(missing);
  // The wake loads the recipient as toRecipient() shapes it, with the preferences beside it.
  checkRunPayload(
    { content: chosen.content, channels, dataBytes: body.digest ? DIGEST_DATA_BYTES : jsonBytes(body.data), digest: Boolean(body.digest), recipient: { recipient, preferences: recipientRow.preferences } },
    { template: version.key, locale: chosen.locale },
  );
  if (body.sendAt && Number.isNaN(Date.parse(body.sendAt))) throw invalidInput('sendAt is not a valid date', [{ path: 'sendAt', message: 'invalid date' }]);
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
      input.channels.map((channel, position) => ({ id: deliveryId(input.notificationId, channel), notificationId: input.notificationId, position, channel, status: 'pending' })),
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
export function notificationStartOptions(input: NotificationInput, taskQueue: string, eager = false, weights?: FairnessWeights) {
  return {
    taskQueue,
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    args: [input] as [NotificationInput],
    // A running one is joined; a finished one is never run again (no second send).
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: notificationSearchAttributes(input),
    priority: notificationPriority(input, { weights }),
    ...(eager ? { requestEagerStart: true } : {}),
  } satisfies WorkflowStartOptions;
}

/**
 * The accepted notification's row, its pending deliveries and its first event, in one
 * statement; nothing when the row exists already. The API writes it after the start (so a
 * read right after the 202 finds it) and the workflow's first local activity writes it too
 * (so a run whose API died before writing still has its record): whichever comes first wins.
 */
export function recordAcceptedStatement(input: NotificationInput, workflowId: string): SQL {
  return sql`with n as (
      insert into notifications (id, tenant_id, recipient_id, template_key, template_version, category, priority, strategy, channels, data, status, send_at, workflow_id)
      values (${input.notificationId}, ${input.tenantId}, ${input.recipientId}, ${input.template.key}, ${input.template.version}, ${input.category},
        ${input.priority}, ${input.strategy}, ${JSON.stringify(input.channels)}::jsonb, ${JSON.stringify(input.data)}::jsonb, 'accepted',
        ${input.sendAt}::timestamptz, ${workflowId})
      on conflict do nothing
      returning id
    ), d as (
      insert into deliveries (id, notification_id, position, channel, status)
      select n.id || '.' || c.channel, n.id, c.position - 1, c.channel, 'pending'
      from n, jsonb_array_elements_text(${JSON.stringify(input.channels)}::jsonb) with ordinality as c(channel, position)
    ), e as (
      insert into notification_events (notification_id, status) select id, 'accepted' from n
    )`;
}

export async function recordAccepted(db: Db, input: NotificationInput, workflowId: string): Promise<void> {
  await db.execute(sql`${recordAcceptedStatement(input, workflowId)} select count(*) from n`);
}

/** Validates and records a notification in one go (a schedule's run, which then starts it). */
export async function acceptScheduled(db: Db, tenantId: string, body: NotificationRequest, opts: { id: string; retry: RetrySettings }): Promise<NotificationInput> {
  const input = await prepareNotification(db, tenantId, body, opts);
  await recordAccepted(db, input, workflowIds.notification(tenantId, input.notificationId));
  return input;
}

export interface AcceptDeps {
  db: Db;
  temporal: TemporalDeps;
  /** Retry settings pinned into each notification. */
  retry: RetrySettings;
  now?: () => number;
}

const startUnavailable = (err: unknown) =>
  unavailable('The workflow service did not confirm the start. Retry with the same Idempotency-Key to be sure of one notification.', err);

/**
 * Accepts a notification request: validates it, claims its Idempotency-Key, starts its
 * workflow and records it. Every answer names a notification whose workflow runs; a run
 * always writes its own record, so none is left without one; nothing is ever deleted.
 *
 * - With an Idempotency-Key, the first request claims the key for a new id; a repeat with the
 *   same body (concurrent or later) gets that id and starts the same workflow id, which the
 *   conflict policy joins (running) or refuses to run twice (finished). A crashed first
 *   request is completed by its retry.
 * - A start whose answer is lost (the server may have started it) answers 503 and keeps the
 *   key's claim, so a retry joins whatever did start.
 */
export async function acceptNotification(
  deps: AcceptDeps,
  tenantId: string,
  body: NotificationRequest,
  opts: { idempotencyKey?: string } = {},
): Promise<{ id: string; status: NotificationStatus }> {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  if (body.digest && body.sendAt)
    throw invalidInput('A digest is sent when its window closes: sendAt does not apply', [{ path: 'sendAt', message: 'not allowed with digest' }]);
  if (body.sendAt) checkSendAt(body.sendAt, now());
  // A digest's template sees the joined items, not one request's data.
  const templateData = body.digest ? digestData([body.data]) : undefined;
  const input = await prepareNotification(db, tenantId, body, { id: newId('ntf', now()), retry: deps.retry, templateData });

  let repeat = false;
  if (opts.idempotencyKey !== undefined) {
    const existing = await claimIdempotencyKey(db, now(), tenantId, opts.idempotencyKey, requestHash(body), input.notificationId);
    if (existing) {
      input.notificationId = existing;
      repeat = true;
    }
  }

  if (body.digest) {
    let join;
    try {
      join = await joinDigest(temporal, { input, digest: body.digest });
    } catch (err) {
      throw startUnavailable(err);
    }
    // The window's row, if its digest workflow has not written it yet (the first write wins).
    await recordNotifications(db, [
      { input: join.input, workflowId: workflowIds.digest(tenantId, input.recipientId, body.digest.key), status: 'scheduled', releaseAt: join.releaseAt },
    ]);
    if (opts.idempotencyKey !== undefined && join.notificationId !== input.notificationId)
      await db
        .update(idempotencyKeys)
        .set({ resourceId: join.notificationId })
        .where(and(eq(idempotencyKeys.tenantId, tenantId), eq(idempotencyKeys.key, opts.idempotencyKey)));
    return { id: join.notificationId, status: 'scheduled' };
  }

  const id = input.notificationId;
  try {
    await temporal.client.workflow.start('notificationWorkflow', notificationStartOptions(input, temporal.taskQueue, temporal.eagerStart && startsEagerly(input.priority), temporal.fairnessWeights));
  } catch (err) {
    // Refused as a duplicate: this id has run already; its record says how it went.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw startUnavailable(err);
  }
  try {
    await recordAccepted(db, input, workflowIds.notification(tenantId, id));
  } catch {
    // The run is started and writes this record itself: the notification is accepted.
  }
  if (!repeat) return { id, status: 'accepted' };
  const [row] = await db.select({ status: notifications.status }).from(notifications).where(eq(notifications.id, id));
  return { id, status: (row?.status ?? 'accepted') as NotificationStatus };
}

/** A refusal whose field paths are prefixed (`notification.recipient`), for nested bodies. */
export function prefixErrors(err: unknown, prefix: string): unknown {
  if (!(err instanceof RequestError) || err.kind !== 'invalid') return err;
  return invalidInput(err.message, err.errors.map((e) => ({ ...e, path: `${prefix}.${e.path}` })));
}
