// Webhook channel: a signed JSON POST to the recipient's webhookUrl.
import { createHmac } from 'node:crypto';
import { ErrorType } from '../../domain/errors.js';
import { httpFailure, permanent } from '../errors.js';
import type { ChannelSender, SendRequest } from './types.js';

const MAX_RESPONSE_BYTES = 64 * 1024;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the tenant's secret. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Reads at most `limit` bytes of a response body, then stops. */
async function readCapped(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

export function createWebhookSender(opts: { timeoutMs?: number; now?: () => number } = {}): ChannelSender {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const now = opts.now ?? Date.now;
  return {
    channel: 'webhook',
    provider: 'webhook',
    async send(req: SendRequest) {
      const body = JSON.stringify({
        id: req.deliveryId,
        notificationId: req.notificationId,
        recipient: req.recipient.id,
        template: req.template.key,
        channel: 'webhook',
        content: req.content.webhook ?? {},
        data: req.data,
      });
      const t = Math.floor(now() / 1000);
      const res = await fetch(req.address, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.any([req.signal, AbortSignal.timeout(timeoutMs)]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tocsin-Webhooks/1',
          'tocsin-event-id': req.deliveryId,
          'tocsin-signature': signWebhook(req.tenant.webhookSecret, body, t),
        },
      });
      const text = await readCapped(res, MAX_RESPONSE_BYTES);
      if (res.status >= 200 && res.status < 300) return { provider: 'webhook', providerMessageId: null };
      if (res.status >= 300 && res.status < 400) {
        // Redirects are not followed: a receiver must answer at the URL it registered.
        throw permanent(ErrorType.ProviderRejected, `webhook answered ${res.status}: redirects are not followed`);
      }
      throw httpFailure('webhook', res.status, text, res.headers.get('retry-after'), now());
    },
  };
}
