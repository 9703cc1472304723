// One lifecycle webhook endpoint's dispatcher (README: "Lifecycle webhooks"). The deliveries
// themselves are rows (webhook_deliveries), written with their events by the statements that
// change state; this run only decides when to look: it runs a round (activities/webhook-dispatch.ts
// sends what is due and records the attempts), then sleeps until the next delivery is due, a
// nudge (new deliveries were written: a signal from the worker's listener or the API), or the
// fallback poll, whichever is first. It ends when the endpoint is deleted or disabled; a PUT
// that enables it, or the next delivery, starts it again. History stays bounded: it continues
// as new every ROUNDS_PER_RUN rounds, or sooner when the server suggests it.
import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { WebhookDispatchActivities } from '../activities/webhook-dispatch.js';
import { webhookNudgeSignal } from '../domain/workflow-messages.js';

const { dispatchWebhooks } = proxyActivities<WebhookDispatchActivities>({
  // A round sends at most a batch (50) at 8 at once, each within 10 s.
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute' },
});

/** The longest a dispatcher sleeps without looking: a lost nudge delays a delivery by this much at most. */
export const FALLBACK_POLL_MS = 5 * 60_000;
const ROUNDS_PER_RUN = 500;

export interface WebhookDispatchInput {
  tenantId: string;
  endpointId: string;
}

export async function webhookDispatchWorkflow(input: WebhookDispatchInput): Promise<void> {
  let nudged = false;
  setHandler(webhookNudgeSignal, () => {
    nudged = true;
  });
  for (let round = 1; ; round++) {
    nudged = false;
    const r = await dispatchWebhooks({ tenantId: input.tenantId, endpointId: input.endpointId, now: Date.now() });
    if (r.state !== 'active') return;
    if (!r.more && !nudged) {
      const wait = r.nextDueAt === null ? FALLBACK_POLL_MS : Math.min(FALLBACK_POLL_MS, r.nextDueAt - Date.now());
      if (wait > 0) await condition(() => nudged, wait);
    }
    if (round >= ROUNDS_PER_RUN || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof webhookDispatchWorkflow>(input);
  }
}
