// Digest windows: which window an arrival joins. Pure, so the digest workflow stays a thin
// shell around it and the rules are tested without a server.
import type { DigestSpec, NotificationInput } from './types.js';

/** Hard cap on one window's items (and the default `maxItems`): bounds the digest's payload. */
export const MAX_DIGEST_ITEMS = 1000;

/**
 * Bytes (UTF-8 JSON) of items one window holds at most: past it the window closes early and the
 * next arrival opens a new one. A window's items travel whole, with the pinned input beside them,
 * in several Temporal payloads (the closeDigestWindow activity's input, the notification child's
 * input and its activities'), each bounded by Temporal's 2 MiB payload limit, and a workflow
 * task's commands share one 4 MiB gRPC message; waiting windows also travel together into
 * continue-as-new (MAX_DIGEST_CARRY_BYTES). 256 KiB keeps every one of them far inside its limit.
 */
export const MAX_DIGEST_WINDOW_BYTES = 256 * 1024;
/**
 * Bytes of waiting windows' items a digest run carries into continue-as-new at most (half the
 * 2 MiB payload limit, leaving room for their pinned inputs); with more waiting, it sends first.
 */
export const MAX_DIGEST_CARRY_BYTES = 1024 * 1024;

/** The size of `value` as UTF-8 JSON, deterministic (no TextEncoder needed in a workflow). */
export function jsonBytes(value: unknown): number {
  const json = JSON.stringify(value) ?? '';
  let n = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < json.length && (json.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The bytes of a window's items (computed once for windows carried from a run that did not count). */
export function windowBytes(w: DigestWindow): number {
  return (w.bytes ??= w.items.reduce((sum, item) => sum + jsonBytes(item), 0));
}

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
  /** The items' bytes as UTF-8 JSON, when the window is size-bounded (see windowBytes). */
  bytes?: number;
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
 * timer runs from its first arrival. With `maxBytes`, an arrival that would take the last window
 * past it closes that window early (it goes out as it is) and opens the next. Returns the window
 * the arrival joined.
 */
export function joinWindow(windows: DigestWindow[], arrival: DigestArrival, nowMs: number, opts: { maxBytes?: number } = {}): DigestWindow {
  let w = windows[windows.length - 1];
  const size = opts.maxBytes === undefined ? 0 : jsonBytes(arrival.input.data);
  if (w && opts.maxBytes !== undefined && !w.closed && !w.cancelled && w.items.length > 0 && windowBytes(w) + size > opts.maxBytes) w.closed = true;
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
  if (opts.maxBytes !== undefined) w.bytes = windowBytes(w) + size;
  w.items.push(arrival.input.data);
  w.arrivals.push(arrival.input.notificationId);
  if (w.items.length >= w.maxItems || (opts.maxBytes !== undefined && w.bytes! >= opts.maxBytes)) w.closed = true;
  return w;
}

export interface DigestWorkflowInput {
  tenantId: string;
  recipientId: string;
  key: string;
  /** Windows carried over by continue-as-new. */
  windows?: DigestWindow[];
}

/** Which digest notification an arrival joined, with the window's pinned input. */
export interface DigestJoin {
  notificationId: string;
  input: NotificationInput;
  /** When the window closes at the latest. */
  releaseAt: string;
}
