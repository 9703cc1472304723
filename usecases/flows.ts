// Flows below the HTTP layer: publishing a version (validated against the tenant's templates and
// the address guard), reading it, pinning one into a notification run, previewing the path a
// run would take, and the two ways the outside world reaches a waiting run: a read of its inbox
// item and an event naming its recipient.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db/client.js';
import { flowRunsWaiting, flowVersion, insertFlowVersion, recipientRow } from '../db/flows.js';
import { latestTemplateVersion } from '../db/templates.js';
import { toRecipient } from '../db/recipients.js';
import { compileCel, holds } from '../domain/cel.js';
import { invalidInput, missing, type FieldError } from '../domain/errors.js';
import {
  FLOW_CEL_VARIABLES,
  flattenSteps,
  flowTemplates,
  parseFlowSteps,
  type FlowInput,
  type FlowStep,
} from '../domain/flows.js';
import { renderContent, TemplateRenderError } from '../domain/templates.js';
import type { Channel, ChannelContent, Priority, RetrySettings } from '../domain/types.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { flowEventSignal, flowReadSignal } from '../domain/workflow-messages.js';
import type { TemporalDeps } from './temporal.js';
import { contentFor, findTemplateVersion, loadTemplateVersion } from './templates.js';
import { refuseWebhookUrls } from './webhook-address.js';

/** Where each step sits in the request (`steps.1.then.0`), for 400s that name it. */
function stepPaths(steps: readonly FlowStep[], path = 'steps'): Map<string, string> {
  const out = new Map<string, string>();
  steps.forEach((s, i) => {
    out.set(s.id, `${path}.${i}`);
    if (s.type === 'branch') {
      for (const [k, v] of stepPaths(s.then, `${path}.${i}.then`)) out.set(k, v);
      for (const [k, v] of stepPaths(s.else ?? [], `${path}.${i}.else`)) out.set(k, v);
    }
  });
  return out;
}

/**
 * Publishes a flow's next version after checking it whole: its shape and CEL (domain/flows.ts),
 * that every template a send names exists with content for the step's channels (in its default
 * locale), and that every fetch URL passes the address guard. One 400 names each wrong step.
 */
export async function publishFlow(deps: { db: Db; webhookAllowedHosts?: readonly string[] }, tenantId: string, key: string, body: { steps: unknown }) {
  const steps = parseFlowSteps(body.steps);
  const paths = stepPaths(steps);
  const errors: FieldError[] = [];
  const latest = new Map<string, Awaited<ReturnType<typeof findTemplateVersion>>>();
  for (const t of flowTemplates(steps)) latest.set(t, await findTemplateVersion(deps.db, tenantId, t));
  const fetches: Array<[string, string]> = [];
  for (const s of flattenSteps(steps)) {
    if (s.type === 'send') {
      const version = latest.get(s.template);
      if (!version) {
        errors.push({ path: `${paths.get(s.id)}.template`, message: `step "${s.id}": template ${s.template} does not exist` });
        continue;
      }
      const has = contentFor(version, version.defaultLocale).channels;
      const lacking = s.channels.filter((c) => !has.includes(c));
      if (lacking.length) errors.push({ path: `${paths.get(s.id)}.channels`, message: `step "${s.id}": template ${s.template} has no ${lacking.join(', ')} content` });
    } else if (s.type === 'fetch') fetches.push([`${paths.get(s.id)}.url`, s.url]);
  }
  try {
    refuseWebhookUrls(deps.webhookAllowedHosts, ...fetches);
  } catch (err) {
    const refused = (err as { errors?: FieldError[] }).errors ?? [];
    const idOf = new Map([...paths].map(([id, p]) => [p, id]));
    errors.push(...refused.map((e) => ({ path: e.path, message: `step "${idOf.get(e.path.replace(/\.url$/, ''))}": ${e.message.replace(/^webhooks/, 'fetch steps')}` })));
  }
  if (errors.length) throw invalidInput(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  const version = await insertFlowVersion(deps.db, tenantId, key, steps as unknown as Record<string, unknown>[]);
  return { key, version };
}

/** A flow's latest version with its steps; 404 when there is none. */
export async function getFlow(db: Db, tenantId: string, key: string) {
  const row = await flowVersion(db, tenantId, key);
  if (!row) throw missing('Flow');
  return { key: row.key, version: row.version, steps: row.steps, createdAt: row.createdAt.toISOString() };
}

/**
 * What a flow run is started with: the flow's latest version and the latest version of each
 * template it names, pinned now; a 400 naming what is missing.
 */
export async function prepareFlowRun(
  db: Db,
  tenantId: string,
  body: { recipient: string; flow: string; data: Record<string, unknown>; category?: string; priority: Priority },
  opts: { id: string; retry: RetrySettings },
): Promise<FlowInput> {
  const [row, recipient] = await Promise.all([flowVersion(db, tenantId, body.flow), recipientRow(db, tenantId, body.recipient)]);
  if (!recipient) throw invalidInput(`Recipient ${body.recipient} does not exist`, [{ path: 'recipient', message: 'unknown recipient' }]);
  if (!row) throw invalidInput(`Flow ${body.flow} does not exist`, [{ path: 'flow', message: 'unknown flow' }]);
  const steps = row.steps as unknown as FlowStep[];
  const templates: Record<string, number> = {};
  const keys = flowTemplates(steps);
  const latest = await Promise.all(keys.map((t) => latestTemplateVersion(db, tenantId, t)));
  keys.forEach((t, i) => {
    const v = latest[i];
    if (v === undefined) throw invalidInput(`Template ${t}, which flow ${body.flow} sends, no longer exists`, [{ path: 'flow', message: `template ${t} does not exist` }]);
    templates[t] = v;
  });
  return {
    tenantId,
    notificationId: opts.id,
    recipientId: body.recipient,
    flow: { key: row.key, version: row.version },
    steps,
    templates,
    data: body.data,
    category: body.category ?? null,
    priority: body.priority,
    retry: opts.retry,
  };
}

async function signalEach(temporal: TemporalDeps, tenantId: string, ids: readonly string[], send: (h: ReturnType<TemporalDeps['client']['workflow']['getHandle']>) => Promise<void>): Promise<number> {
  let signalled = 0;
  await Promise.all(
    ids.map(async (id) => {
      try {
        await send(temporal.client.workflow.getHandle(workflowIds.notification(tenantId, id)));
        signalled++;
      } catch (err) {
        // Ended between the lookup and the signal: nothing waits any more.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }),
  );
  return signalled;
}

/**
 * Reads of inbox items (usecases/inbox.ts): each flow run among these notifications that waits
 * for `read` is signalled. Exact: a run records its wait before it checks the item, and this
 * looks after the read is written, so one of the two sees the other.
 */
export async function signalFlowReads(deps: { db: Db; temporal?: TemporalDeps }, tenantId: string, notificationIds: readonly string[]): Promise<number> {
  if (!deps.temporal || notificationIds.length === 0) return 0;
  const ids = await flowRunsWaiting(deps.db, tenantId, { notificationIds }, 'read');
  return signalEach(deps.temporal, tenantId, ids, (h) => h.signal(flowReadSignal));
}

/**
 * An event (`POST /v1/events`): every flow run of the tenant whose recipient is the event's
 * `actor` or among its `recipients`, and which waits for an event of this name, is signalled
 * with it; the run checks its step's `if` itself. Exact for runs already waiting (each records
 * its wait before it waits); an event before a run waits does not count for it. Answers how
 * many runs were signalled.
 */
export async function signalFlowWaits(
  deps: { db: Db; temporal: TemporalDeps },
  event: { tenantId: string; name: string; actor?: string | null; recipients?: readonly string[]; data?: Record<string, unknown> },
): Promise<number> {
  const who = [...new Set([...(event.actor ? [event.actor] : []), ...(event.recipients ?? [])])];
  if (who.length === 0) return 0;
  const ids = await flowRunsWaiting(deps.db, event.tenantId, { recipientIds: who }, `event:${event.name}`);
  return signalEach(deps.temporal, event.tenantId, ids, (h) => h.signal(flowEventSignal, { name: event.name, actor: event.actor ?? null, data: event.data ?? {} }));
}

export interface PreviewRequest {
  data: Record<string, unknown>;
  /** An existing recipient's id, or a sample recipient (id, locale, timezone, name, attributes, addresses). */
  recipient: string | Record<string, unknown>;
  /** Outcomes to assume by step id: a wait's `matched` (default `timed_out`), a throttle's `throttled` (default `allowed`). */
  assume?: Record<string, string>;
  /** What a fetch step would answer, by step id (a preview fetches nothing). */
  fetched?: Record<string, unknown>;
}

type PreviewStep = {
  id: string;
  type: FlowStep['type'];
  outcome?: string;
  seconds?: number;
  until?: string;
  channels?: Channel[];
  template?: { key: string; version: number };
  rendered?: ChannelContent;
  error?: string;
};

/**
 * The path a run would take for this data and recipient, and what each send would render,
 * without sending or fetching anything: waits time out and throttles allow unless `assume`
 * says otherwise; a fetch's answer comes from `fetched` (absent: data unchanged).
 */
export async function previewFlow(db: Db, tenantId: string, key: string, req: PreviewRequest) {
  const row = await flowVersion(db, tenantId, key);
  if (!row) throw missing('Flow');
  let recipient: Record<string, unknown> & { locale: string };
  if (typeof req.recipient === 'string') {
    const r = await recipientRow(db, tenantId, req.recipient);
    if (!r) throw invalidInput(`Recipient ${req.recipient} does not exist`, [{ path: 'recipient', message: 'unknown recipient' }]);
    recipient = { ...toRecipient(r), attributes: r.attributes ?? {} };
  } else {
    recipient = { id: 'preview', locale: 'en', timezone: 'UTC', name: null, attributes: {}, ...req.recipient } as typeof recipient;
    if (typeof recipient.locale !== 'string') recipient.locale = 'en';
  }
  let data: Record<string, unknown> = { ...req.data };
  const assume = req.assume ?? {};
  const states: Record<string, { status: string; outcome: string | null; deliveries: { channel: Channel; status: string }[] }> = {};
  for (const s of flattenSteps(row.steps as unknown as FlowStep[])) states[s.id] = { status: 'pending', outcome: null, deliveries: [] };
  const path: PreviewStep[] = [];
  const ctx = () => ({ data, recipient, steps: states });
  const done = (id: string, outcome: string | null) => Object.assign(states[id], { status: 'done', outcome });

  async function walk(list: readonly FlowStep[]): Promise<boolean> {
    for (const s of list) {
      switch (s.type) {
        case 'send': {
          const version = await findTemplateVersion(db, tenantId, s.template);
          const entry: PreviewStep = { id: s.id, type: 'send', channels: s.channels, outcome: 'sent' };
          if (!version) entry.error = `template ${s.template} no longer exists`;
          else {
            entry.template = { key: version.key, version: version.version };
            const { content } = contentFor((await loadTemplateVersion(db, tenantId, version.key, version.version))!, recipient.locale);
            try {
              entry.rendered = renderContent(content, s.channels, data);
            } catch (err) {
              if (!(err instanceof TemplateRenderError)) throw err;
              entry.error = err.message;
            }
          }
          if (entry.error) entry.outcome = 'failed';
          path.push(entry);
          done(s.id, entry.outcome!);
          states[s.id].deliveries = s.channels.map((channel) => ({ channel, status: entry.error ? 'failed' : 'sent' }));
          break;
        }
        case 'delay': {
          if (s.seconds !== undefined) path.push({ id: s.id, type: 'delay', seconds: s.seconds });
          else {
            let at: unknown;
            try {
              at = compileCel(s.until!, FLOW_CEL_VARIABLES, 'any').evaluate(ctx());
            } catch (err) {
              at = (err as Error).message.split('\n')[0];
            }
            if (at instanceof Date) path.push({ id: s.id, type: 'delay', until: at.toISOString() });
            else {
              path.push({ id: s.id, type: 'delay', outcome: 'failed', error: `until does not yield a timestamp (${String(at)})` });
              return false;
            }
          }
          done(s.id, null);
          break;
        }
        case 'wait': {
          const outcome = assume[s.id] === 'matched' ? 'matched' : 'timed_out';
          path.push({ id: s.id, type: 'wait', outcome });
          done(s.id, outcome);
          break;
        }
        case 'branch': {
          const taken = holds(compileCel(s.if, FLOW_CEL_VARIABLES), ctx()).value ? 'then' : 'else';
          path.push({ id: s.id, type: 'branch', outcome: taken });
          done(s.id, taken);
          if (!(await walk(taken === 'then' ? s.then : (s.else ?? [])))) return false;
          break;
        }
        case 'fetch': {
          const given = req.fetched && Object.hasOwn(req.fetched, s.id);
          if (given) data = { ...data, [s.as]: req.fetched![s.id] };
          path.push({ id: s.id, type: 'fetch', outcome: given ? 'assumed' : 'not_fetched' });
          done(s.id, given ? 'assumed' : 'not_fetched');
          break;
        }
        case 'throttle': {
          const outcome = assume[s.id] === 'throttled' ? 'throttled' : 'allowed';
          path.push({ id: s.id, type: 'throttle', outcome });
          done(s.id, outcome);
          if (outcome === 'throttled') return false;
          break;
        }
      }
    }
    return true;
  }
  await walk(row.steps as unknown as FlowStep[]);
  return { key: row.key, version: row.version, path, data };
}
