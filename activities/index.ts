// Activities come from this factory: no module-level singletons, so tests hand in fakes.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/client.js';
import { claimFailedDeliveries } from '../db/analytics.js';
import { firstAttemptAt, providerMessageHeldElsewhere, recordFailedAttempt, recordOutcome, type DeliveryRecord } from '../db/deliveries.js';
import { recipientRecordingAccepted } from '../db/notifications.js';
import { devicesOf } from '../db/devices.js';
import { recordProviderStop, suppressedAmong } from '../db/suppressions.js';
import { toRecipient } from '../db/recipients.js';
import { webhookSecretOf } from '../db/tenants.js';
import { channelContent, channelRecipient, deliveryOf } from '../domain/delivery.js';
import { ErrorType } from '../domain/errors.js';
import { addressFor, decideOnWake, type WakeDecision } from '../domain/preferences.js';
import { PHONE_CHANNELS, suppressionTargets, withoutSuppressed } from '../domain/suppressions.js';
import { Lru } from '../domain/lru.js';
import { renderContent, TemplateRenderError } from '../domain/templates.js';
import type { Channel, ChannelContent, DeliveryStatus, NotificationInput, NotificationStatus, Preferences, Recipient, Strategy } from '../domain/types.js';
import { contentFor, loadTemplateVersion } from '../usecases/templates.js';
import { emailUnsubscribeUrl, type RecipientLinkOptions } from './unsubscribe-links.js';
import { describeError, permanent, unconfigured, withDatabaseErrorsClassified } from './errors.js';
import { createPushSender, type PushSender } from './channels/push/index.js';
import type { ChannelSender, EarlierAttempts, SendResult } from './channels/types.js';
import { isOptedOutFailure } from './channels/sms.js';
import type { PagerClient } from './channels/pager.js';
import type { SlackClient } from './channels/slack.js';
import { createEscalationActivities } from './escalation.js';

export type { DeliveryRecord, RecipientLinkOptions };
import { createFanoutActivities } from './fanout.js';
import { createBroadcastBatchActivities, type BroadcastBatchDeps } from './broadcast-batch.js';
import { createThrottleActivities } from './throttle.js';
import { createFlowActivities } from './flows.js';
import type { IntegrationProviders } from './providers.js';
import { createWebhookDispatchActivities, type WebhookDispatchDeps } from './webhook-dispatch.js';

export interface ActivityDeps {
  db: Db;
  /** Senders for configured channels; a channel without one fails `channel_unconfigured`. */
  senders: Partial<Record<Channel, ChannelSender>>;
  /** Escalation's Slack messages (Block Kit, Acknowledge button); unset: slack steps fail unconfigured. */
  slack?: SlackClient | null;
  /** Escalation's pages (trigger, acknowledge, resolve); unset: pager steps fail unconfigured. */
  pager?: PagerClient | null;
  /** Tenants' own providers (integrations), tried before `senders`; unset: only the platform's senders. */
  integrations?: IntegrationProviders | null;
  /** Test hook: runs after each committed chunk of a broadcast page (activities/broadcast-batch.ts). */
  afterBroadcastChunk?: BroadcastBatchDeps['afterBroadcastChunk'];
  /**
   * What the worker signs one-click unsubscribe links with (TOCSIN_ENCRYPTION_KEYS open the
   * tenants' token secrets) and where they point (PUBLIC_BASE_URL). Unset: emails carry no
   * List-Unsubscribe header.
   */
  recipientLinks?: RecipientLinkOptions | null;
  /** Lifecycle webhooks' dispatcher (activities/webhook-dispatch.ts): the keys that open endpoint secrets, WEBHOOK_ALLOWED_HOSTS. */
  lifecycleWebhooks?: Omit<WebhookDispatchDeps, 'db'> | null;
  /** WEBHOOK_ALLOWED_HOSTS: what flows' fetch steps may reach although not public (unset: none). */
  webhookAllowedHosts?: string | readonly string[];
}

/** What a delivery attempt needs; the workflow already knows all of it, so no lookups. */
export interface DeliverArgs {
  tenantId: string;
  notificationId: string;
  deliveryId: string;
  channel: Channel;
  /**
   * The recipient as the workflow last loaded it: with only this channel's address (runs
   * before `delivery-channel-content`: every address).
   */
  recipient: Recipient;
  template: { key: string; version: number };
  /**
   * The pinned version's content for this channel in the recipient's locale, unrendered (runs
   * before `delivery-channel-content`: every channel's).
   */
  content: ChannelContent;
  data: Record<string, unknown>;
  category: string | null;
  /** Attempts the delivery made before this run (a retry's): its attempts are numbered after them. */
  attemptOffset?: number;
  /**
   * Set when this delivery's success ends its run `sent` (its run's only channel to send): a
   * success then records the notification `sent`, with these outcomes of its other channels
   * (skipped ones) beside its own, in the same step.
   */
  recordSent?: DeliveryRecord[];
}

/**
 * A delivery that wakes its run first: the run's only channel, with nothing to wait for
 * (workflows/notification.ts, `wake-in-delivery`). The step loads the recipient, decides as the
 * wake does and, when that is to send this channel now, sends it and records the run `sent`;
 * else it answers the wake's outcome for the run to take (held, suppressed, recipient gone).
 */
export interface WakingDeliverArgs {
  channel: Channel;
  /** The delivery's id (derived again from the input here): named in the history for whoever reads it. */
  deliveryId: string;
  wake: {
    input: NotificationInput;
    /** The workflow's clock when it scheduled the step (a retry adds the time since). */
    at: number;
    workflowId: string;
  };
}

/** A waking delivery that did not send: the wake's outcome, for the run to act on. */
export interface WokeInstead {
  woke: WakeResult;
}

interface StatusRecord {
  tenantId: string;
  notificationId: string;
  status: NotificationStatus;
  reason?: string | null;
  releaseAt?: string | null;
  deliveries?: DeliveryRecord[];
}

/** The recipient as of now, with preferences and the pinned template's content in their locale. */
export interface RecipientSnapshot {
  recipient: Recipient;
  preferences: Preferences;
  content: ChannelContent;
}

/** A wake's outcome; `decision` is null when the recipient no longer exists. */
export interface WakeResult {
  snapshot: RecipientSnapshot | null;
  decision: WakeDecision | null;
}

/** What a retry sends (activities' prepareRetry): the notification as pinned, its deliveries, the recipient now. */
export interface RetryPlan {
  recipientId: string;
  template: { key: string; version: number };
  category: string | null;
  strategy: Strategy;
  data: Record<string, unknown>;
  /** Every delivery in position order; `claimed` ones are the failed ones this retry sends again. */
  deliveries: Array<{ channel: Channel; status: DeliveryStatus; attempts: number; claimed: boolean }>;
  snapshot: RecipientSnapshot | null;
  /** Claimed channels whose address is suppressed now: skipped, not sent. */
  suppressed?: Array<{ channel: Channel; reason: string }>;
}

/** The delivery activity's startToCloseTimeout (workflows/notification.ts): the longest an attempt runs. */
const ATTEMPT_START_TO_CLOSE_MS = 60_000;

export interface DeliverResult extends SendResult {
  attempt: number;
  /** The notification was recorded `sent` with this outcome (`recordSent`); else the workflow records it. */
  recorded?: boolean;
}


/** A locale's content for the given channels only. */
function onlyChannels(content: ChannelContent, channels: readonly Channel[]): ChannelContent {
  return Object.assign({}, ...channels.map((ch) => channelContent(content, ch))) as ChannelContent;
}

/**
 * How long a delivery that woke its run may take before the run is recorded `sending` (README:
 * "Status"); a quicker one records `sending` and its outcome in one statement.
 */
export const SENDING_RECORD_AFTER_MS = 1000;

type SendingRecord = { now(): Promise<void>; settle(): Promise<number | undefined> };

/** The records of the channels a wake skipped, with its reasons. */
function skippedRecords(decision: WakeDecision): DeliveryRecord[] {
  return decision.skipped.map((d) => ({ channel: d.channel, status: 'skipped' as const, reason: d.reason }));
}

export function createActivities(deps: ActivityDeps) {
  const { db } = deps;

  /**
   * The recipient as of now (preferences, address, locale) and the pinned template's content in
   * that locale; null when the recipient was deleted. With `record` (the run's first step), the
   * notification's accepted record is written in the same statement unless it exists.
   */
  async function loadRecipient(args: {
    tenantId: string;
    recipientId: string;
    template: { key: string; version: number };
    /** The content of these channels only (the notification's): the rest would only swell the result. */
    channels?: readonly Channel[];
    record?: { input: NotificationInput; workflowId: string };
  }): Promise<RecipientSnapshot | null> {
    const row = await recipientRecordingAccepted(db, args.tenantId, args.recipientId, args.record);
    if (!row) return null;
    const recipient = toRecipient(row);
    const version = await loadTemplateVersion(db, args.tenantId, args.template.key, args.template.version);
    if (!version) throw permanent(ErrorType.NotFound, `Template ${args.template.key} v${args.template.version} no longer exists`);
    const { content } = contentFor(version, recipient.locale);
    return { recipient, preferences: (row.preferences ?? {}) as Preferences, content: args.channels ? onlyChannels(content, args.channels) : content };
  }

  /**
   * A notification waking to send: the recipient as of now and what their preferences and
   * quiet hours decide at `at` (the workflow's clock). When that is to send now, the
   * notification is recorded `sending` in the same step, with the deliveries it starts.
   */
  async function wake(args: {
    input: NotificationInput;
    at: number;
    record?: { workflowId: string };
  }, opts: { recordSending?: boolean } = {}): Promise<WakeResult> {
    const { input } = args;
    const snapshot = await loadRecipient({
      tenantId: input.tenantId,
      recipientId: input.recipientId,
      template: input.template,
      channels: input.channels,
      ...(args.record ? { record: { input, workflowId: args.record.workflowId } } : {}),
    });
    if (!snapshot) return { snapshot: null, decision: null };
    const decided = decideOnWake(input, snapshot.recipient, snapshot.preferences, args.at);
    const decision = await withoutDevicelessPush(input.tenantId, snapshot.recipient.id, await withoutSuppressedChannels(input.tenantId, snapshot.recipient, decided));
    if (decision.allowed.length > 0 && decision.release === null && opts.recordSending !== false) {
      const starting = input.strategy === 'all' ? decision.allowed : decision.allowed.slice(0, 1);
      const deliveries: DeliveryRecord[] = [
        ...skippedRecords(decision),
        ...starting.map((channel) => ({ channel, status: 'sending' as const })),
      ];
      await recordOutcome(db, input.notificationId, deliveries, { status: 'sending', reason: null, releaseAt: null });
    }
    return { snapshot, decision };
  }

  /** Push to a recipient without a device is skipped (`no_device`), as a channel without an address is. */
  async function withoutDevicelessPush(tenantId: string, recipientId: string, decision: WakeDecision): Promise<WakeDecision> {
    if (!decision.allowed.includes('push') || (await devicesOf(db, tenantId, recipientId)).length > 0) return decision;
    return { ...decision, allowed: decision.allowed.filter((c) => c !== 'push'), skipped: [...decision.skipped, { channel: 'push', reason: 'no_device' }] };
  }

  /**
   * A channel whose address the tenant suppressed (README: "Suppressions") is skipped
   * (`suppressed`): one lookup by primary key for every channel of the wake, none when no
   * channel has a suppressible address.
   */
  async function withoutSuppressedChannels(tenantId: string, recipient: Recipient, decision: WakeDecision): Promise<WakeDecision> {
    const targets = suppressionTargets(recipient, decision.allowed);
    if (targets.length === 0) return decision;
    return withoutSuppressed(decision, recipient, await suppressedAmong(db, tenantId, targets));
  }

  /**
   * A retry's first step (workflows/retry.ts): claims the finished notification's failed
   * deliveries (db/analytics.ts) and loads the recipient as of now with the pinned template's
   * content for those channels. Null when there was nothing to claim; `snapshot` null when the
   * recipient no longer exists.
   */
  async function prepareRetry(args: { tenantId: string; notificationId: string; claim: string }): Promise<RetryPlan | null> {
    const claimed = await claimFailedDeliveries(db, args.tenantId, args.notificationId, args.claim);
    if (!claimed) return null;
    const channels = claimed.deliveries.filter((d) => d.claimed).map((d) => d.channel as Channel);
    const template = { key: claimed.templateKey, version: claimed.templateVersion };
    const snapshot = await loadRecipient({ tenantId: args.tenantId, recipientId: claimed.recipientId, template, channels });
    // An address suppressed since (a STOP, a bounce, by hand) is not sent to again: skipped, as a wake skips it.
    const suppressed = snapshot
      ? (await withoutSuppressedChannels(args.tenantId, snapshot.recipient, { allowed: channels, skipped: [], release: null })).skipped
      : [];
    return {
      suppressed,
      recipientId: claimed.recipientId,
      template,
      category: claimed.category,
      strategy: claimed.strategy === 'first-success' ? 'first-success' : 'all',
      data: claimed.data,
      deliveries: claimed.deliveries.map((d) => ({ ...d, channel: d.channel as Channel, status: d.status as DeliveryStatus })),
      snapshot,
    };
  }

  /** Records one delivery's outcome as soon as it is known, so receipts can find it. */
  async function recordDelivery(args: { notificationId: string; delivery: DeliveryRecord }): Promise<void> {
    await recordOutcome(db, args.notificationId, [args.delivery]);
  }

  /** Records the notification's status, its event and the deliveries' outcomes that come with it. */
  async function recordStatus(rec: StatusRecord): Promise<void> {
    await recordOutcome(db, rec.notificationId, rec.deliveries ?? [], { status: rec.status, reason: rec.reason ?? null, releaseAt: rec.releaseAt });
  }

  /** The tenant's webhook signing secret, cached briefly (a rotation reaches sends within a minute). */
  const tenantSecrets = new Lru<string, string>(10_000, 60_000);
  async function tenantOf(tenantId: string): Promise<{ id: string; webhookSecret: string }> {
    let secret = tenantSecrets.get(tenantId);
    if (secret === undefined) {
      secret = await webhookSecretOf(db, tenantId);
      if (secret === undefined) throw permanent(ErrorType.NotFound, 'The tenant no longer exists');
      tenantSecrets.set(tenantId, secret);
    }
    return { id: tenantId, webhookSecret: secret };
  }

  /**
   * Whether an earlier attempt of this delivery may have reached the provider, and since when:
   * a Temporal retry (attempt > 1) since the activity was first scheduled; a first attempt that
   * finds a recorded earlier one (a reset or re-run) since that record, less the longest an
   * attempt runs. Only asked for senders that can look their provider up.
   */
  async function earlierAttempts(args: DeliverArgs, sender: ChannelSender, info: { attempt: number; scheduledTimestampMs: number }): Promise<EarlierAttempts | undefined> {
    if (!sender.adoptsEarlierSends) return undefined;
    let since: Date | null = null;
    if (info.attempt > 1) since = new Date(info.scheduledTimestampMs);
    else {
      // A first attempt almost never has an earlier one: with the database unreachable it
      // sends rather than waits, as it did before it asked.
      const first = await firstAttemptAt(db, args.deliveryId).catch(() => null);
      if (first) since = new Date(first.getTime() - ATTEMPT_START_TO_CLOSE_MS);
    }
    if (!since) return undefined;
    return {
      since,
      claimedElsewhere: (providerMessageId) => providerMessageHeldElsewhere(db, args.deliveryId, sender.provider, providerMessageId),
    };
  }

  /** The delivery's content; a template that fails to render (or past a bound) fails it for good. */
  function render(args: DeliverArgs): ChannelContent {
    try {
      return renderContent(args.content, [args.channel], args.data);
    } catch (err) {
      if (err instanceof TemplateRenderError) throw permanent(ErrorType.TemplateRenderFailed, err.message);
      throw err;
    }
  }

  /**
   * The platform's sender of the channel; for push, with the tenant's own push providers (its
   * fcm, apns or webpush integrations) in place of the platform's of the same name: a push goes
   * to every device, each through its own provider, so push integrations are chosen per device,
   * not as a chain.
   */
  async function platformSender(channel: Channel, tenantId: string): Promise<ChannelSender | undefined> {
    const platform = deps.senders[channel];
    if (channel !== 'push' || !deps.integrations) return platform;
    const own = await deps.integrations.pushProviders(tenantId);
    if (own.length === 0) return platform;
    return platform && 'withProviders' in platform ? (platform as PushSender).withProviders(own) : (createPushSender(db, own) ?? undefined);
  }

  /**
   * Sends one delivery on one channel: one attempt (retries belong to Temporal) with what the
   * workflow already knows, so no lookups. A success is recorded by the workflow, or here when
   * it ends the run (`recordSent`): the notification's `sent` in one statement, as the
   * workflow's last local activity would have written it, in its place. A failed attempt is
   * recorded at once, so the delivery shows its last error. `sending`: the run's `sending`
   * record, when this attempt woke the run (sendingRecord).
   */
  async function deliver(args: DeliverArgs, sending?: SendingRecord): Promise<DeliverResult> {
    let result: DeliverResult;
    try {
      result = await attemptDelivery(args);
    } catch (err) {
      await sending?.now();
      throw err;
    }
    if (!args.recordSent) return result;
    const sent: DeliveryRecord = { channel: args.channel, status: 'sent', provider: result.provider, providerMessageId: result.providerMessageId, error: null, attempt: result.attempt };
    const since = await sending?.settle();
    // Sent is sent: a record that fails is the workflow's to write, never a reason to send again.
    const recorded = await recordOutcome(db, args.notificationId, [...args.recordSent, sent], { status: 'sent', reason: null, releaseAt: null }, since === undefined ? {} : { foldSendingMsAgo: since }).then(
      () => true,
      () => false,
    );
    return { ...result, recorded };
  }

  /**
   * The `sending` record of a run its delivery woke: written once the attempt has run for
   * SENDING_RECORD_AFTER_MS or has failed, else folded into the outcome's statement (the event
   * dated when the attempt began). Moving only an `accepted` notification and `pending`
   * deliveries, it is the same whichever attempt writes it, however late: a retry after a
   * crash writes it again, changing nothing that moved on. A failed write leaves the status to
   * the outcome's record.
   */
  function sendingRecord(notificationId: string, records: DeliveryRecord[]) {
    const began = performance.now();
    let written: Promise<void> | undefined;
    const write = () =>
      (written ??= recordOutcome(db, notificationId, records, { status: 'sending', reason: null, releaseAt: null }, { onlyFromAccepted: true }).catch(() => {}));
    const timer = setTimeout(write, SENDING_RECORD_AFTER_MS);
    return {
      /** Writes it now (the attempt failed), unless it is written already. */
      async now(): Promise<void> {
        clearTimeout(timer);
        await write();
      },
      /** For the outcome's statement: how long ago the attempt began, or undefined when `sending` is written (awaited first). */
      async settle(): Promise<number | undefined> {
        clearTimeout(timer);
        if (!written) return performance.now() - began;
        await written;
        return undefined;
      },
    };
  }

  /**
   * The run's wake and its only delivery in one step (WakingDeliverArgs): no local activity
   * before it, so the run takes the bare shape of one activity between two workflow tasks. Each
   * attempt wakes again (the recipient as of then) and writes only what it must: the run's
   * `sending` goes with its outcome unless the attempt is slow or fails (sendingRecord). A
   * wake that fails (a database error) answers `wake_deferred`, not retried here: the run then
   * wakes in its local activity, which waits an outage out, and sends as before.
   */
  async function wakeThenDeliver(args: WakingDeliverArgs): Promise<DeliverResult | WokeInstead> {
    const { input, workflowId } = args.wake;
    const info = Context.current().info;
    let woke: WakeResult;
    try {
      const at = args.wake.at + Math.max(0, info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs);
      woke = await wake({ input, at, record: { workflowId } }, { recordSending: false });
    } catch (err) {
      throw ApplicationFailure.create({ type: ErrorType.WakeDeferred, message: 'The wake could not load or record the notification', nonRetryable: true, cause: err instanceof Error ? err : undefined });
    }
    const { snapshot, decision } = woke;
    if (!snapshot || !decision || decision.release !== null || !decision.allowed.includes(args.channel)) return { woke };
    const { channel } = args;
    const skipped = skippedRecords(decision);
    return deliver(
      { ...deliveryOf(input, channel, channelRecipient(snapshot.recipient, channel), channelContent(snapshot.content, channel)), recordSent: skipped },
      sendingRecord(input.notificationId, [...skipped, { channel, status: 'sending' }]),
    );
  }

  /** A channel's delivery activity: a delivery, or one that wakes its run first. */
  const deliverOn = (channel: Channel) => (a: DeliverArgs | WakingDeliverArgs) =>
    'wake' in a ? wakeThenDeliver({ ...a, channel }) : deliver({ ...a, channel });

  async function attemptDelivery(args: DeliverArgs): Promise<DeliverResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt + (args.attemptOffset ?? 0);
    try {
      if (!deps.integrations && !deps.senders[args.channel]) throw unconfigured(args.channel);
      const address = addressFor(args.recipient, args.channel);
      if (!address) throw permanent(ErrorType.NoAddress, `The recipient has no ${args.channel} address`);
      const content = render(args);
      const tenant = args.channel === 'webhook' ? await tenantOf(args.tenantId) : { id: args.tenantId, webhookSecret: '' };
      const unsubscribe =
        args.channel === 'email'
          ? await emailUnsubscribeUrl(db, deps.recipientLinks, { tenantId: args.tenantId, recipientId: args.recipient.id, category: args.category, scheduledMs: ctx.info.scheduledTimestampMs })
          : undefined;
      const send = async (sender: ChannelSender) => {
        const earlier = await earlierAttempts(args, sender, ctx.info);
        // No heartbeat here: the server writes the run's state for each one (a mutable-state and
        // an activity row), and the heartbeat timeout already counts from the attempt's start,
        // moments before. Only a wait heartbeats (a provider's pacing, activities/providers.ts).
        return sender.send({
          deliveryId: args.deliveryId,
          notificationId: args.notificationId,
          tenant,
          recipient: args.recipient,
          address,
          template: args.template,
          content,
          data: args.data,
          category: args.category,
          ...(unsubscribe ? { unsubscribeUrl: unsubscribe } : {}),
          signal: ctx.cancellationSignal,
          ...(earlier ? { earlier } : {}),
        });
      };
      const viaIntegration = deps.integrations
        ? await deps.integrations.send(args.tenantId, args.channel, attempt, send, { signal: ctx.cancellationSignal, heartbeat: () => ctx.heartbeat() })
        : null;
      if (viaIntegration) return { ...viaIntegration, attempt };
      const sender = await platformSender(args.channel, args.tenantId);
      if (!sender) throw unconfigured(args.channel);
      return { ...(await send(sender)), attempt };
    } catch (err) {
      await recordFailedAttempt(db, args.deliveryId, attempt, describeError(err)).catch(() => {});
      // Twilio refused: the number texted STOP to the sender. It is suppressed for the tenant, as
      // an inbound STOP would have done (a failed write fails the attempt, retryably, to record it).
      const number = addressFor(args.recipient, args.channel);
      if ((args.channel === 'sms' || args.channel === 'whatsapp') && number && isOptedOutFailure(err)) {
        await recordProviderStop(db, {
          tenantId: args.tenantId,
          recipientId: args.recipient.id,
          channels: PHONE_CHANNELS,
          number,
          event: { channel: args.channel, channels: [...PHONE_CHANNELS], reason: 'stop' },
        });
      }
      throw err;
    }
  }

  return withDatabaseErrorsClassified({
    loadRecipient,
    prepareRetry,
    wake,
    recordStatus,
    recordDelivery,
    deliverEmail: deliverOn('email'),
    deliverSms: deliverOn('sms'),
    deliverSlack: deliverOn('slack'),
    deliverWebhook: deliverOn('webhook'),
    deliverInapp: deliverOn('inapp'),
    deliverPager: deliverOn('pager'),
    deliverWhatsapp: deliverOn('whatsapp'),
    deliverTelegram: deliverOn('telegram'),
    deliverPush: deliverOn('push'),
    ...createEscalationActivities(deps),
    ...createThrottleActivities(deps),
    ...createFanoutActivities(deps),
    ...createBroadcastBatchActivities(deps),
    ...createWebhookDispatchActivities({ db, ...deps.lifecycleWebhooks }),
    ...createFlowActivities({ db, fetchAllowedHosts: deps.webhookAllowedHosts }),
  });
}

export type Activities = ReturnType<typeof createActivities>;

