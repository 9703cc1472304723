// Broadcasts: validation of the audience and the template, the recorded broadcast and its
// workflow's start, progress, and cancel. The route and a schedule's run (activities/fanout.ts)
// accept through here.
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowNotFoundError, type WorkflowStartOptions } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { broadcastNotificationCounts, findBroadcast, insertBroadcast, markBroadcastCancelled, type BroadcastRow } from '../db/broadcasts.js';
import { allRecipientIds, existingRecipientIds, recipientPage } from '../db/recipients.js';
import { findTopic, subscriberPage } from '../db/topics.js';
import { holds } from '../domain/cel.js';
import { celRecipient } from '../domain/events.js';
import { CEL_VARIABLES, checkCel } from './rules.js';
import { broadcastCounts, type BroadcastInput, type BroadcastStatus } from '../domain/broadcast.js';
import { jsonBytes } from '../domain/digest.js';
import { conflictWith, invalidInput, missing, RequestError, unavailable, type FieldError } from '../domain/errors.js';
import { broadcastPriority, type FairnessWeights } from '../domain/priority.js';
import type { Channel, Priority, RetrySettings } from '../domain/types.js';
import { broadcastSearchAttributes, workflowIds } from '../domain/workflow-ids.js';
import { cancelBroadcastSignal } from '../domain/workflow-messages.js';
import { claimIdempotencyKey, requestHash } from './idempotency.js';
import { newId } from './ids.js';
import { checkRunPayload } from './payload-size.js';
import { MAX_BROADCAST_RECIPIENTS, type BroadcastRequest } from './schemas.js';
import type { TemporalDeps } from './temporal.js';
import { contentFor, findTemplateVersion, missingTemplateVariables, missingVariablesError } from './templates.js';

/** A broadcast's `data` is copied into every recipient's notification: keep it small. */
const MAX_BROADCAST_DATA_BYTES = 16 * 1024;

interface BroadcastPlan {
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
  if (!version) throw invalidInput(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  // Each recipient's run carries its locale's content and the data (their own snapshot is not known yet).
  const dataBytes = jsonBytes(body.data);
  if (dataBytes > MAX_BROADCAST_DATA_BYTES)
    throw invalidInput(`data is larger than ${MAX_BROADCAST_DATA_BYTES / 1024} KiB`, [{ path: 'data', message: 'too large for a broadcast' }]);
  const locales = Object.keys(version.content).map((l) => contentFor(version, l));
  /** Each locale's channels this broadcast sends. */
  const sent = locales.map((l) => (body.channels ? l.channels.filter((ch) => body.channels!.includes(ch)) : l.channels));
  const errors: FieldError[] = [];
  (body.channels ?? []).forEach((ch, i) => {
    if (!locales.some((l) => l.channels.includes(ch))) errors.push({ path: `channels.${i}`, message: `template ${body.template} has no ${ch} content` });
  });
  if (errors.length) throw invalidInput(errors.map((e) => e.message).join('; '), errors);
  const missing = new Set<string>();
  locales.forEach((l, i) => {
    for (const m of missingTemplateVariables(l.content, sent[i], body.data)) missing.add(m);
  });
  if (missing.size) throw missingVariablesError([...missing].sort());
  locales.forEach((l, i) => checkRunPayload({ content: l.content, channels: sent[i], dataBytes }, { template: version.key, locale: l.locale }));

  let recipientIds: string[];
  if (body.recipients) {
    recipientIds = [...new Set(body.recipients)];
    const known = await existingRecipientIds(db, tenantId, recipientIds);
    const unknown = recipientIds.filter((id) => !known.has(id));
    if (unknown.length)
      throw invalidInput(`${unknown.length} recipient(s) do not exist: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`, [
        { path: 'recipients', message: `unknown recipients: ${unknown.slice(0, 10).join(', ')}` },
      ]);
  } else {
    const path = body.topic !== undefined ? 'topic' : body.segment !== undefined ? 'segment' : 'all';
    recipientIds = await pinnedAudience(db, tenantId, body);
    if (recipientIds.length === 0) throw invalidInput(`The ${path === 'all' ? 'tenant' : path} has no recipients`, [{ path, message: 'no recipients' }]);
    if (recipientIds.length > MAX_BROADCAST_RECIPIENTS)
      throw invalidInput(`A broadcast reaches at most ${MAX_BROADCAST_RECIPIENTS} recipients`, [{ path, message: 'too many recipients' }]);
  }
  return { template: { key: version.key, version: version.version }, channels: body.channels ?? null, recipientIds };
}

/** Recipients read per page when a topic or segment is pinned. */
const AUDIENCE_PAGE = 1000;

/**
 * The audience of `all`, a topic or a segment, pinned at acceptance: read in keyset pages of
 * AUDIENCE_PAGE (a segment's CEL evaluated per recipient), stopping one past the broadcast limit.
 */
async function pinnedAudience(db: Db, tenantId: string, body: BroadcastRequest): Promise<string[]> {
  if (body.topic !== undefined) {
    if (!(await findTopic(db, tenantId, body.topic))) throw invalidInput(`Topic ${body.topic} does not exist`, [{ path: 'topic', message: 'unknown topic' }]);
    const ids: string[] = [];
    for (let after: string | null = null; ids.length <= MAX_BROADCAST_RECIPIENTS; ) {
      const page = await subscriberPage(db, tenantId, body.topic, after, AUDIENCE_PAGE);
      ids.push(...page);
      if (page.length < AUDIENCE_PAGE) break;
      after = page[page.length - 1];
    }
    return ids;
  }
  if (body.segment !== undefined) {
    const program = checkCel(body.segment, CEL_VARIABLES.broadcastSegment, 'segment');
    const ids: string[] = [];
    for (let after: string | null = null; ids.length <= MAX_BROADCAST_RECIPIENTS; ) {
      const page = await recipientPage(db, tenantId, after, AUDIENCE_PAGE);
      for (const r of page) if (holds(program, { recipient: celRecipient(r) }).value) ids.push(r.id);
      if (page.length < AUDIENCE_PAGE) break;
      after = page[page.length - 1].id;
    }
    return ids;
  }
  return allRecipientIds(db, tenantId);
}

interface BroadcastTuning {
  pageSize: number;
  maxInFlight: number;
}
const DEFAULT_BROADCAST_TUNING: BroadcastTuning = { pageSize: 500, maxInFlight: 1000 };

/** The pinned input of a recorded broadcast, as it was started (or as a restart must start it). */
function broadcastInputOf(row: BroadcastRow, retry: RetrySettings, tuning?: BroadcastTuning): BroadcastInput {
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

/** Records a prepared broadcast and its numbered audience (a repeat writes nothing); answers the workflow's pinned input. */
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
  await insertBroadcast(
    db,
    {
      id: input.broadcastId,
      tenantId,
      templateKey: input.template.key,
      templateVersion: input.template.version,
      data: input.data,
      channels: input.channels,
      category: input.category,
      priority: input.priority,
      audience: body.all ? 'all' : body.topic !== undefined ? 'topic' : body.segment !== undefined ? 'segment' : 'list',
      total: input.total,
      status: 'running',
      workflowId: workflowIds.broadcast(tenantId, input.broadcastId),
    },
    plan.recipientIds,
  );
  return input;
}

/** How the broadcast workflow of an accepted broadcast is started. */
function broadcastStartOptions(input: BroadcastInput, taskQueue: string, weights?: FairnessWeights) {
  return {
    taskQueue,
    workflowId: workflowIds.broadcast(input.tenantId, input.broadcastId),
    args: [input] as [BroadcastInput],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: broadcastSearchAttributes(input),
    priority: broadcastPriority(input, weights),
  } satisfies WorkflowStartOptions;
}


interface BroadcastDeps {
  db: Db;
  temporal: TemporalDeps;
  /** Retry settings pinned into each recipient's notification. */
  retry: RetrySettings;
  now?: () => number;
  /** Paging and in-flight bound; defaults suit 100,000 recipients. */
  broadcastTuning?: BroadcastTuning;
  /** false: new broadcasts run the former broadcastWorkflow (BROADCAST_BATCHES=false). */
  broadcastBatches?: boolean;
}


/**
 * Starts a recorded broadcast's workflow; one already started (or finished) is left alone. A
 * repeat of a request whose broadcast already runs under the other type finds its id taken (the
 * id is the business id): it is left alone either way.
 */
async function startBroadcast(deps: BroadcastDeps, input: BroadcastInput): Promise<void> {
  const workflowType = deps.broadcastBatches === false ? 'broadcastWorkflow' : 'broadcastBatchWorkflow';
  try {
    await deps.temporal.client.workflow.start(workflowType, broadcastStartOptions(input, deps.temporal.taskQueue, deps.temporal.fairnessWeights));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/** Whether Temporal says for certain that the workflow does not exist (false when it runs, or when Temporal cannot say). */
async function certainlyNotStarted(deps: BroadcastDeps, workflowId: string): Promise<boolean> {
  try {
    await deps.temporal.client.withDeadline(Date.now() + 5_000, () => deps.temporal.client.workflow.getHandle(workflowId).describe());
    return false;
  } catch (err) {
    return err instanceof WorkflowNotFoundError;
  }
}

const RETRY_WITH_KEY = 'The workflow service did not confirm the start. Retry with the same Idempotency-Key to be sure of one broadcast.';

/**
 * Accepts a broadcast: validates it, claims its Idempotency-Key, records it with its numbered
 * audience (the run reads its recipients from there), then starts its workflow. The rule for an
 * unconfirmed start is the notification path's: nothing is deleted. With an Idempotency-Key the
 * row and the claim stay, and a retry starts the same workflow id (joined if the first start did
 * happen). Without one, a broadcast whose run Temporal says does not exist is marked cancelled
 * (nothing was sent, nothing will be); one whose run Temporal cannot confirm either way stays
 * recorded as running.
 */
export async function acceptBroadcast(
  deps: BroadcastDeps,
  tenantId: string,
  body: BroadcastRequest,
  opts: { idempotencyKey?: string } = {},
): Promise<{ id: string; status: BroadcastStatus; total: number }> {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const plan = await prepareBroadcast(db, tenantId, body);
  const id = newId('bc', now());
  if (opts.idempotencyKey !== undefined) {
    const existing = await claimIdempotencyKey(db, now(), tenantId, opts.idempotencyKey, requestHash(body), id);
    if (existing) {
      // A repeat: the first request's broadcast, started if that request died before starting it.
      const row = await findBroadcast(db, existing);
      if (!row) throw new RequestError('conflict', 'The first request with this Idempotency-Key is still in progress; retry', [], 1);
      if (row.status === 'running') {
        try {
          await startBroadcast(deps, broadcastInputOf(row, deps.retry, deps.broadcastTuning));
        } catch (err) {
          throw unavailable(RETRY_WITH_KEY, err);
        }
      }
      return { id: row.id, status: row.status as BroadcastStatus, total: row.total };
    }
  }
  const input = await recordBroadcast(db, tenantId, body, plan, { id, retry: deps.retry, tuning: deps.broadcastTuning });
  try {
    await startBroadcast(deps, input);
  } catch (err) {
    if (opts.idempotencyKey !== undefined)
      throw unavailable(RETRY_WITH_KEY, err);
    if (await certainlyNotStarted(deps, workflowIds.broadcast(tenantId, id))) {
      await markBroadcastCancelled(db, tenantId, id);
      throw unavailable(`The workflow service could not start broadcast ${id}; nothing was sent. Retry later.`, err);
    }
    throw unavailable(`The workflow service did not confirm the start of broadcast ${id}; it may be running (GET /v1/broadcasts/${id}). Send with an Idempotency-Key to retry safely.`, err);
  }
  return { id, status: 'running', total: input.total };
}

/** A broadcast with its live progress, counted from its notifications' statuses. */
export async function broadcastView(db: Db, tenantId: string, id: string) {
  const b = await findBroadcast(db, id, tenantId);
  if (!b) throw missing('Broadcast');
  return viewOf(b, await broadcastNotificationCounts(db, id));
}

function viewOf(b: BroadcastRow, byStatus: Record<string, number>) {
  const status = b.status as BroadcastStatus;
  return {
    id: b.id,
    status,
    template: b.templateKey,
    templateVersion: b.templateVersion,
    ...broadcastCounts(b.total, byStatus, status),
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

/**
 * Cancels a running broadcast: it reads cancelled from now on, and its workflow, signalled,
 * starts no further recipient and cancels every notification not yet sent. A completed one is
 * a conflict.
 */
export async function cancelBroadcast(deps: Pick<BroadcastDeps, 'db' | 'temporal'>, tenantId: string, id: string) {
  const { db, temporal } = deps;
  const cancelled = await markBroadcastCancelled(db, tenantId, id);
  const current = await broadcastView(db, tenantId, id);
  if (!cancelled && current.status === 'completed') throw conflictWith('The broadcast has already completed');
  try {
    await temporal.client.workflow.getHandle(workflowIds.broadcast(tenantId, id)).signal(cancelBroadcastSignal);
  } catch (err) {
    // Finished: nothing is left to stop.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return current;
}
