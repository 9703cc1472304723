// Plain templates (text and `{{ path }}` outputs) are rendered without LiquidJS's renderer
// (domain/templates.ts, "Plain templates"). This compares the two on generated templates and
// data: each template is rendered as it is (the plain path) and after an empty comment tag
// (a tag makes the template not plain, so LiquidJS renders it, and the tag renders
// nothing); the outputs must be the same, in every field kind (verbatim, HTML, Slack).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { missingVariables, renderContent, TemplateRenderError, TemplateSyntaxError } from './templates.js';

const ROOTS = ['a', 'b', 'items', 'size', 'toString', 'constructor', 'hasOwnProperty', 'x_1', 'nil', 'true', 'empty', 'blank', '_'];
const KEYS = ['x', 'y', 'size', 'first', 'last', 'length', 'toString', '0', '1'];

const segment = fc.oneof(
  fc.constantFrom(...KEYS.filter((k) => /^[a-z]/.test(k))).map((k) => `.${k}`),
  fc.constantFrom(...KEYS).map((k) => `["${k}"]`),
  fc.integer({ min: -2, max: 2 }).map((i) => `[${i}]`),
  fc.constantFrom('.0', '.1', '.2', '.01', '.-1', '.1.5', '.9999999999'),
);
const output = fc
  .tuple(fc.constantFrom(...ROOTS), fc.array(segment, { maxLength: 3 }), fc.constantFrom('', ' ', '-'))
  .map(([root, segs, pad]) => (pad === '-' ? `{{- ${root}${segs.join('')} -}}` : `{{${pad}${root}${segs.join('')}${pad}}}`));
// Texts with braces, whitespace LiquidJS may or may not trim, and pieces of unfinished markup.
const text = fc.oneof(
  fc.stringMatching(/^[a-z &<>"'!@#{}\n\t]{0,12}$/),
  fc.constantFrom('{{', '}}', '{', '{{ }}', '{{\ta\n}}', '{{\u00a0a}}', '{{ a | upcase }}', '{{ a["x"] }}', '{{ 5 }}', '{% if a %}x{% endif %}'),
);
const template = fc.array(fc.oneof(output, text), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));

const scalar = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('<!channel>', '<@U123>', 'a & b', '"q"', "it's"),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 4 }),
  ),
})).v;
const data = fc.dictionary(fc.constantFrom(...ROOTS), value, { maxKeys: 6 });

/** The field's rendering, or the error's kind and message. */
function render(field: 'sms' | 'email' | 'slack', src: string, d: unknown): unknown {
  const content =
    field === 'sms' ? { sms: { text: src } } : field === 'email' ? { email: { subject: 's', html: src } } : { slack: { text: src } };
  try {
    return { rendered: renderContent(content, [field], d), missing: missingVariables(content, [field], d) };
  } catch (err) {
    // A syntax error's message gives a column, which the tag put before the template shifts.
    if (err instanceof TemplateSyntaxError || err instanceof TemplateRenderError)
      return { error: err.message.replace(/, line:\d+, col:\d+/, '') };
    throw err;
  }
}
const viaLiquid = (src: string) => `{% comment %}{% endcomment %}${src}`;

describe('plain templates', () => {
  for (const field of ['sms', 'email', 'slack'] as const)
    it(`render as LiquidJS renders them (${field === 'sms' ? 'verbatim' : field === 'email' ? 'HTML' : 'Slack'})`, () => {
      fc.assert(
        fc.property(template, data, (src, d) => {
          expect(render(field, src, d)).toEqual(render(field, viaLiquid(src), d));
        }),
        { numRuns: 2_000 },
      );
    });

  it('are rendered without LiquidJS where the data allows: 10,000 outputs in a few milliseconds of CPU', () => {
    const outputs = (n: number) => {
      // `{{v.0}}{{v.1}}…`: 10,000 outputs just fit the 100,000-character field.
      const src = Array.from({ length: n }, (_, i) => `{{v.${i}}}`).join('');
      const d = { v: Array.from({ length: n }, (_, i) => `<${i}>`) };
      const expected = d.v.map((x) => x.replace('<', '&lt;').replace('>', '&gt;')).join('');
      // Undefined when the render stops at a limit.
      const html = (s: string) => (render('email', s, d) as { rendered?: { email: { html: string } } }).rendered?.email.html;
      return { src, expected, html };
    };
    // Counted in CPU time of this process, a measure of work rather than of the machine's load;
    // the two paths take turns, and each keeps its least of seven, so that a collection of
    // garbage or another process's burst on the same core is not taken for a path's cost.
    const cpu = (fn: () => unknown) => {
      const before = process.cpuUsage();
      fn();
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000;
    };
    const big = outputs(10_000);
    big.html(big.src); // parsed once (cached), as every later send finds it
    expect(big.html(big.src)).toBe(big.expected);
    // The comparison with LiquidJS over 5,000 outputs: over 10,000, LiquidJS's render can reach
    // the 300 ms render limit on a busy machine, and a render cut short is no measure.
    const { src, expected, html } = outputs(5_000);
    html(src);
    html(viaLiquid(src));
    const rendered = new Set<string | undefined>();
    let plain = Infinity;
    let liquid = Infinity;
    for (let i = 0; i < 7; i++) {
      plain = Math.min(plain, cpu(() => rendered.add(html(src))));
      liquid = Math.min(liquid, cpu(() => rendered.add(html(viaLiquid(src)))));
    }
    expect([...rendered]).toEqual([expected]);
    // LiquidJS's renderer costs 4–25 µs an output; the plain path under 1 µs, escaping included
    // (a fifth of LiquidJS's cost or less; half is asserted, as caches shared with a busy
    // neighbour slow the lighter path most).
    expect(plain, `plain ${plain} ms, LiquidJS ${liquid} ms`).toBeLessThan(liquid / 2);
  });
});
