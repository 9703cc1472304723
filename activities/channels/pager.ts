// Pager channel: the PagerDuty Events API v2 (there is no SDK for it among our dependencies).
// One POST per event: `trigger` opens an alert under a dedup key, `acknowledge` and `resolve`
// act on the same key. https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
import { ErrorType } from '../../domain/errors.js';
import { INCIDENT_SEVERITIES, type IncidentSeverity } from '../../domain/incidents.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

export const DEFAULT_PAGER_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** PagerDuty's severities, which incidents take as theirs. */
type PagerSeverity = IncidentSeverity;

/** PagerDuty's limits: summary ≤ 1024 characters, dedup_key ≤ 255. */
const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;

interface PagerEvent {
  routingKey: string;
  dedupKey: string;
  signal?: AbortSignal;
}

interface PagerTrigger extends PagerEvent {
  summary: string;
  severity: PagerSeverity;
  source: string;
  customDetails?: Record<string, unknown>;
}

export interface PagerClient {
  /** Each resolves to the dedup_key PagerDuty answered. */
  trigger(event: PagerTrigger): Promise<string>;
  acknowledge(event: PagerEvent): Promise<string>;
  resolve(event: PagerEvent): Promise<string>;
}

export function createPagerClient(opts: { eventsUrl?: string; timeoutMs?: number } = {}): PagerClient {
  const eventsUrl = opts.eventsUrl ?? DEFAULT_PAGER_EVENTS_URL;
  const timeoutMs = opts.timeoutMs ?? 10_000;

  async function enqueue(event: PagerEvent, action: 'trigger' | 'acknowledge' | 'resolve', payload?: object) {
    if (!event.routingKey) throw permanent(ErrorType.NoAddress, 'pager event without a routing key');
    if (event.dedupKey.length > MAX_DEDUP_KEY) {
      throw permanent(ErrorType.ProviderRejected, `pager dedup key longer than ${MAX_DEDUP_KEY} characters`);
    }
    const signals = [AbortSignal.timeout(timeoutMs), ...(event.signal ? [event.signal] : [])];
    let res: Response;
    try {
      res = await fetch(eventsUrl, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.any(signals),
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          routing_key: event.routingKey,
          event_action: action,
          dedup_key: event.dedupKey,
          ...(payload ? { payload } : {}),
        }),
      });
    } catch (err) {
      // No answer (refused, reset, timeout, aborted): retryable.
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new Error(`pagerduty request failed: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) {
      let answer: { dedup_key?: unknown } = {};
      try {
        answer = JSON.parse(text);
      } catch {
        // A 2xx without JSON still means the event was accepted.
      }
      return typeof answer.dedup_key === 'string' ? answer.dedup_key : event.dedupKey;
    }
    // 3xx is not followed (and not retried): the events URL is wrong.
    throw httpFailure('pagerduty', res.status, text, res.headers.get('retry-after'));
  }

  return {
    trigger: (e) =>
      enqueue(e, 'trigger', {
        summary: e.summary.length > MAX_SUMMARY ? `${e.summary.slice(0, MAX_SUMMARY - 1)}…` : e.summary,
        severity: e.severity,
        source: e.source,
        ...(e.customDetails ? { custom_details: e.customDetails } : {}),
      }),
    acknowledge: (e) => enqueue(e, 'acknowledge'),
    resolve: (e) => enqueue(e, 'resolve'),
  };
}

function isSeverity(v: unknown): v is PagerSeverity {
  return typeof v === 'string' && (INCIDENT_SEVERITIES as readonly string[]).includes(v);
}

/**
 * The pager channel for notifications: a `trigger` to the recipient's routing key with the
 * delivery id as dedup key, so a retried activity opens one alert, not two. Severity comes from
 * `data.severity` when it is one of PagerDuty's, else `critical` (a page is meant to wake someone).
 */
export function createPagerSender(client: PagerClient): ChannelSender {
  return {
    channel: 'pager',
    provider: 'pagerduty',
    async send(req: SendRequest) {
      const summary = req.content.pager?.summary || req.content.sms?.text || req.template.key;
      const dedupKey = await client.trigger({
        routingKey: req.address,
        dedupKey: req.deliveryId,
        summary,
        severity: isSeverity(req.data.severity) ? req.data.severity : 'critical',
        source: 'tocsin',
        customDetails: {
          notificationId: req.notificationId,
          deliveryId: req.deliveryId,
          recipient: req.recipient.id,
          template: `${req.template.key}@${req.template.version}`,
          ...(req.category ? { category: req.category } : {}),
        },
        signal: req.signal,
      });
      return { provider: 'pagerduty', providerMessageId: dedupKey };
    },
  };
}
