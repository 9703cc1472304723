// A flow run's own activities (workflows/flow.ts): its first record, its step states, and the
// `fetch` step. Sends go through the notification's activities (wake, deliver*, recordDelivery).
import { Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import { inboxItemRead, recipientRow, recordFlowSteps } from '../db/flows.js';
import type { DeliveryRecord } from '../db/deliveries.js';
import { toRecipient } from '../db/recipients.js';
import { ErrorType } from '../domain/errors.js';
import { flowChannels, flowTemplates, MAX_FETCH_BYTES, type FlowInput, type StepState } from '../domain/flows.js';
import type { NotificationStatus } from '../domain/types.js';
import type { WebhookAllowList } from '../usecases/webhook-address.js';
import { createGuardedRequest, type ResolveHost } from './channels/webhook.js';
import { httpFailure, permanent } from './errors.js';

export interface FlowActivityDeps {
  db: Db;
  /** WEBHOOK_ALLOWED_HOSTS: what a fetch step may reach although not public (as webhooks). */
  fetchAllowedHosts?: string | readonly string[] | WebhookAllowList;
  /** How host names are resolved (tests hand in a table); DNS by default. */
  resolve?: ResolveHost;
  fetchTimeoutMs?: number;
}

/** What CEL sees as `recipient`: the recipient's fields and attributes, no preferences. */
export type FlowRecipient = Record<string, unknown> & { id: string };

export function createFlowActivities(deps: FlowActivityDeps) {
  const { db } = deps;
  const request = createGuardedRequest({
    what: 'fetch of',
    userAgent: 'Tocsin-Flows/1',
    ...(deps.fetchAllowedHosts !== undefined ? { allowedHosts: deps.fetchAllowedHosts } : {}),
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    ...(deps.fetchTimeoutMs !== undefined ? { timeoutMs: deps.fetchTimeoutMs } : {}),
  });

  /**
   * A flow run's first step: its accepted record unless the API wrote it already, with its
   * steps pending; the recipient as CEL sees it, or null when it no longer exists.
   */
  async function startFlow(args: { input: FlowInput; workflowId: string; steps: StepState[] }): Promise<FlowRecipient | null> {
    const { input } = args;
    const first = flowTemplates(input.steps)[0] ?? '';
    const row = await recipientRow(db, input.tenantId, input.recipientId, {
      input,
      first: { templateKey: first, templateVersion: input.templates[first] ?? 0, channels: flowChannels(input.steps), steps: args.steps, workflowId: args.workflowId },
    });
    if (!row) return null;
    return { ...toRecipient(row), attributes: row.attributes ?? {} };
  }

  /**
   * Records the run's step states (and its status and deliveries when given). With
   * `checkRead`, answers whether the notification's inbox item is read: a wait for `read`
   * records that it waits first and asks after, so a read that lands in between is signalled.
   */
  async function recordFlow(args: {
    notificationId: string;
    steps: StepState[];
    status?: { status: NotificationStatus; reason: string | null; releaseAt?: string | null };
    deliveries?: DeliveryRecord[];
    checkRead?: boolean;
  }): Promise<{ read: boolean }> {
    await recordFlowSteps(db, args.notificationId, args.steps, { status: args.status, deliveries: args.deliveries });
    return { read: args.checkRead ? await inboxItemRead(db, args.notificationId) : false };
  }

  /**
   * A `fetch` step: an address-guarded GET or POST (the run's data and recipient id as JSON),
   * whose JSON answer (at most 64 KiB) the run puts into its data. A blocked address fails it
   * `address_blocked`; a 4xx, an answer too large or not JSON, for good; a 5xx or a network
   * error, retryably.
   */
  async function fetchForFlow(args: { url: string; method: 'GET' | 'POST'; data: Record<string, unknown>; recipientId: string; notificationId: string }): Promise<unknown> {
    const body = args.method === 'POST' ? JSON.stringify({ notificationId: args.notificationId, recipient: args.recipientId, data: args.data }) : undefined;
    const { status, text } = await request(args.url, {
      method: args.method,
      ...(body !== undefined ? { body } : {}),
      headers: { accept: 'application/json' },
      signal: Context.current().cancellationSignal,
      maxBytes: MAX_FETCH_BYTES + 1,
    });
    if (status < 200 || status >= 300) {
      if (status >= 300 && status < 400) throw permanent(ErrorType.ProviderRejected, `fetch answered ${status}: redirects are not followed`);
      throw httpFailure('fetch', status, text.slice(0, 200));
    }
    if (Buffer.byteLength(text) > MAX_FETCH_BYTES) throw permanent(ErrorType.ResponseTooLarge, `the answer is larger than ${MAX_FETCH_BYTES} bytes`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw permanent(ErrorType.InvalidJson, 'the answer is not JSON');
    }
  }

  return { startFlow, recordFlow, fetchForFlow };
}
