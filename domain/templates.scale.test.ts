// Variable extraction is linear in a template's size: stated as the steps of the walk that
// finds a template's variables (tokens and nodes visited), not as times, which a shared
// machine cannot promise. The hostile template's cost in event-loop time is measured end to
// end in test/hostile-template.test.ts.
import { Liquid } from 'liquidjs';
import { describe, expect, it } from 'vitest';
import { missingVariables, scanVariables } from './templates.js';

const liquid = new Liquid();
const outputs = (n: number) => Array.from({ length: n }, (_, i) => `{{ v${i}.x }}`).join(' ');
const mixed = (n: number) =>
  Array.from({ length: n / 4 }, (_, i) =>
    [`{{ a${i} | append: b${i} }}`, `{% for x in l${i} %}{{ x.y }}{{ o${i}[x.k] }}{% endfor %}`, `{% if c${i} %}{{ d${i} }}{% endif %}`, `{% assign z${i} = e${i} %}`].join(''),
  ).join('\n');

describe('template variables', () => {
  for (const [name, make, perUnit] of [
    ['outputs', outputs, 1],
    ['loops, filters, conditions and assignments', mixed, 1.25],
  ] as const)
    it(`are found in steps linear in the template (${name})`, () => {
      const n = 2_000;
      const small = scanVariables(liquid.parse(make(n)));
      const large = scanVariables(liquid.parse(make(4 * n)));
      // Every variable found, none twice: `v0.x`…, or per group of four tags the five
      // a, b, l, o (up to its computed segment) and e; c and d are conditional, z the template's own.
      expect(small.paths).toHaveLength(n * perUnit);
      expect(large.paths).toHaveLength(4 * n * perUnit);
      // Four times the template, four times the steps (a quadratic scan would take sixteen).
      expect(large.steps / small.steps).toBeCloseTo(4, 1);
      expect(small.steps / n).toBeLessThan(20);
    });

  it('are those a send needs, for 10,000 of them', () => {
    const src = Array.from({ length: 10_000 }, (_, i) => `{{v${i}}}`).join('');
    const data = Object.fromEntries(Array.from({ length: 9_999 }, (_, i) => [`v${i}`, i]));
    expect(missingVariables({ email: { subject: 's', html: src } }, ['email'], data)).toEqual(['v9999']);
  });
});
