// Delivery receipts: providers tell us what became of a message we sent. Outside tenant auth:
// each provider signs its requests, and the message is found by the provider's own id
// (deliveries.provider + provider_message_id, recorded when the workflow records the send).
//
// - Twilio status callbacks: `X-Twilio-Signature`, HMAC-SHA1 (base64) with the auth token over
//   the URL Twilio was given plus the POST params sorted by key, checked by the twilio SDK.
//   https://www.twilio.com/docs/usage/webhooks/webhooks-security
// - Resend webhooks, signed by Svix (`svix-id`, `svix-timestamp`, `svix-signature`), checked by
//   resend's own verifier (../provider-signatures.ts); a timestamp more than five minutes off
//   is refused as a replay.
//
// usecases/receipts.ts records and applies each receipt; the routes verify and parse.
import { createRoute, z } from '@hono/zod-openapi';
import twilio from 'twilio';
import { ErrorType } from '../../domain/errors.js';
import { json, problems, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';
import { badRequest, Problem } from '../problem.js';
import { isValidResendWebhook } from '../provider-signatures.js';
import { applyReceipt, type Change, type ReceiptOutcome } from '../../usecases/receipts.js';

const TWILIO_RECEIPT_PATH = '/v1/receipts/twilio';

/** A form body as Twilio's validator expects it: repeated keys become arrays. */
function formParams(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const TwilioCallback = z.object({
  MessageSid: z.string().min(1).max(64),
  MessageStatus: z.string().min(1).max(32),
  ErrorCode: z.string().max(16).optional(),
});

function twilioChange(status: string, errorCode: string | undefined): Change | null {
  if (status === 'delivered') return { status: 'delivered' };
  if (status === 'undelivered' || status === 'failed') {
    return {
      status: 'failed',
      error: { code: errorCode || status, message: `Twilio reported the message ${status}${errorCode ? ` (error ${errorCode})` : ''}` },
    };
  }
  // queued, sending, sent, accepted, …: nothing a delivery shows.
  return null;
}

// Bounded generously: a provider's long text is cut when stored (cleanReceipt), not refused,
// since a refused receipt would be sent again and again.
const ResendEvent = z.object({ type: z.string().min(1).max(100), data: z.unknown() });
const ProviderText = z.string().max(100_000);
const ResendEmailData = z.object({
  email_id: z.string().min(1).max(128),
  bounce: z.object({ message: ProviderText.optional(), type: ProviderText.optional(), subType: ProviderText.optional() }).partial().optional(),
  failed: z.object({ reason: ProviderText.optional() }).optional(),
});

function resendChange(type: string, data: z.infer<typeof ResendEmailData>): Change | null {
  switch (type) {
    case 'email.delivered':
      return { status: 'delivered' };
    case 'email.bounced': {
      const kind = [data.bounce?.type, data.bounce?.subType].filter(Boolean).join('/');
      return { status: 'bounced', error: { code: 'bounced', message: data.bounce?.message ?? `The receiving server rejected the email${kind ? ` (${kind})` : ''}` } };
    }
    case 'email.failed':
      return { status: 'failed', error: { code: ErrorType.ProviderRejected, message: data.failed?.reason ?? 'Resend could not send the email' } };
    // email.complained is recorded against the delivery (the note) and leaves it delivered;
    // email.sent, delivery_delayed, opened, clicked, …: nothing a delivery shows.
    default:
      return null;
  }
}

/** Receipts are verified against their raw bytes, so their bodies are not parsed before the handler. */
const Outcome = z.object({ outcome: z.enum(['applied', 'unchanged', 'duplicate', 'unmatched', 'ignored']) });
const twilioReceipt = createRoute({
  method: 'post',
  path: '/twilio',
  summary: 'Twilio message status callbacks (X-Twilio-Signature)',
  security: security.none,
  request: { body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { MessageSid: { type: 'string' }, MessageStatus: { type: 'string' }, ErrorCode: { type: 'string' } } } } } } },
  responses: { 200: json(Outcome, 'Recorded, or ignored (also for an unknown message, so that Twilio stops calling back)'), ...problems(400, 401, 413, 503) },
});
const resendReceipt = createRoute({
  method: 'post',
  path: '/resend',
  summary: 'Resend delivery webhooks (Svix signature)',
  security: security.none,
  request: { body: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { type: { type: 'string' }, data: { type: 'object' } } } } } } },
  responses: { 200: json(Outcome, 'Recorded or ignored'), ...problems(400, 401, 413, 503) },
});

export function receiptRoutes(deps: AppDeps) {
  const { db } = deps;
  const app = router();

  app.openapi(twilioReceipt, async (c) => {
    const raw = await c.req.text();
    const token = deps.secrets?.twilioAuthToken;
    // Twilio signs the URL it was given (PUBLIC_BASE_URL…), not the one a proxy forwards to us.
    const requestUrl = c.req.url;
    const query = requestUrl.includes('?') ? requestUrl.slice(requestUrl.indexOf('?')) : '';
    const base = deps.secrets?.publicBaseUrl?.replace(/\/+$/, '');
    const signedUrl = base ? `${base}${TWILIO_RECEIPT_PATH}${query}` : requestUrl;
    const params = formParams(raw);
    if (!token || !twilio.validateRequest(token, c.req.header('x-twilio-signature') ?? '', signedUrl, params)) {
      throw new Problem(401, 'The Twilio request signature is missing or invalid');
    }
    const parsed = TwilioCallback.safeParse(params);
    if (!parsed.success) throw badRequest('The request is not a Twilio message status callback', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    const { MessageSid, MessageStatus, ErrorCode } = parsed.data;
    const outcome = await applyReceipt(db, {
      id: `twilio:${MessageSid}:${MessageStatus}`,
      provider: 'twilio',
      providerMessageId: MessageSid,
      event: MessageStatus,
      change: twilioChange(MessageStatus, ErrorCode),
    });
    // 200 even when the message is unknown: Twilio would otherwise keep calling back.
    return c.json({ outcome }, 200);
  });

  app.openapi(resendReceipt, async (c) => {
    const raw = await c.req.text();
    const header = (name: string) => c.req.header(`svix-${name}`) ?? c.req.header(`webhook-${name}`);
    const signed = { id: header('id'), timestamp: header('timestamp'), signature: header('signature') };
    if (!isValidResendWebhook(deps.secrets?.resendWebhookSecret, raw, signed)) {
      throw new Problem(401, 'The webhook signature is missing, invalid or stale');
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw badRequest('The request body is not valid JSON', [{ path: '(body)', message: 'malformed JSON' }]);
    }
    const event = ResendEvent.safeParse(json);
    if (!event.success) throw badRequest('The body is not a Resend webhook event', [{ path: 'type', message: 'required' }]);
    // Contact, domain and other account events share the endpoint: acknowledged, not recorded.
    if (!event.data.type.startsWith('email.')) return c.json({ outcome: 'ignored' as ReceiptOutcome }, 200);
    const data = ResendEmailData.safeParse(event.data.data);
    if (!data.success) throw badRequest('The email event has no data.email_id', [{ path: 'data.email_id', message: 'required' }]);
    const outcome = await applyReceipt(db, {
      id: `resend:${signed.id}`,
      provider: 'resend',
      providerMessageId: data.data.email_id,
      event: event.data.type,
      change: resendChange(event.data.type, data.data),
    });
    return c.json({ outcome }, 200);
  });

  return app;
}
