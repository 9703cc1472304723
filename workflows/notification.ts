// One notification: schedule, preferences, quiet hours, delivery per channel, cancel.
import {
  ActivityCancellationType,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { Activities, DeliverArgs, DeliverResult, DeliveryRecord, RecipientSnapshot, WakeResult, WakingDeliverArgs, WokeInstead } from '../activities/index.js';
import { channelContent, channelRecipient, deliveryId, deliveryOf } from '../domain/delivery.js';
import { ErrorType } from '../domain/errors.js';
import type { WakeDecision } from '../domain/preferences.js';
import { notificationPriority, type TaskPriority } from '../domain/priority.js';
import { finalStatus } from '../domain/status.js';
import { TERMINAL_STATUSES, type Channel, type DeliveryStatus, type NotificationInput, type NotificationStatus } from '../domain/types.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { cancelNotificationSignal, cancelNotificationUpdate, notificationStatusQuery } from '../domain/workflow-messages.js';
import { type NotificationState } from '../domain/types.js';

/** The delivery activity of each channel (the flow interpreter sends through the same ones). */
export const DELIVER: Record<Channel, keyof Activities> = {
  email: 'deliverEmail',
  sms: 'deliverSms',
  slack: 'deliverSlack',
  webhook: 'deliverWebhook',
  inapp: 'deliverInapp',
  pager: 'deliverPager',
  whatsapp: 'deliverWhatsapp',
  telegram: 'deliverTelegram',
  push: 'deliverPush',
};

// Short database steps run as local activities, inside the workflow task that needs them (and
// so in its priority: local activities never wait in a task queue): no round trip through the
// server. They retry through a database outage, for a day at most; a
// data error the database refuses fails at once (activities/errors.ts).
const { loadRecipient, wake, recordStatus, recordDelivery, claimThrottleSlot } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** patched(): delivery activities are given their own channel's content and address only. */
const DELIVERY_CHANNEL_CONTENT = 'delivery-channel-content';
/** patched(): a push whose every device its provider reported gone is skipped (`no_device`), not failed. */
const PUSH_GONE_SKIPPED = 'push-gone-skipped';
/** patched(): a run's only channel to send records the run `sent` in its delivery's step, not in a last local activity. */
const DELIVERY_RECORDS_SENT = 'delivery-records-sent';
/**
 * patched(): a run's only channel, with nothing to wait for, wakes in its delivery's step (no
 * local activity first): the run is one activity between two workflow tasks.
 */
const WAKE_IN_DELIVERY = 'wake-in-delivery';

/**
 * The input revision (NotificationInput.revision) from which each patch is taken without asking.
 * A patch added later asks patched() until NOTIFICATION_REVISION moves past it and it is listed
 * here with that revision; a revision once written never changes what it means.
 */
const PATCH_REVISION = {
  [DELIVERY_CHANNEL_CONTENT]: 1,
  [PUSH_GONE_SKIPPED]: 1,
  [DELIVERY_RECORDS_SENT]: 1,
  [WAKE_IN_DELIVERY]: 1,
} as const;

/**
 * Whether this run takes `patch`. A run accepted with revision 1 or later (every input since it
 * was added) takes every patch above without asking patched(), so it records no patch marker and
 * no TemporalChangeVersion upsert: two events fewer and a smaller visibility row per notification.
 * Replaying, it still asks, ignoring the answer: patched() then records nothing unless the history
 * holds the marker, which a worker of an earlier build writes for such a run (an API upgraded before
 * the workers), and asking consumes it. A run accepted before asks patched() as it always did.
 */
function has(input: NotificationInput, patch: keyof typeof PATCH_REVISION): boolean {
  if ((input.revision ?? 0) < PATCH_REVISION[patch]) return patched(patch);
  if (workflowInfo().unsafe.isReplaying) patched(patch);
  return true;
}

/** Statuses an operator filters runs by in the Temporal UI: upserted when they are reached. */
const VISIBLE_STATUSES: readonly NotificationStatus[] = ['scheduled', 'held', ...TERMINAL_STATUSES];

/**
 * The Priority of a run's deliveries: the priority key the run was started with (a broadcast's
 * recipients run in the bulk lane), else its own priority's (a run started before priority
 * lanes); the tenant as fairness key; the fairness weight inherited from the run.
 */
export function deliveryPriority(input: NotificationInput): TaskPriority {
  const own = notificationPriority(input);
  const startedWith = workflowInfo().priority?.priorityKey;
  return startedWith ? { ...own, priorityKey: startedWith } : own;
}

export async function notificationWorkflow(input: NotificationInput): Promise<NotificationState> {
  const state: NotificationState = {
    status: 'accepted',
    reason: null,
    releaseAt: null,
    deliveries: input.channels.map((channel) => ({ channel, status: 'pending' as DeliveryStatus })),
  };
  let cancelled = false;
  let sendScope: CancellationScope | undefined;

  const delivery = (ch: Channel) => state.deliveries.find((d) => d.channel === ch)!;
  const finished = () => TERMINAL_STATUSES.includes(state.status);

  setHandler(notificationStatusQuery, () => state);
  setHandler(
    cancelNotificationUpdate,
    async () => {
      cancelled = true;
      sendScope?.cancel();
      // Answer only once nothing can be sent any more.
      await condition(finished);
      return { status: state.status };
    },
    {
      validator: () => {
        if (finished()) throw ApplicationFailure.create({ type: 'already_finished', message: `The notification is already ${state.status}` });
      },
    },
  );

  // A broadcast's cancellation reaches its notifications as a signal (workflows cannot send updates).
  setHandler(cancelNotificationSignal, () => {
    if (finished()) return;
    cancelled = true;
    sendScope?.cancel();
  });

  async function setStatus(status: NotificationStatus, extra: { reason?: string; releaseAt?: string | null; deliveries?: DeliveryRecord[] } = {}, recorded = false) {
    state.status = status;
    state.reason = extra.reason ?? null;
    if (extra.releaseAt !== undefined) state.releaseAt = extra.releaseAt;
    // Records survive a cancellation of the send scope. `recorded`: the delivery wrote this one.
    if (!recorded)
      await CancellationScope.nonCancellable(() =>
        recordStatus({ tenantId: input.tenantId, notificationId: input.notificationId, status, ...extra }),
      );
    if (VISIBLE_STATUSES.includes(status)) upsertSearchAttributes([{ key: SA.status, value: status }]);
  }

  function decide(channel: Channel, status: DeliveryStatus, rest: Omit<DeliveryRecord, 'channel' | 'status'> = {}): DeliveryRecord {
    delivery(channel).status = status;
    return { channel, status, ...rest };
  }

  // 0. The run's record, written here unless the API wrote it first. With nothing to wait for
  //    (throttle, sendAt), the same step wakes the notification: loads the recipient, decides,
  //    and records it sending when it sends now.
  const record = { workflowId: workflowIds.notification(input.tenantId, input.notificationId) };
  const waitsFirst = Boolean(input.throttle && input.priority !== 'critical') || (input.sendAt !== null && Date.parse(input.sendAt) > Date.now());
  let woke: WakeResult | null = null;
  // A single channel's success ends the run `sent`: its delivery records that itself.
  let sentRecorded = false;
  // The outcome of a delivery that woke the run itself (its only channel, nothing to wait for).
  let delivered: DeliveryRecord | null = null;
  if (waitsFirst) await loadRecipient({ tenantId: input.tenantId, recipientId: input.recipientId, template: input.template, record: { input, ...record } });
  else if (input.channels.length === 1 && !cancelled && has(input, WAKE_IN_DELIVERY)) {
    const outcome = await wakeInDelivery(input.channels[0]);
    if (outcome === null) woke = await wake({ input, at: Date.now(), record });
    else if ('woke' in outcome) woke = outcome.woke;
    else delivered = outcome;
  } else woke = await wake({ input, at: Date.now(), record });

  // 1. Throttle: a slot in the recipient's window for this key, unless critical.
  if (input.throttle && input.priority !== 'critical') {
    const { allowed } = await claimThrottleSlot({
      ...input.throttle,
      tenantId: input.tenantId,
      recipientId: input.recipientId,
      notificationId: input.notificationId,
      at: new Date().toISOString(),
    });
    if (!allowed) {
      await setStatus('suppressed', { reason: 'throttled', deliveries: input.channels.map((ch) => decide(ch, 'skipped', { reason: 'throttled' })) });
      await condition(allHandlersFinished);
      return state;
    }
  }

  // 2. sendAt: a durable timer, cancellable.
  if (input.sendAt) {
    const wait = Date.parse(input.sendAt) - Date.now();
    if (wait > 0) {
      await setStatus('scheduled', { releaseAt: input.sendAt });
      await condition(() => cancelled, wait);
    }
  }

  // 3. Preferences and quiet hours, resolved again each time the notification wakes (with the
  //    workflow's clock, so a held notification wakes to the same decision on replay).
  let decision: WakeDecision | null = null;
  let recipientNow: RecipientSnapshot | null = null;
  while (!cancelled && !delivered) {
    woke ??= await wake({ input, at: Date.now() });
    if (!woke.snapshot || !woke.decision) {
      await setStatus('failed', {
        reason: 'recipient_deleted',
        deliveries: input.channels.map((ch) => decide(ch, 'failed', { error: { code: ErrorType.NotFound, message: 'The recipient no longer exists' } })),
      });
      return state;
    }
    decision = woke.decision;
    recipientNow = woke.snapshot;
    if (decision.allowed.length === 0 || decision.release === null) break;
    await setStatus('held', { reason: 'quiet_hours', releaseAt: new Date(decision.release).toISOString() });
    await condition(() => cancelled, decision.release - Date.now());
    woke = null;
  }

  if (delivered) return finish([delivered]);
  if (cancelled || !decision || !recipientNow) {
    await setStatus('cancelled', { deliveries: input.channels.map((ch) => decide(ch, 'cancelled')) });
    await condition(allHandlersFinished);
    return state;
  }
  const skipped: DeliveryRecord[] = decision.skipped.map((d) => decide(d.channel, 'skipped', { reason: d.reason }));
  const allowed = decision.allowed;
  if (allowed.length === 0) {
    await setStatus('suppressed', { reason: 'preferences', deliveries: skipped });
    return state;
  }

  // 4. Delivery: one activity per channel, each with its channel's retry policy, given the
  //    recipient and content it sends (no lookups in the activity). The wake recorded it sending.
  state.status = 'sending';
  state.reason = null;
  state.releaseAt = null;
  const records: DeliveryRecord[] = [...skipped];
  const snapshot = recipientNow;
  // A channel's outcome is recorded as soon as it is known (a receipt may look for its message
  // id) unless the final record follows at once: a single channel is recorded with the status.
  const recordEach = allowed.length > 1;

  async function send(channel: Channel): Promise<DeliveryRecord> {
    if (cancelled) return decide(channel, 'cancelled');
    const acts = channelActivities(input, channel);
    // Each channel gets only its own content and address (domain/delivery.ts); runs started
    // before this change pass the whole locale content and recipient, as they did.
    const own = has(input, DELIVERY_CHANNEL_CONTENT);
    const args: DeliverArgs = deliveryOf(
      input,
      channel,
      own ? channelRecipient(snapshot.recipient, channel) : snapshot.recipient,
      own ? channelContent(snapshot.content, channel) : snapshot.content,
    );
    if (!recordEach && has(input, DELIVERY_RECORDS_SENT)) args.recordSent = [...skipped];
    delivery(channel).status = 'sending';
    let rec: DeliveryRecord;
    try {
      rec = sentRecord(channel, await (acts[DELIVER[channel]] as (a: DeliverArgs) => Promise<DeliverResult>)(args));
    } catch (err) {
      rec = unsentRecord(channel, err);
    }
    if (recordEach) await CancellationScope.nonCancellable(() => recordDelivery({ notificationId: input.notificationId, delivery: rec }));
    return rec;
  }

  sendScope = new CancellationScope();
  await sendScope.run(async () => {
    if (input.strategy === 'all') {
      records.push(...(await Promise.all(allowed.map(send))));
    } else {
      let done = false;
      for (const channel of allowed) {
        if (done) {
          records.push(decide(channel, 'skipped', { reason: 'fallback_not_needed' }));
          continue;
        }
        const rec = await send(channel);
        records.push(rec);
        done = rec.status === 'sent';
      }
    }
  }).catch((err) => {
    if (!isCancellation(err)) throw err;
  });

  return finish(records);

  /** The run's last step: its status from its deliveries', recorded with them (unless the delivery did). */
  async function finish(records: DeliveryRecord[]): Promise<NotificationState> {
    const status = finalStatus(state.deliveries.map((d) => d.status), cancelled, input.strategy);
    await setStatus(status, { deliveries: records }, sentRecorded && status === 'sent');
    await condition(allHandlersFinished);
    return state;
  }

  function sentRecord(channel: Channel, res: DeliverResult): DeliveryRecord {
    sentRecorded = res.recorded === true;
    return decide(channel, 'sent', { provider: res.provider, providerMessageId: res.providerMessageId, error: null, attempt: res.attempt });
  }

  function unsentRecord(channel: Channel, err: unknown): DeliveryRecord {
    const error = isCancellation(err) ? null : failureOf(err);
    if (error === null) return decide(channel, 'cancelled');
    // No device left to take it, as when the recipient had none at wake (the contract's `skipped`).
    if (error.code === ErrorType.NoDevice && has(input, PUSH_GONE_SKIPPED)) return decide(channel, 'skipped', { reason: ErrorType.NoDevice });
    return decide(channel, 'failed', { error });
  }

  /**
   * The run's only channel, woken and sent in one activity (WakingDeliverArgs), cancellable as a
   * send is. Answers the delivery's record; the wake's outcome when it did not send (held,
   * suppressed, recipient gone), for the steps below; null when the wake could not run there
   * (`wake_deferred`: the local activity wakes the run instead, waiting out an outage).
   */
  async function wakeInDelivery(channel: Channel): Promise<DeliveryRecord | WokeInstead | null> {
    const args: WakingDeliverArgs = { channel, deliveryId: deliveryId(input.notificationId, channel), wake: { input, at: Date.now(), workflowId: record.workflowId } };
    const deliverWaking = channelActivities(input, channel)[DELIVER[channel]] as (a: WakingDeliverArgs) => Promise<DeliverResult | WokeInstead>;
    sendScope = new CancellationScope();
    try {
      const res = await sendScope.run(() => deliverWaking(args));
      return 'woke' in res ? res : sentRecord(channel, res);
    } catch (err) {
      if (!isCancellation(err) && failureOf(err).code === ErrorType.WakeDeferred) return null;
      return unsentRecord(channel, err);
    } finally {
      sendScope = undefined;
    }
  }
}

/**
 * The delivery activities for one channel of a run: its retry settings (the channel's own over
 * the run's), its priority, and cancellation that waits for an attempt in flight.
 */
export function channelActivities(input: NotificationInput, channel: Channel) {
  const retry = { ...input.retry, ...input.retry.perChannel?.[channel] };
  return proxyActivities<Activities>({
    startToCloseTimeout: '60 seconds',
    heartbeatTimeout: '30 seconds',
    scheduleToCloseTimeout: `${retry.expirationSeconds} seconds`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    priority: deliveryPriority(input),
    retry: {
      initialInterval: `${retry.initialIntervalSeconds} seconds`,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: `${retry.maximumIntervalSeconds} seconds`,
      maximumAttempts: retry.maximumAttempts,
    },
  });
}

/** The failure's type and message, from an ActivityFailure wrapping an ApplicationFailure. */
export function failureOf(err: unknown): { code: string; message: string } {
  let e: any = err;
  while (e?.cause && !(e instanceof ApplicationFailure)) e = e.cause;
  if (e instanceof ApplicationFailure) return { code: e.type ?? ErrorType.ProviderUnavailable, message: e.message };
  const retries = err instanceof Error && /timeout|retry/i.test(err.message);
  return { code: retries ? ErrorType.RetriesExhausted : ErrorType.ProviderUnavailable, message: err instanceof Error ? err.message : String(err) };
}
