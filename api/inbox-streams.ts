// The inbox's open SSE streams in one API instance (api/routes/inbox.ts): counted per tenant
// and per recipient, past either cap a 429, and woken by new rows instead of polling. One
// LISTEN per process (db/inbox-notify.ts) is fanned out here, in memory, to the streams of the
// recipient a notification names; a slow safety poll catches what a lost notification (a
// dropped listening connection, say) would miss. Without a listener streams poll every second.
import type { Database } from '../db/client.js';
import { INBOX_CHANNEL, inboxKey, inboxKeyOf } from '../db/inbox-notify.js';
import { Problem } from './problem.js';

interface InboxStreamSettings {
  /** Streams one tenant may hold open in this instance (SSE_MAX_STREAMS_PER_TENANT). */
  perTenant: number;
  /** Streams one recipient's inbox may have open in this instance (SSE_MAX_STREAMS_PER_RECIPIENT). */
  perRecipient: number;
}

const DEFAULT_INBOX_STREAMS: InboxStreamSettings = { perTenant: 100, perRecipient: 5 };
/** A listening stream looks for new rows this often even without a notification. */
const SAFETY_POLL_MS = 30_000;
/** How often a stream looks without a listener. */
const POLL_MS = 1000;
/** Retry-After of a 429: a slot frees when a stream closes, which no one can foretell. */
const RETRY_AFTER_SECONDS = 5;

export interface InboxStreamsOptions extends Partial<InboxStreamSettings> {
  /** The database's LISTEN; unset: every stream polls each POLL_MS. */
  listen?: Database['listen'];
  safetyPollMs?: number;
  pollMs?: number;
}

/** One open stream's slot. */
interface InboxStream {
  /** Resolves when new rows may be there: notified, the poll's time came, or the stream ended. */
  next(): Promise<void>;
  /** Ended by close() here or by the hub's close(). */
  readonly ended: boolean;
  /** Frees the slot and ends the stream; idempotent. */
  close(): void;
}

export interface InboxStreams {
  /** Takes a slot for a stream of this recipient's inbox, or throws a 429 Problem. */
  open(tenantId: string, recipientId: string): InboxStream;
  /** Streams open now: in all, or of one tenant. */
  count(tenantId?: string): number;
  /** Ends every stream and stops listening (server shutdown). */
  close(): Promise<void>;
}

interface Entry {
  wake(): void;
  end(): void;
}

export function createInboxStreams(opts: InboxStreamsOptions = {}): InboxStreams {
  const perTenant = opts.perTenant ?? DEFAULT_INBOX_STREAMS.perTenant;
  const perRecipient = opts.perRecipient ?? DEFAULT_INBOX_STREAMS.perRecipient;
  const tenants = new Map<string, number>();
  const inboxes = new Map<string, Set<Entry>>();
  let listening = false;
  let starting: Promise<void> | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let closed = false;

  const wakeAll = () => inboxes.forEach((set) => set.forEach((e) => e.wake()));
  // Started with the first stream, so an instance whose inbox nobody streams holds no connection.
  const listen = () => {
    if (!opts.listen || starting || closed) return;
    starting = opts
      .listen(
        INBOX_CHANNEL,
        (payload) => {
          const key = inboxKeyOf(payload);
          if (key) inboxes.get(key)?.forEach((e) => e.wake());
        },
        // (Again) listening: whatever was written while not listening is looked for now.
        () => {
          listening = true;
          wakeAll();
        },
      )
      .then(
        (stop) => {
          unlisten = stop;
        },
        () => {
          // No listener for now (the database is away): streams poll, and the next stream tries again.
          starting = undefined;
        },
      );
  };

  const tooMany = (detail: string) => new Problem(429, `${detail}; retry once one closes`, [], { 'retry-after': String(RETRY_AFTER_SECONDS) });

  return {
    open(tenantId, recipientId) {
      if (closed) throw new Problem(503, 'The server is shutting down', [], { 'retry-after': String(RETRY_AFTER_SECONDS) });
      const key = inboxKey(tenantId, recipientId);
      const held = tenants.get(tenantId) ?? 0;
      if (held >= perTenant) throw tooMany(`This tenant has ${perTenant} inbox streams open on this server, the most it may`);
      let set = inboxes.get(key);
      if ((set?.size ?? 0) >= perRecipient) throw tooMany(`This recipient's inbox has ${perRecipient} streams open on this server, the most it may`);
      if (!set) inboxes.set(key, (set = new Set()));
      tenants.set(tenantId, held + 1);
      listen();

      let ended = false;
      let pending = false;
      let resolve: (() => void) | undefined;
      const entry: Entry = {
        wake() {
          pending = true;
          resolve?.();
        },
        end() {
          ended = true;
          resolve?.();
        },
      };
      set.add(entry);
      const release = () => {
        if (!set.delete(entry)) return;
        if (set.size === 0) inboxes.delete(key);
        const n = (tenants.get(tenantId) ?? 1) - 1;
        if (n === 0) tenants.delete(tenantId);
        else tenants.set(tenantId, n);
      };
      return {
        get ended() {
          return ended;
        },
        next() {
          if (ended) return Promise.resolve();
          if (pending) {
            pending = false;
            return Promise.resolve();
          }
          return new Promise<void>((done) => {
            const timer = setTimeout(() => resolve?.(), listening ? (opts.safetyPollMs ?? SAFETY_POLL_MS) : (opts.pollMs ?? POLL_MS));
            resolve = () => {
              clearTimeout(timer);
              resolve = undefined;
              pending = false;
              done();
            };
          });
        },
        close() {
          release();
          entry.end();
        },
      };
    },
    count(tenantId) {
      if (tenantId !== undefined) return tenants.get(tenantId) ?? 0;
      let n = 0;
      for (const v of tenants.values()) n += v;
      return n;
    },
    async close() {
      closed = true;
      inboxes.forEach((set) => set.forEach((e) => e.end()));
      await starting;
      const stop = unlisten;
      unlisten = undefined;
      await stop?.();
    },
  };
}
