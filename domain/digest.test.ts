import { describe, expect, it } from 'vitest';
import { MAX_DIGEST_ITEMS, digestData, joinWindow, jsonBytes, windowBytes, type DigestArrival, type DigestWindow } from './digest.js';
import type { NotificationInput } from './types.js';

const arrival = (id: string, data: Record<string, unknown>, digest: DigestArrival['digest'] = { key: 'k', windowSeconds: 60 }): DigestArrival => ({
  input: { notificationId: id, data, tenantId: 't', recipientId: 'r' } as NotificationInput,
  digest,
});

describe('digest windows', () => {
  it('the first arrival opens a window with its own id; later ones join it in order', () => {
    const windows: DigestWindow[] = [];
    const w = joinWindow(windows, arrival('a', { n: 1 }), 1_000);
    joinWindow(windows, arrival('b', { n: 2 }), 5_000);
    expect(windows).toHaveLength(1);
    expect(w).toMatchObject({ input: { notificationId: 'a', data: {} }, arrivals: ['a', 'b'], openedAt: 1_000, closesAt: 61_000, closed: false });
    expect(digestData(w.items)).toEqual({ items: [{ n: 1 }, { n: 2 }], count: 2 });
  });

  it('closes at maxItems; the next arrival opens the next window, timed from its own arrival', () => {
    const windows: DigestWindow[] = [];
    joinWindow(windows, arrival('a', {}, { key: 'k', windowSeconds: 60, maxItems: 2 }), 0);
    const full = joinWindow(windows, arrival('b', {}), 10);
    expect(full.closed).toBe(true);
    const next = joinWindow(windows, arrival('c', {}), 20);
    expect(windows.map((w) => w.input.notificationId)).toEqual(['a', 'c']);
    expect(next).toMatchObject({ openedAt: 20, closesAt: 60_020, maxItems: MAX_DIGEST_ITEMS });
  });

  it('never joins a closed or cancelled window', () => {
    for (const flag of ['closed', 'cancelled'] as const) {
      const windows: DigestWindow[] = [];
      joinWindow(windows, arrival('a', {}), 0)[flag] = true;
      expect(joinWindow(windows, arrival('b', {}), 1).input.notificationId).toBe('b');
    }
  });

  it('with maxBytes, an arrival that would pass it closes the window early and opens the next', () => {
    const windows: DigestWindow[] = [];
    const big = { text: 'x'.repeat(90) }; // 101 bytes as JSON
    const first = joinWindow(windows, arrival('a', big), 0, { maxBytes: 250 });
    joinWindow(windows, arrival('b', big), 1, { maxBytes: 250 });
    expect(first).toMatchObject({ bytes: 202, closed: false });
    const next = joinWindow(windows, arrival('c', big), 2, { maxBytes: 250 });
    expect(first.closed).toBe(true);
    expect(first.arrivals).toEqual(['a', 'b']);
    expect(next.input.notificationId).toBe('c');
    // Reaching the bound exactly closes it too.
    const exact: DigestWindow[] = [];
    expect(joinWindow(exact, arrival('d', big), 0, { maxBytes: 101 }).closed).toBe(true);
  });

  it('counts UTF-8 bytes, and a carried window without a count gets one', () => {
    expect(jsonBytes({ s: 'é€😀' })).toBe(JSON.stringify({ s: '' }).length + 2 + 3 + 4);
    const windows: DigestWindow[] = [];
    const w = joinWindow(windows, arrival('a', { n: 1 }), 0);
    expect(w.bytes).toBeUndefined();
    expect(windowBytes(w)).toBe(7);
  });

  it('caps maxItems', () => {
    const windows: DigestWindow[] = [];
    expect(joinWindow(windows, arrival('a', {}, { key: 'k', windowSeconds: 1, maxItems: 10 ** 6 }), 0).maxItems).toBe(MAX_DIGEST_ITEMS);
  });
});
