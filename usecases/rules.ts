// Rules: which notifications an event accepts. Every expression is compiled and checked at PUT
// (a 400 names the expression and the column), the template must exist, and a flow reference
// passes through one function (checkFlowReference) that the flows work wires.
import type { Db } from '../db/client.js';
import { deleteRule, findRule, rulePage, upsertRule, type RuleRow } from '../db/rules.js';
import { findTopic } from '../db/topics.js';
import { flowVersion } from '../db/flows.js';
import { CelError, compileCel } from '../domain/cel.js';
import { invalidInput, missing } from '../domain/errors.js';
import type { RuleDefinition } from '../domain/events.js';
import type { RuleRequest } from './schemas.js';
import { findTemplateVersion } from './templates.js';

/** The variables each place's expressions see. */
export const CEL_VARIABLES = { if: ['event'], segment: ['event', 'recipient'], broadcastSegment: ['recipient'] } as const;

/** Compiles `expression` for `path`, or a 400 whose detail names the expression and the position. */
export function checkCel(expression: string, variables: readonly string[], path: string) {
  try {
    return compileCel(expression, variables);
  } catch (err) {
    if (err instanceof CelError) throw invalidInput(`${path}: ${err.message}`, [{ path, message: err.message }]);
    throw err;
  }
}

/** A rule may name one of the tenant's flows (its latest version runs, pinned per notification). */
export async function checkFlowReference(db: Db, tenantId: string, key: string): Promise<void> {
  if (await flowVersion(db, tenantId, key)) return;
  throw invalidInput(`Flow ${key} does not exist`, [{ path: 'flow', message: 'unknown flow' }]);
}

function present(row: RuleRow) {
  return { key: row.key, ...row.definition, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}
export type RuleView = ReturnType<typeof present>;

export async function putRule(db: Db, tenantId: string, key: string, body: RuleRequest): Promise<RuleView> {
  if (body.if !== undefined) checkCel(body.if, CEL_VARIABLES.if, 'if');
  if ('segment' in body.recipients) checkCel(body.recipients.segment, CEL_VARIABLES.segment, 'recipients.segment');
  if ('topic' in body.recipients && !(await findTopic(db, tenantId, body.recipients.topic)))
    throw invalidInput(`Topic ${body.recipients.topic} does not exist`, [{ path: 'recipients.topic', message: 'unknown topic' }]);
  if (body.digest)
    throw invalidInput('A rule cannot digest yet: send the rule’s notifications undigested, or POST /v1/notifications with digest', [{ path: 'digest', message: 'not supported on rules' }]);
  if (body.template !== undefined && !(await findTemplateVersion(db, tenantId, body.template)))
    throw invalidInput(`Template ${body.template} does not exist`, [{ path: 'template', message: 'unknown template' }]);
  if (body.flow !== undefined) await checkFlowReference(db, tenantId, body.flow);
  const definition: RuleDefinition = {
    event: body.event,
    ...(body.if !== undefined ? { if: body.if } : {}),
    recipients: body.recipients,
    ...(body.template !== undefined ? { template: body.template } : {}),
    ...(body.flow !== undefined ? { flow: body.flow } : {}),
    ...(body.channels ? { channels: body.channels } : {}),
    ...(body.category !== undefined ? { category: body.category } : {}),
    priority: body.priority,
    strategy: body.strategy,
    ...(body.throttle ? { throttle: body.throttle } : {}),
    enabled: body.enabled,
  };
  return present(await upsertRule(db, tenantId, key, definition));
}

export async function getRule(db: Db, tenantId: string, key: string): Promise<RuleView> {
  const row = await findRule(db, tenantId, key);
  if (!row) throw missing('Rule');
  return present(row);
}

export async function removeRule(db: Db, tenantId: string, key: string): Promise<void> {
  if (!(await deleteRule(db, tenantId, key))) throw missing('Rule');
}

/** A page of rules by key; the cursor is the last key of the page before. */
export async function listRules(db: Db, tenantId: string, q: { cursor?: string; limit: number }) {
  const after = q.cursor ? Buffer.from(q.cursor, 'base64url').toString() : null;
  if (after !== null && !/^[A-Za-z0-9._-]{1,128}$/.test(after)) throw invalidInput('cursor is not valid', [{ path: 'query.cursor', message: 'must be a cursor from a previous page' }]);
  const rows = await rulePage(db, tenantId, after, q.limit + 1);
  const data = rows.slice(0, q.limit).map(present);
  return { data, nextCursor: rows.length > q.limit ? Buffer.from(data[data.length - 1].key).toString('base64url') : null };
}
