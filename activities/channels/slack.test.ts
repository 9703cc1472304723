import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import type { FakeServer } from '../../test/fakes/server.js';
import { slackError, startFakeSlack } from '../../test/fakes/slack.js';
import { createSlackClient, createSlackSender, type Incident, incidentBlocks, type SlackClient } from './slack.js';
import type { ChannelSender } from './types.js';

const TOKEN = 'xoxb-test-token';
const toChannel = () => sendRequest({ address: 'C0123456789' });

describe('slack channel (@slack/bolt WebClient against a fake Slack)', () => {
  let slack: FakeServer;
  let sender: ChannelSender;
  let client: SlackClient;

  beforeEach(async () => {
    slack = await startFakeSlack();
    sender = createSlackSender({ botToken: TOKEN, apiUrl: `${slack.url}/api/` })!;
    client = createSlackClient({ botToken: TOKEN, apiUrl: `${slack.url}/api` })!;
  });
  afterEach(() => slack.close());

  it('is unconfigured without a bot token', () => {
    expect(createSlackSender({})).toBeNull();
    expect(createSlackClient({ apiUrl: 'http://127.0.0.1:9/api/' })).toBeNull();
  });

  it('posts the text with chat.postMessage and answers channel:ts', async () => {
    const result = await sender.send(toChannel());

    expect(slack.requests).toHaveLength(1);
    const [req] = slack.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api/chat.postMessage');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.body).toEqual({ channel: 'C0123456789', text: 'Order *7* shipped' });
    expect(result.provider).toBe('slack');
    expect(result.providerMessageId).toMatch(/^C0123456789:\d+\.\d{6}$/);
  });

  it.each([
    ['channel_not_found', 'invalid_address'],
    ['is_archived', 'invalid_address'],
    ['not_in_channel', 'provider_rejected'],
    ['invalid_auth', 'provider_rejected'],
  ])('platform error %s is a permanent %s', async (error, type) => {
    slack.enqueue({ body: slackError(error) });
    const err = (await rejection(sender.send(toChannel()))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe(type);
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(error);
  });

  it('an HTTP 429 is retried after Retry-After, by Temporal rather than the WebClient', async () => {
    slack.enqueue({ status: 429, headers: { 'retry-after': '3' } });
    const err = (await rejection(sender.send(toChannel()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(3000);
    expect(slack.requests).toHaveLength(1);
  });

  it('a ratelimited platform error is retried after Retry-After', async () => {
    slack.enqueue({ body: slackError('ratelimited'), headers: { 'retry-after': '5' } });
    const err = (await rejection(sender.send(toChannel()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nextRetryDelay).toBe(5000);
  });

  it('an HTTP 503 is retryable and not retried by the WebClient', async () => {
    slack.enqueue({ status: 503 });
    const err = (await rejection(sender.send(toChannel()))) as ApplicationFailure;
    expect(err.type).toBe('provider_unavailable');
    expect(err.nonRetryable).toBe(false);
    expect(slack.requests).toHaveLength(1);
  });

  it('internal_error from Slack and a dropped connection are plain retryable errors', async () => {
    slack.enqueue({ body: slackError('internal_error') }, { drop: true });
    const platform = await rejection(sender.send(toChannel()));
    const network = await rejection(sender.send(toChannel()));
    for (const err of [platform, network]) expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(network.message).toMatch(/^slack request failed/);
  });

  describe('incident messages', () => {
    const incident: Incident = { incidentId: 'inc_42', summary: 'DB <primary> down', severity: 'critical', status: 'triggered' };

    it('builds blocks with an Acknowledge button while triggered, without it afterwards', () => {
      const triggered = incidentBlocks(incident);
      expect(triggered).toContainEqual({
        type: 'actions',
        block_id: 'tocsin_incident',
        elements: [
          {
            type: 'button',
            action_id: 'tocsin_ack',
            value: 'inc_42',
            style: 'danger',
            text: { type: 'plain_text', text: 'Acknowledge' },
          },
        ],
      });
      expect(JSON.stringify(triggered)).toContain('DB &lt;primary&gt; down');
      const acked = incidentBlocks({ ...incident, status: 'acknowledged', by: 'ann' });
      expect(acked.some((b) => b.type === 'actions')).toBe(false);
      expect(JSON.stringify(acked)).toContain('*acknowledged* by ann');
    });

    it('posts with chat.postMessage and updates the same message with chat.update', async () => {
      const posted = await client.postIncidentMessage('C0OPS', incident);
      const updated = await client.updateIncidentMessage(posted.channel, posted.ts, { ...incident, status: 'acknowledged', by: 'ann' });

      expect(updated).toEqual(posted);
      const [post, update] = slack.requests;
      expect(post.path).toBe('/api/chat.postMessage');
      expect(post.body.channel).toBe('C0OPS');
      expect(post.body.text).toBe('[critical] DB <primary> down (triggered)');
      expect(JSON.parse(post.body.blocks)).toEqual(incidentBlocks(incident));
      expect(update.path).toBe('/api/chat.update');
      expect(update.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(update.body).toMatchObject({ channel: 'C0OPS', ts: posted.ts });
      expect(JSON.parse(update.body.blocks)).toEqual(incidentBlocks({ ...incident, status: 'acknowledged', by: 'ann' }));
    });

    it('classifies failures of the incident calls too', async () => {
      slack.enqueue({ body: slackError('message_not_found') });
      const err = (await rejection(client.updateIncidentMessage('C0OPS', '1.000001', incident))) as ApplicationFailure;
      expect(err.type).toBe('provider_rejected');
      expect(err.nonRetryable).toBe(true);
    });
  });
});
