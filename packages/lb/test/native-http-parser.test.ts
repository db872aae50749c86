// The one module over Node's internal HTTP parser: its start-up self-test passes on this Node, fails
// (naming what differed) on a parser that misbehaves or is missing, and a failing self-test puts
// baton-lb on the fallback with one warning — and it still serves. Runs with --pending-deprecation
// (vitest.config.ts): no deprecation warning may come from using the parser.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { AfterHead, checkNativeParser, createParser, httpParserStatus, selfTest, type HttpParser, type NativeBinding } from '../src/native-http-parser.js';
import type { LoadBalancer } from '../src/server.js';
import { captureLogger, makeBackend, makeCertificate, makeServer, makeTable, rawRequest, startEcho, startLocalLb, tempDir, waitFor, type Echo } from './helpers.js';

const real = createRequire(import.meta.url)('_http_common') as NativeBinding;
const warnings: Error[] = [];
process.on('warning', (w) => warnings.push(w));

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A request parser recording each head's target, and a connected client/server socket pair. */
async function consumedPair(): Promise<{ client: Socket; server: Socket; parser: HttpParser; urls: string[] }> {
  const listener: NetServer = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  const urls: string[] = [];
  const parser = createParser(real, 'request', 16 * 1024, {
    onHeaders: () => undefined,
    onHeadersComplete: (head) => {
      urls.push(head.url);
      return AfterHead.ReadBody;
    },
    onBody: () => undefined,
    onMessageComplete: () => undefined,
  });
  cleanups.push(() => {
    parser.close();
    client.destroy();
    server.destroy();
  });
  return { client, server, parser, urls };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Placed before the self-test tests: one of those breaks the real parser's callback slots until the end.
describe('native-http-parser consume', () => {
  it('reads the socket itself; pauseReading stops its reads until resumeReading; unconsume hands later bytes to the stream', async () => {
    const { client, server, parser, urls } = await consumedPair();
    const data: Buffer[] = [];
    server.on('data', (chunk: Buffer) => data.push(chunk));
    const reads: number[] = [];
    expect(parser.consume(server, (ret) => reads.push(typeof ret === 'number' ? ret : -1))).toBe(true);
    const first = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n';
    client.write(first);
    await waitFor(() => urls.length === 1);
    expect(reads).toEqual([first.length]); // what `execute` would have returned for the read
    parser.pauseReading();
    client.write('GET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(300);
    expect(urls).toEqual(['/1']); // left unread in the kernel while paused
    parser.resumeReading();
    await waitFor(() => urls.length === 2);
    parser.pauseReading();
    client.write('GET /3 HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(100);
    parser.unconsume(); // reads restart and go to the stream
    await waitFor(() => data.length > 0);
    expect(Buffer.concat(data).toString('latin1')).toBe('GET /3 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(urls).toEqual(['/1', '/2']);
  });

  it('does not take a socket whose stream already carried bytes', async () => {
    const { client, server, parser } = await consumedPair();
    const first = new Promise<Buffer>((resolve) => server.once('data', resolve));
    client.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\n');
    await first;
    expect(parser.consume(server, () => undefined)).toBe(false);
  });

  it('does not take a TLS socket', async () => {
    const pem = readFileSync(makeCertificate(tempDir(), 'consume.test'), 'utf8');
    const listener = createTlsServer({ key: pem, cert: pem });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<TLSSocket>((resolve) => listener.once('secureConnection', resolve));
    const client = tlsConnect({ port: (listener.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
    client.on('error', () => undefined);
    const server = await accepted;
    listener.close();
    const { parser } = await consumedPair();
    cleanups.push(() => {
      client.destroy();
      server.destroy();
    });
    expect(parser.consume(server, () => undefined)).toBe(false);
  });
});

describe('native-http-parser self-test', () => {
  it('passes on this Node, with --pending-deprecation on and no deprecation warning', async () => {
    expect(process.execArgv).toContain('--pending-deprecation');
    expect(selfTest(real)).toEqual([]);
    expect(checkNativeParser()).toEqual({ mode: 'native' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.name === 'DeprecationWarning').map((w) => w.message)).toEqual([]);
  });

  it('fails, naming what differed, on a parser whose callback slots moved', () => {
    // As a Node whose internal parser changed its layout: the head arrives in the wrong callback.
    class Moved extends real.HTTPParser {
      static kOnHeadersComplete = real.HTTPParser.kOnBody;
      static kOnBody = real.HTTPParser.kOnHeadersComplete;
    }
    const status = checkNativeParser(() => ({ HTTPParser: Moved, methods: real.methods }));
    expect(status.mode).toBe('fallback');
    expect(status.reason).toMatch(/^Node's internal HTTP parser failed its self-test: ./);
  });

  it('falls back when the internal module is missing', () => {
    const status = checkNativeParser(() => {
      throw new Error("Cannot find module '_http_common'");
    });
    expect(status).toEqual({ mode: 'fallback', reason: "Node's internal HTTP parser is not available: Cannot find module '_http_common'" });
  });

  it('a failing self-test puts baton-lb on the fallback with one warning, and it serves', async () => {
    // Break the parser before baton-lb's first (once per process) self-test; Node's own http
    // server read its slots at load and is not affected.
    const saved = real.HTTPParser.kOnHeadersComplete;
    real.HTTPParser.kOnHeadersComplete = real.HTTPParser.kOnBody;
    cleanups.push(() => {
      real.HTTPParser.kOnHeadersComplete = saved;
    });
    expect(httpParserStatus().mode).toBe('fallback');
    const echo: Echo = await startEcho('e1');
    cleanups.push(() => echo.close());
    const lines: string[] = [];
    const lb: LoadBalancer = await startLocalLb({
      logger: captureLogger(lines),
      initialTable: makeTable([makeBackend('app', [makeServer('s1', echo.port)], { vhosts: ['a.com'] })]),
    });
    cleanups.push(() => lb.close());
    const warned = lines.map((l) => JSON.parse(l) as { level: string; msg: string; reason?: string }).filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0].msg).toMatch(/fallback/);
    expect(warned[0].reason).toMatch(/failed its self-test/);
    const res = await rawRequest(lb.addresses.http!, 'GET /hi HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(res).toContain('"url":"/hi"');
  });
});
