// A fake Resend API: POST /emails → 200 {"id"}; POST /emails/batch (a JSON array of up to 100
// emails) → 200 {"data":[{"id"}…]} in order, all or nothing under `x-batch-validation: strict`
// (the default), `errors` by index beside the accepted ones under `permissive`. Errors use
// Resend's shape {"statusCode","message","name"}; a repeated Idempotency-Key answers the first
// request's answer (or 409 invalid_idempotent_request when the body differs), as Resend does.
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
  // Resend keeps keys per endpoint: a batch key and a single email's key never meet.
  const byKey = new Map<string, { body: unknown; rawBody: string }>();

  /** The first missing required field of an email, if any. */
  const missing = (email: unknown) => ['from', 'to', 'subject'].find((f) => !email || typeof email !== 'object' || (email as Record<string, unknown>)[f] === undefined);

  function accept(email: Record<string, unknown>): string {
    const id = randomUUID();
    emails.set(id, email);
    return id;
  }

  function single(req: RecordedRequest): Reply {
    const field = missing(req.body);
    if (field) return { status: 422, body: resendError(422, `Missing \`${field}\` field.`, 'missing_required_field') };
    return { status: 200, body: { id: accept(req.body) } };
  }

  function batch(req: RecordedRequest): Reply {
    const list = req.body as unknown;
    if (!Array.isArray(list) || list.length === 0) return { status: 422, body: resendError(422, 'The request body must be a non-empty array of emails.', 'validation_error') };
    if (list.length > 100) return { status: 422, body: resendError(422, 'Too many emails in the batch: at most 100.', 'validation_error') };
    const errors = list.flatMap((email, index) => {
      const field = missing(email);
      return field ? [{ index, message: `Missing \`${field}\` field.` }] : [];
    });
    const permissive = req.headers['x-batch-validation'] === 'permissive';
    if (errors.length && !permissive) {
      return { status: 422, body: resendError(422, `${errors[0].message} (email at index ${errors[0].index})`, 'validation_error') };
    }
    const refused = new Set(errors.map((e) => e.index));
    const data = list.flatMap((email, index) => (refused.has(index) ? [] : [{ id: accept(email) }]));
    return { status: 200, body: permissive ? { data, errors } : { data } };
  }

  function handle(req: RecordedRequest): Reply {
    if (!req.headers.authorization?.startsWith('Bearer ')) {
      return { status: 401, body: resendError(401, 'Missing API key in the authorization header') };
    }
    const endpoint = req.method === 'POST' && req.path === '/emails' ? single : req.method === 'POST' && req.path === '/emails/batch' ? batch : null;
    if (!endpoint) return { status: 404, body: resendError(404, 'The requested endpoint does not exist.') };
    const key = req.headers['idempotency-key'] ? `${req.path} ${req.headers['idempotency-key']}` : null;
    if (key) {
      const seen = byKey.get(key);
      if (seen && seen.rawBody !== req.rawBody) {
        return { status: 409, body: resendError(409, 'Same idempotency key used with a different request payload.') };
      }
      if (seen) return { status: 200, body: seen.body };
    }
    const reply = endpoint(req);
    // Only what was accepted is remembered: a refused request may be corrected and sent again.
    if (key && reply.status === 200) byKey.set(key, { body: reply.body, rawBody: req.rawBody });
    return reply;
  }

  const server = await startFakeServer(handle, (status) => resendError(status));
  return { ...server, emails };
}
