// A webhook receiver: records each POST (with its headers and raw body) and answers 200,
// or the next scripted response.
import { startFakeServer, type FakeServer } from './server.js';

export function startFakeWebhook(): Promise<FakeServer> {
  return startFakeServer(() => ({ status: 200, body: { ok: true } }));
}
