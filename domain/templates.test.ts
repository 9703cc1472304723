import { describe, expect, it } from 'vitest';
import { missingVariables, renderContent, selectLocale, validateTemplateContent } from './templates.js';

describe('templates', () => {
  const content = {
    en: {
      email: { subject: 'Order {{ order.id }} shipped', html: '<p>Hi {{ name }}</p>', text: 'Hi {{ name }}' },
      sms: { text: 'Order {{order.id}}{{#if note}}: {{ note }}{{/if}}' },
      inapp: { title: '{{count}} comments', body: '{{#each items}}{{this.text}};{{/each}}' },
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
  });

  it('names every missing variable, ignoring block-scoped ones', () => {
    expect(missingVariables(content.en, ['email', 'sms', 'inapp'], { order: {} })).toEqual(['count', 'items', 'name', 'order.id']);
    expect(missingVariables(content.en, ['inapp'], { count: 2, items: [] })).toEqual([]);
  });

  it('renders lists for digests', () => {
    const out = renderContent(content.en, ['inapp'], { count: 2, items: [{ text: 'a' }, { text: 'b' }] });
    expect(out.inapp).toEqual({ title: '2 comments', body: 'a;b;' });
  });

  it('rejects a template that does not parse, naming the field', () => {
    expect(() => validateTemplateContent({ en: { sms: { text: 'Hi {{#if x}}' } } })).toThrow(
      expect.objectContaining({ path: 'content.en.sms.text' }),
    );
  });
});
