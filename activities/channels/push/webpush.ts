// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
// the web-push package: one POST to the subscription's endpoint. 404 and 410 mean the
// subscription is gone.
import https from 'node:https';
import tls from 'node:tls';
import webpush from 'web-push';
import { ErrorType } from '../../../domain/errors.js';
import { httpFailure, permanent } from '../../errors.js';
import { DeviceGone, type PushProvider } from './types.js';

interface WebPushOptions {
  publicKey?: string;
  privateKey?: string;
  /** `mailto:` or `https:` contact for the push service. */
  subject?: string;
  /** Certificates (PEM) trusted for push endpoints besides the system's (a TLS-inspecting proxy, tests). */
  ca?: string;
  timeoutMs?: number;
}

/** A Topic header is at most 32 characters of the URL-safe base64 alphabet. */
const topicOf = (key: string) => Buffer.from(key).toString('base64url').replace(/[^A-Za-z0-9_-]/g, '').slice(-32);

export function createWebPushProvider(opts: WebPushOptions): PushProvider | null {
  if (!opts.publicKey || !opts.privateKey || !opts.subject) return null;
  const vapidDetails = { subject: opts.subject, publicKey: opts.publicKey, privateKey: opts.privateKey };
  const agent = opts.ca ? new https.Agent({ ca: [...tls.rootCertificates, opts.ca], keepAlive: true }) : undefined;
  return {
    name: 'webpush',
    async send(device, m) {
      if (!device.subscription) throw permanent(ErrorType.NoAddress, 'a webpush device without a subscription');
      m.signal.throwIfAborted();
      const payload = JSON.stringify({ title: m.title, body: m.body, ...(m.url ? { url: m.url } : {}), ...(m.data ? { data: m.data } : {}) });
      try {
        const res = await webpush.sendNotification(device.subscription, payload, {
          vapidDetails,
          TTL: m.ttlSeconds,
          urgency: m.urgency,
          topic: topicOf(m.collapseKey),
          contentEncoding: 'aes128gcm',
          timeout: opts.timeoutMs ?? 15_000,
          ...(agent ? { agent } : {}),
        });
        return String(res.headers.location ?? res.headers['location'] ?? '');
      } catch (err) {
        if (err instanceof webpush.WebPushError) {
          if (err.statusCode === 404 || err.statusCode === 410) throw new DeviceGone('webpush', String(err.statusCode));
          const retryAfter = err.headers?.['retry-after'];
          throw httpFailure('webpush', err.statusCode, String(err.body ?? '').slice(0, 200), typeof retryAfter === 'string' ? retryAfter : null);
        }
        m.signal.throwIfAborted();
        throw new Error(`webpush request failed: ${(err as Error)?.message ?? 'no answer'}`);
      }
    },
  };
}
