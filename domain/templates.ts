// Template rendering with Handlebars: `{{ path.to.value }}`, HTML-escaped in HTML bodies,
// verbatim elsewhere. Missing variables are found up front by walking the template's AST,
// so acceptance can answer 400 naming each one.
import Handlebars from 'handlebars';
import type { Channel, ChannelContent, TemplateContent } from './types.js';

const hbs = Handlebars.create();

/** `fr-CA` → `fr` → the template's default locale. */
export function selectLocale(content: TemplateContent, locale: string, defaultLocale: string): string {
  const candidates = [locale, locale.split('-')[0], defaultLocale];
  for (const c of candidates) {
    const hit = Object.keys(content).find((k) => k.toLowerCase() === c.toLowerCase());
    if (hit) return hit;
  }
  return Object.keys(content)[0];
}

export class TemplateSyntaxError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

type HbsNode = { type: string; [k: string]: any };
const CONDITIONAL_BLOCKS = new Set(['if', 'unless']);

const requiredCache = new Map<string, string[]>();

/** The variables a template source needs, parsed once per source. */
function requiredPaths(source: string): string[] {
  let paths = requiredCache.get(source);
  if (!paths) {
    paths = parseRequiredPaths(source);
    if (requiredCache.size > 1000) requiredCache.clear();
    requiredCache.set(source, paths);
  }
  return paths;
}

function parseRequiredPaths(source: string): string[] {
  const ast = hbs.parse(source) as HbsNode;
  const out = new Set<string>();
  const addExpr = (e: HbsNode | undefined) => {
    if (!e) return;
    if (e.type === 'PathExpression' && !e.data && e.original !== 'this' && !e.original.startsWith('this.') && e.depth === 0)
      out.add(e.parts.join('.'));
    if (e.type === 'SubExpression') (e.params ?? []).forEach(addExpr);
  };
  const walk = (program: HbsNode | undefined) => {
    for (const node of program?.body ?? []) {
      if (node.type === 'MustacheStatement') {
        if ((node.params ?? []).length === 0 && !node.hash) addExpr(node.path);
        else (node.params ?? []).forEach(addExpr);
      } else if (node.type === 'BlockStatement') {
        // `if`/`unless` make their content conditional: nothing in them is required.
        // Other blocks (`each`, `with`) need their argument and change the context inside.
        if (!CONDITIONAL_BLOCKS.has(node.path.original)) (node.params ?? []).forEach(addExpr);
      }
    }
  };
  walk(ast);
  return [...out];
}

function lookup(data: unknown, path: string): unknown {
  let cur: unknown = data;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Every string leaf of a channel's content, with its path, e.g. `email.subject`. */
function stringLeaves(value: unknown, path: string, out: Array<[string, string]>) {
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((v, i) => stringLeaves(v, `${path}.${i}`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) stringLeaves(v, path ? `${path}.${k}` : k, out);
}

/** Throws TemplateSyntaxError naming the field whose template does not parse. */
export function validateTemplateContent(content: TemplateContent): void {
  for (const [locale, channels] of Object.entries(content)) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(channels, '', leaves);
    for (const [path, src] of leaves) {
      try {
        hbs.precompile(src);
      } catch (err) {
        throw new TemplateSyntaxError(`content.${locale}.${path}`, (err as Error).message.split('\n')[0]);
      }
    }
  }
}

/** Variables the given channels' content (in one locale) needs and `data` lacks. */
export function missingVariables(content: ChannelContent, channels: readonly Channel[], data: unknown): string[] {
  const missing = new Set<string>();
  for (const ch of channels) {
    const leaves: Array<[string, string]> = [];
    stringLeaves(content[ch], '', leaves);
    for (const [, src] of leaves) for (const p of requiredPaths(src)) if (lookup(data, p) === undefined) missing.add(p);
  }
  return [...missing].sort();
}

const cache = new Map<string, HandlebarsTemplateDelegate>();
function render(src: string, data: unknown, escapeHtml: boolean): string {
  const key = `${escapeHtml ? 'h' : 't'}:${src}`;
  let fn = cache.get(key);
  if (!fn) {
    fn = hbs.compile(src, { noEscape: !escapeHtml });
    if (cache.size > 1000) cache.clear();
    cache.set(key, fn);
  }
  return fn(data, { allowProtoPropertiesByDefault: false });
}

function renderDeep(value: unknown, data: unknown): unknown {
  if (typeof value === 'string') return render(value, data, false);
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, data));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, data)]));
  return value;
}

/** Renders the given channels' content; only `email.html` is HTML-escaped. */
export function renderContent(content: ChannelContent, channels: readonly Channel[], data: unknown): ChannelContent {
  const out: ChannelContent = {};
  for (const ch of channels) {
    const c = content[ch];
    if (c === undefined) continue;
    if (ch === 'email') {
      const e = c as NonNullable<ChannelContent['email']>;
      out.email = {
        subject: render(e.subject, data, false),
        ...(e.html !== undefined ? { html: render(e.html, data, true) } : {}),
        ...(e.text !== undefined ? { text: render(e.text, data, false) } : {}),
      };
    } else {
      (out as Record<string, unknown>)[ch] = renderDeep(c, data);
    }
  }
  return out;
}
