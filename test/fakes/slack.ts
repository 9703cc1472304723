// A fake Slack Web API, form-encoded or JSON, in Slack's wire format:
// - chat.postMessage → 200 {"ok":true,"channel","ts","message"}, kept with its `metadata`
//   (event_type + event_payload); a user id as channel posts to that user's DM (D…);
// - chat.update → the message's new text;
// - conversations.open {users} → the DM's channel id;
// - conversations.history {channel, oldest, latest, inclusive, limit, cursor,
//   include_all_metadata} → the channel's messages newest first, with `metadata` only when
//   include_all_metadata is set, paged with has_more and response_metadata.next_cursor.
// Platform errors are 200 {"ok":false,"error"}; inject them with enqueue({ body: slackError('channel_not_found') }).
import { type FakeServer, type RecordedRequest, type Reply, startFakeServer } from './server.js';

export function slackError(error: string) {
  return { ok: false, error };
}

export interface SlackMessage {
  type: 'message';
  ts: string;
  text: string;
  bot_id: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface FakeSlack extends FakeServer {
  /** Every message posted, by channel id, oldest first: what the provider showed. */
  channels: Map<string, SlackMessage[]>;
}

/** A user id (U…, W…) stands for the DM with that user, as chat.postMessage treats it. */
const dmOf = (channel: string) => (/^[UW][A-Z0-9]+$/.test(channel) ? `D${channel.slice(1)}` : channel);

/** Form bodies carry objects as JSON strings (the WebClient's encoding); JSON bodies as objects. */
function objectArg(value: unknown): Record<string, any> | undefined {
  if (typeof value === 'string') {
    try {
      return JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return value && typeof value === 'object' ? (value as Record<string, any>) : undefined;
}

const flag = (value: unknown) => value === true || value === 'true' || value === '1' || value === 1;

export async function startFakeSlack(): Promise<FakeSlack> {
  let counter = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++counter).padStart(6, '0')}`;
  const channels = new Map<string, SlackMessage[]>();

  function history(args: Record<string, unknown>): Reply {
    const channel = typeof args.channel === 'string' ? args.channel : '';
    if (!channel || /^[UW]/.test(channel)) return { status: 200, body: slackError('channel_not_found') };
    const oldest = Number(args.oldest ?? 0);
    const latest = args.latest !== undefined ? Number(args.latest) : Number.POSITIVE_INFINITY;
    const inclusive = flag(args.inclusive);
    const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 999);
    const offset = typeof args.cursor === 'string' && args.cursor ? Number(Buffer.from(args.cursor, 'base64').toString().replace('next_ts:', '')) : 0;
    const inRange = (channels.get(channel) ?? [])
      .filter((m) => {
        const t = Number(m.ts);
        return (inclusive ? t >= oldest : t > oldest) && (inclusive ? t <= latest : t < latest);
      })
      .reverse();
    const page = inRange.slice(offset, offset + limit);
    const more = offset + limit < inRange.length;
    const withMetadata = flag(args.include_all_metadata);
    return {
      status: 200,
      body: {
        ok: true,
        messages: page.map(({ metadata, ...m }) => (withMetadata && metadata ? { ...m, metadata } : m)),
        has_more: more,
        pin_count: 0,
        response_metadata: { next_cursor: more ? Buffer.from(`next_ts:${offset + limit}`).toString('base64') : '' },
      },
    };
  }

  function handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || !req.path.startsWith('/api/')) return { status: 404, body: 'Not Found' };
    if (!req.headers.authorization?.startsWith('Bearer ')) return { status: 200, body: slackError('not_authed') };
    const args = (req.body ?? {}) as Record<string, unknown>;
    const channel = typeof args.channel === 'string' ? args.channel : '';
    const method = req.path.slice('/api/'.length);
    if ((method === 'chat.postMessage' || method === 'chat.update') && !channel) {
      return { status: 200, body: slackError('channel_not_found') };
    }
    if (method === 'chat.postMessage') {
      const ts = nextTs();
      const id = dmOf(channel);
      const meta = objectArg(args.metadata);
      const message: SlackMessage = {
        type: 'message',
        text: typeof args.text === 'string' ? args.text : '',
        ts,
        bot_id: 'B0FAKE',
        ...(meta && typeof meta.event_type === 'string' ? { metadata: { event_type: meta.event_type, event_payload: meta.event_payload ?? {} } } : {}),
      };
      channels.set(id, [...(channels.get(id) ?? []), message]);
      return { status: 200, body: { ok: true, channel: id, ts, message } };
    }
    if (method === 'chat.update') {
      if (!args.ts) return { status: 200, body: slackError('message_not_found') };
      const found = channels.get(dmOf(channel))?.find((m) => m.ts === args.ts);
      if (found) found.text = typeof args.text === 'string' ? args.text : found.text;
      return { status: 200, body: { ok: true, channel, ts: args.ts, text: args.text ?? '' } };
    }
    if (method === 'conversations.open') {
      const users = typeof args.users === 'string' ? args.users.split(',') : [];
      if (users.length !== 1 || !/^[UW]/.test(users[0])) return { status: 200, body: slackError('user_not_found') };
      return { status: 200, body: { ok: true, channel: { id: dmOf(users[0]) } } };
    }
    if (method === 'conversations.history') return history(args);
    return { status: 200, body: slackError('unknown_method') };
  }
  // Slack's edge answers non-200s with a plain body; the Web API's own errors are 200s.
  const server = await startFakeServer(handle, (status) => (status === 429 ? '' : `HTTP ${status}`));
  return Object.assign(server, { channels });
}
