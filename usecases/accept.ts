// Acceptance of notification requests: validation against the tenant's data,
// pinning of what the workflow will use, and the rows that record it. The HTTP routes and the
// runs of schedules (activities) both accept through here, so a scheduled send is accepted
// exactly as a POST would be.
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type WorkflowStartOptions } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { pointIdempotencyKey } from '../db/idempotency-keys.js';
import { notificationStatus, recipientWithLatestTemplate, recordAccepted, recordNotifications } from '../db/notifications.js';
import { digestData, jsonBytes } from '../domain/digest.js';
import { addressFor } from '../domain/preferences.js';
import { notificationPriority, startsEagerly, type FairnessWeights } from '../domain/priority.js';
import { NOTIFICATION_REVISION, type Channel, type NotificationInput, type NotificationStatus, type Priority, type RetrySettings } from '../domain/types.js';
import { flowChannels, flowTemplates, initialStepStates, type FlowInput } from '../domain/flows.js';
import { recordFlowAccepted } from '../db/flows.js';
import { prepareFlowRun } from './flows.js';
import { invalidInput, RequestError, unavailable } from '../domain/errors.js';
import { joinDigest } from './digest.js';
import type { TemporalDeps } from './temporal.js';

import { claimIdempotencyKey, requestHash } from './idempotency.js';
import { newId } from './ids.js';
import { toRecipient, type RecipientRow } from '../db/recipients.js';
import { flowSearchAttributes, notificationSearchAttributes, workflowIds } from '../domain/workflow-ids.js';
import { LIMITS, type NotificationRequest } from './schemas.js';
import { checkRunPayload, DIGEST_DATA_BYTES } from './payload-size.js';
import { contentFor, loadTemplateVersion, missingTemplateVariables, missingVariablesError, type TemplateVersionRow } from './templates.js';

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
  const found = await recipientWithLatestTemplate(db, tenantId, body.recipient, body.template);
  if (!found) throw invalidInput(`Recipient ${body.recipient} does not exist`, [{ path: 'recipient', message: 'unknown recipient' }]);
  const version = found.latest === null ? null : await loadTemplateVersion(db, tenantId, body.template, Number(found.latest));
  if (!version) throw invalidInput(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  return planNotification(tenantId, body, found.recipient, version, opts);
}

/**
 * The checks of prepareNotification once the recipient's row and the template version are at
 * hand: an event's page (usecases/events.ts) loads a page of recipients and its rule's pinned
 * version once, then plans each notification through here, so it is accepted exactly as a POST.
 */
export function planNotification(
  tenantId: string,
  body: NotificationRequest,
  recipientRow: RecipientRow,
  version: TemplateVersionRow,
  opts: { id: string; retry: RetrySettings; templateData?: unknown },
): NotificationInput {
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
    revision: NOTIFICATION_REVISION,
  };
}

/** What starting a notification's run (by template or by flow) sets alike: its id, reuse policies, priority. */
function runStartOptions(input: NotificationInput | FlowInput, taskQueue: string, eager: boolean, weights?: FairnessWeights) {
  return {
    taskQueue,
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    // A running one is joined; a finished one is never run again (no second send).
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    priority: notificationPriority(input, { weights }),
    ...(eager ? { requestEagerStart: true } : {}),
  };
}

/** How the notification workflow of an accepted input is started (API, schedules). */
export function notificationStartOptions(input: NotificationInput, taskQueue: string, eager = false, weights?: FairnessWeights) {
  return {
    ...runStartOptions(input, taskQueue, eager, weights),
    args: [input] as [NotificationInput],
    typedSearchAttributes: notificationSearchAttributes(input),
  } satisfies WorkflowStartOptions;
}

/** Validates and records a notification in one go (a schedule's run, which then starts it). */
export async function acceptScheduled(db: Db, tenantId: string, body: NotificationRequest, opts: { id: string; retry: RetrySettings }): Promise<NotificationInput> {
  const input = await prepareNotification(db, tenantId, body, opts);
  await recordAccepted(db, input, workflowIds.notification(tenantId, input.notificationId));
  return input;
}

interface AcceptDeps {
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

  const repeat = await claimFor(db, now(), tenantId, opts.idempotencyKey, body, input);

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
      await pointIdempotencyKey(db, tenantId, opts.idempotencyKey, join.notificationId);
    return { id: join.notificationId, status: 'scheduled' };
  }

  return startThenRecord(
    db,
    input.notificationId,
    repeat,
    () => temporal.client.workflow.start('notificationWorkflow', notificationStartOptions(input, temporal.taskQueue, temporal.eagerStart && startsEagerly(input.priority), temporal.fairnessWeights)),
    () => recordAccepted(db, input, workflowIds.notification(tenantId, input.notificationId)),
  );
}

/** Claims the Idempotency-Key (if any) for `input`'s id; a repeat takes the first request's id. Answers whether it is a repeat. */
async function claimFor(db: Db, at: number, tenantId: string, key: string | undefined, body: unknown, input: { notificationId: string }): Promise<boolean> {
  if (key === undefined) return false;
  const existing = await claimIdempotencyKey(db, at, tenantId, key, requestHash(body), input.notificationId);
  if (!existing) return false;
  input.notificationId = existing;
  return true;
}

/**
 * Starts a notification's run, then writes its accepted record; answers its id and status (a
 * repeat's as recorded). A start refused as a duplicate means this id has run already (its record
 * says how it went); a record that fails is written by the started run itself.
 */
async function startThenRecord(db: Db, id: string, repeat: boolean, start: () => Promise<unknown>, record: () => Promise<unknown>): Promise<{ id: string; status: NotificationStatus }> {
  try {
    await start();
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw startUnavailable(err);
  }
  try {
    await record();
  } catch {
    // The run is started and writes this record itself: the notification is accepted.
  }
  if (!repeat) return { id, status: 'accepted' };
  return { id, status: (await notificationStatus(db, id)) ?? 'accepted' };
}

/** A refusal whose field paths are prefixed (`notification.recipient`), for nested bodies. */
export function prefixErrors(err: unknown, prefix: string): unknown {
  if (!(err instanceof RequestError) || err.kind !== 'invalid') return err;
  return invalidInput(err.message, err.errors.map((e) => ({ ...e, path: `${prefix}.${e.path}` })));
}

/** A notification sent by flow (`"flow"` in place of `"template"`): what POST /v1/notifications takes then. */
export interface FlowNotificationRequest {
  recipient: string;
  flow: string;
  data: Record<string, unknown>;
  category?: string;
  priority: Priority;
}

/** How a flow run is started: as a notification's, under the same workflow id (cancel and status work alike). */
export function flowStartOptions(input: FlowInput, taskQueue: string, eager = false, weights?: FairnessWeights) {
  return { ...runStartOptions(input, taskQueue, eager, weights), args: [input] as [FlowInput], typedSearchAttributes: flowSearchAttributes(input) } satisfies WorkflowStartOptions;
}

/** A flow run's accepted record: its first template, the channels its sends may use, its steps pending. */
export function flowAcceptedRecord(input: FlowInput, eventId?: string) {
  const first = flowTemplates(input.steps)[0] ?? '';
  return {
    templateKey: first,
    templateVersion: input.templates[first] ?? 0,
    channels: flowChannels(input.steps),
    steps: initialStepStates(input.steps),
    workflowId: workflowIds.notification(input.tenantId, input.notificationId),
    ...(eventId ? { eventId } : {}),
  };
}

/**
 * Accepts a notification by flow: the flow's latest version (and its templates' latest) is
 * pinned, its run (workflows/flow.ts) started and its record written, with the same
 * Idempotency-Key and start guarantees as acceptNotification.
 */
export async function acceptFlowNotification(
  deps: AcceptDeps,
  tenantId: string,
  body: FlowNotificationRequest,
  opts: { idempotencyKey?: string } = {},
): Promise<{ id: string; status: NotificationStatus }> {
  const { db, temporal } = deps;
  const now = deps.now ?? Date.now;
  const input = await prepareFlowRun(db, tenantId, body, { id: newId('ntf', now()), retry: deps.retry });
  const repeat = await claimFor(db, now(), tenantId, opts.idempotencyKey, body, input);
  return startThenRecord(
    db,
    input.notificationId,
    repeat,
    () => temporal.client.workflow.start('flowWorkflow', flowStartOptions(input, temporal.taskQueue, temporal.eagerStart && startsEagerly(input.priority), temporal.fairnessWeights)),
    () => recordFlowAccepted(db, input, flowAcceptedRecord(input)),
  );
}
