import { ApplicationFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection, sendRequest } from '../../test/fakes/send-request.js';
import { type FakeSmtp, startFakeSmtp } from '../../test/fakes/smtp.js';
import { createSmtpSender } from './smtp.js';
import type { ChannelSender } from './types.js';

const FROM = 'Tocsin <notifications@tocsin.test>';

describe('email over SMTP (nodemailer against a real SMTP server)', () => {
  let smtp: FakeSmtp;
  let sender: ChannelSender;

  beforeEach(async () => {
    smtp = await startFakeSmtp({ user: 'tocsin', pass: 's3cret-smtp-pass' });
    sender = createSmtpSender({ url: smtp.url(), from: FROM, timeoutMs: 3000 })!;
  });
  afterEach(() => smtp.close());

  it('is unconfigured without SMTP_URL', () => {
    expect(createSmtpSender({ from: FROM })).toBeNull();
  });

  it('sends one message with the envelope, subject, both bodies and a Message-ID made of the delivery id', async () => {
    const result = await sender.send(sendRequest());
    expect(smtp.messages).toHaveLength(1);
    const [m] = smtp.messages;
    expect(m.user).toBe('tocsin');
    expect(m.from).toBe('notifications@tocsin.test');
    expect(m.to).toEqual(['ann@example.com']);
    expect(m.source).toMatch(/^Subject: Order 7 shipped\r?$/m);
    expect(m.source).toMatch(/^Message-ID: <dlv_01HZX3Q8J5@tocsin>\r?$/im);
    expect(m.source).toContain('Hi Ann');
    expect(m.source).toContain('<p>Hi Ann</p>');
    expect(result).toEqual({ provider: 'smtp', providerMessageId: '<dlv_01HZX3Q8J5@tocsin>' });
  });

  it('a retry of the same delivery carries the same Message-ID', async () => {
    await sender.send(sendRequest());
    await sender.send(sendRequest());
    const ids = smtp.messages.map((m) => /^Message-ID: (.*?)\r?$/im.exec(m.source)?.[1]);
    expect(ids).toEqual(['<dlv_01HZX3Q8J5@tocsin>', '<dlv_01HZX3Q8J5@tocsin>']);
  });

  it('an unknown mailbox (550) is an invalid address: permanent, nothing accepted', async () => {
    smtp.unknownMailboxes.add('nobody@example.com');
    const err = (await rejection(sender.send(sendRequest({ address: 'nobody@example.com' })))) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('invalid_address');
    expect(err.nonRetryable).toBe(true);
    expect(smtp.messages).toHaveLength(0);
  });

  it('a 4xx reply and a refused connection retry; another 5xx is permanent', async () => {
    smtp.failNext(451, '4.3.0 Try again later');
    const busy = await rejection(sender.send(sendRequest()));
    expect(busy).not.toBeInstanceOf(ApplicationFailure);
    expect(busy.message).toContain('451');

    smtp.failNext(554, '5.7.1 Message rejected as spam');
    const spam = (await rejection(sender.send(sendRequest()))) as ApplicationFailure;
    expect(spam.type).toBe('provider_rejected');
    expect(spam.nonRetryable).toBe(true);

    const port = smtp.port;
    await smtp.close();
    const down = await rejection(createSmtpSender({ url: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 1000 })!.send(sendRequest()));
    expect(down).not.toBeInstanceOf(ApplicationFailure);
    smtp = await startFakeSmtp();
  });

  it('wrong credentials fail for good and the password is in no failure', async () => {
    const wrong = createSmtpSender({ url: smtp.url('tocsin', 'wrong-pass-xyz'), from: FROM, timeoutMs: 3000 })!;
    const err = (await rejection(wrong.send(sendRequest()))) as ApplicationFailure;
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('535');
    expect(JSON.stringify({ m: err.message, c: String(err.cause ?? '') })).not.toMatch(/wrong-pass-xyz|s3cret-smtp-pass/);
  });
});
