import { describe, expect, it } from 'vitest';
import { cleanText, findUnstorableJson, jsonDepth, unstorable } from './text.js';

describe('text the database can hold', () => {
  it('finds NUL and unpaired surrogates, and passes paired ones', () => {
    expect(unstorable('a\u0000b')).toMatch(/NUL/);
    expect(unstorable('\ud800')).toMatch(/surrogate/);
    expect(unstorable('x\udc00')).toMatch(/surrogate/);
    expect(unstorable('\udc00\ud800')).toMatch(/surrogate/);
    expect(unstorable('😀 ok')).toBeNull();
  });

  it('cleans: NUL removed, unpaired surrogates replaced, capped without splitting a pair', () => {
    expect(cleanText('a\u0000b\ud800c')).toBe('ab\uFFFDc');
    expect(cleanText('x'.repeat(2000))).toHaveLength(1000);
    const cut = cleanText('ab😀', 3);
    expect(unstorable(cut)).toBeNull();
    expect(cut).toBe('ab…');
    expect(cleanText('ok')).toBe('ok');
  });

  it('names the first bad place in JSON, keys included, and bounds depth without recursion', () => {
    expect(findUnstorableJson({ a: [1, { b: 'x\u0000' }] }, 10)).toEqual({ path: ['a', '1', 'b'], message: expect.stringMatching(/NUL/) });
    expect(findUnstorableJson({ ['k\ud800']: 1 }, 10)?.message).toMatch(/^key .*surrogate/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableJson(deep, 64)?.message).toMatch(/64 levels/);
    expect(jsonDepth(deep)).toBe(100_000);
    expect(jsonDepth({})).toBe(1);
    expect(findUnstorableJson({ a: { b: 'fine' } }, 2)).toBeNull();
  });
});
