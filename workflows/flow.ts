// A flow: one interpreter that walks a pinned definition (domain/flows.ts) step by step. Its
// commands depend on the step types only, never on a flow's key or version: a flow changed is
// data changed, and a run already started goes on with the definition it was started with.
//
// A send step goes through the notification's own activities (wake: recipient, preferences,
// quiet hours and suppressions; deliver<Channel>; recordDelivery), so a flow's send behaves as a
// notification's. notificationWorkflow itself is left as it was: runs wait in it.
import {
  ActivityCancellationType,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities, DeliverArgs, DeliverResult, DeliveryRecord } from '../activities/index.js';
import type { FlowRecipient } from '../activities/flows.js';
import { compileCel, holds } from '../domain/cel.js';
import { channelContent, channelRecipient, deliveryId } from '../domain/delivery.js';
import { ErrorType } from '../domain/errors.js';
import {
  FLOW_CEL_VARIABLES,
  FLOW_EVENT_CEL_VARIABLES,
  flattenSteps,
  initialStepStates,
  MAX_FLOW_WAIT_SECONDS,
  type BranchStep,
  type DelayStep,
  type FetchStep,
  type FlowInput,
  type FlowState,
  type FlowStep,
  type SendStep,
  type StepState,
  type ThrottleStep,
  type WaitStep,
} from '../domain/flows.js';
import { finalStatus } from '../domain/status.js';
import { TERMINAL_STATUSES, type Channel, type DeliveryStatus, type NotificationInput, type NotificationState, type NotificationStatus } from '../domain/types.js';
import { SA, workflowIds } from '../domain/workflow-ids.js';
import { cancelNotificationSignal, cancelNotificationUpdate, flowEventSignal, flowReadSignal, flowStateQuery, notificationStatusQuery } from '../domain/workflow-messages.js';
import { channelActivities, DELIVER, failureOf } from './notification.js';

const { wake, recordDelivery, claimThrottleSlot, startFlow, recordFlow } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const { fetchForFlow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '5 minutes',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** Why a run stops before its last step. */
type Stop = { kind: 'cancelled' } | { kind: 'failed'; code: string } | { kind: 'throttled' } | { kind: 'recipient_deleted' };

export async function flowWorkflow(input: FlowInput): Promise<FlowState> {
  const steps = initialStepStates(input.steps);
  const stepOf = new Map(steps.map((s) => [s.id, s]));
  const state: FlowState = { status: 'accepted', reason: null, steps };
  /** Each send step's deliveries, for CEL's `steps.<id>.deliveries`. */
  const sent: Record<string, { channel: Channel; status: DeliveryStatus }[]> = {};
  /** Each channel's latest outcome (one delivery per channel and notification). */
  const deliveries = new Map<Channel, DeliveryStatus>();
  let data: Record<string, unknown> = { ...input.data };
  let recipient: FlowRecipient = { id: input.recipientId };
  let cancelled = false;
  let scope: CancellationScope | undefined;
  let waiting: { step: WaitStep; matched: boolean } | null = null;
  /** A single-channel send's outcome, recorded with the run's next record (as a notification records its only channel with its status). */
  let unrecorded: DeliveryRecord[] = [];
  const finished = () => TERMINAL_STATUSES.includes(state.status);
  const now = () => new Date().toISOString();

  const celSteps = () =>
    Object.fromEntries(steps.map((s) => [s.id, { status: s.status, outcome: s.outcome ?? null, deliveries: sent[s.id] ?? [] }]));
  const celContext = () => ({ data, recipient, steps: celSteps() });

  setHandler(flowStateQuery, () => state);
  setHandler(
    notificationStatusQuery,
    (): NotificationState => ({ status: state.status, reason: state.reason, releaseAt: null, deliveries: [...deliveries].map(([channel, status]) => ({ channel, status })) }),
  );
  const cancel = () => {
    cancelled = true;
    scope?.cancel();
  };
  setHandler(
    cancelNotificationUpdate,
    async () => {
      cancel();
      await condition(finished);
      return { status: state.status };
    },
    {
      validator: () => {
        if (finished()) throw ApplicationFailure.create({ type: 'already_finished', message: `The notification is already ${state.status}` });
      },
    },
  );
  setHandler(cancelNotificationSignal, () => {
    if (!finished()) cancel();
  });
  setHandler(flowReadSignal, () => {
    if (waiting?.step.for === 'read') waiting.matched = true;
  });
  setHandler(flowEventSignal, (event) => {
    const w = waiting;
    if (!w || w.step.for !== 'event' || w.step.event !== event.name) return;
    if (w.step.if && !holds(compileCel(w.step.if, FLOW_EVENT_CEL_VARIABLES), { ...celContext(), event }).value) return;
    w.matched = true;
  });

  function begin(step: FlowStep, extra: Partial<StepState> = {}) {
    Object.assign(stepOf.get(step.id)!, { status: 'running', startedAt: now(), ...extra });
  }
  function end(step: FlowStep, status: StepState['status'], outcome?: string) {
    const s = stepOf.get(step.id)!;
    s.status = status;
    if (outcome !== undefined) s.outcome = outcome;
    s.endedAt = now();
    delete s.waitingFor;
  }
  function skipAll(list: readonly FlowStep[]) {
    for (const s of flattenSteps(list)) {
      const st = stepOf.get(s.id)!;
      if (st.status === 'pending') st.status = 'skipped';
    }
  }
  /** Records the step states, with the status when it changes (a wait shows `scheduled` until it ends). */
  async function record(status?: { status: NotificationStatus; reason?: string | null; releaseAt?: string | null }, checkRead = false) {
    if (status) {
      state.status = status.status;
      state.reason = status.reason ?? null;
    }
    const outcomes = unrecorded;
    unrecorded = [];
    const res = await CancellationScope.nonCancellable(() =>
      recordFlow({
        notificationId: input.notificationId,
        steps,
        ...(status ? { status: { status: status.status, reason: status.reason ?? null, releaseAt: status.releaseAt } } : {}),
        ...(outcomes.length ? { deliveries: outcomes } : {}),
        ...(checkRead ? { checkRead } : {}),
      }),
    );
    if (status && (status.status === 'scheduled' || status.status === 'held')) upsertSearchAttributes([{ key: SA.status, value: status.status }]);
    return res;
  }

  // ---- the steps ----

  async function send(step: SendStep): Promise<Stop | null> {
    const sendInput: NotificationInput = {
      tenantId: input.tenantId,
      notificationId: input.notificationId,
      recipientId: input.recipientId,
      template: { key: step.template, version: input.templates[step.template] },
      data,
      channels: step.channels,
      strategy: step.strategy ?? 'all',
      category: input.category,
      priority: input.priority,
      sendAt: null,
      retry: input.retry,
      throttle: null,
    };
    begin(step);
    const own: { channel: Channel; status: DeliveryStatus }[] = step.channels.map((channel) => ({ channel, status: 'pending' }));
    sent[step.id] = own;
    const decide = (channel: Channel, status: DeliveryStatus, rest: Omit<DeliveryRecord, 'channel' | 'status'> = {}): DeliveryRecord => {
      own.find((d) => d.channel === channel)!.status = status;
      deliveries.set(channel, status);
      return { channel, status, ...rest };
    };
    // Preferences and quiet hours, as a notification decides them, each time the step wakes.
    let woke;
    for (;;) {
      woke = await wake({ input: sendInput, at: Date.now() });
      if (!woke.snapshot || !woke.decision) return { kind: 'recipient_deleted' };
      recipient = { ...recipient, ...woke.snapshot.recipient };
      if (woke.decision.allowed.length === 0 || woke.decision.release === null || cancelled) break;
      await record({ status: 'held', reason: 'quiet_hours', releaseAt: new Date(woke.decision.release).toISOString() });
      await condition(() => cancelled, woke.decision.release - Date.now());
      if (cancelled) break;
    }
    if (cancelled) return { kind: 'cancelled' };
    state.status = 'sending';
    const decision = woke.decision;
    const snapshot = woke.snapshot;
    const skipped = decision.skipped.map((d) => decide(d.channel, 'skipped', { reason: d.reason }));
    if (decision.allowed.length === 0) {
      unrecorded.push(...skipped);
      end(step, 'done', 'suppressed');
      return null;
    }
    // Several channels: each outcome is recorded as soon as it is known (a receipt may look for
    // its message id); one channel: with the run's next record, as a notification does.
    const recordEach = decision.allowed.length > 1;

    async function deliver(channel: Channel): Promise<DeliveryRecord> {
      if (cancelled) return decide(channel, 'cancelled');
      const acts = channelActivities(sendInput, channel);
      const args: DeliverArgs = {
        tenantId: input.tenantId,
        notificationId: input.notificationId,
        deliveryId: deliveryId(input.notificationId, channel),
        channel,
        recipient: channelRecipient(snapshot.recipient, channel),
        template: sendInput.template,
        content: channelContent(snapshot.content, channel),
        data,
        category: input.category,
      };
      decide(channel, 'sending');
      let rec: DeliveryRecord;
      try {
        const res = await (acts[DELIVER[channel]] as (a: DeliverArgs) => Promise<DeliverResult>)(args);
        rec = decide(channel, 'sent', { provider: res.provider, providerMessageId: res.providerMessageId, error: null, attempt: res.attempt });
      } catch (err) {
        const error = isCancellation(err) ? null : failureOf(err);
        if (error === null) rec = decide(channel, 'cancelled');
        else if (error.code === ErrorType.NoDevice) rec = decide(channel, 'skipped', { reason: ErrorType.NoDevice });
        else rec = decide(channel, 'failed', { error });
      }
      if (recordEach) await CancellationScope.nonCancellable(() => recordDelivery({ notificationId: input.notificationId, delivery: rec }));
      else unrecorded.push(rec);
      return rec;
    }

    scope = new CancellationScope();
    await scope
      .run(async () => {
        if (sendInput.strategy === 'all') await Promise.all(decision.allowed.map(deliver));
        else {
          let done = false;
          for (const channel of decision.allowed) {
            if (done) {
              unrecorded.push(decide(channel, 'skipped', { reason: 'fallback_not_needed' }));
              continue;
            }
            done = (await deliver(channel)).status === 'sent';
          }
        }
      })
      .catch((err) => {
        if (!isCancellation(err)) throw err;
      });
    scope = undefined;
    end(step, 'done', finalStatus(own.map((d) => d.status), cancelled, sendInput.strategy));
    return cancelled ? { kind: 'cancelled' } : null;
  }

  async function delay(step: DelayStep): Promise<Stop | null> {
    let ms: number;
    if (step.seconds !== undefined) ms = step.seconds * 1000;
    else {
      let at: unknown;
      try {
        at = compileCel(step.until!, FLOW_CEL_VARIABLES, 'any').evaluate(celContext());
      } catch {
        at = null;
      }
      const when = at instanceof Date ? at.getTime() : typeof at === 'string' ? Date.parse(at) : NaN;
      if (Number.isNaN(when)) {
        end(step, 'failed', 'invalid_until');
        return { kind: 'failed', code: 'invalid_until' };
      }
      ms = Math.min(Math.max(0, when - Date.now()), MAX_FLOW_WAIT_SECONDS * 1000);
    }
    begin(step);
    await record({ status: 'scheduled', releaseAt: new Date(Date.now() + ms).toISOString() });
    if (ms > 0) await condition(() => cancelled, ms);
    if (cancelled) {
      end(step, 'skipped', 'cancelled');
      return { kind: 'cancelled' };
    }
    end(step, 'done');
    return null;
  }

  async function wait(step: WaitStep): Promise<Stop | null> {
    const w = { step, matched: false };
    waiting = w;
    begin(step, { waitingFor: step.for === 'read' ? 'read' : `event:${step.event}` });
    const timeoutMs = step.timeoutSeconds * 1000;
    // Recorded as waiting before it waits: a read or event after this finds the run (usecases/flows.ts).
    const { read } = await record({ status: 'scheduled', releaseAt: new Date(Date.now() + timeoutMs).toISOString() }, step.for === 'read');
    if (read) w.matched = true;
    await condition(() => w.matched || cancelled, timeoutMs);
    waiting = null;
    if (cancelled && !w.matched) {
      end(step, 'skipped', 'cancelled');
      return { kind: 'cancelled' };
    }
    end(step, 'done', w.matched ? 'matched' : 'timed_out');
    return null;
  }

  async function branch(step: BranchStep): Promise<Stop | null> {
    begin(step);
    const taken = holds(compileCel(step.if, FLOW_CEL_VARIABLES), celContext()).value;
    end(step, 'done', taken ? 'then' : 'else');
    skipAll(taken ? (step.else ?? []) : step.then);
    return run(taken ? step.then : (step.else ?? []));
  }

  async function fetchInto(step: FetchStep): Promise<Stop | null> {
    begin(step);
    scope = new CancellationScope();
    try {
      const body = await scope.run(() =>
        fetchForFlow({ url: step.url, method: step.method ?? 'GET', data, recipientId: input.recipientId, notificationId: input.notificationId }),
      );
      data = { ...data, [step.as]: body };
      end(step, 'done');
      return null;
    } catch (err) {
      if (isCancellation(err) || cancelled) {
        end(step, 'skipped', 'cancelled');
        return { kind: 'cancelled' };
      }
      const { code } = failureOf(err);
      end(step, 'failed', code);
      return { kind: 'failed', code };
    } finally {
      scope = undefined;
    }
  }

  async function throttle(step: ThrottleStep): Promise<Stop | null> {
    begin(step);
    const allowed =
      input.priority === 'critical' ||
      (
        await claimThrottleSlot({
          key: step.key,
          limit: step.limit,
          windowSeconds: step.windowSeconds,
          tenantId: input.tenantId,
          recipientId: input.recipientId,
          notificationId: input.notificationId,
          at: new Date().toISOString(),
        })
      ).allowed;
    end(step, 'done', allowed ? 'allowed' : 'throttled');
    return allowed ? null : { kind: 'throttled' };
  }

  async function run(list: readonly FlowStep[]): Promise<Stop | null> {
    for (const step of list) {
      if (cancelled) return { kind: 'cancelled' };
      // A send's outcome is on record before the next step, which may take long; delays and waits record it themselves.
      if (unrecorded.length && step.type !== 'delay' && step.type !== 'wait' && step.type !== 'branch') await record();
      let stop: Stop | null;
      switch (step.type) {
        case 'send':
          stop = await send(step);
          break;
        case 'delay':
          stop = await delay(step);
          break;
        case 'wait':
          stop = await wait(step);
          break;
        case 'branch':
          stop = await branch(step);
          break;
        case 'fetch':
          stop = await fetchInto(step);
          break;
        case 'throttle':
          stop = await throttle(step);
          break;
      }
      if (stop) return stop;
    }
    return null;
  }

  // ---- the run ----

  const found = await startFlow({ input, workflowId: workflowIds.notification(input.tenantId, input.notificationId), steps });
  let stop: Stop | null;
  if (!found) stop = { kind: 'recipient_deleted' };
  else {
    recipient = found;
    stop = await run(input.steps);
  }

  // Whatever was not reached is skipped; the status adds up the sends.
  for (const s of steps) if (s.status === 'pending' || s.status === 'running') s.status = 'skipped';
  const unreached: DeliveryRecord[] = [];
  for (const s of flattenSteps(input.steps))
    if (s.type === 'send')
      for (const ch of s.channels)
        if (!deliveries.has(ch)) {
          deliveries.set(ch, 'skipped');
          unreached.push({ channel: ch, status: stop?.kind === 'cancelled' ? 'cancelled' : 'skipped', reason: stop?.kind === 'cancelled' ? null : 'not_reached' });
        }
  const outcomes = flattenSteps(input.steps).flatMap((s) => (s.type === 'send' && stepOf.get(s.id)!.outcome ? [stepOf.get(s.id)!.outcome as NotificationStatus] : []));
  const attempted = outcomes.filter((o) => o !== 'suppressed');
  const anySent = attempted.some((o) => o === 'sent' || o === 'partially_sent');
  let status: NotificationStatus;
  let reason: string | null = null;
  if (stop?.kind === 'cancelled') status = 'cancelled';
  else if (stop?.kind === 'recipient_deleted') [status, reason] = ['failed', 'recipient_deleted'];
  else if (stop?.kind === 'failed') [status, reason] = [anySent ? 'partially_sent' : 'failed', stop.code];
  else if (attempted.length === 0) [status, reason] = ['suppressed', stop?.kind === 'throttled' ? 'throttled' : outcomes.length ? 'preferences' : 'nothing_to_send'];
  else if (attempted.every((o) => o === 'sent')) status = 'sent';
  else if (!anySent) status = attempted.every((o) => o === 'cancelled') ? 'cancelled' : 'failed';
  else status = 'partially_sent';
  state.status = status;
  state.reason = reason;
  await CancellationScope.nonCancellable(() =>
    recordFlow({ notificationId: input.notificationId, steps, status: { status, reason }, deliveries: [...unrecorded, ...unreached] }),
  );
  upsertSearchAttributes([{ key: SA.status, value: status }]);
  await condition(allHandlersFinished);
  return state;
}
