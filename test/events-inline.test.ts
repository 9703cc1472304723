// A small event is evaluated by the API at once (usecases/events.ts acceptEvent); when a
// Temporal call fails during that work, the API falls back to the event's workflow, which redoes
// it idempotently: the recipient still gets one notification. The fault is a notification start
// that reaches the server but whose answer is lost, so the inline work did start it.
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIds } from '../domain/workflow-ids.js';
import { type Harness, seed, startHarness } from './harness.js';
import { until } from './until.js';

describe('an event evaluated at once falls back to its workflow when Temporal fails', () => {
  let h: Harness;
  let lose = false;
  let lost = 0;
  /** Notification starts reach the server, but their answers are lost while `lose` holds. */
  const loseNotificationStarts: WorkflowClientInterceptor = {
    async startWithDetails(input, next) {
      const out = await next(input);
      if (lose && input.workflowType === 'notificationWorkflow') {
        lost++;
        throw new Error('14 UNAVAILABLE: the connection dropped before the answer');
      }
      return out;
    },
  };

  beforeAll(async () => {
    h = await startHarness({ clientInterceptors: [loseNotificationStarts] });
    await seed(h);
    expect((await h.call('POST', '/v1/templates', { key: 'shipped', content: { en: { inapp: { title: 'Shipped', body: 'Order {{ order.id }} is on its way' } } } })).status).toBe(201);
    const rule = await h.call('PUT', '/v1/rules/shipped', { event: 'order.shipped', recipients: { from: 'event' }, template: 'shipped', channels: ['inapp'] });
    expect(rule.status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('a lost start during the inline work: the event workflow completes it, and the recipient gets one notification', async () => {
    lose = true;
    const posted = await h.call('POST', '/v1/events', { name: 'order.shipped', actor: 'user-42', data: { order: { id: 'A-1' } } });
    lose = false;
    expect(posted.status).toBe(202);
    expect(lost).toBe(1);
    // The fallback started the event's workflow (the inline path starts none).
    await h.env.client.workflow.getHandle(workflowIds.event(h.tenantId, posted.body.id)).result();
    const event = await until(
      () => h.call('GET', `/v1/events/${posted.body.id}`),
      (r) => r.body?.status === 'processed',
    );
    expect(event.body).toMatchObject({ status: 'processed', rules: ['shipped'], notifications: { count: 1 } });
    const [id] = event.body.notifications.ids;
    const n = await until(
      () => h.call('GET', `/v1/notifications/${id}`),
      (r) => r.body?.status === 'sent',
    );
    expect(n.body).toMatchObject({ recipient: 'user-42', deliveries: [{ channel: 'inapp', status: 'sent' }] });
    const inbox = (await h.call('GET', '/v1/recipients/user-42/inbox?limit=100')).body.data as Array<{ notificationId: string }>;
    expect(inbox.filter((m) => m.notificationId === id)).toHaveLength(1);
  }, 120_000);

  it('without a fault, the same rule is evaluated at once: processed before the answer, no event workflow', async () => {
    const posted = await h.call('POST', '/v1/events', { name: 'order.shipped', actor: 'user-42', data: { order: { id: 'A-2' } } });
    expect(posted.status).toBe(202);
    expect((await h.call('GET', `/v1/events/${posted.body.id}`)).body).toMatchObject({ status: 'processed', notifications: { count: 1 } });
    await expect(h.env.client.workflow.getHandle(workflowIds.event(h.tenantId, posted.body.id)).describe()).rejects.toThrow(/not found/i);
  }, 120_000);
});
