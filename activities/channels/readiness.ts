// Which channels have what they need to send, from the settings alone: no provider SDK is
// loaded and no sender built, so an API process (which only reports readiness on /readyz)
// holds none of them. Each rule is the condition under which activities/channels/index.ts
// builds that channel's sender; index.test.ts checks the two agree over random combinations of settings.
import { CHANNELS, type Channel } from '../../domain/types.js';

export interface ProviderOptions {
  emailFrom: string;
  resendApiKey?: string;
  resendBaseUrl?: string;
  twilioAccountSid?: string;
  twilioAuthToken?: string;
  twilioFrom?: string;
  twilioApiBaseUrl?: string;
  twilioWhatsappFrom?: string;
  /** Email over SMTP, used when there is no Resend key. */
  smtpUrl?: string;
  /** SMS through Vonage, used when Twilio's SMS settings are missing. */
  vonageApiKey?: string;
  vonageApiSecret?: string;
  vonageFrom?: string;
  vonageBaseUrl?: string;
  /** Push: FCM's service account (JSON or a path) and base URL, APNs' p8 key and ids, Web Push's VAPID keys. */
  fcmServiceAccount?: string;
  fcmBaseUrl?: string;
  apnsKey?: string;
  apnsKeyId?: string;
  apnsTeamId?: string;
  apnsTopic?: string;
  apnsBaseUrl?: string;
  vapidPublicKey?: string;
  vapidPrivateKey?: string;
  vapidSubject?: string;
  /** Extra certificates (PEM or a path) trusted for Web Push endpoints. */
  webpushCa?: string;
  telegramBotToken?: string;
  telegramApiUrl?: string;
  slackBotToken?: string;
  slackApiUrl?: string;
  pagerEventsUrl?: string;
  /** Where providers reach our callbacks; Twilio's status callback is derived from it. */
  publicBaseUrl?: string;
  /** WEBHOOK_ALLOWED_HOSTS: hosts, IPs and CIDRs webhooks may reach although private or loopback. */
  webhookAllowedHosts?: readonly string[];
  /** Told each time the address guard refuses a webhook (the runtime logs a hint). */
  onWebhookBlocked?: (reason: string) => void;
}

export type ChannelReadiness = Record<Channel, 'configured' | 'unconfigured'>;

const all = (...values: (string | undefined)[]) => values.every(Boolean);

const CONFIGURED: Record<Channel, (o: ProviderOptions) => boolean> = {
  // Resend with a key, else SMTP with a URL.
  email: (o) => all(o.resendApiKey) || all(o.smtpUrl),
  // Twilio with its account and sender, else Vonage with its key, secret and sender.
  sms: (o) => all(o.twilioAccountSid, o.twilioAuthToken, o.twilioFrom) || all(o.vonageApiKey, o.vonageApiSecret, o.vonageFrom),
  whatsapp: (o) => all(o.twilioAccountSid, o.twilioAuthToken, o.twilioWhatsappFrom),
  telegram: (o) => all(o.telegramBotToken),
  slack: (o) => all(o.slackBotToken),
  webhook: () => true,
  pager: () => true,
  inapp: () => true,
  // FCM, APNs or Web Push, whichever have their settings.
  push: (o) =>
    all(o.fcmServiceAccount) || all(o.apnsKey, o.apnsKeyId, o.apnsTeamId, o.apnsTopic) || all(o.vapidPublicKey, o.vapidPrivateKey, o.vapidSubject),
};

/** Which channels have what they need to send; neither the database nor a provider SDK is needed to tell. */
export function channelReadiness(opts: ProviderOptions): ChannelReadiness {
  return Object.fromEntries(CHANNELS.map((c) => [c, CONFIGURED[c](opts) ? 'configured' : 'unconfigured'])) as ChannelReadiness;
}
