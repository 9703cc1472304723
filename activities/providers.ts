// Which provider a delivery goes through: the tenant's enabled integrations of its channel in
// priority order (README: "Integrations"), else the platform's sender. With integrations, a
// delivery attempt starts at the next one after the provider the previous attempt used (attempt
// n starts at integration (n - 1) mod count), so a transient failure moves the next attempt to
// the next provider; a permanent refusal ends the delivery (Temporal does not retry it).
//
// Each integration has a circuit breaker (cockatiel) in this worker: after `breakerFailures`
// (5) consecutive transient failures it opens for `breakerCooldownSeconds` (30), and attempts
// skip it without calling it; then one trial call closes or reopens it. Its state changes are
// written to the integration's `health`, which GET /v1/integrations shows. Credentials are
// opened here, in the worker, from the sealed row: they are never in a workflow's payloads.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import type { Db } from '../db/client.js';
import { claimPace, finishPace, integrationsOf, recordIntegrationHealth, type IntegrationRow } from '../db/integrations.js';
import { ErrorType } from '../domain/errors.js';
import { Lru } from '../domain/lru.js';
import type { Channel } from '../domain/types.js';
import { openCredentials } from '../usecases/credentials.js';
import { INTEGRATION_PROVIDERS } from '../usecases/schemas.js';
import type { EncryptionKey } from '../usecases/payload-codec.js';
import { createEmailSender } from './channels/email.js';
import { createSlackSender } from './channels/slack.js';
import { createSmsSender, createWhatsappSender } from './channels/sms.js';
import { createSmtpSender } from './channels/smtp.js';
import { createTelegramSender } from './channels/telegram.js';
import type { ChannelSender } from './channels/types.js';
import { createApnsProvider } from './channels/push/apns.js';
import { createFcmProvider } from './channels/push/fcm.js';
import type { PushProvider } from './channels/push/types.js';
import { createWebPushProvider } from './channels/push/webpush.js';
import { webpushCaPem } from './channels/index.js';
import { createVonageSender } from './channels/vonage.js';

export interface IntegrationOptions {
  /** TOCSIN_ENCRYPTION_KEYS: opens the integrations' sealed credentials. */
  keys: readonly EncryptionKey[];
  /** EMAIL_FROM, for email integrations without `settings.from`. */
  emailFrom: string;
  /** Where Twilio's status callbacks go (PUBLIC_BASE_URL). */
  publicBaseUrl?: string;
  /** WEBPUSH_CA (PEM, or a path to it): trusted for Web Push endpoints besides the system's, as for the platform's provider. */
  webpushCa?: string;
}

/** A tenant's integrations are read again after this long (a PUT reaches sends within it). */
const INTEGRATIONS_TTL_MS = 5_000;
const DEFAULT_BREAKER_FAILURES = 5;
const DEFAULT_BREAKER_COOLDOWN_SECONDS = 30;
/** The longest an attempt waits for its turn under an integration's rate. */
const MAX_PACE_WAIT_MS = 30_000;

/** One integration, ready to send: its sender and its breaker. */
interface Provider {
  row: IntegrationRow;
  sender: ChannelSender;
  breaker: CircuitBreakerPolicy;
  failures: number;
}

/** Failures that are no answer of the provider's: a wait for the rate, a cancelled wait. */
const notTheProviders = new WeakSet<object>();

/**
 * A transient failure counts towards the breaker; a permanent refusal is the message's, not the
 * provider's, and a wait for the integration's rate or a cancellation is neither.
 */
const transient = (err: unknown) =>
  !(err instanceof ApplicationFailure && err.nonRetryable) && !(typeof err === 'object' && err !== null && notTheProviders.has(err)) && !(err instanceof Error && err.name === 'AbortError');

function senderFor(row: IntegrationRow, credentials: Record<string, string>, opts: IntegrationOptions): ChannelSender | null {
  const { settings } = row;
  const statusCallbackUrl = opts.publicBaseUrl ? `${opts.publicBaseUrl.replace(/\/+$/, '')}/v1/receipts/twilio` : undefined;
  const twilio = { accountSid: credentials.accountSid, authToken: credentials.authToken, apiBaseUrl: settings.baseUrl, statusCallbackUrl, from: settings.from ?? credentials.from };
  switch (`${row.channel}:${row.provider}`) {
    case 'email:resend':
      return createEmailSender({ apiKey: credentials.apiKey, baseUrl: settings.baseUrl, from: settings.from ?? opts.emailFrom });
    case 'email:smtp':
      return createSmtpSender({ url: credentials.url, from: settings.from ?? opts.emailFrom });
    case 'sms:twilio':
      return createSmsSender(twilio);
    case 'whatsapp:twilio':
      return createWhatsappSender(twilio);
    case 'sms:vonage':
      return createVonageSender({ apiKey: credentials.apiKey, apiSecret: credentials.apiSecret, from: settings.from ?? credentials.from, baseUrl: settings.baseUrl });
    case 'telegram:telegram':
      return createTelegramSender({ botToken: credentials.botToken, apiUrl: settings.baseUrl });
    case 'slack:slack':
      return createSlackSender({ botToken: credentials.botToken, apiUrl: settings.baseUrl });
    default:
      return null;
  }
}

function pushProviderFor(row: IntegrationRow, credentials: Record<string, string>, opts: IntegrationOptions): PushProvider | null {
  const baseUrl = row.settings.baseUrl;
  switch (row.provider) {
    case 'fcm':
      return createFcmProvider({ serviceAccount: credentials.serviceAccount, baseUrl });
    case 'apns':
      return createApnsProvider({ key: credentials.key, keyId: credentials.keyId, teamId: credentials.teamId, topic: credentials.topic, baseUrl });
    case 'webpush':
      return createWebPushProvider({ publicKey: credentials.publicKey, privateKey: credentials.privateKey, subject: credentials.subject, ca: webpushCaPem(opts.webpushCa) });
    default:
      return null;
  }
}

/** A built provider stays while its row is the one it was built from (a PUT rebuilds it). */
const sameRow = (built: IntegrationRow, now: IntegrationRow) => built.updatedAt.getTime() === now.updatedAt.getTime() && built.credentials === now.credentials;

export function createIntegrationProviders(db: Db, opts: IntegrationOptions) {
  /** Built providers by tenant and integration id, rebuilt when the row changes. */
  const built = new Map<string, Provider>();
  /** Each tenant's enabled integrations of a channel, read again after INTEGRATIONS_TTL_MS. */
  const lists = new Lru<string, IntegrationRow[]>(10_000, INTEGRATIONS_TTL_MS);

  async function rowsOf(tenantId: string, channel: Channel): Promise<IntegrationRow[]> {
    // Channels no integration can serve (in-app, webhooks, paging, push) never ask the database.
    if (!Object.hasOwn(INTEGRATION_PROVIDERS, channel)) return [];
    const key = `${tenantId}\u0000${channel}`;
    const cached = lists.get(key);
    if (cached) return cached;
    const rows = (await integrationsOf(db, tenantId, channel)).filter((r) => r.enabled);
    lists.set(key, rows);
    return rows;
  }

  function credentialsOf(row: IntegrationRow): Record<string, string> {
    try {
      return openCredentials(opts.keys, { tenantId: row.tenantId, integrationId: row.id }, row.credentials);
    } catch (err) {
      throw ApplicationFailure.create({ type: ErrorType.ChannelUnconfigured, message: `integration ${row.id}: its credentials cannot be opened (${(err as Error).message})`, nonRetryable: false });
    }
  }

  function providerOf(row: IntegrationRow): Provider {
    const key = `${row.tenantId}\u0000${row.id}`;
    const existing = built.get(key);
    if (existing && sameRow(existing.row, row)) return existing;
    const credentials = credentialsOf(row);
    const sender = senderFor(row, credentials, opts);
    if (!sender) throw ApplicationFailure.create({ type: ErrorType.ChannelUnconfigured, message: `integration ${row.id}: ${row.provider} cannot send ${row.channel}`, nonRetryable: true });
    const breaker = circuitBreaker(handleWhen(transient), {
      halfOpenAfter: (row.settings.breakerCooldownSeconds ?? DEFAULT_BREAKER_COOLDOWN_SECONDS) * 1000,
      breaker: new ConsecutiveBreaker(row.settings.breakerFailures ?? DEFAULT_BREAKER_FAILURES),
    });
    const provider: Provider = { row, sender, breaker, failures: 0 };
    let openedAt: string | null = null;
    const show = (state: 'closed' | 'open' | 'half_open') =>
      void recordIntegrationHealth(db, row.tenantId, row.id, { state, failures: provider.failures, openedAt }).catch(() => undefined);
    breaker.onBreak(() => {
      openedAt = new Date().toISOString();
      show('open');
    });
    breaker.onHalfOpen(() => show('half_open'));
    breaker.onReset(() => {
      openedAt = null;
      show('closed');
    });
    breaker.onFailure(({ handled }) => {
      if (!handled) return;
      provider.failures++;
      if (breaker.state === CircuitState.Closed) show('closed');
    });
    breaker.onSuccess(() => {
      if (provider.failures === 0) return;
      provider.failures = 0;
      if (breaker.state === CircuitState.Closed) show('closed');
    });
    built.set(key, provider);
    return provider;
  }

  /**
   * Sends through the tenant's integrations of the channel, starting where attempt `attempt`
   * starts, skipping any whose breaker is open; null when the tenant has none (the platform
   * sender's turn).
   */
  async function send<T>(
    tenantId: string,
    channel: Channel,
    attempt: number,
    call: (sender: ChannelSender) => Promise<T>,
    waiting: { signal?: AbortSignal; heartbeat?: () => void } = {},
  ): Promise<T | null> {
    // Push integrations are chosen per device by the push sender (pushProviders), not as a chain.
    if (channel === 'push') return null;
    const rows = await rowsOf(tenantId, channel);
    if (rows.length === 0) return null;
    const start = (attempt - 1) % rows.length;
    for (let i = 0; i < rows.length; i++) {
      const provider = providerOf(rows[(start + i) % rows.length]);
      try {
        return await provider.breaker.execute(async () => {
          const claim = await pace(provider.row, waiting);
          try {
            return await call(provider.sender);
          } finally {
            if (claim !== null) await finishPace(db, claim).catch(() => undefined);
          }
        });
      } catch (err) {
        if (err instanceof BrokenCircuitError) continue; // open: skipped without a call
        throw err;
      }
    }
    throw ApplicationFailure.create({
      type: ErrorType.ProviderUnavailable,
      message: `every ${channel} integration's circuit is open`,
      nonRetryable: false,
    });
  }

  /**
   * Waits for the integration's turn under `settings.ratePerSecond`: at most ⌊rate⌋ sends (at
   * least 1) in any window of ⌊rate⌋ / rate seconds, across every worker, counted from each
   * send's claim to its end plus the window (db/integrations.ts claimPace), so the provider never
   * sees more than the rate whatever the network's delays. An attempt waits up to
   * MAX_PACE_WAIT_MS; a longer queue is a retry after the wait, which Temporal schedules (and
   * which counts as an attempt). Answers the claim to finish after the send, if any.
   */
  async function pace(row: IntegrationRow, waiting: { signal?: AbortSignal; heartbeat?: () => void }): Promise<number | null> {
    const rate = row.settings.ratePerSecond;
    if (!rate) return null;
    const limit = Math.max(1, Math.floor(rate));
    const windowMs = Math.ceil((1000 * limit) / rate);
    let waited = 0;
    for (;;) {
      const turn = await claimPace(db, row.tenantId, row.id, limit, windowMs);
      if ('claim' in turn) return turn.claim;
      if (waited + turn.waitMs > MAX_PACE_WAIT_MS) {
        const later = ApplicationFailure.create({ type: ErrorType.ProviderUnavailable, message: `integration ${row.id} is at its rate of ${rate}/s`, nonRetryable: false, nextRetryDelay: turn.waitMs });
        notTheProviders.add(later);
        throw later;
      }
      await sleep(turn.waitMs, undefined, { signal: waiting.signal });
      waited += turn.waitMs;
      waiting.heartbeat?.();
    }
  }

  /** Built push providers by tenant and integration id, rebuilt when the row changes. */
  const builtPush = new Map<string, { row: IntegrationRow; provider: PushProvider }>();

  /**
   * The tenant's own push providers: of each of fcm, apns and webpush, its enabled integration
   * first in priority order. The push sender uses each for the devices of its provider, in
   * place of the platform's.
   */
  async function pushProviders(tenantId: string): Promise<PushProvider[]> {
    const rows = await rowsOf(tenantId, 'push');
    const first = new Map<string, IntegrationRow>();
    for (const row of rows) if (!first.has(row.provider)) first.set(row.provider, row);
    return [...first.values()].map((row) => {
      const key = `${row.tenantId}\u0000${row.id}`;
      const existing = builtPush.get(key);
      if (existing && sameRow(existing.row, row)) return existing.provider;
      const credentials = credentialsOf(row);
      const provider = pushProviderFor(row, credentials, opts);
      if (!provider) throw ApplicationFailure.create({ type: ErrorType.ChannelUnconfigured, message: `integration ${row.id}: ${row.provider} cannot send push`, nonRetryable: true });
      void existing?.provider.close?.().catch(() => undefined);
      builtPush.set(key, { row, provider });
      return provider;
    });
  }

  /** Whether the tenant has an enabled integration of the channel (its sends go through it, one by one). */
  async function has(tenantId: string, channel: Channel): Promise<boolean> {
    return (await rowsOf(tenantId, channel)).length > 0;
  }

  return { send, has, pushProviders };
}

export type IntegrationProviders = ReturnType<typeof createIntegrationProviders>;
