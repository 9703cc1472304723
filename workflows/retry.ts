// A retry of a finished notification's failed deliveries (POST /v1/notifications/{id}/retry and
// POST /v1/deliveries/retry): claims them, sends each again through the same delivery activities
// as the notification's own run, records the outcomes on the same delivery rows and the
// notification's status after them (sent, partially_sent or failed). One run per notification
// and request key (workflowIds.retry), so a repeated request retries nothing twice.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities, DeliverArgs, DeliverResult, DeliveryRecord } from '../activities/index.js';
import { channelContent, channelRecipient, deliveryId } from '../domain/delivery.js';
import { ErrorType } from '../domain/errors.js';
import { finalStatus } from '../domain/status.js';
import type { RetryInput, RetryResult } from '../domain/retry.js';
import type { Channel, DeliveryStatus } from '../domain/types.js';
import { DELIVER, failureOf } from './notification.js';


const { prepareRetry, recordDelivery, recordStatus } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export async function retryWorkflow(input: RetryInput): Promise<RetryResult> {
  const plan = await prepareRetry({ tenantId: input.tenantId, notificationId: input.notificationId, claim: input.claim });
  if (!plan) return { status: null, retried: [] };
  const statuses = new Map<Channel, DeliveryStatus>(plan.deliveries.map((d) => [d.channel, d.status]));
  const suppressed = plan.suppressed ?? [];
  const claimed = plan.deliveries.filter((d) => d.claimed && !suppressed.some((x) => x.channel === d.channel));
  const retried = claimed.map((d) => d.channel);
  const records: DeliveryRecord[] = [];
  const decide = (channel: Channel, status: DeliveryStatus, rest: Omit<DeliveryRecord, 'channel' | 'status'> = {}): DeliveryRecord => {
    statuses.set(channel, status);
    return { channel, status, ...rest };
  };
  for (const s of suppressed) records.push(decide(s.channel, 'skipped', { reason: s.reason }));

  const snapshot = plan.snapshot;
  if (!snapshot) {
    for (const d of claimed) records.push(decide(d.channel, 'failed', { error: { code: ErrorType.NotFound, message: 'The recipient no longer exists' } }));
  } else {
    const acts = proxyActivities<Activities>({
      startToCloseTimeout: '60 seconds',
      heartbeatTimeout: '30 seconds',
      scheduleToCloseTimeout: `${input.retry.expirationSeconds} seconds`,
      retry: {
        initialInterval: `${input.retry.initialIntervalSeconds} seconds`,
        backoffCoefficient: input.retry.backoffCoefficient,
        maximumInterval: `${input.retry.maximumIntervalSeconds} seconds`,
        maximumAttempts: input.retry.maximumAttempts,
      },
    });
    const send = async (d: (typeof claimed)[number]): Promise<DeliveryRecord> => {
      const args: DeliverArgs = {
        tenantId: input.tenantId,
        notificationId: input.notificationId,
        deliveryId: deliveryId(input.notificationId, d.channel),
        channel: d.channel,
        recipient: channelRecipient(snapshot.recipient, d.channel),
        template: plan.template,
        content: channelContent(snapshot.content, d.channel),
        data: plan.data,
        category: plan.category,
        attemptOffset: d.attempts,
      };
      let rec: DeliveryRecord;
      try {
        const res = await (acts[DELIVER[d.channel]] as (a: DeliverArgs) => Promise<DeliverResult>)(args);
        rec = decide(d.channel, 'sent', { provider: res.provider, providerMessageId: res.providerMessageId, error: null, attempt: res.attempt });
      } catch (err) {
        rec = decide(d.channel, 'failed', { error: failureOf(err) });
      }
      // Recorded at once: a receipt may look for its message id.
      if (claimed.length > 1) await recordDelivery({ notificationId: input.notificationId, delivery: rec });
      return rec;
    };
    if (plan.strategy === 'all') records.push(...(await Promise.all(claimed.map(send))));
    else {
      // First success: the failed channels again in order, until one is sent; the rest stay failed.
      let done = false;
      for (const d of claimed) {
        if (done) records.push(decide(d.channel, 'failed'));
        else done = (records[records.push(await send(d)) - 1]).status === 'sent';
      }
    }
  }

  const status = finalStatus([...statuses.values()], false, plan.strategy);
  await recordStatus({ tenantId: input.tenantId, notificationId: input.notificationId, status, reason: null, deliveries: records });
  return { status, retried };
}
