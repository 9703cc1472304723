// The signatures on what providers send us, each checked by the provider's own library; no
// HMAC is computed here.
// - Resend webhooks are signed by Svix per Standard Webhooks (`svix-id`, `svix-timestamp`,
//   `svix-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, keyed with the
//   endpoint's `whsec_` secret): resend's `webhooks.verify`, which refuses a timestamp more
//   than five minutes from now either way. https://resend.com/docs/webhooks/verify-webhooks-requests
// - Slack interactivity (`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw
//   body>">` with the app's signing secret): @slack/bolt's `isValidSlackRequest`, which refuses
//   a timestamp more than five minutes old.
//   https://api.slack.com/authentication/verifying-requests-from-slack
// - Twilio status callbacks (`X-Twilio-Signature`) are checked in the route with the twilio
//   SDK's `validateRequest`.
// Each library is loaded when its first request arrives (the API process holds no provider SDK
// it is not asked to use).

/** The Svix headers of a Resend webhook (the `webhook-*` names of Standard Webhooks also do). */
interface SvixHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

/** Whether `rawBody` carries a valid, current Resend (Svix) signature for `secret`. */
export async function isValidResendWebhook(secret: string | undefined, rawBody: string, headers: SvixHeaders): Promise<boolean> {
  if (!secret || !headers.id || !headers.timestamp || !headers.signature) return false;
  const { Resend } = await import('resend');
  // The verifier needs no API key, but the client insists on one; it makes no request.
  const resend = new Resend('re_verify_only');
  try {
    resend.webhooks.verify({ payload: rawBody, headers: { id: headers.id, timestamp: headers.timestamp, signature: headers.signature }, webhookSecret: secret });
    return true;
  } catch (err) {
    // The verifier parses the body as JSON once the signature matched: a validly signed body
    // that is not JSON is the route's 400 to give, not a forgery.
    return err instanceof SyntaxError;
  }
}

/** Whether a Slack request carries a valid v0 signature for `signingSecret`, at most five minutes old at `nowMs`. */
export async function isValidSlackSignature(
  signingSecret: string | undefined,
  rawBody: string,
  headers: { timestamp?: string; signature?: string },
  nowMs: number,
): Promise<boolean> {
  if (!signingSecret || !headers.timestamp || !headers.signature) return false;
  const { isValidSlackRequest } = await import('@slack/bolt');
  return isValidSlackRequest({
    signingSecret,
    body: rawBody,
    headers: { 'x-slack-signature': headers.signature, 'x-slack-request-timestamp': Number(headers.timestamp) },
    nowMilliseconds: nowMs,
  });
}
