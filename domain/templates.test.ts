import { describe, expect, it } from 'vitest';
import {
  missingVariables,
  MEMORY_LIMIT,
  PARSE_LIMIT,
  RENDER_LIMIT_MS,
  renderContent,
  selectLocale,
  TemplateRenderError,
  TemplateSyntaxError,
  validateTemplateContent,
} from './templates.js';

/** Three nested loops over 1,000 items each: a billion iterations if nothing stops it. */
const BILLION = '{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}';
const BILLION_EMPTY = '{% for a in (1..1000) %}{% for b in (1..1000) %}{% for c in (1..1000) %}{% endfor %}{% endfor %}{% endfor %}';
/** The same over data: harmless at publish (no items), a billion iterations with 1,000 items. */
const BILLION_OVER_DATA = '{% for a in items %}{% for b in items %}{% for c in items %}{{ c }}{% endfor %}{% endfor %}{% endfor %}';
const thousand = Array.from({ length: 1000 }, (_, i) => i);

/** What `fn` throws, and how long it took to throw it. */
/** The error `fn` throws, with the wall time and this process's CPU time it took. */
function timed(fn: () => unknown): { error: unknown; ms: number; cpuMs: number } {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    fn();
  } catch (error) {
    const cpu = process.cpuUsage(cpu0);
    return { error, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
  }
  throw new Error('expected a throw');
}

describe('templates', () => {
  const content = {
    en: {
      email: { subject: 'Order {{ order.id }} shipped', html: '<p>Hi {{ name }}</p>', text: 'Hi {{ name }}' },
      sms: { text: 'Order {{order.id}}{% if note %}: {{ note }}{% endif %}' },
      inapp: { title: '{{count}} comments', body: '{% for item in items %}{{ item.text }};{% endfor %}' },
    },
    fr: { sms: { text: 'Commande {{ order.id }}' } },
  };

  it('falls back fr-CA → fr → default', () => {
    expect(selectLocale(content, 'fr-CA', 'en')).toBe('fr');
    expect(selectLocale(content, 'de-AT', 'en')).toBe('en');
  });

  it('escapes HTML only in the html body', () => {
    const out = renderContent(content.en, ['email', 'sms'], { name: '<b>Ann</b>', order: { id: 7 } });
    expect(out.email).toEqual({ subject: 'Order 7 shipped', html: '<p>Hi &lt;b&gt;Ann&lt;/b&gt;</p>', text: 'Hi <b>Ann</b>' });
    expect(out.sms).toEqual({ text: 'Order 7' });
    const quoted = renderContent({ email: { subject: '{{ q }}', html: '<a title="{{ q }}">{{ q | raw }}</a>' } }, ['email'], { q: `"&'` });
    expect(quoted.email).toEqual({ subject: `"&'`, html: `<a title="&#34;&amp;&#39;">"&'</a>` });
  });

  it('renders conditions, filters and nested webhook content', () => {
    const out = renderContent(
      {
        sms: { text: '{{ name | upcase }}{% if note %}: {{ note }}{% endif %}{% unless vip %} (standard){% endunless %} {{ total | times: 2 }}' },
        webhook: { event: 'order', lines: ['{{ items | size }}', '{{ items.first.text }}'], meta: { who: '{{ name }}' } },
      },
      ['sms', 'webhook'],
      { name: 'Ann', note: 'fragile', vip: false, total: 21, items: [{ text: 'a' }, { text: 'b' }] },
    );
    expect(out.sms).toEqual({ text: 'ANN: fragile (standard) 42' });
    expect(out.webhook).toEqual({ event: 'order', lines: ['2', 'a'], meta: { who: 'Ann' } });
  });

  it('renders lists for digests with {% for %}', () => {
    const out = renderContent(content.en, ['inapp'], { count: 2, items: [{ text: 'a' }, { text: 'b' }] });
    expect(out.inapp).toEqual({ title: '2 comments', body: 'a;b;' });
  });

  it('sees only the data’s own properties', () => {
    const out = renderContent({ sms: { text: '[{{ constructor }}|{{ order.constructor.name }}|{{ order.__proto__ }}|{{ order.toString }}]' } }, ['sms'], { order: {} });
    expect(out.sms).toEqual({ text: '[|||]' });
  });

  it('names every missing variable, ignoring conditional and template-bound ones', () => {
    expect(missingVariables(content.en, ['email', 'sms', 'inapp'], { order: {} })).toEqual(['count', 'items', 'name', 'order.id']);
    expect(missingVariables(content.en, ['inapp'], { count: 2, items: [] })).toEqual([]);
    const tricky = {
      sms: {
        text: [
          '{% if a.b %}{{ c }}{% else %}{{ d }}{% endif %}',
          '{% unless e %}{{ f }}{% endunless %}',
          '{% case g %}{% when 1 %}{{ h }}{% endcase %}',
          '{% for x in list %}{{ x.y }}{{ forloop.index }}{{ outer }}{% else %}{{ empty_only }}{% endfor %}',
          '{% assign z = base.value %}{{ z.more }}',
          '{% capture cap %}{{ inside }}{% endcapture %}{{ cap }}',
          '{{ maybe | default: "n/a" }}',
          '{{ list.size }} {{ list.first.name }} {{ amount | plus: extra }}',
        ].join(''),
      },
    };
    expect(missingVariables(tricky, ['sms'], {})).toEqual(['amount', 'base.value', 'extra', 'inside', 'list', 'list.first.name', 'list.size', 'outer']);
    expect(missingVariables(tricky, ['sms'], { list: [{ name: 'n' }], outer: 1, base: { value: 1 }, inside: 1, amount: 1, extra: 2 })).toEqual([]);
    // Inherited properties are no data: `constructor` is missing like any other name.
    expect(missingVariables({ sms: { text: '{{ order.constructor }}' } }, ['sms'], { order: {} })).toEqual(['order.constructor']);
  });

  it('rejects a template that does not parse, or uses a filter or tag it may not, naming the field', () => {
    for (const text of ['Hi {% if x %}', 'Hi {{#if x}}{{/if}}', '{{ x | no_such_filter }}', '{% include "package.json" %}', '{% render "secrets" %}', '{% layout "x" %}'])
      expect(() => validateTemplateContent({ en: { sms: { text } } }), text).toThrow(expect.objectContaining({ name: 'TemplateSyntaxError', path: 'content.en.sms.text' }));
    expect(() => validateTemplateContent({ en: { sms: { text: 'Hi {{ x }}' } } })).not.toThrow();
  });

  describe('limits', () => {
    it('refuses a template longer than the parse limit, naming the field', () => {
      const { error } = timed(() => validateTemplateContent({ en: { email: { subject: 's', html: 'x'.repeat(PARSE_LIMIT + 1) } } }));
      expect(error).toBeInstanceOf(TemplateRenderError);
      expect(error).toMatchObject({ kind: 'limit', path: 'content.en.email.html' });
    });

    it('refuses at publish a billion loop iterations over literal ranges', () => {
      for (const text of [BILLION, BILLION_EMPTY]) {
        // Stopped by the render limit (kind 'limit'), not by finishing a billion iterations.
        const { error } = timed(() => validateTemplateContent({ en: { sms: { text: 'ok' }, email: { subject: 's', html: text } } }));
        expect(error).toMatchObject({ name: 'TemplateRenderError', kind: 'limit', path: 'content.en.email.html' });
      }
    });

    it('stops rendering a billion iterations over data at the render limit', () => {
      expect(() => validateTemplateContent({ en: { sms: { text: BILLION_OVER_DATA } } })).not.toThrow();
      const { error, ms } = timed(() => renderContent({ sms: { text: BILLION_OVER_DATA } }, ['sms'], { items: thousand }));
      expect(error).toMatchObject({ name: 'TemplateRenderError', kind: 'limit', path: 'sms.text' });
      expect((error as Error).message).toMatch(/longer than 300 ms/);
      // Not before the limit (a loaded machine only makes it later); that it stops is the error.
      expect(ms).toBeGreaterThanOrEqual(RENDER_LIMIT_MS - 5);
    });

    it('shares one render budget between all fields of a content', () => {
      const slow = '{% for a in items %}{% for b in items %}{{ b }}{% endfor %}{% endfor %}';
      const { error, cpuMs } = timed(() =>
        renderContent({ email: { subject: slow, html: slow, text: slow }, sms: { text: slow } }, ['email', 'sms'], { items: thousand.concat(thousand, thousand) }),
      );
      expect(error).toMatchObject({ kind: 'limit' });
      // Counted in CPU time, which a busy neighbour does not add to: one budget for the four
      // fields is ~RENDER_LIMIT_MS of work (a little more with the collector's threads), a
      // budget per field would be four times it.
      expect(cpuMs).toBeLessThan(3 * RENDER_LIMIT_MS);
    });

    it('stops allocations that double each pass at the memory limit', () => {
      // A string that doubles each pass reaches the limit in a few milliseconds of work, long
      // before the render limit, however busy the machine.
      const doubling = '{% assign s = "xxxxxxxxxxxxxxxx" %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}';
      const { error } = timed(() => renderContent({ sms: { text: doubling } }, ['sms'], {}));
      expect(error).toMatchObject({ kind: 'limit' });
      expect((error as Error).message).toContain(String(MEMORY_LIMIT));
    });

    it('tells a render error from a limit', () => {
      const { error } = timed(() => renderContent({ sms: { text: '{{ s | url_decode }}' } }, ['sms'], { s: '%E0%A4%A' }));
      expect(error).toBeInstanceOf(TemplateRenderError);
      expect(error).toMatchObject({ kind: 'error', path: 'sms.text' });
      // A stored template that no longer parses fails its render rather than throwing a syntax error.
      const old = timed(() => renderContent({ sms: { text: 'Hi {{#if x}}{{/if}}' } }, ['sms'], {})).error;
      expect(old).toMatchObject({ name: 'TemplateRenderError', kind: 'error' });
      expect(old).not.toBeInstanceOf(TemplateSyntaxError);
    });
  });
});
