// The one step every /v1 request passes first, refusing what no route should ever see. The
// routes' own zod validation (createRoute) fails through api/contract.ts's defaultHook as a
// problem+json 400 naming each field.
import type { Context, MiddlewareHandler } from 'hono';
import { findUnstorableJson, unstorable } from '../domain/text.js';
import { badRequest, Problem } from './problem.js';

/** The request's Idempotency-Key header, if any; 400 when it is empty or over 255 characters. */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key !== undefined && (key.length === 0 || key.length > 255))
    throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'header.Idempotency-Key', message: 'must be 1–255 characters' }]);
  return key;
}

/** How deep any JSON body may nest; `data` has its own, tighter bound (usecases/schemas.ts). */
const MAX_BODY_DEPTH = 64;

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\b/i;
const refuse = (path: string, message: string) => badRequest(`${path}: ${message}`, [{ path, message }]);

/**
 * Input every route can hold, checked once for all of them:
 * - path segments and query parameters are decoded text without NUL or unpaired surrogates;
 * - a POST/PUT/PATCH body is JSON (415 otherwise), unless it is empty: a POST without a body
 *   needs no Content-Type;
 * - a JSON body parses, nests at most MAX_BODY_DEPTH levels and holds no NUL or unpaired
 *   surrogate in any key or string. It is parsed once here; the routes' validators reuse it.
 * Routes under `rawBodyPrefixes` read their signed bodies themselves (receipts, Slack).
 */
export function acceptableInput(opts: { rawBodyPrefixes: string[] }): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    url.pathname.split('/').forEach((segment, i) => {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        throw refuse(`path.${i}`, 'must be percent-encoded UTF-8');
      }
      const why = unstorable(decoded);
      if (why) throw refuse(`path.${i}`, why);
    });
    for (const [key, values] of Object.entries(c.req.queries())) {
      for (const text of [key, ...values]) {
        const why = unstorable(text);
        if (why) throw refuse(`query.${key.replace(/\u0000/g, '\\u0000')}`, why);
      }
    }

    const method = c.req.method;
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return next();
    if (opts.rawBodyPrefixes.some((p) => c.req.path.startsWith(p))) return next();
    const type = c.req.header('content-type') ?? '';
    if (!JSON_TYPE.test(type)) {
      // `curl -X POST …/cancel` sends neither a body nor a Content-Type: nothing to refuse.
      if (c.req.raw.body !== null && (await c.req.arrayBuffer()).byteLength > 0) throw new Problem(415, 'The request body must be application/json');
      return next();
    }
    const text = await c.req.text();
    if (text.trim() === '') return next();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badRequest('The request body is not valid JSON', [{ path: '(body)', message: 'malformed JSON' }]);
    }
    const problem = findUnstorableJson(body, MAX_BODY_DEPTH);
    if (problem) throw refuse(problem.path.join('.') || '(body)', problem.message);
    c.req.bodyCache.json = Promise.resolve(body);
    return next();
  };
}
