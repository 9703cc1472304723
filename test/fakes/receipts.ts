// What the providers do when they call us back (delivery receipts, Slack interactivity): each
// request signed with the provider's own library where one signs (twilio, standardwebhooks for
// Resend's Svix), and from Slack's documentation where none does.
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import twilio from 'twilio';

/**
 * Twilio's `X-Twilio-Signature` (base64 HMAC-SHA1 with the account's auth token of the URL
 * Twilio was configured with plus the POST params sorted by key), from the twilio SDK.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  return twilio.getExpectedTwilioSignature(authToken, url, params);
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
 * Svix (Resend's webhooks) signs per Standard Webhooks: `v1,` + base64 HMAC-SHA256 of
 * "<svix-id>.<svix-timestamp>.<raw body>", keyed with the base64-decoded part of the `whsec_…`
 * secret (or with raw key bytes), from the standardwebhooks library.
 */
export function svixSignature(secret: string | Buffer, id: string, timestampSeconds: number, body: string): string {
  const signer = typeof secret === 'string' ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
  return signer.sign(id, new Date(timestampSeconds * 1000), body);
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

/**
 * The headers of a Slack request: `X-Slack-Signature: v0=<hex HMAC-SHA256 of
 * "v0:<timestamp>:<raw body>">` with the app's signing secret. No Slack package signs requests
 * (bolt only verifies them), so this follows Slack's documentation.
 * https://api.slack.com/authentication/verifying-requests-from-slack
 */
export function slackSignedHeaders(body: string, signingSecret: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestampSeconds),
    'x-slack-signature': `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:${body}`).digest('hex')}`,
  };
}
