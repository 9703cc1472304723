import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeSlack, slackError, startFakeSlack } from '../../test/fakes/slack.js';
import { renderContent } from '../../domain/templates.js';
import { createSlackClient, createSlackSender, DELIVERY_EVENT_TYPE, type Incident, incidentBlocks, type SlackClient } from './slack.js';
import type { ChannelSender, EarlierAttempts } from './types.js';

const TOKEN = 'xoxb-test-token';
const toChannel = (overrides: Parameters<typeof sendRequest>[0] = {}) => sendRequest({ address: 'C0123456789', ...overrides });

describe('slack channel (@slack/bolt WebClient against a fake Slack)', () => {
  let slack: FakeSlack;
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
    expect(req.body).toMatchObject({ channel: 'C0123456789', text: 'Order *7* shipped' });
    expect(JSON.parse(req.body.metadata)).toEqual({
      event_type: 'tocsin_delivery',
      event_payload: { delivery_id: 'dlv_01HZX3Q8J5', notification_id: 'ntf_01HZX3Q8J4' },
    });
    expect(result.provider).toBe('slack');
    expect(result.providerMessageId).toMatch(/^C0123456789:\d+\.\d{6}$/);
  });

  it('data cannot mention: Slack control characters from data are escaped, the template\'s own mention is kept', async () => {
    const data = {
      name: '<!channel> & <!here|here>',
      user: '<@U0123ABCD>',
      room: '<#C0123456789|general>',
      link: '<https://evil.example|click>',
      items: ['<!everyone>', 1],
      n: 3,
    };
    const content = renderContent(
      { slack: { text: '<!here> {{ name }} from {{ user }} in {{ room }}: {{ link }} {{ items }} *{{ n }}* {{ name | upcase }}' } },
      ['slack'],
      data,
    );
    await sender.send(toChannel({ content, data }));

    const [req] = slack.requests;
    expect(req.path).toBe('/api/chat.postMessage');
    expect(req.body.text).toBe(
      '<!here> &lt;!channel&gt; &amp; &lt;!here|here&gt; from &lt;@U0123ABCD&gt; in &lt;#C0123456789|general&gt;: ' +
        '&lt;https://evil.example|click&gt; &lt;!everyone&gt;1 *3* &lt;!CHANNEL&gt; &amp; &lt;!HERE|HERE&gt;',
    );
    // The only control sequence left is the one the template's author wrote.
    expect(req.body.text.match(/<[^>]*>/g)).toEqual(['<!here>']);
  });

  it('a template author may let data through on purpose with `raw`', async () => {
    const content = renderContent({ slack: { text: 'On call: {{ user | raw }}, {{ user }}' } }, ['slack'], { user: '<@U0123ABCD>' });
    await sender.send(toChannel({ content }));
    expect(slack.requests[0].body.text).toBe('On call: <@U0123ABCD>, &lt;@U0123ABCD&gt;');
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

  describe('a retry adopts the message an earlier attempt posted (metadata, conversations.history)', () => {
    const posts = () => slack.requests.filter((r) => r.path === '/api/chat.postMessage');
    const histories = () => slack.requests.filter((r) => r.path === '/api/conversations.history');
    const earlier = (since = new Date(Date.now() - 1000)): EarlierAttempts => ({ since, claimedElsewhere: async () => false });
    const posted = (channel = 'C0123456789') => slack.channels.get(channel) ?? [];

    it('an answer lost after Slack posted: the retry finds the delivery id in the history and posts nothing', async () => {
      slack.enqueue({ acceptThen: 'drop' });
      const lost = await rejection(sender.send(toChannel()));
      expect(lost.message).toMatch(/^slack request failed/);

      const retried = await sender.send(toChannel({ earlier: earlier() }));
      expect(retried).toEqual({ provider: 'slack', providerMessageId: `C0123456789:${posted()[0].ts}`, adopted: true });
      expect(posted()).toHaveLength(1);
      expect(posts()).toHaveLength(1);
      const [history] = histories();
      expect(history.body).toMatchObject({ channel: 'C0123456789', include_all_metadata: 'true' });
      expect(Number(history.body.oldest)).toBeLessThan(Date.now() / 1000 - 60);
    });

    it('an answer slower than the client’s timeout: the retry adopts too', async () => {
      const slow = createSlackSender({ botToken: TOKEN, apiUrl: `${slack.url}/api/`, timeoutMs: 200 })!;
      slack.enqueue({ acceptThen: { answerDelayMs: 1000 } });
      await rejection(slow.send(toChannel()));
      const retried = await slow.send(toChannel({ earlier: earlier() }));
      expect(retried.adopted).toBe(true);
      expect(posted()).toHaveLength(1);
    });

    it('another delivery’s message, or one before the first attempt, is not adopted: the retry posts', async () => {
      await sender.send(toChannel({ deliveryId: 'ntf_other.slack' }));
      const retried = await sender.send(toChannel({ earlier: earlier() }));
      expect(retried.adopted).toBeUndefined();
      expect(posted()).toHaveLength(2);
      expect(posted()[1].metadata?.event_payload.delivery_id).toBe('dlv_01HZX3Q8J5');

      const later = await sender.send(toChannel({ earlier: earlier(new Date(Date.now() + 5 * 60_000)) }));
      expect(later.adopted).toBeUndefined();
      expect(posted()).toHaveLength(3);
    });

    it('a user id is looked up in the DM that conversations.open names', async () => {
      slack.enqueue({ acceptThen: 'drop' });
      await rejection(sender.send(toChannel({ address: 'U0ANN' })));
      const retried = await sender.send(toChannel({ address: 'U0ANN', earlier: earlier() }));
      expect(retried).toMatchObject({ providerMessageId: `D0ANN:${posted('D0ANN')[0].ts}`, adopted: true });
      expect(histories()[0].body.channel).toBe('D0ANN');
    });

    it('pages through the history until it finds the message', async () => {
      await sender.send(toChannel());
      for (let i = 0; i < 250; i++) await client.postMessage('C0123456789', `noise ${i}`);
      const retried = await sender.send(toChannel({ earlier: earlier() }));
      expect(retried.adopted).toBe(true);
      expect(histories()).toHaveLength(2);
      expect(histories()[1].body.cursor).toBeTruthy();
      expect(posted()).toHaveLength(251);
    });

    it('the lookup failing for now is retryable and posts nothing; refused for good (missing_scope), it posts', async () => {
      slack.enqueue({ body: slackError('internal_error') });
      const err = await rejection(sender.send(toChannel({ earlier: earlier() })));
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      expect(posts()).toHaveLength(0);

      slack.enqueue({ body: slackError('missing_scope') });
      const sent = await sender.send(toChannel({ earlier: earlier() }));
      expect(sent.adopted).toBeUndefined();
      expect(posted()).toHaveLength(1);
      expect(posted()[0].metadata?.event_type).toBe(DELIVERY_EVENT_TYPE);
    });
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
      expect(post.body.text).toBe('[critical] DB &lt;primary&gt; down (triggered)');
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
