// Hostile input at every route the API publishes: generated strings (NUL, lone surrogates,
// huge and odd numbers, deep nesting, wrong types) in bodies, queries and path parameters.
// A client mistake is a 4xx, never a 5xx, and nothing it sends leaves the API wedged: after
// the barrage the health check answers and an ordinary notification is still sent.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../api/openapi.js';
import { ADMIN, seed, startDevHarness, type DevHarness } from './harness.js';

// On the dev server, as in production: it implements everything the routes use (Schedules too).
let h: DevHarness;
beforeAll(async () => {
  h = await startDevHarness({ queuePrefix: 'fuzz' });
  await seed(h);
});
afterAll(() => h?.close());

/** Strings a hostile client sends: control characters, lone surrogates, long, odd unicode. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '%00', '../../etc/passwd', '0000-01-01T00:00:00Z', '-1', '1e309', '{{ a }}', '{% for i in (1..1000000) %}x{% endfor %}'),
  fc.string({ minLength: 300, maxLength: 2000 }),
);

/** JSON values of any shape, with hostile leaves; sometimes deeply nested. */
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(hostileString, fc.oneof(hostileString, fc.double(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 6 }),
  fc.integer({ min: 30, max: 3000 }).map((depth) => {
    let v: unknown = 'leaf';
    for (let i = 0; i < depth; i++) v = { a: v };
    return v;
  }),
  fc.array(hostileString, { maxLength: 5 }),
);

/** Bodies near what a route expects, with one field replaced by something hostile. */
const KNOWN_FIELDS = ['recipient', 'template', 'data', 'channels', 'strategy', 'category', 'priority', 'sendAt', 'digest', 'throttle', 'recipients', 'all', 'email', 'phone', 'webhookUrl', 'locale', 'timezone', 'name', 'key', 'content', 'defaultLocale', 'steps', 'repeat', 'policy', 'summary', 'severity', 'dedupKey', 'by', 'cron', 'everySeconds', 'notification', 'quietHours'];
const nearBody = fc.record({
  base: fc.constantFrom<Record<string, unknown>>(
    { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } },
    { recipients: ['user-42'], template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } },
    { key: 'k', defaultLocale: 'en', content: { en: { inapp: { title: 't', body: 'b' } } } },
    { policy: 'p', summary: 's', severity: 'critical' },
    { email: 'a@example.com' },
  ),
  field: fc.constantFrom(...KNOWN_FIELDS),
  value: hostileJson,
});

interface Operation {
  method: string;
  path: string;
  auth: 'tenant' | 'admin' | 'none';
}

function operations(): Operation[] {
  const doc = openApiDocument() as unknown as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const method of Object.keys(methods)) {
      // Streams never end and the receipts/Slack callbacks take form posts signed by providers.
      if (path.endsWith('/stream')) continue;
      ops.push({ method: method.toUpperCase(), path, auth: path.startsWith('/v1/admin') ? 'admin' : path.startsWith('/v1/') ? 'tenant' : 'none' });
    }
  }
  return ops;
}

/** Percent-encodes like a client would, lone surrogates as their (invalid) UTF-8 bytes. */
function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...s]
      .map((ch) => {
        const c = ch.charCodeAt(0);
        if (ch.length === 1 && c >= 0xd800 && c <= 0xdfff) return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
        return encodeURIComponent(ch);
      })
      .join('');
  }
}

async function send(op: Operation, params: string[], query: Record<string, string>, body: { kind: 'json'; value: unknown } | { kind: 'raw'; value: string } | null) {
  let i = 0;
  const path = op.path.replace(/\{\w+\}/g, () => encodeSegment(params[i++ % params.length] ?? 'x'));
  const qs = Object.entries(query).map(([k, v]) => `${k}=${encodeSegment(v)}`).join('&');
  const headers: Record<string, string> = {};
  if (op.auth === 'tenant') headers.authorization = `Bearer ${h.apiKey}`;
  if (op.auth === 'admin') headers.authorization = `Bearer ${ADMIN}`;
  let payload: string | undefined;
  if (body) {
    headers['content-type'] = 'application/json';
    payload = body.kind === 'json' ? JSON.stringify(body.value) : body.value;
  }
  const res = await h.app.request(`${path}${qs ? `?${qs}` : ''}`, { method: op.method, headers, body: op.method === 'GET' || op.method === 'DELETE' ? undefined : payload });
  const text = await res.text();
  return { status: res.status, text };
}

const bodyArb = fc.oneof(
  fc.constant(null),
  hostileJson.map((value) => ({ kind: 'json' as const, value })),
  nearBody.map(({ base, field, value }) => ({ kind: 'json' as const, value: { ...base, [field]: value } })),
  fc.constantFrom('{"a":', '\u0000', '[[[[[[[[[[', '{"data":"\\u0000"}', '{"name":"\\ud800"}').map((value) => ({ kind: 'raw' as const, value })),
);

describe('hostile input', () => {
  for (const op of operations()) {
    it(`${op.method} ${op.path} answers every generated request with less than 500`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(hostileString, { minLength: 1, maxLength: 3 }),
          fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'recipient', 'unread', 'version'), hostileString, { maxKeys: 3 }),
          bodyArb,
          async (params, query, body) => {
            const res = await send(op, params, query, body);
            if (res.status >= 500) throw new Error(`${op.method} ${op.path} answered ${res.status}: ${res.text.slice(0, 300)}`);
            expect(res.text).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('leaves nothing wedged: health answers and an ordinary notification is sent', { timeout: 60_000 }, async () => {
    const health = await h.app.request('/healthz');
    expect(health.status).toBe(200);
    const res = await h.call('POST', '/v1/notifications', { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' }, channels: ['inapp'] });
    expect(res.status).toBe(202);
    expect((await h.handle(res.body.id).result()).status).toBe('sent');
  });
});
