// Events and rules (README: "Events and rules"): what a rule asks for, what an event's workflow
// carries, and the ids that make a re-posted event or a retried page send nothing twice. Pure.
import type { Channel, Priority, RetrySettings, Strategy, ThrottleSpec } from './types.js';

/** Where a rule's recipients come from. */
export type RuleAudience = { from: 'event' } | { topic: string } | { segment: string };

/** A stored rule (`PUT /v1/rules/{key}` body, defaults applied). */
export interface RuleDefinition {
  event: string;
  if?: string;
  recipients: RuleAudience;
  template?: string;
  flow?: string;
  channels?: Channel[];
  category?: string;
  priority?: Priority;
  strategy?: Strategy;
  throttle?: ThrottleSpec;
  enabled: boolean;
}

/** A rule as an event's run pinned it: its key, definition, and the template version it sends. */
export interface MatchedRule {
  key: string;
  rule: RuleDefinition;
  /** A template rule's template, pinned at the event's first step; a flow rule has `flow` instead. */
  template?: { key: string; version: number };
  flow?: { key: string };
}

/** What an event's workflow starts with: the posted event, pinned. */
export interface EventInput {
  tenantId: string;
  eventId: string;
  name: string;
  actor: string | null;
  recipients: string[] | null;
  data: Record<string, unknown>;
  retry: RetrySettings;
  /** Recipients read per page (tests page small); unset: 1,000. */
  pageSize?: number;
}

/** Where an event's run stands: the rules it matched (pinned by its first page) and the next page. */
export interface EventProgress {
  /** null until the rules are evaluated. */
  rules: MatchedRule[] | null;
  /** The rule being paged through, by index into `rules`. */
  ruleIndex: number;
  /** The last recipient id of the rule's previous page (keyset), null at the rule's start. */
  after: string | null;
  /** Notifications accepted so far. */
  accepted: number;
}

/** The CEL variable `event`, as rules' `if` and segments see it. */
export const celEvent = (e: Pick<EventInput, 'name' | 'data' | 'actor'>) => ({ name: e.name, data: e.data, actor: e.actor });

/** The CEL variable `recipient`, as segments see it. */
export const celRecipient = (r: { id: string; locale: string; timezone: string; attributes: Record<string, unknown> | null }) => ({
  id: r.id,
  locale: r.locale,
  timezone: r.timezone,
  attributes: r.attributes ?? {},
});

/** FNV-1a, 2 × 32 bits: a short stable digest that workflows may compute too (no Node crypto). */
function digest(value: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(36).padStart(7, '0') + b.toString(36).padStart(7, '0');
}

/**
 * The notification of one rule and recipient of an event: the same id however often the event
 * is posted (under one Idempotency-Key) or a page retried, so the notification's workflow id
 * (a business id, REJECT_DUPLICATE) and its row (insert … on conflict do nothing) stop a second
 * send. Time-ordered like the event's own id; at most 64 characters.
 */
export function eventNotificationId(eventId: string, ruleKey: string, recipientId: string): string {
  return `ntf_${eventId.replace(/^evt_/, '').slice(0, 25)}${digest(`${ruleKey}\u0000${recipientId}`)}${digest(`${recipientId}\u0000${ruleKey}`)}`;
}

