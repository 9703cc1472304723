// Hostile input at every route the API publishes: generated strings (NUL, lone surrogates,
// huge and odd numbers, deep nesting, wrong types) in bodies, queries and path parameters, and
// integers past what PostgreSQL's integer columns hold in every numeric field the OpenAPI
// document lists (always, as explicit examples, in each field the document leaves unbounded).
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

/** Integers past PostgreSQL's `integer` (±2^31) and `bigint`, and past JavaScript's safe range. */
const OUT_OF_RANGE = [2 ** 31, -(2 ** 31) - 1, 87_259_864_845, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 63, 1e21];
const outOfRange = fc.oneof(fc.constantFrom(...OUT_OF_RANGE), fc.maxSafeInteger(), fc.integer({ min: 2 ** 31 - 2, max: 2 ** 31 + 2 }));

/** Strings a hostile client sends: control characters, lone surrogates, long, odd unicode. */
const hostileString = fc.oneof(
  outOfRange.map(String),
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
const KNOWN_FIELDS = ['recipient', 'template', 'data', 'channels', 'strategy', 'category', 'priority', 'sendAt', 'digest', 'throttle', 'recipients', 'all', 'email', 'phone', 'webhookUrl', 'locale', 'timezone', 'name', 'key', 'content', 'defaultLocale', 'steps', 'repeat', 'policy', 'summary', 'severity', 'dedupKey', 'by', 'cron', 'everySeconds', 'notification', 'quietHours', 'version'];
const BASES: Record<string, unknown>[] = [
  { recipient: 'user-42', template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } },
  { recipients: ['user-42'], template: 'order-shipped', data: { order: { id: 7 }, name: 'Ann' } },
  { key: 'k', defaultLocale: 'en', content: { en: { inapp: { title: 't', body: 'b' } } } },
  { policy: 'p', summary: 's', severity: 'critical' },
  { email: 'a@example.com' },
  { data: { order: { id: 7 }, name: 'Ann' } },
];
const nearBody = fc.record({
  base: fc.constantFrom(...BASES),
  field: fc.constantFrom(...KNOWN_FIELDS),
  value: hostileJson,
});

/** A numeric field of a request body, by its path (`[]` for an array's items). */
interface NumericField {
  path: string[];
  /** The extremes the document lets through: a side with no bound. */
  unbounded: number[];
}

interface Operation {
  method: string;
  path: string;
  auth: 'tenant' | 'admin' | 'none';
  numeric: NumericField[];
}

type Schema = Record<string, any>;

/** Every integer or number in a JSON schema, with the sides it leaves unbounded. */
function numericFields(doc: Schema, schema: Schema | undefined, path: string[] = [], seen = new Set<Schema>()): NumericField[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return [];
  if (schema.$ref) return numericFields(doc, doc.components.schemas[String(schema.$ref).split('/').pop()!], path, seen);
  seen = new Set(seen).add(schema);
  const out: NumericField[] = [];
  const types = [schema.type ?? []].flat();
  if (types.includes('integer') || types.includes('number')) {
    const unbounded: number[] = [];
    if (schema.maximum === undefined && schema.exclusiveMaximum === undefined) unbounded.push(2 ** 31, 87_259_864_845, Number.MAX_SAFE_INTEGER);
    if (schema.minimum === undefined && schema.exclusiveMinimum === undefined) unbounded.push(-(2 ** 31) - 1, -Number.MAX_SAFE_INTEGER);
    out.push({ path, unbounded });
  }
  for (const k of ['anyOf', 'oneOf', 'allOf']) for (const s of schema[k] ?? []) out.push(...numericFields(doc, s, path, seen));
  for (const [k, s] of Object.entries<Schema>(schema.properties ?? {})) out.push(...numericFields(doc, s, [...path, k], seen));
  if (schema.items) out.push(...numericFields(doc, schema.items, [...path, '[]'], seen));
  const unique = new Map(out.map((f) => [f.path.join('.'), f]));
  return [...unique.values()];
}

/** `base` with `value` at `path`, making the objects and one-item arrays on the way. */
function setAt(base: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (head === '[]') {
    const items = Array.isArray(base) && base.length > 0 ? base : [{}];
    return [setAt(items[0], rest, value), ...items.slice(1)];
  }
  const obj = base && typeof base === 'object' && !Array.isArray(base) ? (base as Record<string, unknown>) : {};
  return { ...obj, [head]: setAt(obj[head], rest, value) };
}

function operations(): Operation[] {
  const doc = openApiDocument() as unknown as Schema;
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries<Record<string, Schema>>(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      // Streams never end and the receipts/Slack callbacks take form posts signed by providers.
      if (path.endsWith('/stream')) continue;
      const numeric = numericFields(doc, op.requestBody?.content?.['application/json']?.schema);
      ops.push({ method: method.toUpperCase(), path, auth: path.startsWith('/v1/admin') ? 'admin' : path.startsWith('/v1/') ? 'tenant' : 'none', numeric });
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

type Body = { kind: 'json'; value: unknown } | { kind: 'raw'; value: string } | null;

function bodyArb(op: Operation): fc.Arbitrary<Body> {
  const any: fc.Arbitrary<Body>[] = [
    fc.constant(null),
    hostileJson.map((value) => ({ kind: 'json' as const, value })),
    nearBody.map(({ base, field, value }) => ({ kind: 'json' as const, value: { ...base, [field]: value } })),
    fc.constantFrom('{"a":', '\u0000', '[[[[[[[[[[', '{"data":"\\u0000"}', '{"name":"\\ud800"}').map((value) => ({ kind: 'raw' as const, value })),
  ];
  // Each numeric field the operation takes, set to an integer no column holds, in a body that is
  // otherwise like one the route accepts.
  if (op.numeric.length > 0) {
    const numeric = fc
      .record({ base: fc.constantFrom(...BASES), field: fc.constantFrom(...op.numeric), value: outOfRange })
      .map(({ base, field, value }) => ({ kind: 'json' as const, value: setAt(base, field.path, value) }));
    any.push(numeric, numeric);
  }
  return fc.oneof(...any);
}

/** Requests that always run: each unbounded side of each numeric field at its extremes. */
function extremeExamples(op: Operation): Array<[string[], Record<string, string>, Body]> {
  return op.numeric.flatMap((field) =>
    field.unbounded.flatMap((value) => BASES.map((base): [string[], Record<string, string>, Body] => [['order-shipped'], {}, { kind: 'json', value: setAt(base, field.path, value) }])),
  );
}

describe('hostile input', () => {
  for (const op of operations()) {
    it(`${op.method} ${op.path} answers every generated request with less than 500`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(hostileString, { minLength: 1, maxLength: 3 }),
          fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'recipient', 'unread', 'version'), hostileString, { maxKeys: 3 }),
          bodyArb(op),
          async (params, query, body) => {
            const res = await send(op, params, query, body);
            if (res.status >= 500) throw new Error(`${op.method} ${op.path} answered ${res.status}: ${res.text.slice(0, 300)}`);
            expect(res.text).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
          },
        ),
        { numRuns: 40, examples: extremeExamples(op) },
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
