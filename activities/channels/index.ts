// Builds every channel's sender from plain options (the worker maps Config onto them). A
// channel whose credentials are missing gets no sender: its deliveries fail
// `channel_unconfigured` and /readyz reports it unconfigured.
import { readFileSync } from 'node:fs';
import type { Db } from '../../db/client.js';
import type { Channel } from '../../domain/types.js';
import { createEmailSender } from './email.js';
import { createInappSender } from './inapp.js';
import { createPagerClient, createPagerSender, DEFAULT_PAGER_EVENTS_URL } from './pager.js';
import { createSlackSender } from './slack.js';
import { createSmsSender, createWhatsappSender } from './sms.js';
import { createSmtpSender } from './smtp.js';
import { createTelegramSender } from './telegram.js';
import { createVonageSender } from './vonage.js';
import { createApnsProvider } from './push/apns.js';
import { createFcmProvider } from './push/fcm.js';
import { createPushSender } from './push/index.js';
import type { PushProvider } from './push/types.js';
import { createWebPushProvider } from './push/webpush.js';
import type { ChannelSender } from './types.js';
import { createWebhookSender } from './webhook.js';
import type { ProviderOptions } from './readiness.js';

interface SenderOptions extends ProviderOptions {
  db: Db;
}

export type Senders = Partial<Record<Channel, ChannelSender>>;

/** WEBPUSH_CA as PEM: the value itself, or the file it names. */
export const webpushCaPem = (value: string | undefined) => (value && !value.includes('BEGIN CERTIFICATE') ? readFileSync(value, 'utf8') : value);

/** The push providers whose settings are given. */
function pushProviders(opts: ProviderOptions): PushProvider[] {
  return [
    createFcmProvider({ serviceAccount: opts.fcmServiceAccount, baseUrl: opts.fcmBaseUrl }),
    createApnsProvider({ key: opts.apnsKey, keyId: opts.apnsKeyId, teamId: opts.apnsTeamId, topic: opts.apnsTopic, baseUrl: opts.apnsBaseUrl }),
    createWebPushProvider({
      publicKey: opts.vapidPublicKey,
      privateKey: opts.vapidPrivateKey,
      subject: opts.vapidSubject,
      ca: webpushCaPem(opts.webpushCa),
    }),
  ].filter((p): p is PushProvider => p !== null);
}

/** Every channel except in-app and push, which need the database too. */
function createProviderSenders(opts: ProviderOptions): Omit<Senders, 'inapp' | 'push'> {
  const twilio = {
    accountSid: opts.twilioAccountSid,
    authToken: opts.twilioAuthToken,
    apiBaseUrl: opts.twilioApiBaseUrl,
    statusCallbackUrl: opts.publicBaseUrl ? `${opts.publicBaseUrl.replace(/\/+$/, '')}/v1/receipts/twilio` : undefined,
  };
  const candidates = {
    email: createEmailSender({ apiKey: opts.resendApiKey, baseUrl: opts.resendBaseUrl, from: opts.emailFrom }) ?? createSmtpSender({ url: opts.smtpUrl, from: opts.emailFrom }),
    sms:
      createSmsSender({ ...twilio, from: opts.twilioFrom }) ??
      createVonageSender({ apiKey: opts.vonageApiKey, apiSecret: opts.vonageApiSecret, from: opts.vonageFrom, baseUrl: opts.vonageBaseUrl }),
    whatsapp: createWhatsappSender({ ...twilio, from: opts.twilioWhatsappFrom }),
    telegram: createTelegramSender({ botToken: opts.telegramBotToken, apiUrl: opts.telegramApiUrl }),
    slack: createSlackSender({ botToken: opts.slackBotToken, apiUrl: opts.slackApiUrl }),
    webhook: createWebhookSender({ allowedHosts: opts.webhookAllowedHosts, onBlocked: opts.onWebhookBlocked }),
    pager: createPagerSender(createPagerClient({ eventsUrl: opts.pagerEventsUrl ?? DEFAULT_PAGER_EVENTS_URL })),
  };
  const senders: Omit<Senders, 'inapp' | 'push'> = {};
  for (const [channel, sender] of Object.entries(candidates) as [Exclude<Channel, 'inapp' | 'push'>, ChannelSender | null][]) {
    if (sender) senders[channel] = sender;
  }
  return senders;
}

export function createSenders(opts: SenderOptions): Senders {
  const push = createPushSender(opts.db, pushProviders(opts));
  return { ...createProviderSenders(opts), inapp: createInappSender(opts.db), ...(push ? { push } : {}) };
}
