// Tocsin's typed HTTP client: openapi-fetch over the types generated from /openapi.json
// (client/schema.ts, `npm run client:generate`). Paths, parameters, bodies and answers are checked
// by the compiler:
//
//   const tocsin = createTocsinClient({ baseUrl: 'http://127.0.0.1:3000', token: apiKey });
//   const { id } = await ok(tocsin.POST('/v1/notifications', { body: { recipient: 'user-42', template: 'welcome' } }));
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, paths };
export type TocsinClient = Client<paths>;
/** A problem+json answer (every 4xx, and 503). */
export type Problem = components['schemas']['Problem'];

export interface TocsinClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the API listens, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A tenant's API key, or the admin token for /v1/admin. */
  token?: string;
}

export function createTocsinClient({ baseUrl, token, headers, ...rest }: TocsinClientOptions): TocsinClient {
  return createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(headers as Record<string, string> | undefined) },
    ...rest,
  });
}

/** The problem a call answered, thrown: its status, and the body's detail and field errors. */
export class TocsinError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(`${status}: ${problem?.detail ?? problem?.title ?? 'request failed'}`);
  }
}

/** The answer's data, or a TocsinError for a problem. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw new TocsinError(response.status, error as Partial<Problem> | undefined);
  return data as T;
}
