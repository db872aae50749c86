// The upstream HTTP/1.1 client (net.Socket + Node's native parser) over real sockets: response
// framings, interim and body-less responses, streamed bodies both ways with back-pressure, pooled
// connections the server closes, resets, refusals and timeouts, the connection cap and graceful close.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Pool, type Http1PoolOptions, type UpstreamHandler, type UpstreamRequest } from '../src/http1-upstream.js';
import { freePort, waitFor } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void, setup?: (s: HttpServer) => void): Promise<number> {
  const server = createServer(handler);
  setup?.(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return (server.address() as AddressInfo).port;
}

/** A TCP server answering each request head (`\r\n\r\n`) with `answer(n, socket)` (n counts per server). */
async function rawServer(answer: (n: number, socket: Socket, head: string) => void): Promise<{ port: number; server: NetServer; connections: () => number }> {
  let n = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(n++, socket, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve); }));
  return { port: (server.address() as AddressInfo).port, server, connections: () => connections };
}

function pool(port: number, extra: Partial<Http1PoolOptions> = {}): Http1Pool {
  const p = new Http1Pool({ host: '127.0.0.1', port, connectTimeoutMs: 5_000, serverTimeoutMs: 10_000, ...extra });
  cleanups.push(() => p.destroy());
  return p;
}

interface Outcome {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: Buffer;
  heads: number;
  error?: Error & { code?: string };
}

class Collector implements UpstreamHandler {
  onUpgrade?: UpstreamHandler['onUpgrade'];
  outcome: Outcome = { status: 0, statusText: '', headers: {}, body: Buffer.alloc(0), heads: 0 };
  chunks: Buffer[] = [];
  received = 0;
  resumeFn: (() => void) | undefined;
  pauseData = false;
  abort: ((err?: Error) => void) | undefined;
  readonly done: Promise<Outcome>;
  private finish!: (o: Outcome) => void;
  constructor() {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }
  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void, statusText: string): boolean {
    this.outcome.heads++;
    this.outcome.status = statusCode;
    this.outcome.statusText = statusText;
    for (let i = 0; i < rawHeaders.length; i += 2) this.outcome.headers[String(rawHeaders[i]).toLowerCase()] = String(rawHeaders[i + 1]);
    this.resumeFn = resume;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    this.received += chunk.length;
    return !this.pauseData;
  }
  onComplete(): void {
    this.outcome.body = Buffer.concat(this.chunks);
    this.finish(this.outcome);
  }
  onError(err: Error): void {
    this.outcome.error = err;
    this.outcome.body = Buffer.concat(this.chunks);
    this.finish(this.outcome);
  }
}

function send(p: Http1Pool, req: Partial<UpstreamRequest> = {}): Collector {
  const c = new Collector();
  p.dispatch({ method: 'GET', path: '/', headers: ['host', 'example.test'], body: null, ...req }, c);
  return c;
}

describe('responses', () => {
  it('reads content-length, chunked and close-delimited bodies, reusing the connection when it may', async () => {
    const { port, connections } = await rawServer((n, socket) => {
      if (n === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello');
      else if (n === 1) socket.write('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n');
      else socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end');
    });
    const p = pool(port);
    const a = await send(p).done;
    expect([a.status, a.body.toString(), a.headers['x-a']]).toEqual([200, 'hello', '1']);
    const b = await send(p).done;
    expect([b.status, b.statusText, b.body.toString()]).toEqual([201, 'Created', 'abcdefg']);
    const c = await send(p).done;
    expect([c.status, c.body.toString(), c.error]).toEqual([200, 'until the end', undefined]);
    expect(connections()).toBe(1);
    await waitFor(() => p.connections === 0);
  });

  it('HEAD, 204 and 304 carry no body and leave the connection reusable', async () => {
    const { port, connections } = await rawServer((n, socket, head) => {
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else if (n === 1) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (n === 2) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(port);
    const head = await send(p, { method: 'HEAD' }).done;
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, '1000', 0]);
    expect((await send(p).done).status).toBe(204);
    expect((await send(p).done).status).toBe(304);
    const last = await send(p).done;
    expect([last.status, last.body.toString()]).toEqual([200, 'ok']);
    expect(connections()).toBe(1);
  });

  it('skips 100 Continue and passes on only the final response', async () => {
    const { port } = await rawServer((_n, socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 20);
    });
    const r = await send(pool(port), { method: 'POST', headers: ['content-length', '0'] }).done;
    expect([r.heads, r.status, r.body.toString()]).toEqual([1, 200, 'done']);
  });

  it('sends the head as given, and content-length: 0 for a POST without a body', async () => {
    const heads: string[] = [];
    const { port } = await rawServer((_n, socket, head) => {
      heads.push(head);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    const p = pool(port);
    await send(p, { method: 'GET', path: '/a?b=c', headers: ['Host', 'h.test', 'X-Forwarded-For', '1.2.3.4'] }).done;
    await send(p, { method: 'POST', path: '/p', headers: ['host', 'h.test'] }).done;
    expect(heads[0]).toBe('GET /a?b=c HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 1.2.3.4');
    expect(heads[1]).toBe('POST /p HTTP/1.1\r\nhost: h.test\r\ncontent-length: 0');
  });
});

describe('bodies with back-pressure', () => {
  const TOTAL = 32 * 1024 * 1024;
  const CHUNK = 64 * 1024;

  /** A body of TOTAL bytes made on demand; `produced` says how far the reader has pulled it. */
  function bigBody(): Readable & { produced: number } {
    const block = Buffer.alloc(CHUNK, 7);
    const body = new Readable({
      highWaterMark: CHUNK,
      read() {
        if (body.produced >= TOTAL) this.push(null);
        else {
          body.produced += CHUNK;
          this.push(block);
        }
      },
    }) as Readable & { produced: number };
    body.produced = 0;
    return body;
  }

  for (const framing of ['chunked', 'content-length'] as const) {
    it(`streams a large ${framing} upload no faster than the server reads it`, async () => {
      let received = 0;
      let serverReq: IncomingMessage | undefined;
      let te: string | undefined;
      const port = await httpServer((req, res) => {
        serverReq = req;
        te = req.headers['transfer-encoding'];
        req.pause();
        req.on('data', (d: Buffer) => (received += d.length));
        req.on('end', () => res.end(String(received)));
      });
      const body = bigBody();
      const headers = framing === 'chunked' ? ['host', 'h'] : ['host', 'h', 'content-length', String(TOTAL)];
      const c = send(pool(port), { method: 'POST', path: '/up', headers, body });
      await waitFor(() => serverReq !== undefined, 10_000);
      // The server reads nothing: the upload stalls well before its end.
      let last = -1;
      await waitFor(async () => {
        const now = body.produced;
        const still = now === last;
        last = now;
        await new Promise((r) => setTimeout(r, 100));
        return still && body.produced === now;
      }, 10_000, 50);
      expect(body.produced).toBeLessThan(TOTAL / 2);
      serverReq!.resume();
      const r = await c.done;
      expect([r.status, r.body.toString(), te]).toEqual([200, String(TOTAL), framing === 'chunked' ? 'chunked' : undefined]);
    });
  }

  it('a response sent before the request body ended completes; the next request gets a working connection', async () => {
    const port = await httpServer((req, res) => {
      if (req.url === '/early') res.writeHead(413, { connection: 'keep-alive', 'content-length': 8 }).end('too big\n');
      else res.end('next');
    });
    const p = pool(port);
    const early = await send(p, { method: 'POST', path: '/early', headers: ['host', 'h'], body: bigBody() }).done;
    expect([early.status, early.body.toString(), early.error]).toEqual([413, 'too big\n', undefined]);
    const next = await send(p, { path: '/next' }).done;
    expect([next.status, next.body.toString(), next.error]).toEqual([200, 'next', undefined]);
  });

  it('streams a large download, pausing the server while the handler asks to wait', async () => {
    let written = 0;
    const port = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': TOTAL });
      const block = Buffer.alloc(CHUNK, 1);
      const pump = (): void => {
        while (written < TOTAL) {
          written += CHUNK;
          if (!res.write(block)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const c = new Collector();
    c.pauseData = true;
    pool(port).dispatch({ method: 'GET', path: '/big', headers: ['host', 'h'], body: null }, c);
    await waitFor(() => c.received > 0, 10_000);
    // Paused: the server's writes stop far short of the whole body.
    let last = -1;
    await waitFor(async () => {
      const still = written === last;
      last = written;
      await new Promise((r) => setTimeout(r, 100));
      return still;
    }, 10_000, 50);
    expect(written).toBeLessThan(TOTAL / 2);
    c.pauseData = false;
    c.resumeFn!();
    const r = await c.done;
    expect(r.error).toBeUndefined();
    expect(r.body.length).toBe(TOTAL);
    expect(createHash('sha1').update(r.body).digest('hex')).toBe(createHash('sha1').update(Buffer.alloc(TOTAL, 1)).digest('hex'));
  });
});

describe('connections', () => {
  it('drops a pooled connection the server closed while idle and opens a new one', async () => {
    const { port, connections } = await rawServer((_n, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => socket.end(), 100);
    });
    const p = pool(port);
    expect((await send(p).done).body.toString()).toBe('ok');
    expect(p.idleConnections).toBe(1);
    await waitFor(() => p.connections === 0, 10_000);
    const again = await send(p).done;
    expect([again.status, again.body.toString(), again.error]).toEqual([200, 'ok', undefined]);
    expect(connections()).toBe(2);
  });

  it('drops a pooled connection on which the server sends bytes while no request is in flight', async () => {
    const { port, connections } = await rawServer((n, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      // An answer nobody asked for, 100 ms after the first one: the connection is out of step.
      if (n === 0) setTimeout(() => socket.write('HTTP/1.1 204 No Content\r\n\r\n'), 100);
    });
    const p = pool(port, { keepAliveMs: 60_000 }); // not closed for being idle during the test
    expect((await send(p).done).body.toString()).toBe('ok');
    await waitFor(() => p.connections === 0, 5_000);
    const again = await send(p).done;
    expect([again.status, again.body.toString(), again.error]).toEqual([200, 'ok', undefined]);
    expect(connections()).toBe(2);
  });

  it('reuses a connection no longer than the Keep-Alive timeout the server announces, less a second', async () => {
    let sockets = 0;
    // Node announces `Keep-Alive: timeout=1` for 1.5 s: a second less leaves nothing to reuse.
    const short = await httpServer((_req, res) => res.end('ok'), (s) => {
      s.keepAliveTimeout = 1_500;
      s.on('connection', () => sockets++);
    });
    const p = pool(short);
    await send(p).done;
    expect((await send(p).done).body.toString()).toBe('ok');
    expect(sockets).toBe(2);
    // `timeout=5` (Node's default): reused.
    let longSockets = 0;
    const long = await httpServer((_req, res) => res.end('ok'), (s) => s.on('connection', () => longSockets++));
    const q = pool(long);
    await send(q).done;
    await send(q).done;
    expect(longSockets).toBe(1);
  });

  it('a reset mid-response is ECONNRESET after the head; a reset of a reused connection before any answer is ECONNRESET', async () => {
    const { port } = await rawServer((n, socket) => {
      if (n === 0) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => socket.resetAndDestroy(), 50);
      } else if (n === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.resetAndDestroy();
    });
    const p = pool(port);
    const mid = await send(p).done;
    expect([mid.status, mid.body.toString(), mid.error?.code]).toEqual([200, 'partial', 'ECONNRESET']);
    expect((await send(p).done).body.toString()).toBe('ok');
    const reused = await send(p).done;
    expect([reused.heads, reused.error?.code]).toEqual([0, 'ECONNRESET']);
  });

  it('a refused connection is ECONNREFUSED', async () => {
    const r = await send(pool(await freePort())).done;
    expect(r.error?.code).toBe('ECONNREFUSED');
  });

  it('no response head in time is UND_ERR_HEADERS_TIMEOUT; a silent body is UND_ERR_BODY_TIMEOUT', async () => {
    const { port } = await rawServer((n, socket) => {
      if (n === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    });
    const p = pool(port, { serverTimeoutMs: 300 });
    expect((await send(p).done).error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    const body = await send(p).done;
    expect([body.status, body.error?.code]).toEqual([200, 'UND_ERR_BODY_TIMEOUT']);
  });

  it('abort ends the request with the given error and closes its connection', async () => {
    const { port } = await rawServer(() => undefined);
    const p = pool(port);
    const c = send(p);
    await waitFor(() => p.connections === 1);
    c.abort!(Object.assign(new Error('client gone'), { code: 'X' }));
    expect((await c.done).error?.message).toBe('client gone');
    await waitFor(() => p.connections === 0);
  });

  it('holds at most `connections` sockets, queueing the rest', async () => {
    let open = 0;
    let most = 0;
    const port = await httpServer((_req, res) => setTimeout(() => res.end('slow'), 100), (s) => {
      s.on('connection', (socket) => {
        most = Math.max(most, ++open);
        socket.on('close', () => open--);
      });
    });
    const p = pool(port, { connections: 2 });
    const results = await Promise.all(Array.from({ length: 7 }, () => send(p).done));
    expect(results.map((r) => r.body.toString())).toEqual(Array(7).fill('slow'));
    expect(most).toBe(2);
  });

  it('a response that completes while the handler asked to wait leaves a pooled connection that still reads', async () => {
    const { port, connections } = await rawServer((n, socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nbody${n}`));
    const p = pool(port);
    const slow = new Collector();
    slow.pauseData = true;
    p.dispatch({ method: 'GET', path: '/', headers: ['host', 'example.test'], body: null }, slow);
    expect((await slow.done).body.toString()).toBe('body0');
    const next = await send(p).done;
    expect([next.status, next.body.toString(), next.error?.code]).toEqual([200, 'body1', undefined]);
    expect(connections()).toBe(1);
  });

  it('interim 1xx responses do not refresh the server timeout', async () => {
    const { port } = await rawServer((_n, socket) => {
      const timer = setInterval(() => socket.write('HTTP/1.1 100 Continue\r\n\r\n'), 50);
      socket.on('close', () => clearInterval(timer));
    });
    const p = pool(port, { serverTimeoutMs: 300 });
    const started = Date.now();
    expect((await send(p).done).error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a queued request that gets no connection within queueTimeoutMs fails with BATON_QUEUE_TIMEOUT', async () => {
    const port = await httpServer((_req, res) => setTimeout(() => res.end('slow'), 1_500));
    const p = pool(port, { connections: 1, queueTimeoutMs: 200 });
    const first = send(p);
    const queued = send(p);
    expect((await queued.done).error?.code).toBe('BATON_QUEUE_TIMEOUT');
    expect((await first.done).body.toString()).toBe('slow');
  });

  it('an Upgrade request answered 101 hands the socket over with the bytes after the head; any other answer is a response', async () => {
    const { port } = await rawServer((_n, socket, head) => {
      if (head.startsWith('GET /switch')) socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nearly');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno');
    });
    const p = pool(port);
    const upgrade = { method: 'GET', headers: ['host', 'example.test', 'connection', 'upgrade', 'upgrade', 'x'], body: null, upgrade: true };
    const refused = await send(p, { ...upgrade, path: '/stay' }).done;
    expect([refused.status, refused.body.toString()]).toEqual([200, 'no']);
    const switched = new Collector();
    const handedOver = new Promise<{ status: number; headers: string[]; socket: Socket; head: string }>((resolve) => {
      switched.onUpgrade = (status, headers, _text, socket, head) => resolve({ status, headers, socket, head: head.toString() });
    });
    p.dispatch({ ...upgrade, path: '/switch' }, switched as UpstreamHandler);
    const result = await handedOver;
    expect([result.status, result.head, result.headers.includes('Upgrade')]).toEqual([101, 'early', true]);
    await waitFor(() => p.connections === 0); // the socket left the pool
    result.socket.destroy();
  });

  it('close() lets the request in flight finish, then closes every connection', async () => {
    const port = await httpServer((req, res) => setTimeout(() => res.end(req.url), 300));
    const p = pool(port);
    const idle = send(p, { path: '/first' });
    await idle.done;
    const slow = send(p, { path: '/slow' });
    const other = send(p, { path: '/other' });
    await waitFor(() => p.connections === 2);
    let closed = false;
    const closing = p.close().then(() => (closed = true));
    expect(closed).toBe(false);
    const [a, b] = await Promise.all([slow.done, other.done]);
    expect([a.body.toString(), b.body.toString()]).toEqual(['/slow', '/other']);
    await closing;
    expect(p.connections).toBe(0);
  });
});
