import { describe, expect, it } from 'vitest';
import { byteLru, Lru } from './lru.js';

describe('Lru', () => {
  it('keeps the most recently used entries up to its count', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c')]).toEqual([1, undefined, 3]);
    expect(lru.weight).toBe(2);
  });

  it('forgets entries past their time to live', () => {
    let now = 0;
    const lru = new Lru<string, number>(10, 1000, () => now);
    lru.set('a', 1);
    now = 1001;
    expect(lru.get('a')).toBeUndefined();
    expect(lru.weight).toBe(0);
  });

  it('bounds the sum of its entries’ weights, not their count', () => {
    const lru = byteLru<string, string>(100, (k, v) => k.length + v.length);
    lru.set('a', 'x'.repeat(39)); // 40
    lru.set('b', 'x'.repeat(39)); // 80
    lru.set('c', 'x'.repeat(39)); // 120: a goes
    expect([lru.get('a'), lru.get('b')?.length, lru.get('c')?.length]).toEqual([undefined, 39, 39]);
    expect(lru.weight).toBe(80);
    // Replacing an entry counts its new weight only.
    lru.set('b', 'x');
    expect(lru.weight).toBe(42);
    // Many light entries fit where few heavy ones did.
    for (let i = 0; i < 25; i++) lru.set(`k${i}`, '');
    expect(lru.weight).toBeLessThanOrEqual(100);
    expect(lru.get('k24')).toBe('');
  });

  it('does not keep an entry heavier than the whole bound, nor evict others for it', () => {
    const lru = byteLru<string, string>(100, (_k, v) => v.length);
    lru.set('small', 'x'.repeat(10));
    lru.set('huge', 'x'.repeat(101));
    expect(lru.get('huge')).toBeUndefined();
    expect(lru.get('small')).toHaveLength(10);
    expect(lru.weight).toBe(10);
  });
});
