// What the providers do when they call us back with a delivery receipt, written from their
// documentation with node:crypto alone (not from our verifier), so tests check one against the other.
import { createHmac } from 'node:crypto';

/**
 * Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the account's auth token, of the
 * full URL Twilio was configured with (query included) followed by every POST param's key and
 * value, sorted by key. https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** A Twilio message status callback's form params, as Twilio posts them. */
export function twilioStatusCallback(messageSid: string, messageStatus: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    ApiVersion: '2010-04-01',
    From: '+15005550006',
    To: '+14155550123',
    SmsSid: messageSid,
    SmsStatus: messageStatus,
    MessageSid: messageSid,
    MessageStatus: messageStatus,
    ...extra,
  };
}

/**
 * Svix (Resend's webhooks): `v1,` + base64 HMAC-SHA256 of "<svix-id>.<svix-timestamp>.<raw body>",
 * keyed with the base64-decoded part of the `whsec_…` secret.
 * https://docs.svix.com/receiving/verifying-payloads/how-manual
 */
export function svixSignature(secret: string | Buffer, id: string, timestampSeconds: number, body: string): string {
  const key = typeof secret === 'string' ? Buffer.from(secret.replace(/^whsec_/, ''), 'base64') : secret;
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The headers of a signed Svix delivery. */
export function svixHeaders(secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'svix-id': id,
    'svix-timestamp': String(timestampSeconds),
    'svix-signature': svixSignature(secret, id, timestampSeconds, body),
  };
}

/** A Resend email webhook event body, as Resend sends it. */
export function resendEmailEvent(type: string, emailId: string, at: Date, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type,
    created_at: at.toISOString(),
    data: {
      created_at: new Date(at.getTime() - 5000).toISOString(),
      email_id: emailId,
      from: 'Tocsin <notifications@example.com>',
      to: ['ann@example.com'],
      subject: 'Order 7 shipped',
      ...extra,
    },
  });
}
