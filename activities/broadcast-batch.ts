// A broadcast page delivered in bulk (workflows/broadcast-batch.ts): one activity per page
// resolves its recipients and their preferences, renders once per locale and channel, sends the
// chunk's email recipients in one Resend batch call (up to 100 emails), and writes every in-app
// and email recipient's notification, deliveries, attempts, events and inbox message in
// multi-row inserts. Recipients it cannot finish here (quiet hours, channels other than in-app
// and email) are recorded accepted and answered for the workflow to start as ordinary
// notification workflows.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client.js';
import { audiencePage, writeBroadcastOutcomes, type BroadcastDelivery, type BroadcastOutcome } from '../db/broadcasts.js';
import { existingNotificationIds } from '../db/notifications.js';
import { recipientsById } from '../db/recipients.js';
import { suppressedAmong } from '../db/suppressions.js';
import { inboxLink } from '../domain/links.js';
import { broadcastNotificationId } from '../domain/broadcast.js';
import { ErrorType } from '../domain/errors.js';
import { addressFor, decideOnWake } from '../domain/preferences.js';
import { suppressionTargets, withoutSuppressed } from '../domain/suppressions.js';
import { renderContent, TemplateRenderError } from '../domain/templates.js';
import type { Channel, ChannelContent } from '../domain/types.js';
import { contentFor, loadTemplateVersion } from '../usecases/templates.js';
import { type BroadcastInput } from '../domain/broadcast.js';
import { describeError, permanent } from './errors.js';
import type { BatchEmail, ChannelSender } from './channels/types.js';
import { emailBody, RESEND_BATCH_LIMIT } from './channels/email.js';
import { finalStatus } from '../domain/status.js';
import type { BroadcastStart } from './fanout.js';
import type { IntegrationProviders } from './providers.js';
import { emailUnsubscribeUrl, type RecipientLinkOptions } from './unsubscribe-links.js';

/**
 * Recipients written per transaction, and at most one email batch call each; progress is
 * heartbeated after each.
 */
const CHUNK = Math.min(100, RESEND_BATCH_LIMIT);

export interface BroadcastBatchDeps {
  db: Db;
  /** The email sender's batch send (`sendBatch`) delivers email recipients here; without it they get their own workflow. */
  senders?: Partial<Record<Channel, ChannelSender>>;
  /** A tenant with email integrations has its email recipients sent one by one through them (their own workflows). */
  integrations?: Pick<IntegrationProviders, 'has'> | null;
  /**
   * Called after each chunk of a page is committed (tests inject a failure here to kill a
   * batch mid-page); unset in production.
   */
  afterBroadcastChunk?: (a: { broadcastId: string; nextSeq: number; attempt: number }) => void | Promise<void>;
  /** One-click unsubscribe links for a broadcast with a category (activities/unsubscribe-links.ts). */
  recipientLinks?: RecipientLinkOptions | null;
}

/** Where a page stands: heartbeated after each committed chunk, so a retry resumes there. */
interface PageProgress {
  nextSeq: number;
  start: BroadcastStart[];
}

interface BroadcastPageResult {
  /** Recipients to start an ordinary notification workflow for (quiet hours, other channels). */
  start: BroadcastStart[];
  nextSeq: number;
}

/** The idempotency key of a chunk's email batch: stable across retries of the page. */
function emailBatchKey(b: { tenantId: string; broadcastId: string }, firstSeq: number): string {
  return `tocsin-broadcast/${b.tenantId}/${b.broadcastId}/${firstSeq}`;
}

export function createBroadcastBatchActivities({ db, senders, integrations, afterBroadcastChunk, recipientLinks }: BroadcastBatchDeps) {
  const emailSender = senders?.email?.sendBatch ? senders.email : undefined;
  /**
   * Sends a chunk's emails in one batch call and records each answer on its delivery: sent with
   * Resend's message id, or failed when Resend refuses the batch for good (all of it: strict
   * validation sends none of a batch with an invalid email). A transient failure throws, and the
   * page is retried from this chunk. The key is the chunk's, and a chunk whose rows a former
   * attempt already wrote sends nothing: a retry never sends an email twice (Resend answers a
   * repeated key with the same body with the first answer, without sending).
   */
  async function sendEmails(b: BroadcastInput, firstSeq: number, emails: Array<{ notificationId: string; delivery: BroadcastDelivery; email: BatchEmail }>): Promise<void> {
    if (emails.length === 0 || !emailSender?.sendBatch) return;
    const written = await existingNotificationIds(db, emails.map((e) => e.notificationId));
    const todo = emails.filter((e) => !written.has(e.notificationId));
    if (todo.length === 0) return;
    const ctx = Context.current();
    try {
      const { provider, providerMessageIds } = await emailSender.sendBatch(
        todo.map((e) => e.email),
        { idempotencyKey: emailBatchKey(b, firstSeq), signal: ctx.cancellationSignal },
      );
      todo.forEach((e, i) => Object.assign(e.delivery, { status: 'sent', sent: { provider, providerMessageId: providerMessageIds[i] } }));
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.nonRetryable)) throw err;
      const { code, message } = describeError(err);
      for (const e of todo) Object.assign(e.delivery, { status: 'failed', errorCode: code, errorMessage: message, refused: true });
    }
  }

  /**
   * Delivers one page of a broadcast's audience from `fromSeq`: recipients outside quiet hours
   * whose channels are in-app, email (given a batch sender) or both are sent here; opted-out ones are suppressed, deleted ones failed, those without a
   * channel suppressed; the rest are recorded accepted and answered to be started. `at` is the
   * workflow's clock, for quiet hours. Ids are positional and inserts skip existing rows, and a
   * retry resumes after the last chunk it heartbeated: nothing is written or sent twice.
   */
  async function sendBroadcastPage(a: { broadcast: BroadcastInput; fromSeq: number; at: number }): Promise<BroadcastPageResult> {
    const b = a.broadcast;
    const ctx = Context.current();
    const resumed = ctx.info.heartbeatDetails as PageProgress | undefined;
    const progress: PageProgress = resumed && resumed.nextSeq >= a.fromSeq ? { nextSeq: resumed.nextSeq, start: [...resumed.start] } : { nextSeq: a.fromSeq, start: [] };
    const endSeq = a.fromSeq + b.pageSize;
    const page = await audiencePage(db, b.broadcastId, progress.nextSeq, endSeq);
    if (page.length === 0) return { start: progress.start, nextSeq: Math.min(endSeq, b.total) };
    const version = await loadTemplateVersion(db, b.tenantId, b.template.key, b.template.version);
    if (!version) throw permanent(ErrorType.NotFound, `Template ${b.template.key} v${b.template.version} no longer exists`);
    const batchEmail = emailSender !== undefined && !(await integrations?.has(b.tenantId, 'email'));

    // Rendered once per locale and channel: broadcast data is the same for every recipient.
    const rendered = new Map<string, { content?: ChannelContent; error?: string }>();
    const renderOnce = (locale: string, channel: 'inapp' | 'email', content: ChannelContent) => {
      const key = `${channel}:${locale}`;
      let r = rendered.get(key);
      if (!r) {
        try {
          r = { content: renderContent(content, [channel], b.data) };
        } catch (err) {
          if (!(err instanceof TemplateRenderError)) throw err;
          r = { error: err.message };
        }
        rendered.set(key, r);
      }
      return r;
    };
    const renderFailed = (channel: Channel, error?: string): BroadcastDelivery => ({ channel, status: 'failed', errorCode: ErrorType.TemplateRenderFailed, errorMessage: error ?? null });

    for (let i = 0; i < page.length; i += CHUNK) {
      const chunk = page.slice(i, i + CHUNK);
      const byId = await recipientsById(db, b.tenantId, chunk.map((p) => p.recipientId));
      // Suppressed email addresses of the chunk, in one lookup: skipped here, as a wake skips
      // them (the other channels are checked by their own workflow's wake).
      const suppressed = batchEmail ? await suppressedAmong(db, b.tenantId, [...byId.values()].flatMap(({ recipient }) => suppressionTargets(recipient, ['email']))) : () => false;
      const outcomes: BroadcastOutcome[] = [];
      // Sent here (in-app, email): their status, events and inbox message once the email batch answered.
      const bulk: BroadcastOutcome[] = [];
      const emails: Array<{ notificationId: string; delivery: BroadcastDelivery; email: BatchEmail }> = [];
      for (const { seq, recipientId } of chunk) {
        const notificationId = broadcastNotificationId(b.broadcastId, seq);
        const base = { notificationId, recipientId, channels: [] as Channel[], deliveries: [] };
        const found = byId.get(recipientId);
        if (!found) {
          outcomes.push({ ...base, status: 'failed', reason: 'recipient_deleted', events: ['failed'] });
          continue;
        }
        const { recipient, preferences } = found;
        const chosen = contentFor(version, recipient.locale);
        const channels = (b.channels ?? chosen.channels).filter((ch) => chosen.channels.includes(ch) && addressFor(recipient, ch));
        if (channels.length === 0) {
          outcomes.push({ ...base, status: 'suppressed', reason: 'no_channel', events: ['suppressed'] });
          continue;
        }
        const decision = withoutSuppressed(decideOnWake({ channels, category: b.category, priority: b.priority }, recipient, preferences, a.at), recipient, suppressed);
        const skipped = decision.skipped.map((d) => ({ channel: d.channel, status: 'skipped' as const, errorCode: d.reason }));
        if (decision.allowed.length === 0) {
          outcomes.push({ ...base, channels, status: 'suppressed', reason: 'preferences', deliveries: skipped, events: ['accepted', 'suppressed'] });
          continue;
        }
        const here = decision.allowed.every((ch) => ch === 'inapp' || (ch === 'email' && batchEmail));
        if (decision.release !== null || !here) {
          // Deferred per recipient (quiet hours) or sent on channels other than in-app and email
          // (or email with no batch sender): its own workflow, for all its channels.
          outcomes.push({ ...base, channels, status: 'accepted', reason: null, deliveries: channels.map((channel) => ({ channel, status: 'pending' as const })), events: ['accepted'] });
          progress.start.push({ notificationId, recipientId, channels });
          continue;
        }
        const sending = new Map<Channel, BroadcastDelivery>();
        let inbox: BroadcastOutcome['inbox'];
        for (const ch of decision.allowed) {
          const r = renderOnce(recipient.locale, ch as 'inapp' | 'email', chosen.content);
          if (!r.content) {
            sending.set(ch, renderFailed(ch, r.error));
          } else if (ch === 'inapp') {
            sending.set(ch, { channel: ch, status: 'sent', sent: { provider: 'tocsin', providerMessageId: `msg_${notificationId}` } });
            inbox = { title: r.content.inapp?.title ?? '', body: r.content.inapp?.body ?? '', url: inboxLink(r.content.inapp?.url) };
          } else {
            const email = r.content.email;
            const body = emailBody(email);
            if (!email || !body) {
              sending.set(ch, { channel: ch, status: 'failed', errorCode: ErrorType.ProviderRejected, errorMessage: `template ${b.template.key} has no email body` });
              continue;
            }
            const delivery: BroadcastDelivery = { channel: ch, status: 'sending' };
            sending.set(ch, delivery);
            const unsubscribeUrl = await emailUnsubscribeUrl(db, recipientLinks, { tenantId: b.tenantId, recipientId, category: b.category, scheduledMs: ctx.info.scheduledTimestampMs });
            emails.push({ notificationId, delivery, email: { to: addressFor(recipient, 'email')!, subject: email.subject, ...body, ...(unsubscribeUrl ? { unsubscribeUrl } : {}) } });
          }
        }
        const ordered = channels.map((ch) => sending.get(ch) ?? skipped.find((s) => s.channel === ch)!);
        const outcome: BroadcastOutcome = { ...base, channels, status: 'sending', reason: null, deliveries: ordered, events: [], ...(inbox ? { inbox } : {}) };
        outcomes.push(outcome);
        bulk.push(outcome);
      }
      await sendEmails(b, chunk[0].seq, emails);
      for (const o of bulk) {
        o.status = finalStatus(o.deliveries.map((d) => d.status), false);
        o.events = ['accepted', 'sending', o.status];
      }
      await writeBroadcastOutcomes(db, b, outcomes);
      progress.nextSeq = chunk[chunk.length - 1].seq + 1;
      ctx.heartbeat(progress);
      await afterBroadcastChunk?.({ broadcastId: b.broadcastId, nextSeq: progress.nextSeq, attempt: ctx.info.attempt });
    }
    return { start: progress.start, nextSeq: Math.min(endSeq, b.total) };
  }

  return { sendBroadcastPage };
}
