// A webhook receiver: records each POST (with its headers and raw body) and answers 200,
// or the next scripted response. `verifyWebhook` checks a recorded request the way a
// receiver does, with the Standard Webhooks library.
import { Webhook } from 'standardwebhooks';
import { startFakeServer, type FakeServer, type RecordedRequest } from './server.js';

export function startFakeWebhook(): Promise<FakeServer> {
  return startFakeServer(() => ({ status: 200, body: { ok: true } }));
}

/**
 * The payload of a recorded webhook, verified with `Webhook.verify` against the tenant's
 * `whsec_` secret (signature, and a timestamp within five minutes of now); throws
 * `WebhookVerificationError` when it does not verify.
 */
export function verifyWebhook(secret: string, req: RecordedRequest): unknown {
  return new Webhook(secret).verify(req.rawBody, req.headers);
}
