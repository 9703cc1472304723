// A fake Resend API: POST /emails → 200 {"id"}. Errors use Resend's shape
// {"statusCode","message","name"}; a repeated Idempotency-Key answers the first email's id
// (or 409 invalid_idempotent_request when the body differs), as Resend does.
import { randomUUID } from 'node:crypto';
import { type FakeServer, type RecordedRequest, type Reply, startFakeServer } from './server.js';

const ERROR_NAMES: Record<number, string> = {
  400: 'validation_error',
  401: 'missing_api_key',
  403: 'invalid_api_key',
  404: 'not_found',
  409: 'invalid_idempotent_request',
  422: 'validation_error',
  429: 'rate_limit_exceeded',
  500: 'internal_server_error',
};

export function resendError(statusCode: number, message = `HTTP ${statusCode}`, name?: string) {
  return { statusCode, message, name: name ?? ERROR_NAMES[statusCode] ?? 'application_error' };
}

export interface FakeResend extends FakeServer {
  /** The emails accepted so far, by id. */
  emails: Map<string, Record<string, unknown>>;
}

export async function startFakeResend(): Promise<FakeResend> {
  const emails = new Map<string, Record<string, unknown>>();
  const byKey = new Map<string, { id: string; rawBody: string }>();

  function handle(req: RecordedRequest): Reply {
    if (!req.headers.authorization?.startsWith('Bearer ')) {
      return { status: 401, body: resendError(401, 'Missing API key in the authorization header') };
    }
    if (req.method !== 'POST' || req.path !== '/emails') {
      return { status: 404, body: resendError(404, 'The requested endpoint does not exist.') };
    }
    const email = req.body as Record<string, unknown> | undefined;
    for (const field of ['from', 'to', 'subject']) {
      if (!email || email[field] === undefined) {
        return { status: 422, body: resendError(422, `Missing \`${field}\` field.`, 'missing_required_field') };
      }
    }
    const key = req.headers['idempotency-key'];
    if (key) {
      const seen = byKey.get(key);
      if (seen && seen.rawBody !== req.rawBody) {
        return { status: 409, body: resendError(409, 'Same idempotency key used with a different request payload.') };
      }
      if (seen) return { status: 200, body: { id: seen.id } };
    }
    const id = randomUUID();
    emails.set(id, email!);
    if (key) byKey.set(key, { id, rawBody: req.rawBody });
    return { status: 200, body: { id } };
  }

  const server = await startFakeServer(handle, (status) => resendError(status));
  return { ...server, emails };
}
