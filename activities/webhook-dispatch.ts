// The lifecycle webhook dispatcher's activity (workflows/webhook-dispatch.ts): one round for one
// endpoint. It takes the endpoint's due deliveries, POSTs each signed per Standard Webhooks
// through the address guard (a few at a time), records every attempt and the next one's time,
// and disables the endpoint after 5 days of nothing but failures. The round's time is the
// workflow's clock (`now`), so retry times and the disable rule follow workflow time; only the
// `webhook-timestamp` a receiver checks against its own clock is this process's.
import { Context } from '@temporalio/activity';
import { Webhook } from 'standardwebhooks';
import type { Db } from '../db/client.js';
import {
  disableWebhookEndpoint,
  dueWebhookDeliveries,
  findWebhookEndpoint,
  nextWebhookDueAt,
  recordWebhookAttempts,
  type DueWebhookDelivery,
  type WebhookAttemptOutcome,
} from '../db/webhooks.js';
import { ErrorType } from '../domain/errors.js';
import { disabledReason, lifecycleEventBody, lifecycleEventId, nextAttemptAfterFailure, previousSecretSigns, shouldDisable } from '../domain/webhooks.js';
import type { EncryptionKey } from '../usecases/payload-codec.js';
import { openWebhookSecret } from '../usecases/webhook-endpoints.js';
import { createGuardedPost } from './channels/webhook.js';
import { permanent } from './errors.js';

export interface WebhookDispatchDeps {
  db: Db;
  /** TOCSIN_ENCRYPTION_KEYS: endpoint secrets are sealed under them. Unset: rounds fail unconfigured. */
  encryptionKeys?: readonly EncryptionKey[];
  /** WEBHOOK_ALLOWED_HOSTS. */
  allowedHosts?: string | readonly string[];
  /** Per request; 10 s by default. */
  timeoutMs?: number;
  /** Requests in flight per round; 8 by default. */
  concurrency?: number;
  /** Deliveries per round; 50 by default. */
  batch?: number;
  /** The clock of `webhook-timestamp` (wall time by default). */
  clock?: () => number;
}

export interface DispatchRound {
  /** `gone`: the endpoint was deleted; `disabled`: by the tenant or for failing. The dispatcher then ends. */
  state: 'active' | 'gone' | 'disabled';
  sent: number;
  failed: number;
  /** A full batch was taken: more may be due now. */
  more: boolean;
  /** When the next pending delivery is due (ms), or null when none is pending. */
  nextDueAt: number | null;
}

/** The Standard Webhooks headers for one message, signed by every secret given (a space between signatures). */
export function signWithSecrets(secrets: readonly string[], id: string, body: string, at: Date): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(id, at, body)).join(' '),
  };
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

const shortError = (err: unknown) => {
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e?.code === 'string' ? `${e.code}: ${String(e.message ?? '')}` : String(e?.message ?? err);
  return text.slice(0, 300);
};

export function createWebhookDispatchActivities(deps: WebhookDispatchDeps) {
  const { db } = deps;
  const post = createGuardedPost({ allowedHosts: deps.allowedHosts, timeoutMs: deps.timeoutMs });
  const clock = deps.clock ?? Date.now;

  const signal = () => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return new AbortController().signal;
    }
  };

  async function attempt(d: DueWebhookDelivery, url: string, secrets: string[], now: Date): Promise<WebhookAttemptOutcome> {
    const data = d.event.recipientId && d.event.type === 'recipient.unsubscribed' ? { recipientId: d.event.recipientId, ...d.event.data } : d.event.data;
    const body = lifecycleEventBody({ id: d.event.id, type: d.event.type, createdAt: d.event.createdAt, data });
    const headers = signWithSecrets(secrets, lifecycleEventId(d.event.id), body, new Date(clock()));
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await post(url, body, headers, signal());
      statusCode = res.status;
      if (res.status >= 200 && res.status < 300) return { deliveryId: d.id, replays: d.replays, statusCode, error: null, succeeded: true, nextAttemptAt: null };
      error = `answered ${res.status}`;
    } catch (err) {
      error = shortError(err);
    }
    const nextAttemptAt = nextAttemptAfterFailure(d.attempts + 1, d.firstAttemptAt ?? now, now);
    return { deliveryId: d.id, replays: d.replays, statusCode, error, succeeded: false, nextAttemptAt };
  }

  /** One round for one endpoint at the workflow's time `now` (ms). */
  async function dispatchWebhooks(args: { tenantId: string; endpointId: string; now: number }): Promise<DispatchRound> {
    const now = new Date(args.now);
    const idle = (state: DispatchRound['state']): DispatchRound => ({ state, sent: 0, failed: 0, more: false, nextDueAt: null });
    const endpoint = await findWebhookEndpoint(db, args.tenantId, args.endpointId);
    if (!endpoint) return idle('gone');
    if (!endpoint.enabled) return idle('disabled');
    if (endpoint.failingSince && shouldDisable(endpoint.failingSince, now)) {
      await disableWebhookEndpoint(db, args.tenantId, args.endpointId, disabledReason(endpoint.failingSince));
      return idle('disabled');
    }
    const batch = deps.batch ?? 50;
    const due = await dueWebhookDeliveries(db, args.tenantId, args.endpointId, now, batch);
    let outcomes: WebhookAttemptOutcome[] = [];
    if (due.length > 0) {
      if (!deps.encryptionKeys?.length) throw permanent(ErrorType.ChannelUnconfigured, 'Lifecycle webhooks need TOCSIN_ENCRYPTION_KEYS to open endpoint secrets');
      const keys = deps.encryptionKeys;
      const secrets = [openWebhookSecret(keys, args.tenantId, args.endpointId, endpoint.secret)];
      if (endpoint.previousSecret && previousSecretSigns(endpoint.previousSecretExpiresAt, now)) secrets.push(openWebhookSecret(keys, args.tenantId, args.endpointId, endpoint.previousSecret));
      outcomes = await eachLimited(due, deps.concurrency ?? 8, (d) => attempt(d, endpoint.url, secrets, now));
      const failingSince = await recordWebhookAttempts(db, args.tenantId, args.endpointId, now, outcomes);
      if (failingSince && shouldDisable(failingSince, now)) {
        await disableWebhookEndpoint(db, args.tenantId, args.endpointId, disabledReason(failingSince));
        return { ...idle('disabled'), failed: outcomes.length };
      }
    }
    const nextDue = await nextWebhookDueAt(db, args.tenantId, args.endpointId);
    const sent = outcomes.filter((o) => o.succeeded).length;
    return { state: 'active', sent, failed: outcomes.length - sent, more: due.length === batch, nextDueAt: nextDue?.getTime() ?? null };
  }

  return { dispatchWebhooks };
}

export type WebhookDispatchActivities = ReturnType<typeof createWebhookDispatchActivities>;
