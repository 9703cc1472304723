// problem+json errors. Every error leaves the API through toProblem(); a 5xx never
// carries a stack trace or an internal message.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { RequestError, type FieldError } from '../domain/errors.js';

export type { FieldError };

const TITLES: Record<number, string> = {
  400: 'Invalid request',
  401: 'Unauthorized',
  404: 'Not found',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Unprocessable content',
  429: 'Too many requests',
  500: 'Internal server error',
  503: 'Service unavailable',
};

export class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string> = {},
    /** A machine-readable reason, for problems a client handles by kind (`template_limit_exceeded`). */
    readonly code?: string,
  ) {
    super(detail);
  }
}

export const badRequest = (detail: string, errors: FieldError[] = []) => new Problem(400, detail, errors);
export const notFound = (what: string) => new Problem(404, `${what} was not found`);
export const conflict = (detail: string) => new Problem(409, detail);
export const unprocessable = (code: string, detail: string, errors: FieldError[] = []) => new Problem(422, detail, errors, {}, code);

/** The database could not be reached (db/client.ts isConnectionError): retry later, nothing was done. */
export const databaseUnavailable = (cause: unknown) =>
  Object.assign(new Problem(503, 'The database is unavailable; retry later (with the same Idempotency-Key for a notification).', [], { 'retry-after': '5' }), {
    cause,
  });

/**
 * The database refused a value the client sent: a SQLSTATE of class 22, data exception (22003
 * numeric out of range, 22P02 invalid text representation, 22001 string too long, 22021
 * invalid byte sequence, 22007/22008 bad date or time, …), on the driver's error or one of its
 * causes (drizzle wraps it in a DrizzleQueryError; PGlite and postgres.js both carry `code`).
 * The request schemas bound what they can; this is the net below them, so a value they let
 * through is still a 400 and never a 5xx. Undefined for any other error.
 */
export function dataExceptionOf(err: unknown): { sqlstate: string; message: string } | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return { sqlstate: code, message: String((e as { message?: unknown }).message ?? '') };
  }
  return undefined;
}

/** The 400 for a value the database refused (dataExceptionOf): PostgreSQL's message names the type and at most the client's own value. */
export function refusedValue({ sqlstate, message }: { sqlstate: string; message: string }): Problem {
  const why = `the database cannot hold a value of this request (SQLSTATE ${sqlstate}${message ? `: ${message.slice(0, 200)}` : ''})`;
  return badRequest(`A value in the request is out of range or malformed: ${why}`, [{ path: '(request)', message: why }]);
}

/** A use-case's refusal as the HTTP problem it is. */
export function fromRequestError(err: RequestError): Problem {
  switch (err.kind) {
    case 'invalid':
      return new Problem(400, err.message, err.errors);
    case 'missing':
      return new Problem(404, err.message);
    case 'conflict':
      return new Problem(409, err.message, err.errors, err.retryAfterSeconds ? { 'retry-after': String(err.retryAfterSeconds) } : {});
    case 'unavailable':
      return Object.assign(new Problem(503, err.message, [], { 'retry-after': String(err.retryAfterSeconds ?? 5) }), { cause: err.cause });
  }
}

export function fromZod(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }, prefix = ''): Problem {
  const errors = error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: i.message,
  }));
  return badRequest(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
}

export function problemResponse(c: Context, p: Problem): Response {
  const body = {
    type: 'about:blank',
    title: TITLES[p.status] ?? 'Error',
    status: p.status,
    detail: p.detail,
    ...(p.code ? { code: p.code } : {}),
    errors: p.errors,
  };
  return c.body(JSON.stringify(body), p.status, { ...p.headers, 'content-type': 'application/problem+json' });
}
