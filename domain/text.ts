// Text the database can hold. PostgreSQL refuses NUL (U+0000) in text and jsonb, and jsonb
// (like any strict JSON reader) refuses an unpaired UTF-16 surrogate: a record holding one
// fails for good. What clients send is refused (findUnstorableText, in the API); what
// providers and receivers send back is cleaned (cleanText) before it is stored.

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** How long a provider's or receiver's text may be once stored (error bodies, messages). */
const MAX_STORED_TEXT = 1000;

/** Why `s` cannot be stored, or null when it can. */
export function unstorable(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain NUL (U+0000)';
  UNPAIRED_SURROGATE.lastIndex = 0;
  if (UNPAIRED_SURROGATE.test(s)) return 'must not contain an unpaired UTF-16 surrogate';
  return null;
}

/**
 * `s` as text the database holds: NUL removed, unpaired surrogates replaced with U+FFFD, and
 * at most `max` UTF-16 units long (a cut never splits a surrogate pair; a cut adds "…").
 */
export function cleanText(s: string, max = MAX_STORED_TEXT): string {
  let out = s.replace(/\u0000/g, '').replace(UNPAIRED_SURROGATE, '\uFFFD');
  if (out.length > max) {
    let end = Math.max(0, max - 1);
    if (end > 0 && /[\uD800-\uDBFF]/.test(out[end - 1])) end -= 1;
    out = `${out.slice(0, end)}…`;
  }
  return out;
}

/** cleanText for an optional value: null and undefined pass through. */
export function cleanOptional<T extends string | null | undefined>(s: T, max = MAX_STORED_TEXT): T {
  return (typeof s === 'string' ? cleanText(s, max) : s) as T;
}

interface JsonProblem {
  /** Dotted path from the root, array indexes as numbers: `data.items.3.name`. */
  path: string[];
  message: string;
}

/**
 * The first place in a parsed JSON value whose text cannot be stored (keys included) or that
 * nests deeper than `maxDepth` (an object or array at the root is level 1). Iterative, so a
 * value nested 100,000 deep is answered, not a stack overflow.
 */
export function findUnstorableJson(value: unknown, maxDepth: number): JsonProblem | null {
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const why = unstorable(v);
      if (why) return { path, message: why };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= maxDepth) return { path, message: `must not nest deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: [...path, String(i)] });
      continue;
    }
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const why = unstorable(keys[i]);
      if (why) return { path: [...path, keys[i].replace(/\u0000/g, '\\u0000')], message: `key ${why}` };
      stack.push({ value: (v as Record<string, unknown>)[keys[i]], path: [...path, keys[i]] });
    }
  }
  return null;
}

/** How deep a JSON value nests (a scalar is 0, `{}` and `[]` are 1); iterative. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, depth + 1);
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return max;
}

const SLACK_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * `s` with the three characters Slack treats as control characters escaped (&, <, >), so it
 * shows as written and cannot mention anyone (`<!channel>`, `<!here>`, `<@U…>`, `<#C…>`) or link.
 */
export function escapeSlack(s: string): string {
  return s.replace(/[&<>]/g, (c) => SLACK_ESCAPES[c]);
}
