// Digest windows: which window an arrival joins. Pure, so the digest workflow stays a thin
// shell around it and the rules are tested without a server.
import type { DigestSpec, NotificationInput } from './types.js';

/** Hard cap on one window's items (and the default `maxItems`): bounds the digest's payload. */
export const MAX_DIGEST_ITEMS = 1000;

/** One notification request that asks to be digested. */
export interface DigestArrival {
  /** Pinned by the API as for any notification; `notificationId` is the arrival's own id. */
  input: NotificationInput;
  digest: DigestSpec;
}

/** A window: the notification that will carry the items, fixed when the window opens. */
export interface DigestWindow {
  /** The first arrival's pinned input; its `notificationId` is the digest's id. */
  input: NotificationInput;
  maxItems: number;
  items: Array<Record<string, unknown>>;
  /** The arrival ids that joined, in order. */
  arrivals: string[];
  openedAt: number;
  closesAt: number;
  /** No arrival joins any more: the timer fired or `maxItems` was reached. */
  closed: boolean;
  cancelled: boolean;
}

/** What the digest's template sees, and its webhook body's `data`. */
export function digestData(items: Array<Record<string, unknown>>): { items: Array<Record<string, unknown>>; count: number } {
  return { items, count: items.length };
}

/**
 * Adds an arrival to the last window if it is still open and has room; otherwise opens a new
 * window whose id is the arrival's own. Windows after the first wait their turn; each one's
 * timer runs from its first arrival. Returns the window the arrival joined.
 */
export function joinWindow(windows: DigestWindow[], arrival: DigestArrival, nowMs: number): DigestWindow {
  let w = windows[windows.length - 1];
  if (!w || w.closed || w.cancelled || w.items.length >= w.maxItems) {
    const { data: _first, ...input } = arrival.input;
    w = {
      input: { ...input, data: {} },
      maxItems: Math.min(arrival.digest.maxItems ?? MAX_DIGEST_ITEMS, MAX_DIGEST_ITEMS),
      items: [],
      arrivals: [],
      openedAt: nowMs,
      closesAt: nowMs + arrival.digest.windowSeconds * 1000,
      closed: false,
      cancelled: false,
    };
    windows.push(w);
  }
  w.items.push(arrival.input.data);
  w.arrivals.push(arrival.input.notificationId);
  if (w.items.length >= w.maxItems) w.closed = true;
  return w;
}
