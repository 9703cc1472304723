// Activities come from this factory: no module-level singletons, so tests hand in fakes.
import { Context } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import * as s from '../db/schema.js';
import { ErrorType } from '../domain/errors.js';
import { addressFor } from '../domain/preferences.js';
import { renderContent, selectLocale } from '../domain/templates.js';
import type { Channel, DeliveryStatus, NotificationStatus, Preferences, Recipient } from '../domain/types.js';
import { describeError, permanent, unconfigured } from './errors.js';
import type { ChannelSender, SendResult } from './channels/types.js';
import type { PagerClient } from './channels/pager.js';
import type { SlackClient } from './channels/slack.js';
import { createEscalationActivities } from './escalation.js';
import { createFanoutActivities } from './fanout.js';
import { createThrottleActivities } from './throttle.js';

export interface ActivityDeps {
  db: Db;
  /** Senders for configured channels; a channel without one fails `channel_unconfigured`. */
  senders: Partial<Record<Channel, ChannelSender>>;
  /** Escalation's Slack messages (Block Kit, Acknowledge button); unset: slack steps fail unconfigured. */
  slack?: SlackClient | null;
  /** Escalation's pages (trigger, acknowledge, resolve); unset: pager steps fail unconfigured. */
  pager?: PagerClient | null;
}

export interface DeliverArgs {
  tenantId: string;
  notificationId: string;
  deliveryId: string;
  channel: Channel;
  recipientId: string;
  template: { key: string; version: number };
  data: Record<string, unknown>;
  category: string | null;
}

export interface DeliveryRecord {
  channel: Channel;
  status: DeliveryStatus;
  reason?: string | null;
  provider?: string | null;
  providerMessageId?: string | null;
  error?: { code: string; message: string } | null;
}

export interface StatusRecord {
  tenantId: string;
  notificationId: string;
  status: NotificationStatus;
  reason?: string | null;
  releaseAt?: string | null;
  deliveries?: DeliveryRecord[];
}

export function deliveryId(notificationId: string, channel: Channel): string {
  return `${notificationId}.${channel}`;
}

export function toRecipient(row: typeof s.recipients.$inferSelect): Recipient {
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    slack: row.slack,
    webhookUrl: row.webhookUrl,
    pagerRoutingKey: row.pagerRoutingKey,
    locale: row.locale,
    timezone: row.timezone,
    name: row.name,
  };
}

export function createActivities(deps: ActivityDeps) {
  const { db } = deps;

  async function loadRecipient(args: {
    tenantId: string;
    recipientId: string;
  }): Promise<{ recipient: Recipient; preferences: Preferences } | null> {
    const [row] = await db
      .select()
      .from(s.recipients)
      .where(and(eq(s.recipients.tenantId, args.tenantId), eq(s.recipients.id, args.recipientId)));
    return row ? { recipient: toRecipient(row), preferences: row.preferences ?? {} } : null;
  }

  /**
   * Writes one delivery's outcome. Receipts may already have moved it on: delivered and
   * bounced are never overwritten, and a delivery a receipt marked failed is not sent again.
   */
  async function writeDelivery(tx: Pick<Db, 'update'>, notificationId: string, d: DeliveryRecord) {
    const sent = d.status === 'sent';
    await tx
      .update(s.deliveries)
      .set({
        status: d.status,
        ...(d.provider !== undefined ? { provider: d.provider } : {}),
        ...(d.providerMessageId !== undefined ? { providerMessageId: d.providerMessageId } : {}),
        ...(d.error !== undefined
          ? { errorCode: d.error?.code ?? null, errorMessage: d.error?.message ?? null }
          : d.reason
            ? { errorCode: d.reason, errorMessage: null }
            : {}),
        ...(sent ? { sentAt: sql`coalesce(${s.deliveries.sentAt}, now())`, errorCode: null, errorMessage: null } : {}),
        updatedAt: sql`now()`,
      })
      .where(
        and(
          eq(s.deliveries.id, deliveryId(notificationId, d.channel)),
          sql`${s.deliveries.status} not in ('delivered', 'bounced')`,
          ...(sent ? [sql`${s.deliveries.status} <> 'failed'`] : []),
        ),
      );
  }

  /** Records one delivery's outcome as soon as it is known, so receipts can find it. */
  async function recordDelivery(args: { notificationId: string; delivery: DeliveryRecord }): Promise<void> {
    await writeDelivery(db, args.notificationId, args.delivery);
  }

  async function recordStatus(rec: StatusRecord): Promise<void> {
    await db.transaction(async (tx) => {
      await tx
        .update(s.notifications)
        .set({
          status: rec.status,
          reason: rec.reason ?? null,
          ...(rec.releaseAt !== undefined ? { releaseAt: rec.releaseAt ? new Date(rec.releaseAt) : null } : {}),
          updatedAt: sql`now()`,
        })
        .where(eq(s.notifications.id, rec.notificationId));
      await tx.insert(s.notificationEvents).values({ notificationId: rec.notificationId, status: rec.status, reason: rec.reason ?? null });
      for (const d of rec.deliveries ?? []) await writeDelivery(tx, rec.notificationId, d);
    });
  }

  async function markAttempt(id: string, attempt: number, outcome: string, error?: { code: string; message: string }) {
    await db
      .insert(s.deliveryAttempts)
      .values({ deliveryId: id, attempt, outcome, errorCode: error?.code ?? null, errorMessage: error?.message ?? null })
      .onConflictDoUpdate({
        target: [s.deliveryAttempts.deliveryId, s.deliveryAttempts.attempt],
        set: { outcome, errorCode: error?.code ?? null, errorMessage: error?.message ?? null, at: sql`now()` },
      });
    await db
      .update(s.deliveries)
      .set({
        attempts: sql`greatest(${s.deliveries.attempts}, ${attempt})`,
        ...(outcome === 'sending' ? { status: 'sending' } : {}),
        ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
        updatedAt: sql`now()`,
      })
      .where(and(eq(s.deliveries.id, id), sql`${s.deliveries.status} in ('pending', 'sending')`));
  }

  /** Sends one delivery on one channel. Retries belong to Temporal: this is one attempt. */
  async function deliver(args: DeliverArgs): Promise<SendResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    await markAttempt(args.deliveryId, attempt, 'sending');
    try {
      const sender = deps.senders[args.channel];
      if (!sender) throw unconfigured(args.channel);
      const [tenant] = await db.select().from(s.tenants).where(eq(s.tenants.id, args.tenantId));
      const found = await loadRecipient(args);
      if (!tenant || !found) throw permanent(ErrorType.NotFound, 'The recipient no longer exists');
      const address = addressFor(found.recipient, args.channel);
      if (!address) throw permanent(ErrorType.NoAddress, `The recipient has no ${args.channel} address`);
      const [version] = await db
        .select()
        .from(s.templateVersions)
        .where(
          and(
            eq(s.templateVersions.tenantId, args.tenantId),
            eq(s.templateVersions.key, args.template.key),
            eq(s.templateVersions.version, args.template.version),
          ),
        );
      if (!version) throw permanent(ErrorType.NotFound, `Template ${args.template.key} v${args.template.version} no longer exists`);
      const locale = selectLocale(version.content, found.recipient.locale, version.defaultLocale);
      const content = renderContent(version.content[locale] ?? {}, [args.channel], args.data);
      ctx.heartbeat();
      const result = await sender.send({
        deliveryId: args.deliveryId,
        notificationId: args.notificationId,
        tenant: { id: tenant.id, webhookSecret: tenant.webhookSecret },
        recipient: found.recipient,
        address,
        template: args.template,
        content,
        data: args.data,
        category: args.category,
        signal: ctx.cancellationSignal,
      });
      await markAttempt(args.deliveryId, attempt, 'sent');
      return result;
    } catch (err) {
      await markAttempt(args.deliveryId, attempt, 'failed', describeError(err)).catch(() => {});
      throw err;
    }
  }

  return {
    loadRecipient,
    recordStatus,
    recordDelivery,
    deliverEmail: (a: DeliverArgs) => deliver({ ...a, channel: 'email' }),
    deliverSms: (a: DeliverArgs) => deliver({ ...a, channel: 'sms' }),
    deliverSlack: (a: DeliverArgs) => deliver({ ...a, channel: 'slack' }),
    deliverWebhook: (a: DeliverArgs) => deliver({ ...a, channel: 'webhook' }),
    deliverInapp: (a: DeliverArgs) => deliver({ ...a, channel: 'inapp' }),
    deliverPager: (a: DeliverArgs) => deliver({ ...a, channel: 'pager' }),
    ...createEscalationActivities(deps),
    ...createThrottleActivities(deps),
    ...createFanoutActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

