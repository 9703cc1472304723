import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../db/client.js';
import { CHANNELS } from '../../domain/types.js';
import { sendRequest } from '../../test/fakes/send-request.js';
import { startFakeTwilio } from '../../test/fakes/twilio.js';
import type { FakeServer } from '../../test/fakes/server.js';
import { createSenders } from './index.js';
import { channelReadiness, type ProviderOptions } from './readiness.js';

const SID = `AC${'0123456789abcdef'.repeat(2)}`;

describe('createSenders / channelReadiness', () => {
  let twilio: FakeServer;
  beforeEach(async () => {
    twilio = await startFakeTwilio();
  });
  afterEach(() => twilio.close());

  it('without credentials only the channels that need none are configured', () => {
    expect(channelReadiness({ emailFrom: 'n@example.com' })).toEqual({
      email: 'unconfigured',
      sms: 'unconfigured',
      slack: 'unconfigured',
      webhook: 'configured',
      inapp: 'configured',
      pager: 'configured',
      whatsapp: 'unconfigured',
      telegram: 'unconfigured',
      push: 'unconfigured',
    });
    const senders = createSenders({ emailFrom: 'n@example.com', db: {} as Db });
    expect(Object.keys(senders).sort()).toEqual(['inapp', 'pager', 'webhook']);
  });

  it('with credentials every channel is configured', () => {
    const opts = {
      emailFrom: 'n@example.com',
      resendApiKey: 're_x',
      twilioAccountSid: SID,
      twilioAuthToken: 't',
      twilioFrom: '+15005550006',
      slackBotToken: 'xoxb-x',
      twilioWhatsappFrom: '+14155238886',
      telegramBotToken: '123:abc',
      vapidPublicKey: 'BPub',
      vapidPrivateKey: 'priv',
      vapidSubject: 'mailto:ops@example.com',
    };
    expect(Object.values(channelReadiness(opts))).toEqual(Array(9).fill('configured'));
    const senders = createSenders({ ...opts, db: {} as Db });
    expect(Object.fromEntries(Object.entries(senders).map(([c, s]) => [c, s!.provider]))).toEqual({
      email: 'resend',
      sms: 'twilio',
      slack: 'slack',
      webhook: 'webhook',
      pager: 'pagerduty',
      inapp: 'tocsin',
      whatsapp: 'twilio',
      telegram: 'telegram',
      push: 'webpush',
    });
  });

  it('sms goes through Vonage when Twilio is not configured; Twilio wins when both are', () => {
    const vonage = { emailFrom: 'n@example.com', vonageApiKey: 'k', vonageApiSecret: 's', vonageFrom: 'Acme' };
    expect(createSenders({ ...vonage, db: {} as Db }).sms?.provider).toBe('vonage');
    expect(createSenders({ ...vonage, twilioAccountSid: SID, twilioAuthToken: 't', twilioFrom: '+15005550006', db: {} as Db }).sms?.provider).toBe('twilio');
  });

  it('email goes over SMTP when SMTP_URL is set and there is no Resend key; Resend wins when both are', () => {
    const smtp = { emailFrom: 'n@example.com', smtpUrl: 'smtp://u:p@127.0.0.1:2525' };
    expect(createSenders({ ...smtp, db: {} as Db }).email?.provider).toBe('smtp');
    expect(channelReadiness(smtp).email).toBe('configured');
    expect(createSenders({ ...smtp, resendApiKey: 're_x', db: {} as Db }).email?.provider).toBe('resend');
  });

  it('points Twilio’s status callback at our receipts route', async () => {
    const { sms } = createSenders({
      emailFrom: 'n@example.com',
      twilioAccountSid: SID,
      twilioAuthToken: 't',
      twilioFrom: '+15005550006',
      twilioApiBaseUrl: twilio.url,
      publicBaseUrl: 'https://tocsin.example.com/',
      db: {} as Db,
    });
    await sms!.send(sendRequest({ address: '+14155550123' }));
    expect(twilio.requests[0].body.StatusCallback).toBe('https://tocsin.example.com/v1/receipts/twilio');
  });

  it('readiness from the settings alone agrees with the senders built, whatever settings are given', () => {
    // One valid value per setting; each run gives a subset of them.
    const values: Omit<ProviderOptions, 'emailFrom'> = {
      resendApiKey: 're_x',
      smtpUrl: 'smtp://u:p@127.0.0.1:2525',
      twilioAccountSid: SID,
      twilioAuthToken: 't',
      twilioFrom: '+15005550006',
      twilioWhatsappFrom: '+14155238886',
      vonageApiKey: 'k',
      vonageApiSecret: 's',
      vonageFrom: 'Acme',
      fcmServiceAccount: JSON.stringify({ project_id: 'p', client_email: 'fcm@p.iam.gserviceaccount.com', private_key: 'not-read-until-a-send' }),
      apnsKey: '-----BEGIN PRIVATE KEY-----\nnot-read-until-a-send\n-----END PRIVATE KEY-----',
      apnsKeyId: 'KEY123',
      apnsTeamId: 'TEAM123',
      apnsTopic: 'com.example.app',
      vapidPublicKey: 'BPub',
      vapidPrivateKey: 'priv',
      vapidSubject: 'mailto:ops@example.com',
      telegramBotToken: '123:abc',
      slackBotToken: 'xoxb-x',
    };
    const keys = Object.keys(values) as (keyof typeof values)[];
    fc.assert(
      fc.property(fc.subarray(keys), (chosen) => {
        const opts: ProviderOptions = { emailFrom: 'n@example.com', ...Object.fromEntries(chosen.map((k) => [k, values[k]])) };
        const senders = createSenders({ ...opts, db: {} as Db });
        const built = Object.fromEntries(CHANNELS.map((c) => [c, c in senders ? 'configured' : 'unconfigured']));
        expect(channelReadiness(opts)).toEqual(built);
      }),
      { numRuns: 300 },
    );
  });
});
