// Template rendering with LiquidJS: `{{ path.to.value }}`, filters, `{% if %}`, `{% for %}`;
// output is HTML-escaped in HTML bodies (`email.html`), Slack-escaped in Slack text (`slack.*`:
// data cannot mention `<!channel>` or `<@U…>`, only the template's own text can), verbatim elsewhere. Parsing and
// rendering are bounded (template size, render time, counted allocations, output size), so
// no template holds a process longer than RENDER_LIMIT_MS. Missing variables are found up
// front by walking the parsed template, so acceptance can answer 400 naming each one.
// Workflows never import this module (scripts/lint-workflows.mjs checks it): rendering
// happens in activities and the API.
import { analyzeSync, Liquid, LiquidError, toValueSync, type Context, type Template } from 'liquidjs';
import { Lru } from './lru.js';
import { escapeSlack } from './text.js';
import type { Channel, ChannelContent, TemplateContent } from './types.js';

/** Characters in one template source (one string field of a template's content). */
export const PARSE_LIMIT = 100_000;
/** Milliseconds one rendering of a template's content (every field of it) may take. */
export const RENDER_LIMIT_MS = 300;
/** Allocations LiquidJS counts (array items, string lengths from filters) in one field's render. */
export const MEMORY_LIMIT = 10_000_000;
/** Characters of rendered output per field. */
export const OUTPUT_LIMIT = 1_000_000;

const baseOptions = {
  parseLimit: PARSE_LIMIT,
  renderLimit: RENDER_LIMIT_MS,
  memoryLimit: MEMORY_LIMIT,
  // Only the data's own properties: no `constructor`, no `__proto__` from a template.
  ownPropertyOnly: true,
  // A misspelt filter is refused when the template is published, not skipped silently.
  strictFilters: true,
  strictVariables: false,
  // Liquid's truthiness (only `false` and `nil` are falsy), as Shopify's documentation says.
  jsTruthy: false,
  // Dates in UTC, whatever the server's time zone.
  timezoneOffset: 0,
  // No file system: includes, renders and layouts are removed below; this map backs them up.
  templates: {},
} as const;

/** How a field's `{{ output }}` is escaped: `html` for `email.html`, `slack` for Slack text. */
type Escape = 'text' | 'html' | 'slack';

/** LiquidJS's own stringification (nil empty, arrays joined), then Slack's &, <, > escaped. */
function slackOutput(this: { context: Context }, value: unknown): string {
  const str = (v: unknown): string => {
    const x = toValueSync(v);
    return typeof x === 'string' ? x : x == null ? '' : Array.isArray(x) ? x.map(str).join('') : String(x);
  };
  const s = str(value);
  this.context.memoryLimit.use(s.length);
  return escapeSlack(s);
}

function engine(escape: Escape): Liquid {
  const outputEscape = escape === 'html' ? ('escape' as const) : escape === 'slack' ? slackOutput : undefined;
  const liquid = new Liquid({ ...baseOptions, ...(outputEscape ? { outputEscape } : {}) });
  for (const tag of ['include', 'render', 'layout', 'block']) delete liquid.tags[tag];
  return liquid;
}
const engines: Record<Escape, Liquid> = { text: engine('text'), html: engine('html'), slack: engine('slack') };

/** `fr-CA` → `fr` → the template's default locale. */
export function selectLocale(content: TemplateContent, locale: string, defaultLocale: string): string {
  const candidates = [locale, locale.split('-')[0], defaultLocale];
  for (const c of candidates) {
    const hit = Object.keys(content).find((k) => k.toLowerCase() === c.toLowerCase());
    if (hit) return hit;
  }
  return Object.keys(content)[0];
}

/** A template that does not parse (or uses a tag or filter that does not exist). */
export class TemplateSyntaxError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'TemplateSyntaxError';
  }
}

/**
 * A template that failed to render: `limit` when it went past a bound (size, time, memory,
 * output), `error` for any other failure (a filter refusing its input, say).
 */
export class TemplateRenderError extends Error {
  constructor(
    readonly kind: 'limit' | 'error',
    /** The field, e.g. `email.html` (or `content.en.email.html` at validation). */
    readonly path: string,
    /** What went wrong, without the path: `took longer than 300 ms to render`. */
    readonly reason: string,
  ) {
    super(`${path} ${reason}`);
    this.name = 'TemplateRenderError';
  }
}

/** Which bound an error reports, in words, or null when it is not a bound. */
function limitOf(err: unknown): string | null {
  for (let e: any = err, depth = 0; e && depth < 10; e = e.originalError ?? e.cause, depth++) {
    if (e instanceof RangeError) return 'rendered more output than a string holds'; // "Invalid string length"
    const m = typeof e.message === 'string' ? e.message : '';
    if (/render limit exceeded/.test(m)) return `took longer than ${RENDER_LIMIT_MS} ms to render`;
    if (/memory alloc limit exceeded/.test(m)) return `allocated more than ${MEMORY_LIMIT} items or characters`;
    if (/parse length limit exceeded/.test(m)) return `is longer than ${PARSE_LIMIT} characters`;
    if (/limit exceeded/.test(m)) return m;
  }
  return null;
}

/** The first line of a LiquidJS error, without the excerpt of the template it appends. */
function briefly(err: unknown): string {
  const e = err as Error;
  return String((e instanceof LiquidError ? (e.originalError?.message ?? e.message) : e?.message) ?? err).split('\n')[0];
}

// Parsed templates are cached by source; large sources are parsed each time (in linear
// time) so that the caches stay small whatever tenants publish.
const CACHED_SOURCE_LIMIT = 20_000;
const parsed: Record<Escape, Lru<string, Template[]>> = { text: new Lru(500), html: new Lru(500), slack: new Lru(500) };

/** A source parsed once per engine; throws TemplateSyntaxError or a TemplateRenderError('limit'). */
function parse(src: string, escape: Escape, path: string): Template[] {
  const cache = parsed[escape];
  let tpl = cache.get(src);
  if (!tpl) {
    try {
      tpl = engines[escape].parse(src);
    } catch (err) {
      const limit = limitOf(err);
      if (limit) throw new TemplateRenderError('limit', path, limit);
      throw new TemplateSyntaxError(path, briefly(err));
    }
    if (src.length <= CACHED_SOURCE_LIMIT) cache.set(src, tpl);
  }
  return tpl;
}

/** Every string leaf of a channel's content, with its path, e.g. `email.subject`. */
function stringLeaves(value: unknown, path: string, out: Array<[string, string]>) {
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((v, i) => stringLeaves(v, `${path}.${i}`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) stringLeaves(v, path ? `${path}.${k}` : k, out);
}

/** Only `email.html` is HTML and only `slack.*` Slack text; everything else renders verbatim. */
const escapeOf = (path: string): Escape => (path === 'email.html' ? 'html' : path.startsWith('slack.') ? 'slack' : 'text');

/** A clock for one rendering of a whole content: every field shares RENDER_LIMIT_MS. */
function budget(limitMs = RENDER_LIMIT_MS) {
  const deadline = performance.now() + limitMs;
  return () => deadline - performance.now();
}

function renderOne(src: string, data: unknown, path: string, remainingMs: () => number): string {
  const escape = escapeOf(path);
  let tpl: Template[];
  try {
    tpl = parse(src, escape, path);
  } catch (err) {
    // A stored template that no longer parses (one published before LiquidJS, say).
    if (err instanceof TemplateSyntaxError) throw new TemplateRenderError('error', path, `does not parse: ${err.message}`);
    throw err;
  }
  const left = remainingMs();
  if (left <= 0) throw new TemplateRenderError('limit', path, `took longer than ${RENDER_LIMIT_MS} ms to render (with the fields before it)`);
  let out: unknown;
  try {
    out = engines[escape].renderSync(tpl, (data ?? {}) as object, { renderLimit: left, memoryLimit: MEMORY_LIMIT });
  } catch (err) {
    const limit = limitOf(err);
    if (limit) throw new TemplateRenderError('limit', path, limit);
    throw new TemplateRenderError('error', path, `failed to render: ${briefly(err)}`);
  }
  const text = String(out);
  if (text.length > OUTPUT_LIMIT) throw new TemplateRenderError('limit', path, `rendered more than ${OUTPUT_LIMIT} characters`);
  return text;
}

/**
 * Throws TemplateSyntaxError naming the field whose template does not parse, or a
 * TemplateRenderError('limit') naming the field whose template goes past a bound even
 * without data (loops over literal ranges, say): such a template could never be sent.
 */
export function validateTemplateContent(content: TemplateContent): void {
  const remaining = budget();
  for (const [locale, channels] of Object.entries(content)) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(channels, '', leaves);
    for (const [path, src] of leaves) {
      const field = `content.${locale}.${path}`;
      parse(src, escapeOf(path), field);
      try {
        renderOne(src, {}, path, remaining);
      } catch (err) {
        // Without data a filter may refuse its (missing) input; only bounds matter here.
        if (err instanceof TemplateRenderError && err.kind === 'limit') throw new TemplateRenderError('limit', field, err.reason);
      }
    }
  }
}

// Missing variables.

/** Tags whose content is conditional: nothing in them (nor their condition) is required. */
const CONDITIONAL_TAGS = new Set(['if', 'unless', 'case']);
/** Loops: their collection is required, their body is walked with the loop variable bound. */
const LOOP_TAGS = new Set(['for', 'tablerow']);

type Node = Template & { name?: string; templates?: Template[]; value?: { filters?: Array<{ name: string }> } };

/**
 * The template as the required-variable analysis should see it: conditional tags dropped,
 * loops without their `{% else %}`, outputs with a `default` filter dropped (a default makes
 * the variable optional). LiquidJS's own static analysis then does the scoping.
 */
function requiredView(nodes: Template[]): Template[] {
  const out: Template[] = [];
  for (const n of nodes as Node[]) {
    if (n.name && CONDITIONAL_TAGS.has(n.name)) continue;
    if (n.value?.filters?.some((f) => f.name === 'default')) continue;
    if (!n.children) {
      out.push(n);
      continue;
    }
    const kids = n.name && LOOP_TAGS.has(n.name) && n.templates ? n.templates : (toValueSync(n.children(false, true)) as Template[]);
    const pruned = requiredView(kids);
    out.push(
      Object.assign(Object.create(Object.getPrototypeOf(n)), n, {
        children: function* () {
          return pruned;
        },
      }),
    );
  }
  return out;
}

const requiredCache = new Lru<string, string[]>(500);

/** The variables (paths such as `order.id`, `items.0`) a template source needs. */
function requiredPaths(src: string, path: string): string[] {
  let paths = requiredCache.get(src);
  if (!paths) {
    const tpl = parse(src, 'text', path);
    // Names the template assigns anywhere (even in a branch) are its own, never data's.
    const locals = new Set(Object.keys(analyzeSync(tpl, { partials: false }).locals));
    const { globals } = analyzeSync(requiredView(tpl), { partials: false });
    const set = new Set<string>();
    for (const variables of Object.values(globals))
      for (const v of variables) {
        const segments: string[] = [];
        // Up to the first computed segment (`a[b.c]`): what lies past it is not a fixed path.
        for (const s of v.segments) {
          if (typeof s !== 'string' && typeof s !== 'number') break;
          segments.push(String(s));
        }
        if (segments.length && !locals.has(segments[0])) set.add(segments.join('.'));
      }
    paths = [...set];
    if (src.length <= CACHED_SOURCE_LIMIT) requiredCache.set(src, paths);
  }
  return paths;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** A path's value in data, as Liquid reads it (own properties; `size`, `first`, `last`). */
function lookup(data: unknown, path: string): unknown {
  let cur: unknown = data;
  for (const part of path.split('.')) {
    if (typeof cur === 'string') cur = part === 'size' ? cur.length : undefined;
    else if (cur === null || typeof cur !== 'object') return undefined;
    else if (own(cur, part)) cur = (cur as Record<string, unknown>)[part];
    else if (Array.isArray(cur) && (part === 'first' || part === 'last')) cur = part === 'first' ? cur[0] : cur[cur.length - 1];
    else if (part === 'size') cur = Array.isArray(cur) ? cur.length : Object.keys(cur).length;
    else return undefined;
  }
  return cur;
}

/** Variables the given channels' content (in one locale) needs and `data` lacks. */
export function missingVariables(content: ChannelContent, channels: readonly Channel[], data: unknown): string[] {
  const missing = new Set<string>();
  for (const ch of channels) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(content[ch], ch, leaves);
    for (const [path, src] of leaves) for (const p of requiredPaths(src, path)) if (lookup(data, p) === undefined) missing.add(p);
  }
  return [...missing].sort();
}

// Rendering.

function renderDeep(value: unknown, data: unknown, path: string, remaining: () => number): unknown {
  if (typeof value === 'string') return renderOne(value, data, path, remaining);
  if (Array.isArray(value)) return value.map((v, i) => renderDeep(v, data, `${path}.${i}`, remaining));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, data, `${path}.${k}`, remaining)]));
  return value;
}

/**
 * Renders the given channels' content; `email.html` is HTML-escaped, `slack.*` Slack-escaped. All fields together
 * get RENDER_LIMIT_MS. Throws TemplateRenderError (`limit` or `error`) naming the field.
 */
export function renderContent(content: ChannelContent, channels: readonly Channel[], data: unknown): ChannelContent {
  const remaining = budget();
  const out: ChannelContent = {};
  for (const ch of channels) {
    const c = content[ch];
    if (c === undefined) continue;
    (out as Record<string, unknown>)[ch] = renderDeep(c, data, ch, remaining);
  }
  return out;
}
