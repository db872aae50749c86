// Black-box HTTP/1.1 conformance of the client-facing side (:80 and an HTTP service port), over real
// loopback sockets: pipelining, 100-continue, HTTP/1.0, Connection: close, bodiless responses,
// response and request framing, malformed and oversized heads, head and keep-alive timeouts, client
// aborts and hop-by-hop headers. Only what a client notices (status lines, headers, bodies, whether
// the connection stays open) and what the backend receives is asserted, so that the front end can be
// rewritten underneath these tests.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { LoadBalancer, LoadBalancerOptions } from '../src/server.js';
import type { Backend } from '../src/route-table.js';
import { freePort, makeBackend, makeServer, makeTable, startEcho, startLocalLb, waitFor, type Echo } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const agent = new Agent({ keepAliveTimeout: 1_000 });
afterAll(() => agent.close());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 response reader over a raw socket

interface Response {
  statusLine: string;
  status: number;
  /** Header fields in order, names lower-cased. */
  headers: [string, string][];
  /** The body, de-chunked when the response was chunked. */
  body: string;
  /** How the body was framed. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  /** The response bytes as received (latin1). */
  raw: string;
  header(name: string): string | undefined;
  all(name: string): string[];
}

/**
 * Parses one response starting at `offset` of `buf` (latin1). Undefined while incomplete; a body
 * delimited by the end of the connection is complete only once `eof`.
 */
function parseResponse(buf: string, offset: number, method: string, eof: boolean): { res: Response; end: number } | undefined {
  const headEnd = buf.indexOf('\r\n\r\n', offset);
  if (headEnd === -1) return undefined;
  const lines = buf.slice(offset, headEnd).split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (m === null) throw new Error(`not a status line: ${JSON.stringify(statusLine)} in ${JSON.stringify(buf.slice(offset, offset + 200))}`);
  const status = Number(m[1]);
  const headers: [string, string][] = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const all = (name: string): string[] => headers.filter(([n]) => n === name).map(([, v]) => v);
  const make = (body: string, framing: Response['framing'], end: number): { res: Response; end: number } => ({
    res: { statusLine, status, headers, body, framing, raw: buf.slice(offset, end), header: (n) => all(n)[0], all },
    end,
  });
  let pos = headEnd + 4;
  if (status < 200 || status === 204 || status === 304 || method === 'HEAD') return make('', 'none', pos);
  const te = all('transfer-encoding');
  if (te.length > 0 && /chunked\s*$/i.test(te.join(','))) {
    let body = '';
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd === -1) return undefined;
      const sizeText = buf.slice(pos, lineEnd).split(';')[0].trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
      const size = parseInt(sizeText, 16);
      pos = lineEnd + 2;
      if (size === 0) {
        // Trailers (usually none), then an empty line.
        for (;;) {
          const end = buf.indexOf('\r\n', pos);
          if (end === -1) return undefined;
          const empty = end === pos;
          pos = end + 2;
          if (empty) return make(body, 'chunked', pos);
        }
      }
      if (buf.length < pos + size + 2) return undefined;
      body += buf.slice(pos, pos + size);
      if (buf.slice(pos + size, pos + size + 2) !== '\r\n') throw new Error('chunk not followed by CRLF');
      pos += size + 2;
    }
  }
  const cl = all('content-length');
  if (cl.length > 0) {
    const n = Number(cl[0]);
    if (buf.length < pos + n) return undefined;
    return make(buf.slice(pos, pos + n), 'length', pos + n);
  }
  if (!eof) return undefined;
  return make(buf.slice(pos), 'close', buf.length);
}

/** A client connection on a raw socket: writes bytes, reads responses one after the other. */
class RawConn {
  data = '';
  private offset = 0;
  /** Set when the server ended or reset the connection. */
  closedAt: number | undefined;
  error: Error | undefined;
  private waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.data += chunk.toString('latin1');
      this.notify();
    });
    const onClosed = (): void => {
      this.closedAt ??= Date.now();
      this.notify();
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', (err) => {
      this.error = err;
    });
  }

  static open(port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      const conn = new RawConn(socket);
      cleanups.push(() => socket.destroy());
      socket.once('connect', () => resolve(conn));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Bytes received and not yet read as a response. */
  unread(): string {
    return this.data.slice(this.offset);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once `predicate` holds (checked on every read and on close), or fails after `ms`. */
  until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let ok: boolean;
        try {
          ok = predicate();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; received so far: ${JSON.stringify(this.data.slice(0, 600))}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The next complete response (for a request made with `method`). */
  async response(method = 'GET', ms = 3_000): Promise<Response> {
    let parsed: { res: Response; end: number } | undefined;
    await this.until(
      () => {
        parsed = parseResponse(this.data, this.offset, method, this.closed);
        if (parsed === undefined && this.closed) throw new Error(`connection closed before a complete response; received: ${JSON.stringify(this.unread().slice(0, 600))}`);
        return parsed !== undefined;
      },
      ms,
      `a ${method} response`,
    );
    this.offset = parsed!.end;
    return parsed!.res;
  }

  /** Waits for the server to close the connection; returns when it did. */
  async waitClose(ms: number): Promise<number> {
    await this.until(() => this.closed, ms, 'the server to close the connection');
    return this.closedAt!;
  }
}

function get(path: string, host = 'a.com', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}

interface EchoBody {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

function echoed(res: Response): EchoBody {
  expect(res.status).toBe(200);
  expect(res.header('content-type')).toBe('application/json');
  return JSON.parse(res.body) as EchoBody;
}

// ---------------------------------------------------------------------------------------------
// The backend and the load balancer

/** What the backend's special routes saw. */
interface BackendLog {
  /** Times the `/stream` response closed (connection gone or response aborted). */
  streamClosedAt: number | undefined;
}

/**
 * The echo backend of helpers.ts, plus: `/head` (fixed 42-byte body with Content-Length and
 * X-Custom), `/204`, `/304`, `/chunked` (three chunks 80 ms apart), `/hop` (Connection: close and
 * Keep-Alive on the response), `/stream` (never-ending body), `/early` (answers before reading the body).
 */
async function startBackend(): Promise<{ echo: Echo; log: BackendLog }> {
  const log: BackendLog = { streamClosedAt: undefined };
  const echo = await startEcho('a', (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/head':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 42, 'x-custom': 'yes' });
        res.end(req.method === 'HEAD' ? undefined : 'h'.repeat(42));
        return true;
      case '/204':
        res.writeHead(204, { 'x-status': 'no-content' });
        res.end();
        return true;
      case '/304':
        res.writeHead(304, { etag: '"v1"', 'x-status': 'not-modified' });
        res.end();
        return true;
      case '/chunked': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('alpha-');
        setTimeout(() => {
          res.write('beta-');
          setTimeout(() => res.end('gamma'), 80);
        }, 80);
        return true;
      }
      case '/hop':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2, connection: 'close', 'keep-alive': 'timeout=5' });
        res.end('ok');
        return true;
      case '/stream': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const timer = setInterval(() => res.write('s'.repeat(4096)), 20);
        res.on('close', () => {
          clearInterval(timer);
          log.streamClosedAt = Date.now();
        });
        return true;
      }
      case '/early': {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
        res.end('early');
        return true;
      }
      default:
        return false;
    }
  });
  cleanups.push(() => echo.close());
  return { echo, log };
}

interface Setup {
  lb: LoadBalancer;
  echo: Echo;
  log: BackendLog;
  /** :80 (vhost `a.com` → the backend). */
  http: number;
  /** The bound HTTP service port of the same backend. */
  service: number;
}

async function startLb(backends: Backend[], opts: Partial<LoadBalancerOptions> = {}, servicePorts: Record<number, string> = {}): Promise<LoadBalancer> {
  const lb = await startLocalLb({
    initialTable: makeTable(backends, { servicePorts }),
    ...opts,
  });
  cleanups.push(() => lb.close(500));
  return lb;
}

async function setup(opts: Partial<LoadBalancerOptions> = {}): Promise<Setup> {
  const { echo, log } = await startBackend();
  const servicePort = await freePort();
  const lb = await startLb([makeBackend('a_1', [makeServer('a', echo.port)], { vhosts: ['a.com'] })], opts, { [servicePort]: 'a_1' });
  const service = lb.servicePort(servicePort);
  expect(service).toBeDefined();
  return { lb, echo, log, http: lb.addresses.http!, service: service! };
}

/** A plain GET through undici (for "the load balancer still serves"). */
async function undiciGet(port: number, path = '/', host = 'a.com'): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { host }, dispatcher: agent });
  return { status: res.statusCode, body: await res.body.text() };
}

// ---------------------------------------------------------------------------------------------

describe('HTTP/1.1 semantics of the client side', () => {
  it('answers pipelined requests in order, complete, on the same connection (:80 and a service port)', async () => {
    const s = await setup();
    for (const port of [s.http, s.service]) {
      const c = await RawConn.open(port);
      // Two in one write; the first is slower at the backend than the second.
      c.write(get('/slow?ms=150') + get('/two'));
      expect(echoed(await c.response()).url).toBe('/slow?ms=150');
      expect(echoed(await c.response()).url).toBe('/two');
      // Three in one write.
      c.write(get('/slow?ms=100') + get('/slow?ms=30') + get('/three'));
      expect(echoed(await c.response()).url).toBe('/slow?ms=100');
      expect(echoed(await c.response()).url).toBe('/slow?ms=30');
      expect(echoed(await c.response()).url).toBe('/three');
      // A POST with a body, a GET right behind it in the same write.
      c.write('POST /post HTTP/1.1\r\nHost: a.com\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world' + get('/after-post'));
      const post = echoed(await c.response('POST'));
      expect(post.method).toBe('POST');
      expect(post.url).toBe('/post');
      expect(post.body).toBe('hello world');
      const after = echoed(await c.response());
      expect(after.method).toBe('GET');
      expect(after.url).toBe('/after-post');
      expect(after.body).toBe('');
      await sleep(50);
      expect(c.unread()).toBe('');
      expect(c.closed).toBe(false);
    }
    expect(s.echo.requests).toBe(14);
  });

  it('Expect: 100-continue gets "100 Continue" before the body is sent, then the final response', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write('POST /upload HTTP/1.1\r\nHost: a.com\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nExpect: 100-continue\r\n\r\n');
    const interim = await c.response('POST', 2_000);
    expect(interim.statusLine).toBe('HTTP/1.1 100 Continue');
    expect(interim.body).toBe('');
    // Nothing else until the body comes.
    await sleep(150);
    expect(c.unread()).toBe('');
    c.write('continued ');
    await sleep(30);
    c.write('body');
    const final = await c.response('POST');
    const got = echoed(final);
    expect(got.body).toBe('continued body');
    expect(got.method).toBe('POST');
    // The connection is still usable.
    c.write(get('/next'));
    expect(echoed(await c.response()).url).toBe('/next');
    expect(c.closed).toBe(false);
  });

  it('HTTP/1.0: closes after the response without keep-alive; keeps the connection with Connection: keep-alive', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write('GET /ten HTTP/1.0\r\nHost: a.com\r\n\r\n');
    const res = await c.response();
    expect(res.statusLine).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(res.header('transfer-encoding')).toBeUndefined(); // an HTTP/1.0 client cannot read chunked
    expect(echoed(res).url).toBe('/ten');
    await c.waitClose(2_000);
    expect(c.unread()).toBe('');

    // With keep-alive (a response with a length, so that it can be framed for HTTP/1.0).
    const k = await RawConn.open(s.http);
    k.write('GET /size?bytes=10 HTTP/1.0\r\nHost: a.com\r\nConnection: keep-alive\r\n\r\n');
    const first = await k.response();
    expect(first.status).toBe(200);
    expect(first.header('transfer-encoding')).toBeUndefined();
    expect(first.header('connection')?.toLowerCase()).toBe('keep-alive');
    expect(first.body).toBe('x'.repeat(10));
    await sleep(100);
    expect(k.closed).toBe(false);
    k.write('GET /again HTTP/1.0\r\nHost: a.com\r\nConnection: keep-alive\r\n\r\n');
    const second = await k.response();
    expect(second.header('transfer-encoding')).toBeUndefined();
    expect(echoed(second).url).toBe('/again');
  });

  it('Connection: close from an HTTP/1.1 client: the response says so and the connection is closed after it', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write(get('/bye', 'a.com', 'Connection: close\r\n'));
    const res = await c.response();
    expect(echoed(res).url).toBe('/bye');
    expect(res.header('connection')?.toLowerCase()).toBe('close');
    await c.waitClose(2_000);
    expect(c.unread()).toBe('');
    // The backend did not get the client's Connection header as such (hop-by-hop).
    expect(JSON.parse(res.body).headers.connection ?? 'keep-alive').not.toMatch(/close/i);
  });

  it('HEAD has the headers and no body; 204 and 304 have no body; the connection stays usable', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write(`HEAD /head HTTP/1.1\r\nHost: a.com\r\n\r\n`);
    const head = await c.response('HEAD');
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('42');
    expect(head.header('x-custom')).toBe('yes');
    expect(head.header('content-type')).toBe('text/plain');
    // The same resource with GET: the 42 bytes, right after the HEAD response (no stray body bytes between).
    c.write(get('/head'));
    const full = await c.response();
    expect(full.status).toBe(200);
    expect(full.body).toBe('h'.repeat(42));

    c.write(get('/204'));
    const noContent = await c.response();
    expect(noContent.statusLine).toMatch(/^HTTP\/1\.1 204/);
    expect(noContent.header('x-status')).toBe('no-content');
    expect(noContent.header('transfer-encoding')).toBeUndefined();
    c.write(get('/304', 'a.com', 'If-None-Match: "v1"\r\n'));
    const notModified = await c.response();
    expect(notModified.statusLine).toMatch(/^HTTP\/1\.1 304/);
    expect(notModified.header('etag')).toBe('"v1"');
    expect(notModified.header('transfer-encoding')).toBeUndefined();
    c.write(get('/last'));
    expect(echoed(await c.response()).url).toBe('/last');
    await sleep(50);
    expect(c.unread()).toBe('');
    expect(c.closed).toBe(false);
  });

  it('frames a close-delimited backend response for a keep-alive client, and relays a chunked one sent over time', async () => {
    // A backend that answers without Content-Length or chunked and ends the body by closing.
    let backendConnections = 0;
    const heads: string[] = [];
    const eof = createNetServer((socket) => {
      backendConnections++;
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        heads.push(head);
        head = '';
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: eof\r\n\r\npart1-');
        setTimeout(() => {
          socket.write('part2-');
          setTimeout(() => socket.end('part3'), 40);
        }, 40);
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => eof.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => eof.close(resolve)));
    const { echo } = await startBackend();
    const lb = await startLb([
      makeBackend('eof_1', [makeServer('eof', (eof.address() as AddressInfo).port)], { vhosts: ['eof.com'] }),
      makeBackend('a_1', [makeServer('a', echo.port)], { vhosts: ['a.com'] }),
    ]);
    const c = await RawConn.open(lb.addresses.http!);
    c.write(get('/first', 'eof.com'));
    const first = await c.response();
    expect(first.status).toBe(200);
    expect(first.header('x-backend')).toBe('eof');
    expect(first.framing === 'chunked' || first.framing === 'length').toBe(true);
    expect(first.body).toBe('part1-part2-part3');
    await sleep(50);
    expect(c.closed).toBe(false);
    c.write(get('/second', 'eof.com'));
    const second = await c.response();
    expect(second.body).toBe('part1-part2-part3');
    expect(backendConnections).toBe(2);
    expect(heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /first HTTP/1.1', 'GET /second HTTP/1.1']);

    // A chunked backend response in three chunks 80 ms apart, on the same client connection.
    c.write(get('/chunked'));
    const chunked = await c.response();
    expect(chunked.status).toBe(200);
    expect(chunked.body).toBe('alpha-beta-gamma');
    c.write(get('/after'));
    expect(echoed(await c.response()).url).toBe('/after');
    expect(c.closed).toBe(false);
  });

  it('a chunked request body sent in several writes over time arrives whole; the connection stays usable', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write('POST /upload HTTP/1.1\r\nHost: a.com\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
    await sleep(60);
    c.write('5\r\nhello\r\n');
    await sleep(60);
    c.write('6\r\n world\r\n7;ext=1\r\n, again\r\n');
    await sleep(60);
    c.write('0\r\n\r\n');
    const res = await c.response('POST');
    const got = echoed(res);
    expect(got.method).toBe('POST');
    expect(got.body).toBe('hello world, again');
    c.write(get('/next'));
    const next = echoed(await c.response());
    expect(next.url).toBe('/next');
    expect(next.body).toBe('');
    expect(s.echo.requests).toBe(2);
    expect(c.closed).toBe(false);
  });

  it('answers a garbage request line with 400 and closes, and keeps serving other connections', async () => {
    const s = await setup();
    for (const junk of ['FOO BAR\r\n\r\n', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])]) {
      const c = await RawConn.open(s.http);
      c.write(junk);
      await c.waitClose(2_000);
      expect(c.data).toMatch(/^HTTP\/1\.1 400 /);
    }
    // A request line with a bad version, and one that is not a request line at all.
    const v = await RawConn.open(s.http);
    v.write('GET / HTTP/9.9\r\nHost: a.com\r\n\r\n');
    await v.waitClose(2_000);
    expect(v.data).toMatch(/^HTTP\/1\.1 (400|505) /);
    expect(s.echo.requests).toBe(0);
    expect(await undiciGet(s.http, '/still')).toMatchObject({ status: 200 });
    const after = await RawConn.open(s.http);
    after.write(get('/after-junk'));
    expect(echoed(await after.response()).url).toBe('/after-junk');
    expect(s.echo.requests).toBe(2);
  });

  // A parse error in a pipelined request must not take the place of the response to the request before it.
  it('answers a valid request before refusing garbage that follows it on the same connection', async () => {
    const s = await setup();
    const g = await RawConn.open(s.http);
    g.write('POST /slow?ms=300 HTTP/1.1\r\nHost: a.com\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc');
    await waitFor(() => s.echo.requests === 1, 2_000);
    g.write('NOT HTTP AT ALL\r\n\r\n');
    const first = echoed(await g.response('POST'));
    expect(first.url).toBe('/slow?ms=300');
    expect(first.body).toBe('abc');
    await g.waitClose(2_000);
    expect(g.unread()).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers a head over the size limit with 431 and closes (default 16 KiB, and maxHeaderSize)', async () => {
    const s = await setup();
    const ok = await RawConn.open(s.http);
    ok.write(get('/fits', 'a.com', `X-Big: ${'y'.repeat(15_000)}\r\n`));
    const fits = echoed(await ok.response());
    expect(fits.url).toBe('/fits');
    expect(fits.headers['x-big']).toHaveLength(15_000);
    const big = await RawConn.open(s.http);
    big.write(get('/big', 'a.com', `X-Big: ${'y'.repeat(17_000)}\r\n`));
    await big.waitClose(2_000);
    expect(big.data).toMatch(/^HTTP\/1\.1 431 /);

    const small = await setup({ maxHeaderSize: 4_096 });
    const under = await RawConn.open(small.http);
    under.write(get('/under', 'a.com', `X-Big: ${'y'.repeat(3_000)}\r\n`));
    expect(echoed(await under.response()).url).toBe('/under');
    const over = await RawConn.open(small.http);
    over.write(get('/over', 'a.com', `X-Big: ${'y'.repeat(5_000)}\r\n`));
    await over.waitClose(2_000);
    expect(over.data).toMatch(/^HTTP\/1\.1 431 /);
    // Many small headers adding up over the limit count too.
    const many = await RawConn.open(small.http);
    let headers = '';
    for (let i = 0; i < 40; i++) headers += `X-H${i}: ${'z'.repeat(150)}\r\n`;
    many.write(get('/many', 'a.com', headers));
    await many.waitClose(2_000);
    expect(many.data).toMatch(/^HTTP\/1\.1 431 /);
    expect(small.echo.requests).toBe(1);
    expect(s.echo.requests).toBe(1);
  });

  it('closes a connection whose request head does not complete within the head timeout', async () => {
    const s = await setup({ timeouts: { httpRequestMs: 1_000 } });
    const c = await RawConn.open(s.http);
    const start = Date.now();
    c.write('GET /partial HTTP/1.1\r\nHost: a.com\r\nX-Partial: ');
    const closedAt = await c.waitClose(3_000);
    const elapsed = closedAt - start;
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(2_000);
    expect(c.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(s.echo.requests).toBe(0);
    // A slow but complete head before the timeout is served.
    const slow = await RawConn.open(s.http);
    slow.write('GET /slow-head HTTP/1.1\r\n');
    await sleep(300);
    slow.write('Host: a.com\r\n');
    await sleep(300);
    slow.write('\r\n');
    expect(echoed(await slow.response()).url).toBe('/slow-head');
  });

  it('closes an idle keep-alive connection after the keep-alive timeout (5 s)', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write(get('/once'));
    expect(echoed(await c.response()).url).toBe('/once');
    const idleFrom = Date.now();
    const closedAt = await c.waitClose(7_500);
    const idle = closedAt - idleFrom;
    expect(idle).toBeGreaterThanOrEqual(4_000);
    expect(idle).toBeLessThan(7_000);
    expect(c.unread()).toBe(''); // closed silently, no 408 for an idle connection
  }, 15_000);

  it('aborts the backend response within a second when the client goes away mid-response, and keeps serving', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write(get('/stream'));
    await c.until(() => c.data.length > 20_000, 2_000, 'some of the streamed body');
    expect(c.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(s.log.streamClosedAt).toBeUndefined();
    const gone = Date.now();
    c.socket.destroy();
    await waitFor(() => s.log.streamClosedAt !== undefined, 1_000);
    expect(s.log.streamClosedAt! - gone).toBeLessThan(1_000);
    expect(await undiciGet(s.http, '/still')).toMatchObject({ status: 200 });
    const again = await RawConn.open(s.http);
    again.write(get('/again'));
    expect(echoed(await again.response()).url).toBe('/again');
  });

  it('relays a response the backend sends before reading the request body, without desynchronising the connection', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    // Over 16 KiB of the body arrive first (a smaller body is received whole before it is forwarded).
    const firstHalf = 'a'.repeat(20_000);
    c.write(`POST /early HTTP/1.1\r\nHost: a.com\r\nContent-Type: text/plain\r\nContent-Length: ${firstHalf.length + 10}\r\n\r\n${firstHalf}`);
    // The response comes while the rest of the body is still to be sent.
    const res = await c.response('POST', 2_000);
    expect(res.status).toBe(200);
    expect(res.body).toBe('early');
    c.write(`secondhalf${get('/after-early')}`);
    // Either the rest of the body is read and the next request served, or the connection is closed:
    // never the body's bytes taken for a request.
    await c.until(() => c.closed || parseResponse(c.data, c.data.length - c.unread().length, 'GET', false) !== undefined, 3_000, 'a response or a close');
    if (c.unread() !== '') {
      expect(echoed(await c.response()).url).toBe('/after-early');
      await sleep(50);
      expect(c.unread()).toBe('');
    } else {
      expect(c.closed).toBe(true);
    }
    // The body's bytes never reached the backend as a request of their own.
    expect(s.echo.requests).toBeLessThanOrEqual(2);
    expect(await undiciGet(s.http, '/still')).toMatchObject({ status: 200 });
  });

  it('does not forward the backend\'s hop-by-hop Connection/Keep-Alive, nor chunk a chunked response twice', async () => {
    const s = await setup();
    const c = await RawConn.open(s.http);
    c.write(get('/hop'));
    const hop = await c.response();
    expect(hop.status).toBe(200);
    expect(hop.body).toBe('ok');
    expect(hop.all('connection').join(',')).not.toMatch(/close/i);
    expect(hop.all('keep-alive').length).toBeLessThanOrEqual(1); // at most the proxy's own
    await sleep(100);
    expect(c.closed).toBe(false);
    c.write(get('/hop'));
    expect((await c.response()).body).toBe('ok');
    c.write(get('/chunked'));
    const chunked = await c.response();
    expect(chunked.all('transfer-encoding')).toEqual(['chunked']);
    expect(chunked.header('content-length')).toBeUndefined();
    expect(chunked.body).toBe('alpha-beta-gamma'); // de-chunked once: no chunk-size lines left inside
    c.write(get('/end'));
    expect(echoed(await c.response()).url).toBe('/end');
    expect(c.closed).toBe(false);
  });
});
