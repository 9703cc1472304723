import { describe, expect, it } from 'vitest';
import { CelError, compileCel, holds, MAX_CEL_LENGTH } from './cel.js';

const event = { name: 'order.shipped', actor: 'u1', data: { total: 150, items: [{ qty: 2 }, { qty: 1 }], country: 'DE' } };
const recipient = { id: 'u1', locale: 'de', timezone: 'Europe/Berlin', attributes: { plan: 'pro', tags: ['beta'] } };

describe('CEL', () => {
  it('evaluates the documented features over event and recipient', () => {
    const cases: Array<[string, boolean]> = [
      ['event.data.total > 100', true],
      ['event.data.total > 200', false],
      ['recipient.attributes.plan == "pro"', true],
      ['"beta" in recipient.attributes.tags', true],
      ['has(event.data.coupon)', false],
      ['event.data.items.exists(i, i.qty > 1)', true],
      ['event.name.startsWith("order.") && event.data.country in ["DE", "AT"]', true],
      ['timestamp("2026-01-01T00:00:00Z") + duration("1h") > timestamp("2026-01-01T00:30:00Z")', true],
    ];
    for (const [expr, want] of cases) expect(holds(compileCel(expr, ['event', 'recipient']), { event, recipient }), expr).toEqual({ value: want });
  });

  it('names the expression and the position of a syntax error', () => {
    const err = (() => {
      try {
        compileCel('event.data.total > ', ['event']);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CelError);
    expect((err as CelError).expression).toBe('event.data.total > ');
    expect((err as CelError).position).toBe(20);
    expect((err as CelError).message).toContain('"event.data.total > "');
  });

  it('refuses unknown variables, non-boolean conditions and oversized expressions', () => {
    expect(() => compileCel('recipient.id == "x"', ['event'])).toThrow(/Unknown variable: recipient/);
    expect(() => compileCel('1 + 2', ['event'])).toThrow(/not bool/);
    expect(() => compileCel('true || '.repeat(300) + 'true', ['event'])).toThrow(CelError);
    expect(() => compileCel('x'.repeat(MAX_CEL_LENGTH + 1), ['event'])).toThrow(/longer than/);
  });

  it('answers false, with the reason, when this input makes the expression fail', () => {
    expect(holds(compileCel('event.data.missing == 1', ['event']), { event })).toEqual({ value: false, error: expect.stringContaining('missing') });
  });

  it('caches compiled programs and errors', () => {
    expect(compileCel('event.actor == "u1"', ['event'])).toBe(compileCel('event.actor == "u1"', ['event']));
  });
});
