import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakePagerDuty, pagerError, startFakePagerDuty } from '../../test/fakes/pagerduty.js';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { createPagerClient, createPagerSender, type PagerClient } from './pager.js';

const ROUTING_KEY = 'R0UTINGKEY0000000000000000000001';

describe('pager channel (Events API v2 against a fake PagerDuty)', () => {
  let pd: FakePagerDuty;
  let client: PagerClient;

  beforeEach(async () => {
    pd = await startFakePagerDuty();
    client = createPagerClient({ eventsUrl: pd.eventsUrl, timeoutMs: 2000 });
  });
  afterEach(() => pd.close());

  it('triggers, acknowledges and resolves under one dedup key', async () => {
    const key = 'incident:ten_acme:inc_42';
    await expect(
      client.trigger({
        routingKey: ROUTING_KEY,
        dedupKey: key,
        summary: 'DB primary down',
        severity: 'critical',
        source: 'tocsin',
        customDetails: { incidentId: 'inc_42' },
      }),
    ).resolves.toBe(key);
    await expect(client.acknowledge({ routingKey: ROUTING_KEY, dedupKey: key })).resolves.toBe(key);
    await expect(client.resolve({ routingKey: ROUTING_KEY, dedupKey: key })).resolves.toBe(key);

    expect(pd.requests.map((r) => [r.method, r.path, r.headers['content-type']])).toEqual([
      ['POST', '/v2/enqueue', 'application/json'],
      ['POST', '/v2/enqueue', 'application/json'],
      ['POST', '/v2/enqueue', 'application/json'],
    ]);
    expect(pd.requests.map((r) => r.body)).toEqual([
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: key,
        payload: { summary: 'DB primary down', severity: 'critical', source: 'tocsin', custom_details: { incidentId: 'inc_42' } },
      },
      { routing_key: ROUTING_KEY, event_action: 'acknowledge', dedup_key: key },
      { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: key },
    ]);
  });

  it('truncates a summary to PagerDuty’s 1024 characters', async () => {
    await client.trigger({ routingKey: ROUTING_KEY, dedupKey: 'k', summary: 'x'.repeat(2000), severity: 'info', source: 'tocsin' });
    expect(pd.requests[0].body.payload.summary).toHaveLength(1024);
  });

  describe('sender', () => {
    it('triggers on the recipient’s routing key with the delivery id as dedup key', async () => {
      const sender = createPagerSender(client);
      const result = await sender.send(sendRequest({ address: ROUTING_KEY }));

      expect(result).toEqual({ provider: 'pagerduty', providerMessageId: 'dlv_01HZX3Q8J5' });
      expect(pd.requests[0].body).toEqual({
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: 'dlv_01HZX3Q8J5',
        payload: {
          summary: 'Order 7 shipped',
          severity: 'critical',
          source: 'tocsin',
          custom_details: {
            notificationId: 'ntf_01HZX3Q8J4',
            deliveryId: 'dlv_01HZX3Q8J5',
            recipient: 'user-42',
            template: 'order-shipped@3',
            category: 'orders',
          },
        },
      });
    });

    it('takes the summary from pager content, else the SMS text, else the template key', async () => {
      const sender = createPagerSender(client);
      await sender.send(sendRequest({ address: ROUTING_KEY, content: { pager: { summary: 'P' }, sms: { text: 'S' } } }));
      await sender.send(sendRequest({ address: ROUTING_KEY, content: { sms: { text: 'S' } } }));
      await sender.send(sendRequest({ address: ROUTING_KEY, content: {}, data: { severity: 'warning' } }));
      expect(pd.requests.map((r) => [r.body.payload.summary, r.body.payload.severity])).toEqual([
        ['P', 'critical'],
        ['S', 'critical'],
        ['order-shipped', 'warning'],
      ]);
    });
  });

  describe('failures', () => {
    const trigger = () =>
      client.trigger({ routingKey: ROUTING_KEY, dedupKey: 'k', summary: 's', severity: 'error', source: 'tocsin' });

    it('a 429 is retried after Retry-After', async () => {
      pd.enqueue({ status: 429, headers: { 'retry-after': '4' } });
      const err = (await rejection(trigger())) as ApplicationFailure;
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err.type).toBe('provider_unavailable');
      expect(err.nonRetryable).toBe(false);
      expect(err.nextRetryDelay).toBe(4000);
    });

    it('a 400 invalid event is permanent', async () => {
      pd.enqueue({ status: 400, body: pagerError(400, ['Invalid routing key']) });
      const err = (await rejection(trigger())) as ApplicationFailure;
      expect(err.type).toBe('provider_rejected');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain('Invalid routing key');
    });

    it('the fake itself rejects an event PagerDuty would reject', async () => {
      const err = (await rejection(client.trigger({ routingKey: ROUTING_KEY, dedupKey: 'k', summary: '', severity: 'info', source: 'x' }))) as ApplicationFailure;
      expect(err.type).toBe('provider_rejected');
      expect(err.message).toContain('payload.summary');
    });

    it('a 503 is retryable', async () => {
      pd.enqueue({ status: 503 });
      const err = (await rejection(trigger())) as ApplicationFailure;
      expect(err.type).toBe('provider_unavailable');
      expect(err.nonRetryable).toBe(false);
    });

    it('a redirect is not followed and not retried', async () => {
      pd.enqueue({ status: 301, headers: { location: `${pd.url}/elsewhere` }, body: '' });
      const err = (await rejection(trigger())) as ApplicationFailure;
      expect(err.nonRetryable).toBe(true);
      expect(pd.requests).toHaveLength(1);
    });

    it('a dropped connection and a timeout are plain retryable errors', async () => {
      const quick = createPagerClient({ eventsUrl: pd.eventsUrl, timeoutMs: 100 });
      pd.enqueue({ drop: true }, { delayMs: 1000 });
      const dropped = await rejection(trigger());
      const slow = await rejection(
        quick.trigger({ routingKey: ROUTING_KEY, dedupKey: 'k', summary: 's', severity: 'error', source: 'tocsin' }),
      );
      for (const err of [dropped, slow]) {
        expect(err).not.toBeInstanceOf(ApplicationFailure);
        expect(err.message).toMatch(/^pagerduty request failed/);
      }
    });

    it('an activity cancellation aborts the request', async () => {
      const controller = new AbortController();
      pd.enqueue({ delayMs: 1000 });
      const pending = rejection(
        client.trigger({ routingKey: ROUTING_KEY, dedupKey: 'k', summary: 's', severity: 'error', source: 'x', signal: controller.signal }),
      );
      setTimeout(() => controller.abort(), 20);
      expect((await pending).message).toMatch(/abort/i);
    });
  });
});
