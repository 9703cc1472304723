// Template rendering with LiquidJS: `{{ path.to.value }}`, filters, `{% if %}`, `{% for %}`;
// output is HTML-escaped in HTML bodies (`email.html`), Slack-escaped in Slack text (`slack.*`:
// data cannot mention `<!channel>` or `<@U…>`, only the template's own text can), verbatim elsewhere. Parsing and
// rendering are bounded (template size, render time, counted allocations, output size), so
// no template holds a process longer than RENDER_LIMIT_MS. Missing variables are found up
// front by walking the parsed template, so acceptance can answer 400 naming each one.
// Workflows never import this module (scripts/lint-workflows.mjs checks it): rendering
// happens in activities and the API.
import { Liquid, LiquidError, Parser, Tokenizer, toValueSync, TypeGuards, type Context, type Template } from 'liquidjs';
import { byteLru } from './lru.js';
import { escapeSlack } from './text.js';
import type { Channel, ChannelContent, TemplateContent } from './types.js';

/** Characters in one template source (one string field of a template's content). */
export const PARSE_LIMIT = 100_000;
/** Milliseconds one rendering of a template's content (every field of it) may take. */
export const RENDER_LIMIT_MS = 300;
/** Allocations LiquidJS counts (array items, string lengths from filters) in one field's render. */
export const MEMORY_LIMIT = 10_000_000;
/** Characters of rendered output per field. */
const OUTPUT_LIMIT = 1_000_000;

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

// Parsed templates are cached by source, with the variables each needs, so a send, preview
// or broadcast page that meets a version again neither parses nor scans it. The cache is
// bounded by an estimate of the bytes it holds, not by its count of entries.

/** Bytes the cache of parsed templates (and their variables) may hold, estimated per entry. */
const TEMPLATE_CACHE_BYTES = 64 * 1024 * 1024;
/**
 * Heap bytes one `{{ … }}` or `{% … %}` costs once parsed (tokens, values, filters): about
 * 1,200 measured on LiquidJS 10.30 (`node --expose-gc`, heapUsed over ten parses of 5,000
 * outputs or tags), rounded up.
 */
const BYTES_PER_MARKUP = 1_500;

interface Compiled {
  /** LiquidJS's parse, once something needs it (a plain template needs it only for data it cannot read). */
  tpl?: Template[];
  /** The variables the template needs, once something asked (acceptance, preview). */
  required?: string[];
  /** Its estimated heap size, counted when parsed. */
  bytes: number;
  /** Its texts and outputs in order, when it is plain (see "Plain templates"). */
  plain: Plain | null;
}

/** `{{` and `{%` in a source, in one pass. */
function markupCount(src: string): number {
  let n = 0;
  for (let i = src.indexOf('{'); i !== -1 && i < src.length - 1; i = src.indexOf('{', i + 1)) {
    const next = src.charCodeAt(i + 1);
    if (next === 123 /* { */ || next === 37 /* % */) n++;
  }
  return n;
}

const weigh = (src: string, c: Compiled) =>
  2 * src.length + c.bytes + (c.required ? c.required.reduce((sum, p) => sum + 2 * p.length + 64, 0) : 0);
const compiled: Record<Escape, ReturnType<typeof byteLru<string, Compiled>>> = {
  text: byteLru<string, Compiled>(TEMPLATE_CACHE_BYTES / 3, weigh),
  html: byteLru<string, Compiled>(TEMPLATE_CACHE_BYTES / 3, weigh),
  slack: byteLru<string, Compiled>(TEMPLATE_CACHE_BYTES / 3, weigh),
};

/** Tokens handed out in order in constant time each: what LiquidJS's parser and block tags read of them. */
class TokenQueue<T> {
  private next = 0;
  constructor(private readonly items: T[]) {}
  get length(): number {
    return this.items.length - this.next;
  }
  shift(): T | undefined {
    return this.next < this.items.length ? this.items[this.next++] : undefined;
  }
}

/**
 * `liquid.parse(src)`, in time linear in the number of tags and outputs: LiquidJS takes its
 * tokens from an array with `shift()`, which V8 makes a copy of the rest of the array once the
 * array is large (a 20,000-output template took half a second to parse on a shared machine).
 */
function parseLinear(liquid: Liquid, src: string): Template[] {
  if (src.length > PARSE_LIMIT) throw new Error('parse length limit exceeded');
  const { operators, groupedExpressions } = liquid.options;
  const tokens = new Tokenizer(src, operators, undefined, undefined, groupedExpressions).readTopLevelTokens(liquid.options);
  return new Parser(liquid).parseTokens(new TokenQueue(tokens) as unknown as typeof tokens);
}

/** A source parsed once per engine; throws TemplateSyntaxError or a TemplateRenderError('limit'). */
function compile(src: string, escape: Escape, path: string): Compiled {
  const cache = compiled[escape];
  let entry = cache.get(src);
  if (!entry) {
    const plain = src.length <= PARSE_LIMIT ? plainOf(src) : null;
    entry = plain ? { plain, bytes: PLAIN_BYTES_PER_PART * plain.length } : { tpl: liquidParse(src, escape, path), plain, bytes: 0 };
    if (entry.tpl) entry.bytes = BYTES_PER_MARKUP * markupCount(src);
    cache.set(src, entry);
  }
  return entry;
}

function liquidParse(src: string, escape: Escape, path: string): Template[] {
  try {
    return parseLinear(engines[escape], src);
  } catch (err) {
    const limit = limitOf(err);
    if (limit) throw new TemplateRenderError('limit', path, limit);
    throw new TemplateSyntaxError(path, briefly(err));
  }
}

/** A source's LiquidJS parse, from the cache after the first time. */
function parse(src: string, escape: Escape, path: string): Template[] {
  const entry = compile(src, escape, path);
  if (!entry.tpl) {
    entry.tpl = liquidParse(src, escape, path);
    entry.bytes += BYTES_PER_MARKUP * markupCount(src);
    // Stored again so the cache counts what the entry now holds.
    compiled[escape].set(src, entry);
  }
  return entry.tpl;
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
    const { plain } = compile(src, escape, path);
    const text = plain && renderPlain(plain, data ?? {}, escape);
    if (typeof text === 'string') return text;
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
  const fields: Array<[string, string, string]> = [];
  for (const [locale, channels] of Object.entries(content)) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(channels, '', leaves);
    for (const [path, src] of leaves) fields.push([`content.${locale}.${path}`, path, src]);
  }
  // Parsing is linear in the size (bounded by PARSE_LIMIT), so it does not eat the render budget.
  const bounded = fields.filter(([field, path, src]) => compile(src, escapeOf(path), field).plain === null);
  // A plain template (text and `{{ path }}` outputs) renders at most its own text without data:
  // only one with tags or filters can go past a bound here.
  const remaining = budget();
  for (const [field, path, src] of bounded) {
    try {
      renderOne(src, {}, path, remaining);
    } catch (err) {
      // Without data a filter may refuse its (missing) input; only bounds matter here.
      if (err instanceof TemplateRenderError && err.kind === 'limit') throw new TemplateRenderError('limit', field, err.reason);
    }
  }
}

// Plain templates.
//
// Most templates are text and `{{ path.to.value }}` outputs with no filter and no tag. LiquidJS
// parses each output with a tokenizer of its own and renders it through its generic machinery
// (generators, a context, a filter for the escape): 5–25 µs an output, so a 10,000-output
// template took 50–300 ms of event loop per send and more to publish. A plain template is read
// here in one pass instead, and rendered by reading each path from the data, whenever every path
// reads as LiquidJS would read it (own properties of plain objects and arrays, ending in a
// string, number, boolean or null). Anything else (a missing key, `size`, `first`, `last`, a
// nested object, an output over the limit) falls back to LiquidJS for the whole field, so the
// output is always LiquidJS's. `domain/templates-plain.test.ts` compares the two on generated
// templates and data.

/** A text, or the segments of an output's path (its root first). */
type Plain = Array<string | string[]>;
/** Heap bytes a plain template's part costs once read (its string or its segments' array), rounded up. */
const PLAIN_BYTES_PER_PART = 120;
/** `a.b_2.0`: names and indices only (no quotes, brackets, filters, `-`, `?` or number literal roots). */
const PLAIN_PATH = /^[ \t\r\n]*([A-Za-z_]\w*(?:\.(?:[A-Za-z_]\w*|0|[1-9]\d{0,8}))*)[ \t\r\n]*$/;
/** Names LiquidJS reads as literals, not variables. */
const LITERALS = new Set(['nil', 'null', 'true', 'false', 'empty', 'blank']);

/** A template's texts and output paths in order, or null when it holds anything but those. */
function plainOf(src: string): Plain | null {
  const plan: Plain = [];
  let last = 0;
  for (let i = src.indexOf('{'); i !== -1; i = src.indexOf('{', i + 1)) {
    const next = src.charCodeAt(i + 1);
    if (next === 37 /* % */) return null;
    if (next !== 123 /* { */) continue;
    const close = src.indexOf('}}', i + 2);
    if (close === -1) return null;
    const path = PLAIN_PATH.exec(src.slice(i + 2, close))?.[1];
    if (!path) return null;
    const segments = path.split('.');
    if (LITERALS.has(segments[0])) return null;
    if (last < i) plan.push(src.slice(last, i));
    plan.push(segments);
    last = close + 2;
    i = close + 1;
  }
  if (last < src.length) plan.push(src.slice(last));
  return plan;
}

/** What `escape`/`slackOutput` read of their `this`: allocations are bounded here by OUTPUT_LIMIT. */
const uncounted = { context: { memoryLimit: { use() {} } } };

/** A plain template's output, or null where LiquidJS must render it (see above). */
function renderPlain(plan: Plain, data: unknown, escape: Escape): string | null {
  const escapeOutput = engines[escape].options.outputEscape as ((this: unknown, v: unknown) => string) | undefined;
  let out = '';
  for (const part of plan) {
    if (typeof part === 'string') out += part;
    else {
      let cur: unknown = data;
      for (let i = 0; i < part.length; i++) {
        const key = part[i];
        // The root: LiquidJS looks it up in an empty scope first, where Object.prototype's names live.
        if (i === 0 && key in Object.prototype) return null;
        if (key === 'size' || key === 'first' || key === 'last') return null;
        if (cur === null || typeof cur !== 'object' || !own(cur, key)) return null;
        cur = (cur as Record<string, unknown>)[key];
      }
      let text: string;
      if (typeof cur === 'string') text = cur;
      else if (typeof cur === 'number' || typeof cur === 'boolean') text = String(cur);
      else if (cur === null) text = '';
      else return null;
      out += escapeOutput ? escapeOutput.call(uncounted, text) : text;
    }
    if (out.length > OUTPUT_LIMIT) return null;
  }
  return out;
}

// Missing variables.
//
// Found in one walk over the parsed template, as LiquidJS's static analysis (`analyzeSync`)
// would scope them, but in time linear in the template: that analysis locates each variable
// by counting lines from the start of the source, so it grows with the square of their
// number (a 10,000-variable template took seconds).

/** Tags whose content is conditional: nothing in them (nor their condition) is required. */
const CONDITIONAL_TAGS = new Set(['if', 'unless', 'case']);
/** Loops: their collection is required, their body is walked with the loop variable bound. */
const LOOP_TAGS = new Set(['for', 'tablerow']);

/** What the walk reads of a parsed node (LiquidJS's Output, Tag and HTML classes). */
type Node = Template & {
  name?: string;
  templates?: Template[];
  value?: { filters?: Array<{ name: string }> };
  arguments?: () => Iterable<unknown>;
  localScope?: () => Iterable<{ content: string }>;
  blockScope?: () => Iterable<string>;
};
/** A variable's path; a computed segment (`a[b.c]`) is itself a variable. */
interface VariablePath {
  segments: Array<string | number | VariablePath>;
}

const { isValueToken, isRangeToken, isFilteredValueToken, isPropertyAccessToken, isQuotedToken, isNumberToken, isWordToken } = TypeGuards;

/** A walk's state: the names in scope (innermost last) and the steps it took, for tests. */
interface Walk {
  scopes: Array<Set<string>>;
  steps: number;
}

/** The variable a property access names, as LiquidJS's analysis reads it (without its position). */
function propertyPath(token: any, walk: Walk): VariablePath {
  walk.steps++;
  const segments: VariablePath['segments'] = [];
  const [root, ...rest] = token.props;
  if (isQuotedToken(root) || isNumberToken(root) || isWordToken(root)) segments.push(root.content as string | number);
  else if (isPropertyAccessToken(root)) segments.push(...propertyPath(root, walk).segments);
  for (const prop of rest) {
    walk.steps++;
    if (isQuotedToken(prop) || isNumberToken(prop) || isWordToken(prop)) segments.push(prop.content as string | number);
    else if (isPropertyAccessToken(prop)) segments.push(propertyPath(prop, walk));
  }
  return { segments };
}

/** Variables in a value token, a filtered value (`a | f: b, k: c`) or a tag's Value. */
function tokenVariables(token: any, walk: Walk, out: VariablePath[]): void {
  walk.steps++;
  if (isRangeToken(token)) {
    tokenVariables(token.lhs, walk, out);
    tokenVariables(token.rhs, walk, out);
  } else if (isPropertyAccessToken(token)) out.push(propertyPath(token, walk));
  else if (isFilteredValueToken(token) || (token && token.initial && Array.isArray(token.filters))) {
    for (const t of token.initial.postfix) if (isValueToken(t)) tokenVariables(t, walk, out);
    for (const filter of token.filters)
      for (const arg of filter.args) {
        if (Array.isArray(arg)) {
          if (arg[1]) tokenVariables(arg[1], walk, out);
        } else if (isValueToken(arg)) tokenVariables(arg, walk, out);
      }
  }
}

/** Records a variable (and those in its computed segments) unless a block binds its root. */
function need(v: VariablePath, walk: Walk, out: VariablePath[]): void {
  const root = v.segments[0];
  if (typeof root === 'string' && !walk.scopes.some((s) => s.has(root))) out.push(v);
  for (const s of v.segments) if (typeof s === 'object') need(s, walk, out);
}

const childrenOf = (n: Node): Template[] => (n.children ? (toValueSync(n.children(false, true)) as Template[]) : []);

/** Names the template assigns anywhere (`assign`, `capture`, even in a branch): its own, never data's. */
function assigned(nodes: Template[], walk: Walk, out: Set<string>): void {
  for (const n of nodes as Node[]) {
    walk.steps++;
    if (n.localScope) for (const ident of n.localScope()) out.add(ident.content);
    if (n.children) assigned(childrenOf(n), walk, out);
  }
}

/**
 * Variables the template needs whatever the data: conditional tags skipped, loops without
 * their `{% else %}`, outputs with a `default` filter skipped (a default makes the variable
 * optional), loop variables bound inside their loop.
 */
function required(nodes: Template[], walk: Walk, out: VariablePath[]): void {
  for (const n of nodes as Node[]) {
    walk.steps++;
    if (n.name && CONDITIONAL_TAGS.has(n.name)) continue;
    if (n.value?.filters?.some((f) => f.name === 'default')) continue;
    if (n.arguments)
      for (const arg of n.arguments()) {
        const found: VariablePath[] = [];
        if (isValueToken(arg) || (arg && typeof arg === 'object' && 'initial' in arg)) tokenVariables(arg, walk, found);
        for (const v of found) need(v, walk, out);
      }
    if (!n.children) continue;
    const kids = n.name && LOOP_TAGS.has(n.name) && n.templates ? n.templates : childrenOf(n);
    const block = n.blockScope ? new Set(n.blockScope()) : null;
    if (block) walk.scopes.push(block);
    required(kids, walk, out);
    if (block) walk.scopes.pop();
  }
}

/** The variables (paths such as `order.id`, `items.0`) a parsed template needs, and the steps it took to find them. */
export function scanVariables(tpl: Template[]): { paths: string[]; steps: number } {
  const walk: Walk = { scopes: [], steps: 0 };
  const locals = new Set<string>();
  assigned(tpl, walk, locals);
  const found: VariablePath[] = [];
  required(tpl, walk, found);
  const set = new Set<string>();
  for (const v of found) {
    const segments: string[] = [];
    // Up to the first computed segment (`a[b.c]`): what lies past it is not a fixed path.
    for (const s of v.segments) {
      if (typeof s !== 'string' && typeof s !== 'number') break;
      segments.push(String(s));
    }
    if (segments.length && !locals.has(segments[0])) set.add(segments.join('.'));
  }
  return { paths: [...set], steps: walk.steps };
}

/** The variables a template source needs, from the cache after the first time. */
function requiredPaths(src: string, path: string): string[] {
  const escape = escapeOf(path);
  const entry = compile(src, escape, path);
  if (!entry.required) {
    // A plain template needs every path it outputs (it has no condition, default or loop).
    entry.required = entry.plain
      ? [...new Set(entry.plain.filter((p) => typeof p !== 'string').map((p) => (p as string[]).join('.')))]
      : scanVariables(parse(src, escape, path)).paths;
    // Stored again so the cache counts what the entry now holds.
    compiled[escape].set(src, entry);
  }
  return entry.required;
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
  // Parsed (or found in the cache) before the clock starts: the budget is the render's.
  for (const ch of channels) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(content[ch], ch, leaves);
    for (const [path, src] of leaves) {
      try {
        compile(src, escapeOf(path), path);
      } catch {
        // Reported by renderOne, in order, as a render error.
      }
    }
  }
  const remaining = budget();
  const out: ChannelContent = {};
  for (const ch of channels) {
    const c = content[ch];
    if (c === undefined) continue;
    (out as Record<string, unknown>)[ch] = renderDeep(c, data, ch, remaining);
  }
  return out;
}
