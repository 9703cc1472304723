// A fake Slack Web API: POST /api/chat.postMessage and /api/chat.update, form-encoded or JSON,
// answering 200 {"ok":true,"channel","ts",…}. Platform errors are 200 {"ok":false,"error"};
// inject them with enqueue({ body: slackError('channel_not_found') }).
import { type FakeServer, type RecordedRequest, type Reply, startFakeServer } from './server.js';

export function slackError(error: string) {
  return { ok: false, error };
}

export async function startFakeSlack(): Promise<FakeServer> {
  let counter = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++counter).padStart(6, '0')}`;

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
      return {
        status: 200,
        body: { ok: true, channel, ts, message: { type: 'message', text: args.text ?? '', ts, bot_id: 'B0FAKE' } },
      };
    }
    if (method === 'chat.update') {
      if (!args.ts) return { status: 200, body: slackError('message_not_found') };
      return { status: 200, body: { ok: true, channel, ts: args.ts, text: args.text ?? '' } };
    }
    return { status: 200, body: slackError('unknown_method') };
  }
  // Slack's edge answers non-200s with a plain body; the Web API's own errors are 200s.
  return startFakeServer(handle, (status) => (status === 429 ? '' : `HTTP ${status}`));
}
