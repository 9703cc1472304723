import { describe, expect, it } from 'vitest';
import { eventNotificationId } from './events.js';

describe('eventNotificationId', () => {
  const event = 'evt_0mx8zlgej2lxzd1653u92lav9';
  it('is the same for one event, rule and recipient, and a valid resource id of at most 64 characters', () => {
    const id = eventNotificationId(event, 'order-shipped', 'user-42');
    expect(eventNotificationId(event, 'order-shipped', 'user-42')).toBe(id);
    expect(id).toMatch(/^[A-Za-z0-9._:-]{1,64}$/);
    expect(id.startsWith('ntf_0mx8zlgej')).toBe(true);
    const long = eventNotificationId(`evt_${'z'.repeat(60)}`, 'r'.repeat(128), 'x'.repeat(128));
    expect(long.length).toBeLessThanOrEqual(64);
  });
  it('differs across rules and recipients (no collision among 100,000 of one event)', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(eventNotificationId(event, `rule-${i % 7}`, `user-${i}`));
    expect(ids.size).toBe(100_000);
    expect(eventNotificationId(event, 'a', 'b:c')).not.toBe(eventNotificationId(event, 'a:b', 'c'));
  });
});
