// Escalation activities: the incident's records (idempotent by the workflow-assigned seq), one
// policy step's notification on its channel, and the pager and Slack follow-ups of acknowledge
// and resolve. Built by a factory like every activity: tests hand in fakes.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client.js';
import { recordIncident as writeIncidentRecord } from '../db/incidents.js';
import { webhookSecretOf } from '../db/tenants.js';
import { ErrorType } from '../domain/errors.js';
import type { Channel, ChannelContent, EscalationStep, Recipient } from '../domain/types.js';
import type { IncidentRecord, IncidentSeverity } from '../domain/incidents.js';
import type { PagerClient } from './channels/pager.js';
import { DELIVERY_EVENT_TYPE, SLACK_ADOPT_SKEW_MS, slackTs, type Incident, type SlackClient, type SlackMessageRef } from './channels/slack.js';
import type { ChannelSender, SendResult } from './channels/types.js';
import { permanent, unconfigured } from './errors.js';

interface EscalationDeps {
  db: Db;
  /** SMS, email and webhook steps go through the notification channels' senders. */
  senders: Partial<Record<Channel, ChannelSender>>;
  /** Slack steps post Block Kit with an Acknowledge button; unset: `channel_unconfigured`. */
  slack?: SlackClient | null;
  /** Pager steps: PagerDuty Events API v2; unset: `channel_unconfigured`. */
  pager?: PagerClient | null;
}

export type { IncidentRecord };

interface NotifyStepArgs {
  tenantId: string;
  incidentId: string;
  /** Unique per notification of a step: the email idempotency key and webhook event id. */
  notifyId: string;
  /** PagerDuty's dedup_key: the incident id (suffixed after an unacknowledge, see the workflow). */
  dedupKey: string;
  policyKey: string;
  summary: string;
  severity: IncidentSeverity;
  details: Record<string, unknown> | null;
  step: EscalationStep;
  stepIndex: number;
  cycle: number;
}

export interface NotifyStepResult extends SendResult {
  /** The posted Slack message, so acknowledge and resolve can update it. */
  slack?: SlackMessageRef;
}

export interface PagerEventArgs {
  action: 'acknowledge' | 'resolve';
  routingKey: string;
  dedupKey: string;
}

interface SlackUpdateArgs {
  channel: string;
  ts: string;
  incident: Incident;
}

/** What an incident's SMS, WhatsApp, Telegram, push, email and webhook notifications say. */
function incidentContent(a: NotifyStepArgs): ChannelContent {
  const head = `[${a.severity}] ${a.summary}`;
  const where = `Incident ${a.incidentId}, policy ${a.policyKey}, step ${a.stepIndex + 1}${a.cycle ? `, pass ${a.cycle + 1}` : ''}`;
  const details = a.details ? `\n\nDetails:\n${JSON.stringify(a.details, null, 2)}` : '';
  return {
    email: { subject: `Tocsin ${head}`, text: `${head}\n${where}${details}\n\nAcknowledge it in Slack or with POST /v1/incidents/${a.incidentId}/acknowledge.` },
    sms: { text: `Tocsin ${head} (incident ${a.incidentId})` },
    whatsapp: { text: `Tocsin ${head} (incident ${a.incidentId})` },
    telegram: { text: `Tocsin ${head}\n${where}` },
    push: { title: `Tocsin ${head}`, body: where, data: { incidentId: a.incidentId } },
    webhook: {
      event: 'incident.escalation',
      incident: { id: a.incidentId, summary: a.summary, severity: a.severity, status: 'triggered', policy: a.policyKey, step: a.stepIndex, cycle: a.cycle },
    },
  };
}

/** A recipient made of the step's target, for the notification channels' senders. */
function stepRecipient(step: EscalationStep): Recipient {
  return {
    id: step.target,
    email: step.channel === 'email' ? step.target : null,
    phone: step.channel === 'sms' ? step.target : null,
    slack: null,
    webhookUrl: step.channel === 'webhook' ? step.target : null,
    pagerRoutingKey: null,
    whatsapp: step.channel === 'whatsapp' ? step.target : null,
    telegramChatId: step.channel === 'telegram' ? step.target : null,
    locale: 'en',
    timezone: 'UTC',
    name: null,
  };
}

export function createEscalationActivities(deps: EscalationDeps) {
  const { db } = deps;

  /** Creates the incident (first record), moves its status, appends the timeline event. */
  async function recordIncident(rec: IncidentRecord): Promise<void> {
    await writeIncidentRecord(db, rec);
  }

  /** Notifies one step's target. One attempt: Temporal owns the retries. */
  async function notifyIncidentStep(a: NotifyStepArgs): Promise<NotifyStepResult> {
    const ctx = Context.current();
    ctx.heartbeat();
    const { channel, target } = a.step;
    if (channel === 'slack') {
      if (!deps.slack) throw unconfigured('slack');
      // A retry first looks for the message an earlier attempt may have posted (its answer
      // lost), as the Slack channel does: one message per step, not one per attempt.
      if (ctx.info.attempt > 1) {
        try {
          const found = await deps.slack.findDeliveryMessage(target, a.notifyId, slackTs(ctx.info.scheduledTimestampMs - SLACK_ADOPT_SKEW_MS));
          if (found) return { provider: 'slack', providerMessageId: `${found.channel}:${found.ts}`, slack: found };
        } catch (err) {
          // Slack refuses the lookup for good (no *:history scope): post, at least once.
          if (!(err instanceof ApplicationFailure && err.nonRetryable)) throw err;
        }
      }
      const ref = await deps.slack.postIncidentMessage(
        target,
        { incidentId: a.incidentId, summary: a.summary, severity: a.severity, status: 'triggered' },
        { event_type: DELIVERY_EVENT_TYPE, event_payload: { delivery_id: a.notifyId, notification_id: a.incidentId } },
      );
      return { provider: 'slack', providerMessageId: `${ref.channel}:${ref.ts}`, slack: ref };
    }
    if (channel === 'pager') {
      if (!deps.pager) throw unconfigured('pager');
      const dedupKey = await deps.pager.trigger({
        routingKey: target,
        dedupKey: a.dedupKey,
        summary: a.summary,
        severity: a.severity,
        source: 'tocsin',
        customDetails: {
          incidentId: a.incidentId,
          policy: a.policyKey,
          step: a.stepIndex,
          cycle: a.cycle,
          ...(a.details ? { details: a.details } : {}),
        },
        signal: ctx.cancellationSignal,
      });
      return { provider: 'pagerduty', providerMessageId: dedupKey };
    }
    const sender = deps.senders[channel];
    if (!sender) throw unconfigured(channel);
    const webhookSecret = await webhookSecretOf(db, a.tenantId);
    if (webhookSecret === undefined) throw permanent(ErrorType.NotFound, 'The tenant no longer exists');
    return sender.send({
      deliveryId: a.notifyId,
      notificationId: a.incidentId,
      tenant: { id: a.tenantId, webhookSecret },
      recipient: stepRecipient(a.step),
      address: target,
      template: { key: 'incident', version: 1 },
      content: incidentContent(a),
      data: { incidentId: a.incidentId, summary: a.summary, severity: a.severity, details: a.details },
      category: 'incident',
      priority: a.severity === 'critical' ? 'critical' : 'high',
      // One incident, one notice on a device: each step's push replaces the one before.
      collapseKey: `incident-${a.incidentId}`,
      signal: ctx.cancellationSignal,
    });
  }

  /** PagerDuty `acknowledge` or `resolve` for one page (routing key and dedup key). */
  async function sendPagerEvent(a: PagerEventArgs): Promise<void> {
    if (!deps.pager) throw unconfigured('pager');
    const event = { routingKey: a.routingKey, dedupKey: a.dedupKey, signal: Context.current().cancellationSignal };
    await (a.action === 'acknowledge' ? deps.pager.acknowledge(event) : deps.pager.resolve(event));
  }

  /** Rewrites a posted incident message (status, who, and no button once handled). */
  async function updateSlackIncidentMessage(a: SlackUpdateArgs): Promise<void> {
    if (!deps.slack) throw unconfigured('slack');
    await deps.slack.updateIncidentMessage(a.channel, a.ts, a.incident);
  }

  return { recordIncident, notifyIncidentStep, sendPagerEvent, updateSlackIncidentMessage };
}

export type EscalationActivities = ReturnType<typeof createEscalationActivities>;
