// Slack channel: chat.postMessage through the WebClient that @slack/bolt bundles, with the
// client's own retries off and rate-limited calls rejected so Temporal owns every retry.
// Also the incident message (Block Kit with an Acknowledge button) used by escalations.
//
// Slack has no idempotency key, so each delivery's message carries its delivery id in message
// metadata (event_type `tocsin_delivery`), and a retry first reads the conversation's history
// since the first attempt (conversations.history with include_all_metadata) and adopts the
// message it finds instead of posting again.
import { type types, webApi } from '@slack/bolt';
import { ErrorType } from '../../domain/errors.js';
import { ACK_ACTION_ID, type IncidentSeverity, type IncidentStatus } from '../../domain/incidents.js';
import { escapeSlack } from '../../domain/text.js';
import { ApplicationFailure } from '@temporalio/common';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

interface SlackOptions {
  botToken?: string;
  /** Slack's Web API base (proxies, tests). Default: https://slack.com/api/ */
  apiUrl?: string;
  timeoutMs?: number;
}

/** Platform errors worth retrying: Slack's side failed, not our request. */
const TRANSIENT_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);
/** Platform errors that mean the address does not exist (or no longer can receive). */
const ADDRESS_ERRORS = new Set(['channel_not_found', 'user_not_found', 'is_archived', 'user_disabled', 'cannot_dm_bot']);

/** Maps a WebClient error to a classified failure (see activities/errors.ts). */
function classifySlackError(err: unknown): Error {
  if (err instanceof webApi.WebAPIRateLimitedError) {
    return httpFailure('slack', 429, 'ratelimited', String(err.retryAfter));
  }
  if (err instanceof webApi.WebAPIHTTPError) {
    return httpFailure('slack', err.statusCode, typeof err.body === 'string' ? err.body : '', err.headers['retry-after']);
  }
  if (err instanceof webApi.WebAPIPlatformError) {
    const code = err.data.error;
    if (code === 'ratelimited') {
      const retryAfter = err.data.response_metadata?.retryAfter;
      return httpFailure('slack', 429, code, retryAfter !== undefined ? String(retryAfter) : null);
    }
    if (TRANSIENT_ERRORS.has(code)) return new Error(`slack answered ${code}`);
    if (ADDRESS_ERRORS.has(code)) return permanent(ErrorType.InvalidAddress, `slack answered ${code}`);
    return permanent(ErrorType.ProviderRejected, `slack answered ${code}`);
  }
  // WebAPIRequestError (no answer: refused, reset, timeout) and anything else: retryable.
  return new Error(`slack request failed: ${err instanceof Error ? err.message : String(err)}`);
}

export interface Incident {
  incidentId: string;
  summary: string;
  severity: IncidentSeverity;
  status: IncidentStatus;
  /** Who acknowledged or resolved it, when known. */
  by?: string;
}

const SEVERITY_EMOJI: Record<Incident['severity'], string> = {
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
};

/** Block Kit for an incident; the Acknowledge button is shown while it is still triggered. */
export function incidentBlocks(incident: Incident): types.KnownBlock[] {
  const status = incident.by ? `*${incident.status}* by ${escapeSlack(incident.by)}` : `*${incident.status}*`;
  const blocks: types.KnownBlock[] = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: `${SEVERITY_EMOJI[incident.severity]} ${escapeSlack(incident.summary)}` },
    },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `Severity *${incident.severity}* · Status ${status} · Incident \`${escapeSlack(incident.incidentId)}\`` }],
    },
  ];
  if (incident.status === 'triggered') {
    blocks.push({
      type: 'actions',
      block_id: 'tocsin_incident',
      elements: [
        {
          type: 'button',
          action_id: ACK_ACTION_ID,
          value: incident.incidentId,
          style: 'danger',
          text: { type: 'plain_text', text: 'Acknowledge' },
        },
      ],
    });
  }
  return blocks;
}

/** Plain-text fallback for notifications and screen readers. */
function incidentText(incident: Incident): string {
  // Slack notifies from this text too: the summary is escaped here as in the blocks.
  return `[${incident.severity}] ${escapeSlack(incident.summary)} (${incident.status})`;
}

export interface SlackMessageRef {
  channel: string;
  ts: string;
}

/** The metadata event type of a delivery's message; its payload names the delivery. */
export const DELIVERY_EVENT_TYPE = 'tocsin_delivery';
/** How far before the first attempt's scheduled time the history is read: clock skew. */
export const SLACK_ADOPT_SKEW_MS = 60_000;
/** History pages read at most per lookup, of this many messages each. */
const HISTORY_PAGES = 10;
const HISTORY_PAGE_SIZE = 200;

interface DeliveryMetadata {
  event_type: typeof DELIVERY_EVENT_TYPE;
  event_payload: { delivery_id: string; notification_id: string };
}

/** A Slack ts (seconds since the epoch, six decimals) for a time. */
export function slackTs(ms: number): string {
  return (Math.max(ms, 0) / 1000).toFixed(6);
}

export interface SlackClient {
  postMessage(channel: string, text: string, extra?: { blocks?: types.KnownBlock[]; metadata?: DeliveryMetadata }): Promise<SlackMessageRef>;
  /**
   * The message carrying this delivery's metadata posted to `channel` (a user id: their DM)
   * after `oldest` (a Slack ts), or null.
   */
  findDeliveryMessage(channel: string, deliveryId: string, oldest: string): Promise<SlackMessageRef | null>;
  /** Posts an incident's message; `metadata` names the escalation step's delivery, for a retry to find it. */
  postIncidentMessage(channel: string, incident: Incident, metadata?: DeliveryMetadata): Promise<SlackMessageRef>;
  updateIncidentMessage(channel: string, ts: string, incident: Incident): Promise<SlackMessageRef>;
}

export function createSlackClient(opts: SlackOptions): SlackClient | null {
  if (!opts.botToken) return null;
  const web = new webApi.WebClient(opts.botToken, {
    ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: opts.timeoutMs ?? 10_000,
    // Only the configured API base: never a caller-supplied absolute URL.
    allowAbsoluteUrls: false,
    logLevel: webApi.LogLevel.ERROR,
  });

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifySlackError(err);
    }
  }

  function ref(res: { channel?: string; ts?: string }, channel: string): SlackMessageRef {
    if (!res.ts) throw new Error('slack answered ok without a message ts');
    return { channel: res.channel ?? channel, ts: res.ts };
  }

  /** The conversation id to read: a user id (U…, W…) posts to the DM, whose id conversations.open tells. */
  async function conversationOf(channel: string): Promise<string> {
    if (!/^[UW][A-Z0-9]+$/.test(channel)) return channel;
    const opened = await web.conversations.open({ users: channel });
    if (!opened.channel?.id) throw new Error('slack answered conversations.open without a channel id');
    return opened.channel.id;
  }

  async function findDeliveryMessage(channel: string, deliveryId: string, oldest: string): Promise<SlackMessageRef | null> {
    const id = await conversationOf(channel);
    let cursor: string | undefined;
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const res = await web.conversations.history({
        channel: id,
        oldest,
        include_all_metadata: true,
        limit: HISTORY_PAGE_SIZE,
        ...(cursor ? { cursor } : {}),
      });
      const found = res.messages?.find(
        (m) => m.metadata?.event_type === DELIVERY_EVENT_TYPE && (m.metadata.event_payload as Record<string, unknown> | undefined)?.delivery_id === deliveryId,
      );
      if (found?.ts) return { channel: id, ts: found.ts };
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!res.has_more || !cursor) return null;
    }
    return null;
  }

  return {
    postMessage: (channel, text, extra = {}) =>
      call(async () =>
        ref(
          await web.chat.postMessage({
            channel,
            text,
            ...(extra.blocks ? { blocks: extra.blocks } : {}),
            ...(extra.metadata ? { metadata: extra.metadata } : {}),
          }),
          channel,
        ),
      ),
    findDeliveryMessage: (channel, deliveryId, oldest) => call(() => findDeliveryMessage(channel, deliveryId, oldest)),
    postIncidentMessage: (channel, incident, metadata) =>
      call(async () =>
        ref(await web.chat.postMessage({ channel, text: incidentText(incident), blocks: incidentBlocks(incident), ...(metadata ? { metadata } : {}) }), channel),
      ),
    updateIncidentMessage: (channel, ts, incident) =>
      call(async () =>
        ref(await web.chat.update({ channel, ts, text: incidentText(incident), blocks: incidentBlocks(incident) }), channel),
      ),
  };
}

export function createSlackSender(opts: SlackOptions): ChannelSender | null {
  const client = createSlackClient(opts);
  if (!client) return null;
  return {
    channel: 'slack',
    provider: 'slack',
    adoptsEarlierSends: true,
    async send(req: SendRequest) {
      const text = req.content.slack?.text;
      if (!text) throw permanent(ErrorType.ProviderRejected, `template ${req.template.key} has no slack text`);
      req.signal.throwIfAborted();
      if (req.earlier) {
        try {
          const found = await client.findDeliveryMessage(req.address, req.deliveryId, slackTs(req.earlier.since.getTime() - SLACK_ADOPT_SKEW_MS));
          if (found) return { provider: 'slack', providerMessageId: `${found.channel}:${found.ts}`, adopted: true };
        } catch (err) {
          // Slack is unavailable: retry the lookup later. Slack refuses it for good (a token
          // without the *:history scope): post, at least once, rather than never.
          if (!(err instanceof ApplicationFailure && err.nonRetryable)) throw err;
        }
        req.signal.throwIfAborted();
      }
      const metadata: DeliveryMetadata = {
        event_type: DELIVERY_EVENT_TYPE,
        event_payload: { delivery_id: req.deliveryId, notification_id: req.notificationId },
      };
      const { channel, ts } = await client.postMessage(req.address, text, { metadata });
      return { provider: 'slack', providerMessageId: `${channel}:${ts}` };
    },
  };
}
