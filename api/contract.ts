// What every route publishes besides its own schemas: the problem+json body, the problems any
// route can answer, and the document's info. Routes are declared with createRoute (one sub-app per
// resource), so /openapi.json is generated from the very schemas that validate.
import { OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { Env as HonoEnv } from 'hono';
import { fromZod } from './problem.js';

const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().optional().openapi({ description: 'A machine-readable reason, where a client may act on it (`template_limit_exceeded`)' }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).openapi({ description: 'One entry per refused field' }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details' });

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: `errors` names each field',
  401: 'Missing or wrong credentials',
  404: 'Not found (also another tenant’s resource)',
  409: 'Conflict',
  413: 'The body is larger than 1 MiB',
  415: 'The body is not JSON',
  422: 'The template cannot be rendered (`code`)',
  429: 'Rate limited: `Retry-After` and the IETF `RateLimit` headers say when to retry',
  503: 'PostgreSQL or Temporal is unreachable: retry after `Retry-After`',
};

type ProblemStatus = 400 | 401 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

/** problem+json responses for these statuses. */
export function problems<S extends ProblemStatus>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: DESCRIPTIONS[s], content: { 'application/problem+json': { schema: ProblemSchema } } }]),
  ) as Record<S, { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }>;
}

/** What any operation under /v1 may answer whatever it does: bad input anywhere, a body over 1 MiB, outages. */
const ALWAYS = [400, 413, 415, 503] as const;
/**
 * …and with a tenant's API key or the admin token: bad credentials, unknown resources, and 429
 * (a tenant's rate limit, or UNAUTH_RATE_PER_SECOND for an address sending bad credentials).
 */
export const tenantProblems = (...more: ProblemStatus[]) => problems(...ALWAYS, 401, 404, 429, ...more);
export const adminProblems = (...more: ProblemStatus[]) => problems(...ALWAYS, 401, 404, 429, ...more);

/** An ISO 8601 time in an answer. */
export const Timestamp = z.string().openapi({ format: 'date-time' });

/** The optional Idempotency-Key header of a POST that starts something. */
export const idempotencyHeader = (what: string) =>
  z.object({
    'idempotency-key': z
      .string()
      .min(1, 'must be 1–255 characters')
      .max(255, 'must be 1–255 characters')
      .optional()
      .openapi({ description: `The same key with the same body answers the same ${what}; with another body, 409` }),
  });

/** A JSON response. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** A JSON request body; `required: false` for bodies a POST may leave out entirely. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({ required, content: { 'application/json': { schema } } });

export const security = {
  tenant: [{ apiKey: [] }],
  admin: [{ admin: [] }],
  recipient: [{ recipientToken: [] }],
  none: [],
} satisfies Record<string, RouteConfig['security']>;

/** A sub-app whose validation failures are our 400 problem naming each field. */
export function router<E extends HonoEnv = HonoEnv>() {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) throw fromZod(result.error, result.target === 'json' ? '' : result.target);
    },
  });
}

export const DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Tocsin',
    version: '1.0.0',
    description:
      'Durable notifications on Temporal: email, SMS, Slack, webhooks, in-app inbox and paging. Errors are `application/problem+json`; client mistakes are 4xx, never 5xx.',
  },
} as const;

export const SECURITY_SCHEMES = {
  admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
  apiKey: { type: 'http', scheme: 'bearer', description: "A tenant's API key" },
  recipientToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A recipient token (POST /v1/recipients/{recipientId}/token), for /v1/me/*' },
} as const;
