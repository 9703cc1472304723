// Flows: a notification as a list of steps (send, delay, wait, branch, fetch, throttle), defined
// as data and run by one interpreter workflow (workflows/flow.ts). Pure: the API validates a
// definition with it at PUT, the interpreter walks the pinned definition with it, and both see
// the same step states.
import { compileCel, CelError } from './cel.js';
import { invalidInput, type FieldError } from './errors.js';
import { CHANNELS, type Channel, type NotificationStatus, type Priority, type RetrySettings, type Strategy } from './types.js';

/** At most this many steps in a flow, counted across every branch. */
export const MAX_FLOW_STEPS = 50;
/** Branches nest at most this deep (a top-level step is at depth 1). */
export const MAX_FLOW_DEPTH = 4;
/** The longest a `delay` or a `wait` may last: a year. */
export const MAX_FLOW_WAIT_SECONDS = 365 * 86400;
/** The most a `fetch` step may read: its JSON goes into the run's data. */
export const MAX_FETCH_BYTES = 64 * 1024;
/** What CEL in a flow sees: the notification's data, the recipient, and the steps so far. */
export const FLOW_CEL_VARIABLES = ['data', 'recipient', 'steps'] as const;
/** A `wait` for an event's `if` also sees the event (`event.name`, `event.data`, `event.actor`). */
export const FLOW_EVENT_CEL_VARIABLES = ['data', 'recipient', 'steps', 'event'] as const;

export type SendStep = { id: string; type: 'send'; channels: Channel[]; template: string; strategy?: Strategy };
export type DelayStep = { id: string; type: 'delay'; seconds?: number; until?: string };
export type WaitStep = { id: string; type: 'wait'; for: 'read' | 'event'; event?: string; if?: string; timeoutSeconds: number };
export type BranchStep = { id: string; type: 'branch'; if: string; then: FlowStep[]; else?: FlowStep[] };
export type FetchStep = { id: string; type: 'fetch'; url: string; method?: 'GET' | 'POST'; as: string };
export type ThrottleStep = { id: string; type: 'throttle'; key: string; limit: number; windowSeconds: number };
export type FlowStep = SendStep | DelayStep | WaitStep | BranchStep | FetchStep | ThrottleStep;
export const FLOW_STEP_TYPES = ['send', 'delay', 'wait', 'branch', 'fetch', 'throttle'] as const;

export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

/** One step's state as the run records it (notifications.steps) and the API shows it. */
export interface StepState {
  id: string;
  type: FlowStep['type'];
  status: StepStatus;
  /** wait: matched | timed_out; branch: then | else; throttle: allowed | throttled; failed: an error code; send: the notification-like status of its deliveries. */
  outcome?: string;
  startedAt?: string;
  endedAt?: string;
  /** What a running `wait` waits for (`read` or `event:<name>`): how reads and events find the run. Not shown by the API. */
  waitingFor?: string;
}

/** The flow's run: what workflows/flow.ts is started with; everything it uses is pinned here. */
export interface FlowInput {
  tenantId: string;
  notificationId: string;
  recipientId: string;
  flow: { key: string; version: number };
  steps: FlowStep[];
  /** The version of each template the flow's send steps name, pinned at acceptance. */
  templates: Record<string, number>;
  data: Record<string, unknown>;
  category: string | null;
  priority: Priority;
  retry: RetrySettings;
}

/** What a flow run's `flow` query answers. */
export interface FlowState {
  status: NotificationStatus;
  reason: string | null;
  steps: StepState[];
}

/** An event (`POST /v1/events`) as it reaches a run waiting for it. */
export interface FlowEvent {
  name: string;
  actor: string | null;
  data: Record<string, unknown>;
}

/** Every step in definition order (depth first: a branch, then its `then`, then its `else`). */
export function flattenSteps(steps: readonly FlowStep[]): FlowStep[] {
  return steps.flatMap((s) => (s.type === 'branch' ? [s, ...flattenSteps(s.then), ...flattenSteps(s.else ?? [])] : [s]));
}

/** The send steps' template keys, each once. */
export function flowTemplates(steps: readonly FlowStep[]): string[] {
  return [...new Set(flattenSteps(steps).flatMap((s) => (s.type === 'send' ? [s.template] : [])))];
}

/** Every channel a send step may use, in first-use order: the notification's delivery rows. */
export function flowChannels(steps: readonly FlowStep[]): Channel[] {
  const out: Channel[] = [];
  for (const s of flattenSteps(steps)) if (s.type === 'send') for (const ch of s.channels) if (!out.includes(ch)) out.push(ch);
  return out;
}

/** The run's first record of its steps: each pending. */
export function initialStepStates(steps: readonly FlowStep[]): StepState[] {
  return flattenSteps(steps).map((s) => ({ id: s.id, type: s.type, status: 'pending' }));
}

const STEP_ID = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const KEY = /^[A-Za-z0-9._-]{1,128}$/;
const EVENT_NAME = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A definition as the API received it (JSON), checked for what needs no database: its shape,
 * unique step ids, bounds, CEL that compiles, and that no path sends a channel twice (a
 * notification has one delivery per channel) nor waits for a read before an in-app send.
 * Throws one 400 naming every step that is wrong.
 */
export function parseFlowSteps(raw: unknown): FlowStep[] {
  const errors: FieldError[] = [];
  const ids = new Set<string>();
  let count = 0;
  const fail = (path: string, id: string | undefined, message: string) => errors.push({ path, message: id ? `step "${id}": ${message}` : message });

  const int = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  const cel = (path: string, id: string, expr: unknown, vars: readonly string[], result: 'bool' | 'any') => {
    if (typeof expr !== 'string') return fail(path, id, 'must be a CEL expression (a string)');
    try {
      compileCel(expr, vars, result);
    } catch (e) {
      if (e instanceof CelError) fail(path, id, e.message);
      else throw e;
    }
  };
  const allowedKeys = (path: string, id: string, o: Record<string, unknown>, keys: string[]) => {
    for (const k of Object.keys(o)) if (!['id', 'type', ...keys].includes(k)) fail(`${path}.${k}`, id, `has no field ${k}`);
  };

  function seq(list: unknown, path: string, depth: number): FlowStep[] {
    if (!Array.isArray(list)) {
      fail(path, undefined, 'must be an array of steps');
      return [];
    }
    if (depth > MAX_FLOW_DEPTH) {
      fail(path, undefined, `branches nest at most ${MAX_FLOW_DEPTH} deep`);
      return [];
    }
    return list.flatMap((item, i) => {
      const p = `${path}.${i}`;
      count++;
      if (count === MAX_FLOW_STEPS + 1) fail(p, undefined, `a flow has at most ${MAX_FLOW_STEPS} steps`);
      const step = one(item, p, depth);
      return step ? [step] : [];
    });
  }

  function one(item: unknown, p: string, depth: number): FlowStep | null {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      fail(p, undefined, 'must be a step object');
      return null;
    }
    const o = item as Record<string, unknown>;
    const id = typeof o.id === 'string' && STEP_ID.test(o.id) ? o.id : undefined;
    if (!id) fail(`${p}.id`, undefined, 'each step needs an id of 1-64 letters, digits or _ (not starting with a digit)');
    else if (ids.has(id)) fail(`${p}.id`, id, 'the id is used by another step');
    else ids.add(id);
    const sid = id ?? `#${p}`;
    switch (o.type) {
      case 'send': {
        allowedKeys(p, sid, o, ['channels', 'template', 'strategy']);
        const channels = o.channels;
        const okChannels =
          Array.isArray(channels) && channels.length > 0 && channels.every((c) => (CHANNELS as readonly string[]).includes(c as string)) && new Set(channels).size === channels.length;
        if (!okChannels) fail(`${p}.channels`, sid, `must list one or more of ${CHANNELS.join(', ')}, each once`);
        if (typeof o.template !== 'string' || !KEY.test(o.template)) fail(`${p}.template`, sid, 'must be a template key');
        if (o.strategy !== undefined && o.strategy !== 'all' && o.strategy !== 'first-success') fail(`${p}.strategy`, sid, 'must be all or first-success');
        return { id: sid, type: 'send', channels: (okChannels ? channels : []) as Channel[], template: String(o.template), ...(o.strategy ? { strategy: o.strategy as Strategy } : {}) };
      }
      case 'delay': {
        allowedKeys(p, sid, o, ['seconds', 'until']);
        if ((o.seconds === undefined) === (o.until === undefined)) fail(p, sid, 'give either seconds or until');
        if (o.seconds !== undefined && !int(o.seconds, 1, MAX_FLOW_WAIT_SECONDS)) fail(`${p}.seconds`, sid, `must be a whole number of seconds from 1 to ${MAX_FLOW_WAIT_SECONDS} (a year)`);
        if (o.until !== undefined) cel(`${p}.until`, sid, o.until, FLOW_CEL_VARIABLES, 'any');
        return { id: sid, type: 'delay', ...(o.seconds !== undefined ? { seconds: o.seconds as number } : {}), ...(o.until !== undefined ? { until: String(o.until) } : {}) };
      }
      case 'wait': {
        allowedKeys(p, sid, o, ['for', 'event', 'if', 'timeoutSeconds']);
        if (o.for !== 'read' && o.for !== 'event') fail(`${p}.for`, sid, 'must be read or event');
        if (o.for === 'event' && (typeof o.event !== 'string' || !EVENT_NAME.test(o.event))) fail(`${p}.event`, sid, 'a wait for an event names it (1-128 of A-Za-z0-9._:-)');
        if (o.for === 'read' && o.event !== undefined) fail(`${p}.event`, sid, 'only a wait for an event names one');
        if (o.if !== undefined) cel(`${p}.if`, sid, o.if, o.for === 'event' ? FLOW_EVENT_CEL_VARIABLES : FLOW_CEL_VARIABLES, 'bool');
        if (!int(o.timeoutSeconds, 1, MAX_FLOW_WAIT_SECONDS)) fail(`${p}.timeoutSeconds`, sid, `must be a whole number of seconds from 1 to ${MAX_FLOW_WAIT_SECONDS} (a year)`);
        return {
          id: sid,
          type: 'wait',
          for: o.for as 'read' | 'event',
          ...(o.event !== undefined ? { event: String(o.event) } : {}),
          ...(o.if !== undefined ? { if: String(o.if) } : {}),
          timeoutSeconds: o.timeoutSeconds as number,
        };
      }
      case 'branch': {
        allowedKeys(p, sid, o, ['if', 'then', 'else']);
        cel(`${p}.if`, sid, o.if, FLOW_CEL_VARIABLES, 'bool');
        const then = seq(o.then, `${p}.then`, depth + 1);
        const otherwise = o.else === undefined ? undefined : seq(o.else, `${p}.else`, depth + 1);
        return { id: sid, type: 'branch', if: String(o.if), then, ...(otherwise ? { else: otherwise } : {}) };
      }
      case 'fetch': {
        allowedKeys(p, sid, o, ['url', 'method', 'as']);
        if (typeof o.url !== 'string' || o.url.length > 2048) fail(`${p}.url`, sid, 'must be an http(s) URL of at most 2048 characters');
        if (o.method !== undefined && o.method !== 'GET' && o.method !== 'POST') fail(`${p}.method`, sid, 'must be GET or POST');
        if (typeof o.as !== 'string' || !STEP_ID.test(o.as)) fail(`${p}.as`, sid, 'must name a data field (1-64 letters, digits or _)');
        return { id: sid, type: 'fetch', url: String(o.url), ...(o.method ? { method: o.method as 'GET' | 'POST' } : {}), as: String(o.as) };
      }
      case 'throttle': {
        allowedKeys(p, sid, o, ['key', 'limit', 'windowSeconds']);
        if (typeof o.key !== 'string' || !KEY.test(o.key)) fail(`${p}.key`, sid, 'must be a key (1-128 of A-Za-z0-9._-)');
        if (!int(o.limit, 1, 100_000)) fail(`${p}.limit`, sid, 'must be a whole number from 1 to 100000');
        if (!int(o.windowSeconds, 1, 31 * 86400)) fail(`${p}.windowSeconds`, sid, 'must be a whole number of seconds from 1 to 2678400');
        return { id: sid, type: 'throttle', key: String(o.key), limit: o.limit as number, windowSeconds: o.windowSeconds as number };
      }
      case 'digest':
        fail(`${p}.type`, sid, 'digest steps are not supported yet: send the flow with "digest" on the notification request, or throttle');
        return null;
      default:
        fail(`${p}.type`, sid, `must be one of ${FLOW_STEP_TYPES.join(', ')}`);
        return null;
    }
  }

  if (!Array.isArray(raw) || raw.length === 0) throw invalidInput('steps must be a non-empty array', [{ path: 'steps', message: 'must be a non-empty array of steps' }]);
  const steps = seq(raw, 'steps', 1);
  if (errors.length === 0) checkPaths(steps, 'steps', new Set(), false, errors);
  if (errors.length) throw invalidInput(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  return steps;
}

/**
 * Along every path the flow can take, a channel is sent at most once (a notification has one
 * delivery, and one inbox item, per channel) and a wait for `read` follows an in-app send.
 * Answers the channels sent along the path(s), for the steps after.
 */
function checkPaths(steps: readonly FlowStep[], path: string, sentBefore: ReadonlySet<Channel>, _nested: boolean, errors: FieldError[]): Set<Channel> {
  const sent = new Set(sentBefore);
  steps.forEach((s, i) => {
    const p = `${path}.${i}`;
    if (s.type === 'send') {
      for (const ch of s.channels) {
        if (sent.has(ch)) errors.push({ path: `${p}.channels`, message: `step "${s.id}": ${ch} is already sent earlier on this path (a flow sends each channel at most once per run)` });
        sent.add(ch);
      }
    } else if (s.type === 'wait' && s.for === 'read' && !sent.has('inapp')) {
      errors.push({ path: `${p}.for`, message: `step "${s.id}": a wait for read needs an in-app send step before it` });
    } else if (s.type === 'branch') {
      const a = checkPaths(s.then, `${p}.then`, sent, true, errors);
      const b = checkPaths(s.else ?? [], `${p}.else`, sent, true, errors);
      // After the branch, a channel counts as sent if either side may have sent it.
      for (const ch of [...a, ...b]) sent.add(ch);
    }
  });
  return sent;
}
