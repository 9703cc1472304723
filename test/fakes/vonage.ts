// A fake Vonage SMS API, in its wire format: POST /sms/json with basic auth (or api_key and
// api_secret in the body), JSON or form-encoded {from, to, text, client-ref} → 200
// {"message-count":"1","messages":[{"to","message-id","status":"0",…}]}. A refusal is also a
// 200 whose message has another status and an `error-text`; `refuse(status, text)` scripts the
// next one.
import { type FakeServer, hex, type RecordedRequest, type Reply, startFakeServer } from './server.js';

export interface FakeVonage extends FakeServer {
  /** Every message the fake accepted, oldest first. */
  messages: Array<{ to: string; from: string; text: string; clientRef: string | undefined; messageId: string; auth: string }>;
  /** The next send answers 200 with this per-message status instead of sending. */
  refuse(status: string, errorText: string): void;
}

export async function startFakeVonage(): Promise<FakeVonage> {
  const messages: FakeVonage['messages'] = [];
  const refusals: Array<{ status: string; errorText: string }> = [];

  function handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || req.path !== '/sms/json') return { status: 404, body: { type: 'about:blank', title: 'Not Found' } };
    const b = req.body ?? {};
    const auth = req.headers.authorization ?? (b.api_key ? `key ${b.api_key}` : '');
    if (!auth) return { status: 401, body: { type: 'about:blank', title: 'Unauthorized' } };
    const refusal = refusals.shift();
    if (refusal) return { status: 200, body: { 'message-count': '1', messages: [{ to: b.to, status: refusal.status, 'error-text': refusal.errorText }] } };
    if (!b.to || !b.from || !b.text) return { status: 200, body: { 'message-count': '1', messages: [{ status: '2', 'error-text': 'Missing to, from or text' }] } };
    const messageId = hex(16).toUpperCase();
    messages.push({ to: b.to, from: b.from, text: b.text, clientRef: b['client-ref'], messageId, auth });
    return { status: 200, body: { 'message-count': '1', messages: [{ to: b.to, 'message-id': messageId, status: '0', 'remaining-balance': '10.0', 'message-price': '0.0333', network: '23410' }] } };
  }

  const server = await startFakeServer(handle, (status) => ({ type: 'about:blank', title: status === 429 ? 'Too Many Requests' : 'Server Error' }));
  return Object.assign(server, { messages, refuse: (status: string, errorText: string) => void refusals.push({ status, errorText }) });
}
