// The codec server: POST /codec/decode and /codec/encode speak the protocol of Temporal's remote
// codec (the Web UI's "codec endpoint", the CLI's --codec-endpoint), so operators read the
// payloads that Tocsin encrypts (usecases/payload-codec.ts). Admin only; CORS for the Temporal
// UI's origins (TEMPORAL_UI_URL), whose preflight is answered without credentials.
//
// The CLI sends the admin token as a bearer header (--codec-auth). The Web UI cannot send our
// token, only the browser's cookies ("include credentials"): GET /codec/session?token=<admin
// token> once sets a session cookie for /codec (an HMAC of the admin token, never the token,
// as the dashboard's) and leads to the Temporal UI.
import { createHmac } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Payload } from '@temporalio/common';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { constantTimeEqual } from '../../usecases/ids.js';
import { bearer, unauthorized } from '../auth.js';
import { json, jsonBody, problems, router, security } from '../contract.js';
import type { AppDeps } from '../deps.js';
import { badRequest, Problem } from '../problem.js';

const Base64 = z
  .string()
  .max(1_400_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
  .openapi({ format: 'byte' });

const JsonPayload = z
  .object({
    metadata: z.record(z.string().min(1).max(256), Base64).optional().openapi({ description: 'Metadata values, base64' }),
    data: Base64.optional().openapi({ description: 'The payload bytes, base64' }),
  })
  .openapi('CodecPayload', { description: 'A Temporal payload in proto JSON (bytes as base64)' });

const Payloads = z.object({ payloads: z.array(JsonPayload).max(10_000) }).openapi('CodecPayloads');

const NamespaceHeader = z.object({
  'x-namespace': z.string().max(1000).optional().openapi({ description: 'The Temporal namespace of the payloads (one key set serves every namespace)' }),
});

const route = (op: 'decode' | 'encode', summary: string, description: string) =>
  createRoute({
    method: 'post',
    path: `/${op}`,
    summary,
    description,
    security: security.admin,
    request: { headers: NamespaceHeader, body: jsonBody(Payloads) },
    responses: { 200: json(Payloads, 'The payloads, in the same order'), ...problems(400, 401, 404, 413, 415) },
  });

const decodeRoute = route(
  'decode',
  'Decrypt Temporal payloads (codec server for the Temporal UI and CLI)',
  'Payloads encrypted under any key of TOCSIN_ENCRYPTION_KEYS come back in clear; others unchanged. An unknown key id or altered ciphertext is a 400 naming the payload.',
);
const encodeRoute = route('encode', 'Encrypt Temporal payloads (codec server)', 'Seals each payload under the current (first) key of TOCSIN_ENCRYPTION_KEYS.');

const toPayload = (p: z.infer<typeof JsonPayload>): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload): z.infer<typeof JsonPayload> => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export const CODEC_COOKIE = 'tocsin_codec';
const SESSION_SECONDS = 12 * 3600;
const sessionValue = (adminToken: string) => createHmac('sha256', adminToken).update('tocsin codec session v1').digest('base64url');

/** The admin token as a bearer header, or the session cookie that /codec/session set. */
function codecAuth(adminToken: string): MiddlewareHandler {
  const session = sessionValue(adminToken);
  return async (c, next) => {
    const header = bearer(c.req.header('authorization'));
    if (header !== null ? constantTimeEqual(header, adminToken) : constantTimeEqual(getCookie(c, CODEC_COOKIE) ?? '', session)) return next();
    throw unauthorized();
  };
}

const sessionRoute = createRoute({
  method: 'get',
  path: '/session',
  summary: 'Let this browser’s Temporal UI decode payloads: ?token=<admin token> sets a session cookie for /codec',
  description:
    'For the Temporal Web UI, which sends cookies to its codec endpoint ("include credentials") but not our token. Redirects to the Temporal UI when TEMPORAL_UI_URL (or the dev server’s UI) is known.',
  security: security.none,
  request: { query: z.object({ token: z.string().max(1000).openapi({ description: 'The admin token' }) }) },
  responses: {
    200: { description: 'Session cookie set', content: { 'text/plain': { schema: z.string() } } },
    303: { description: 'Session cookie set: on to the Temporal UI' },
    ...problems(400, 401),
  },
});

export function codecRoutes(deps: AppDeps) {
  const app = router();
  const origins = deps.codec?.corsOrigins ?? [];
  // Before auth: a browser's preflight carries no credentials.
  app.use(
    '*',
    cors({
      origin: [...origins],
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'X-Namespace'],
      credentials: true,
      maxAge: 600,
    }),
  );
  app.openapi(sessionRoute, (c) => {
    if (!constantTimeEqual(c.req.valid('query').token, deps.adminToken)) throw unauthorized();
    const https = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
    setCookie(c, CODEC_COOKIE, sessionValue(deps.adminToken), { path: '/codec', httpOnly: true, sameSite: 'Lax', secure: https, maxAge: SESSION_SECONDS });
    c.header('cache-control', 'no-store');
    c.header('referrer-policy', 'no-referrer');
    const ui = deps.temporalUi?.url;
    if (ui) return c.redirect(ui, 303) as never;
    return c.text('This browser may now decode Temporal payloads through /codec for 12 hours.', 200) as never;
  });
  app.use('/decode', codecAuth(deps.adminToken));
  app.use('/encode', codecAuth(deps.adminToken));

  const run = async (op: 'decode' | 'encode', payloads: Array<z.infer<typeof JsonPayload>>) => {
    const codec = deps.codec?.codec;
    if (!codec) throw new Problem(404, 'This API has no payload codec');
    const out: Payload[] = [];
    for (const [i, p] of payloads.entries()) {
      try {
        out.push(...(await codec[op]([toPayload(p)])));
      } catch (err) {
        const message = (err as Error).message;
        throw badRequest(`payloads.${i}: ${message}`, [{ path: `payloads.${i}`, message }]);
      }
    }
    return { payloads: out.map(toJson) };
  };
  app.openapi(decodeRoute, async (c) => c.json(await run('decode', c.req.valid('json').payloads), 200));
  app.openapi(encodeRoute, async (c) => c.json(await run('encode', c.req.valid('json').payloads), 200));
  return app;
}
