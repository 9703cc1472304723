// What a notification's run will carry in Temporal, checked at acceptance (README: Limits), so
// that no accepted notification sticks in `sending` on a payload the server refuses.
//
// Temporal refuses a payload over `limit.blobSize.error` (2 MiB by default), logs one over
// `limit.blobSize.warn` (512 KiB) and refuses a gRPC message over 4 MiB. A notification's run
// carries, in its largest payloads:
//   - the workflow input: `data` and the pinned ids;
//   - the wake (a local activity, recorded in a marker): the recipient, their preferences and
//     the template's content of the notification's channels in the recipient's locale;
//   - each delivery activity's input: its channel's content, `data` and the recipient with that
//     channel's address (domain/delivery.ts).
// Every one of them is at most content + data + recipient snapshot, which is held to
// MAX_RUN_PAYLOAD_BYTES: 480 KiB leaves 32 KiB under the 512 KiB warning for the ids and
// settings beside them and for the payload codec's envelope (AES-GCM's 28 bytes and the key id
// per payload), and one workflow task's marker and six delivery commands stay near 1.3 MiB
// (2 × 480 KiB + 5 × 64 KiB of `data`), far inside 4 MiB. Rendering happens inside the delivery
// attempt, so rendered text never travels in a payload and its size does not count here.
import { MAX_DIGEST_WINDOW_BYTES, jsonBytes } from '../domain/digest.js';
import { channelContent } from '../domain/delivery.js';
import { invalidInput } from '../domain/errors.js';
import type { Channel, ChannelContent } from '../domain/types.js';

export const MAX_RUN_PAYLOAD_BYTES = 480 * 1024;

interface RunPayload {
  /** The template's content in the locale the run will use. */
  content: ChannelContent;
  /** The channels the run delivers on. */
  channels: readonly Channel[];
  /** The request's `data`, or the most a digest's joined items may come to. */
  dataBytes: number;
  /** The run's data is a digest window's items, not the request's `data`. */
  digest?: boolean;
  /** The recipient with their preferences, as the wake loads them; unknown for a broadcast. */
  recipient?: unknown;
}

/** The bytes a digest's run carries as `data` at most: a full window of items. */
export const DIGEST_DATA_BYTES = MAX_DIGEST_WINDOW_BYTES + jsonBytes({ items: [], count: 1000 });

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * Throws a 400 naming the request field that makes up most of a run's payload (`template`,
 * `data` — `digest` for a digest's items — or `recipient`) when content + data + recipient is over MAX_RUN_PAYLOAD_BYTES.
 * `where` says which locale (and, for a broadcast, that it is one of several).
 */
export function checkRunPayload(run: RunPayload, where: { template: string; locale: string }): void {
  const content = run.channels.reduce((sum, ch) => sum + jsonBytes(channelContent(run.content, ch)), 0);
  const recipient = run.recipient === undefined ? 0 : jsonBytes(run.recipient);
  const total = content + run.dataBytes + recipient;
  if (total <= MAX_RUN_PAYLOAD_BYTES) return;
  const parts = [
    { path: 'template', bytes: content, what: `template ${where.template}'s ${where.locale} content for ${run.channels.join(', ')}` },
    run.digest
      ? { path: 'digest', bytes: run.dataBytes, what: "a digest window's items at most" }
      : { path: 'data', bytes: run.dataBytes, what: 'data' },
    { path: 'recipient', bytes: recipient, what: "the recipient's addresses and preferences" },
  ];
  const largest = parts.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const summary = parts.filter((p) => p.bytes > 0).map((p) => `${p.what}: ${kib(p.bytes)}`).join('; ');
  const message = `a notification's run would carry ${kib(total)} in one Temporal payload, more than the ${kib(MAX_RUN_PAYLOAD_BYTES)} allowed (${summary})`;
  throw invalidInput(`Too large for one notification: ${message}`, [{ path: largest.path, message }]);
}
