// A real SMTP server (the smtp-server package) on a free local port, for the SMTP channel: it
// speaks SMTP as any mail server does (EHLO, AUTH PLAIN/LOGIN, MAIL FROM, RCPT TO, DATA) and
// records each message it accepted with its envelope and raw source. Scripted refusals: a
// recipient in `unknownMailboxes` gets 550 at RCPT TO; `failNext` answers the next DATA with a
// given reply code (a 4xx or 5xx).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SmtpMessage {
  from: string;
  to: string[];
  /** The raw message (headers and body) as the client sent it. */
  source: string;
  user: string | undefined;
}

export interface FakeSmtp {
  url(user?: string, pass?: string): string;
  port: number;
  messages: SmtpMessage[];
  /** Connections made, including refused ones. */
  connections: number;
  unknownMailboxes: Set<string>;
  failNext(code: number, message: string): void;
  close(): Promise<void>;
}

export async function startFakeSmtp(opts: { user?: string; pass?: string } = {}): Promise<FakeSmtp> {
  const messages: SmtpMessage[] = [];
  const unknownMailboxes = new Set<string>();
  const failures: Array<{ code: number; message: string }> = [];
  let connections = 0;
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: !opts.user,
    allowInsecureAuth: true,
    logger: false,
    onConnect(_session, cb) {
      connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.username === opts.user && auth.password === opts.pass) return cb(null, { user: auth.username });
      cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (unknownMailboxes.has(address.address)) return cb(Object.assign(new Error('5.1.1 No such mailbox'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const failure = failures.shift();
        if (failure) return cb(Object.assign(new Error(failure.message), { responseCode: failure.code }));
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          source: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: (user = opts.user, pass = opts.pass) => `smtp://${user ? `${encodeURIComponent(user)}:${encodeURIComponent(pass ?? '')}@` : ''}127.0.0.1:${port}`,
    messages,
    get connections() {
      return connections;
    },
    unknownMailboxes,
    failNext: (code, message) => failures.push({ code, message }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
