// A broadcast page delivered in bulk (workflows/broadcast-batch.ts): one activity per page
// resolves its recipients and their preferences, renders once per locale, and writes every
// in-app recipient's notification, deliveries, events and inbox message in multi-row inserts.
// Recipients it cannot finish here (quiet hours, channels other than in-app) are recorded
// accepted and answered for the workflow to start as ordinary notification workflows.
import { Context } from '@temporalio/activity';
import { and, asc, eq, gte, inArray, lt } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { broadcastRecipients, deliveries, deliveryAttempts, inboxMessages, notificationEvents, notifications, recipients } from '../db/schema.js';
import { broadcastNotificationId } from '../domain/broadcast.js';
import { ErrorType } from '../domain/errors.js';
import { addressFor, decideOnWake } from '../domain/preferences.js';
import { renderContent, TemplateRenderError } from '../domain/templates.js';
import { cleanText } from '../domain/text.js';
import type { Channel, ChannelContent, DeliveryStatus, NotificationStatus, Preferences } from '../domain/types.js';
import { contentFor, loadTemplateVersion } from '../usecases/templates.js';
import { toRecipient } from '../usecases/recipients.js';
import { workflowIds } from '../domain/workflow-ids.js';
import { type BroadcastInput } from '../domain/broadcast.js';
import { permanent } from './errors.js';
import { deliveryId } from './records.js';
import type { BroadcastStart } from './fanout.js';

/** Recipients written per transaction; progress is heartbeated after each. */
const CHUNK = 100;

export interface BroadcastBatchDeps {
  db: Db;
  /**
   * Called after each chunk of a page is committed (tests inject a failure here to kill a
   * batch mid-page); unset in production.
   */
  afterBroadcastChunk?: (a: { broadcastId: string; nextSeq: number; attempt: number }) => void | Promise<void>;
}

/** Where a page stands: heartbeated after each committed chunk, so a retry resumes there. */
interface PageProgress {
  nextSeq: number;
  start: BroadcastStart[];
}

export interface BroadcastPageResult {
  /** Recipients to start an ordinary notification workflow for (quiet hours, other channels). */
  start: BroadcastStart[];
  nextSeq: number;
}

/** One recipient's rows, whatever its outcome. */
interface Outcome {
  notificationId: string;
  recipientId: string;
  channels: Channel[];
  status: NotificationStatus;
  reason: string | null;
  deliveries: Array<{ channel: Channel; status: DeliveryStatus; errorCode?: string | null; errorMessage?: string | null; sent?: boolean }>;
  events: NotificationStatus[];
  inbox?: { title: string; body: string };
}

export function createBroadcastBatchActivities({ db, afterBroadcastChunk }: BroadcastBatchDeps) {
  /** Writes a chunk's outcomes in one transaction; rows that exist already are left alone. */
  async function write(b: BroadcastInput, outcomes: Outcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    await db.transaction(async (tx) => {
      const inserted = await tx
        .insert(notifications)
        .values(
          outcomes.map((o) => ({
            id: o.notificationId,
            tenantId: b.tenantId,
            recipientId: o.recipientId,
            templateKey: b.template.key,
            templateVersion: b.template.version,
            category: b.category,
            priority: b.priority,
            strategy: 'all',
            channels: o.channels,
            data: b.data,
            status: o.status,
            reason: o.reason,
            workflowId: workflowIds.notification(b.tenantId, o.notificationId),
            broadcastId: b.broadcastId,
          })),
        )
        .onConflictDoNothing()
        .returning({ id: notifications.id });
      const ids = new Set(inserted.map((r) => r.id));
      const fresh = outcomes.filter((o) => ids.has(o.notificationId));
      if (fresh.length === 0) return;
      const now = new Date();
      const ds = fresh.flatMap((o) =>
        o.deliveries.map((d, position) => ({
          id: deliveryId(o.notificationId, d.channel),
          notificationId: o.notificationId,
          position,
          channel: d.channel,
          status: d.status,
          attempts: d.sent ? 1 : 0,
          provider: d.sent ? 'tocsin' : null,
          providerMessageId: d.sent ? `msg_${o.notificationId}` : null,
          errorCode: d.errorCode ?? null,
          errorMessage: d.errorMessage ?? null,
          sentAt: d.sent ? now : null,
        })),
      );
      if (ds.length) await tx.insert(deliveries).values(ds);
      const attempts = ds.filter((d) => d.attempts > 0).map((d) => ({ deliveryId: d.id, attempt: 1, outcome: 'sent' }));
      if (attempts.length) await tx.insert(deliveryAttempts).values(attempts).onConflictDoNothing();
      await tx.insert(notificationEvents).values(fresh.flatMap((o) => o.events.map((status) => ({ notificationId: o.notificationId, status, reason: status === o.status ? o.reason : null }))));
      const inbox = fresh.filter((o) => o.inbox);
      // The inbox's SSE stream polls its sequence (api/routes/inbox.ts): these rows reach it too.
      if (inbox.length)
        await tx
          .insert(inboxMessages)
          .values(
            inbox.map((o) => ({
              id: `msg_${o.notificationId}`,
              tenantId: b.tenantId,
              recipientId: o.recipientId,
              notificationId: o.notificationId,
              title: cleanText(o.inbox!.title, 100_000),
              body: cleanText(o.inbox!.body, 100_000),
              category: b.category,
            })),
          )
          .onConflictDoNothing({ target: inboxMessages.notificationId });
    });
  }

  /**
   * Delivers one page of a broadcast's audience from `fromSeq`: in-app recipients outside quiet
   * hours are sent here; opted-out ones are suppressed, deleted ones failed, those without a
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
    const page = await db
      .select()
      .from(broadcastRecipients)
      .where(and(eq(broadcastRecipients.broadcastId, b.broadcastId), gte(broadcastRecipients.seq, progress.nextSeq), lt(broadcastRecipients.seq, endSeq)))
      .orderBy(asc(broadcastRecipients.seq));
    if (page.length === 0) return { start: progress.start, nextSeq: Math.min(endSeq, b.total) };
    const version = await loadTemplateVersion(db, b.tenantId, b.template.key, b.template.version);
    if (!version) throw permanent(ErrorType.NotFound, `Template ${b.template.key} v${b.template.version} no longer exists`);

    // Rendered once per locale: broadcast data is the same for every recipient.
    const rendered = new Map<string, { content?: ChannelContent; error?: string }>();
    const renderInapp = (locale: string, content: ChannelContent) => {
      let r = rendered.get(locale);
      if (!r) {
        try {
          r = { content: renderContent(content, ['inapp'], b.data) };
        } catch (err) {
          if (!(err instanceof TemplateRenderError)) throw err;
          r = { error: err.message };
        }
        rendered.set(locale, r);
      }
      return r;
    };

    for (let i = 0; i < page.length; i += CHUNK) {
      const chunk = page.slice(i, i + CHUNK);
      const rows = await db
        .select()
        .from(recipients)
        .where(and(eq(recipients.tenantId, b.tenantId), inArray(recipients.id, chunk.map((p) => p.recipientId))));
      const byId = new Map(rows.map((r) => [r.id, { recipient: toRecipient(r), preferences: (r.preferences ?? {}) as Preferences }]));
      const outcomes: Outcome[] = [];
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
        const decision = decideOnWake({ channels, category: b.category, priority: b.priority }, recipient, preferences, a.at);
        const skipped = decision.skipped.map((d) => ({ channel: d.channel, status: 'skipped' as const, errorCode: d.reason }));
        if (decision.allowed.length === 0) {
          outcomes.push({ ...base, channels, status: 'suppressed', reason: 'preferences', deliveries: skipped, events: ['accepted', 'suppressed'] });
          continue;
        }
        const inappOnly = decision.allowed.length === 1 && decision.allowed[0] === 'inapp';
        if (decision.release !== null || !inappOnly) {
          // Deferred per recipient (quiet hours) or sent on other channels: its own workflow.
          outcomes.push({ ...base, channels, status: 'accepted', reason: null, deliveries: channels.map((channel) => ({ channel, status: 'pending' as const })), events: ['accepted'] });
          progress.start.push({ notificationId, recipientId, channels });
          continue;
        }
        const r = renderInapp(recipient.locale, chosen.content);
        const inapp = r.content
          ? { channel: 'inapp' as const, status: 'sent' as const, sent: true }
          : { channel: 'inapp' as const, status: 'failed' as const, errorCode: ErrorType.TemplateRenderFailed, errorMessage: r.error };
        const ordered = channels.map((ch) => (ch === 'inapp' ? inapp : skipped.find((s) => s.channel === ch)!));
        outcomes.push({
          ...base,
          channels,
          status: r.content ? 'sent' : 'failed',
          reason: null,
          deliveries: ordered,
          events: ['accepted', 'sending', r.content ? 'sent' : 'failed'],
          ...(r.content ? { inbox: { title: r.content.inapp?.title ?? '', body: r.content.inapp?.body ?? '' } } : {}),
        });
      }
      await write(b, outcomes);
      progress.nextSeq = chunk[chunk.length - 1].seq + 1;
      ctx.heartbeat(progress);
      await afterBroadcastChunk?.({ broadcastId: b.broadcastId, nextSeq: progress.nextSeq, attempt: ctx.info.attempt });
    }
    return { start: progress.start, nextSeq: Math.min(endSeq, b.total) };
  }

  return { sendBroadcastPage };
}
