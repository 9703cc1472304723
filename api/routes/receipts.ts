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
// - Twilio inbound messages (`/v1/receipts/twilio/inbound`, the "A message comes in" webhook of
//   a number tenants send from): STOP, START and HELP (usecases/suppressions.ts). Twilio signs
//   them with the auth token of the account that owns the receiving number: the platform's
//   (TWILIO_AUTH_TOKEN) for TWILIO_FROM / TWILIO_WHATSAPP_FROM, a tenant integration's own for
//   the integration's number. Each group of tenants is acted for only if its own account's token
//   verifies the request, so no tenant's credentials can speak for another's number.
//
// usecases/receipts.ts records and applies each receipt; the routes verify and parse.
import { createRoute, z } from '@hono/zod-openapi';
import { ErrorType } from '../../domain/errors.js';
import { json, problems, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';
import { badRequest, Problem } from '../problem.js';
import { isValidResendWebhook } from '../provider-signatures.js';
import { inboundKeyword } from '../../domain/suppressions.js';
import { applyReceipt, type Change, type ReceiptOutcome, type ReceiptSuppression } from '../../usecases/receipts.js';
import { applyKeyword, numberOwners } from '../../usecases/suppressions.js';

const TWILIO_RECEIPT_PATH = '/v1/receipts/twilio';
const TWILIO_INBOUND_PATH = '/v1/receipts/twilio/inbound';

/** What HELP answers: where the messages come from and the keywords that work. */
export const SMS_HELP_TEXT = 'You get these messages because you are subscribed to notifications. Reply STOP to stop them, START to get them again.';

/** A form body as Twilio's validator expects it: repeated keys become arrays. */
function formParams(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/**
 * The URL Twilio signed: the one it was given (PUBLIC_BASE_URL + path, with the request's query),
 * not the one a proxy forwards to us.
 */
function twilioSignedUrl(requestUrl: string, path: string, publicBaseUrl: string | undefined): string {
  const query = requestUrl.includes('?') ? requestUrl.slice(requestUrl.indexOf('?')) : '';
  const base = publicBaseUrl?.replace(/\/+$/, '');
  return base ? `${base}${path}${query}` : requestUrl;
}

/** A phone number as Twilio writes it on SMS (`+1…`) or WhatsApp (`whatsapp:+1…`). */
const TwilioNumber = z.string().regex(/^(whatsapp:)?\+[1-9]\d{6,14}$/, 'must be an E.164 number, with whatsapp: on WhatsApp');
const TwilioInbound = z.object({
  MessageSid: z.string().regex(/^[A-Za-z0-9]{2,64}$/, 'must be a Twilio message sid'),
  From: TwilioNumber,
  To: TwilioNumber,
  Body: z.string().max(10_000).default(''),
});

/**
 * The twilio SDK, loaded when a Twilio request first arrives: most API processes never get one,
 * and the SDK is among the largest modules an API would otherwise hold in memory.
 */
const twilioSdk = () => import('twilio').then((m) => m.default);
type TwilioSdk = Awaited<ReturnType<typeof twilioSdk>>;

/** A TwiML answer: a message back to the sender, or nothing. */
function twiml(twilio: TwilioSdk, message?: string): Response {
  const response = new twilio.twiml.MessagingResponse();
  if (message) response.message(message);
  return new Response(response.toString(), { status: 200, headers: { 'content-type': 'text/xml; charset=utf-8' } });
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
  to: z.union([z.array(ProviderText).max(100), ProviderText]).optional(),
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

/** The plain address of `ann@example.com` or `Ann <ann@example.com>`, if it is one. */
function plainAddress(to: string): string | null {
  const address = (/<([^<>]+)>\s*$/.exec(to)?.[1] ?? to).trim();
  return z.email().max(320).safeParse(address).success ? address : null;
}

/**
 * What a Resend event suppresses for the delivery's tenant: the addresses it was sent to, after
 * a hard bounce (`email.bounced` is a permanent rejection; a `bounce.type` of Transient or
 * Undetermined, should Resend send one, is not) or a complaint.
 */
function resendSuppression(type: string, data: z.infer<typeof ResendEmailData>): ReceiptSuppression | null {
  const addresses = (Array.isArray(data.to) ? data.to : data.to ? [data.to] : []).map(plainAddress).filter((a): a is string => a !== null);
  if (addresses.length === 0) return null;
  if (type === 'email.complained') return { channel: 'email', addresses, reason: 'complaint' };
  if (type === 'email.bounced' && !/^(transient|soft|undetermined)$/i.test(data.bounce?.type ?? '')) return { channel: 'email', addresses, reason: 'hard_bounce' };
  return null;
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
const twilioInbound = createRoute({
  method: 'post',
  path: '/twilio/inbound',
  summary: 'Twilio inbound messages to a sending number: STOP, START, HELP (X-Twilio-Signature)',
  description:
    'STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE or OPT OUT suppress SMS and WhatsApp to the sender for every tenant that sends from the receiving number (reason `stop`); START or UNSTOP lift that; HELP answers a help text. Once per MessageSid.',
  security: security.none,
  request: {
    body: {
      required: true,
      content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', properties: { MessageSid: { type: 'string' }, From: { type: 'string' }, To: { type: 'string' }, Body: { type: 'string' } } } } },
    },
  },
  responses: {
    200: { description: 'TwiML: `<Response><Message>…</Message></Response>` for HELP, else an empty `<Response/>`', content: { 'text/xml': { schema: z.string() } } },
    ...problems(400, 401, 413, 503),
  },
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
  const owners = numberOwners(db, deps.encryptionKeys ?? [], {
    authToken: deps.secrets?.twilioAuthToken,
    smsFrom: deps.secrets?.twilioFrom,
    whatsappFrom: deps.secrets?.twilioWhatsappFrom,
  });

  app.openapi(twilioReceipt, async (c) => {
    const twilio = await twilioSdk();
    const raw = await c.req.text();
    const token = deps.secrets?.twilioAuthToken;
    const signedUrl = twilioSignedUrl(c.req.url, TWILIO_RECEIPT_PATH, deps.secrets?.publicBaseUrl);
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

  app.openapi(twilioInbound, async (c) => {
    const twilio = await twilioSdk();
    const raw = await c.req.text();
    const params = formParams(raw);
    const signature = c.req.header('x-twilio-signature') ?? '';
    const signedUrl = twilioSignedUrl(c.req.url, TWILIO_INBOUND_PATH, deps.secrets?.publicBaseUrl);
    const verifies = (authToken: string) => signature !== '' && twilio.validateRequest(authToken, signature, signedUrl, params);
    // Who sends from the receiving number, by the account that owns it (the body names the
    // number; nothing is acted on before a token verifies it).
    const to = typeof params.To === 'string' && TwilioNumber.safeParse(params.To).success ? params.To : null;
    const channel = to?.startsWith('whatsapp:') ? 'whatsapp' : 'sms';
    const believed = (to ? await owners(channel, to) : []).filter((o) => verifies(o.authToken));
    // A number of the platform's account that no tenant sends from: verified, nobody to act for.
    const platformToken = deps.secrets?.twilioAuthToken;
    if (believed.length === 0 && !(platformToken && verifies(platformToken))) {
      throw new Problem(401, 'The Twilio request signature is missing or invalid');
    }
    const parsed = TwilioInbound.safeParse(params);
    if (!parsed.success) throw badRequest('The request is not a Twilio inbound message', parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
    const { MessageSid, From, Body } = parsed.data;
    const keyword = inboundKeyword(Body);
    if (keyword === 'help') return twiml(twilio, SMS_HELP_TEXT);
    if (keyword === 'stop' || keyword === 'start') {
      const tenantIds = (await Promise.all(believed.map((o) => o.tenantIds()))).flat();
      await applyKeyword(db, { messageSid: MessageSid, keyword, channel, from: From, tenantIds });
    }
    // Twilio answers STOP and START itself (its opt-out handling); any other message is not ours to answer.
    return twiml(twilio);
  });

  app.openapi(resendReceipt, async (c) => {
    const raw = await c.req.text();
    const header = (name: string) => c.req.header(`svix-${name}`) ?? c.req.header(`webhook-${name}`);
    const signed = { id: header('id'), timestamp: header('timestamp'), signature: header('signature') };
    if (!(await isValidResendWebhook(deps.secrets?.resendWebhookSecret, raw, signed))) {
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
      suppress: resendSuppression(event.data.type, data.data),
    });
    return c.json({ outcome }, 200);
  });

  return app;
}
