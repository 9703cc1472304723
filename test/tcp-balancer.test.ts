// The cluster's loopback TCP balancer (scripts/tcp-balancer.ts) in front of two plain TCP echo
// servers: connections alternate between them, and with one down every connection reaches the other.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpBalancer, type TcpBalancer } from '../scripts/tcp-balancer.js';

/** An echo server that prefixes each answer with its name. */
async function echoServer(name: string): Promise<{ server: Server; address: string; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(`${name}:${d}`));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    address,
    sockets,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** Sends `text` through `port` and answers what came back (which server, by its prefix). */
function ask(port: number, text: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', fail);
    s.once('data', (d) => {
      ok(String(d));
      s.end();
    });
    s.write(text);
  });
}

/** What a connection that no target takes ends with: the error the client sees. */
function refusedThrough(port: number): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1');
    s.on('data', (d) => fail(new Error(`answered ${d}`)));
    s.once('error', (err: NodeJS.ErrnoException) => ok(err.code ?? err.message));
    s.once('close', (hadError) => !hadError && fail(new Error('closed without a reset')));
    s.write('hello');
  });
}

describe('the loopback TCP balancer', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  it('alternates connections between its targets, both ways through', async () => {
    const [a, b] = [await echoServer('a'), await echoServer('b')];
    const lb: TcpBalancer = await startTcpBalancer({ targets: [a.address, b.address] });
    cleanups.push(a.close, b.close, lb.close);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask(lb.port, `ping${i}`));
    expect(answers).toEqual(['a:ping0', 'b:ping1', 'a:ping2', 'b:ping3']);
    expect(lb.accepted).toEqual([2, 2]);
  });

  it('with one target down (refusing), sends every connection to the other; with both down, closes it', async () => {
    const [a, b] = [await echoServer('a'), await echoServer('b')];
    const lb = await startTcpBalancer({ targets: [a.address, b.address] });
    cleanups.push(b.close, lb.close);
    await a.close();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask(lb.port, `ping${i}`));
    expect(answers).toEqual(['b:ping0', 'b:ping1', 'b:ping2', 'b:ping3']);
    expect(lb.accepted).toEqual([0, 4]);

    await b.close();
    expect(await refusedThrough(lb.port)).toBe('ECONNRESET');
    expect(lb.accepted).toEqual([0, 4]);
  });

  it('a target that stops closes the connections piped to it; new ones go to the other', async () => {
    const [a, b] = [await echoServer('a'), await echoServer('b')];
    const lb = await startTcpBalancer({ targets: [a.address, b.address] });
    cleanups.push(b.close, lb.close);
    const held = connect(lb.port, '127.0.0.1');
    const closed = new Promise((ok) => held.once('close', ok));
    held.on('error', () => {});
    await new Promise((ok) => held.once('connect', ok));
    held.write('x');
    await new Promise((ok) => held.once('data', ok)); // piped to a
    await a.close();
    await closed;
    expect(await ask(lb.port, 'again')).toBe('b:again');
    expect(await ask(lb.port, 'and again')).toBe('b:and again');
  });

  it('stops accepting on close', async () => {
    const a = await echoServer('a');
    const lb = await startTcpBalancer({ targets: [a.address] });
    cleanups.push(a.close);
    await lb.close();
    await expect(ask(lb.port, 'x')).rejects.toThrow(/ECONNREFUSED/);
  });
});
