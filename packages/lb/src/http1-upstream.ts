// An HTTP/1.1 client for the request path: a pool of keep-alive `net.Socket`s per server and Node's
// native response parser (llhttp, the one Node's own http client uses). It does what the request path
// needs and nothing else — one request per connection at a time (no pipelining), the request head
// written in one buffer, request and response bodies streamed with back-pressure — and reports errors
// with the codes undici uses, so the retry, passive-health and 502/504 logic of proxy.ts works as
// with an undici `Pool`. In bench/lb it costs ~2–4 µs less CPU per request than undici's `Pool.dispatch`.

import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { AfterHead, createNativeParser, type HttpParser, type MessageHead, type ParseError } from './native-http-parser.js';

/** The callbacks of one request (the subset of undici's DispatchHandler that proxy.ts implements). */
export interface UpstreamHandler {
  /** Called once when the request is taken; `abort` ends it (then `onError(err)` follows). */
  onConnect(abort: (err?: Error) => void): void;
  /** The final response head (1xx are not passed on); `rawHeaders` is a flat name/value list. */
  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void, statusText: string): boolean;
  /** A body chunk; false asks to pause until `resume` (from `onHeaders`) is called. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  onError(err: Error): void;
  /**
   * The server answered an Upgrade request with `101`: the socket is the caller's from now on (no
   * longer read or timed by the pool); `head` holds the server's bytes after the response head.
   */
  onUpgrade?(statusCode: number, rawHeaders: string[], statusText: string, socket: Socket, head: Buffer): void;
}

export interface UpstreamRequest {
  method: string;
  /** Origin-form request target. */
  path: string;
  /** Flat name/value list, already without hop-by-hop headers. */
  headers: string[];
  /** The request body, already de-chunked (`FrontRequest.body()`), or null. */
  body: Readable | null;
  /** An Upgrade request: a `101` answer hands the connection to `UpstreamHandler.onUpgrade`. */
  upgrade?: boolean;
}

export interface Http1PoolOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Longest wait for the response head, and longest silence while the response body streams. */
  serverTimeoutMs: number;
  /** Most connections (default 256); more requests wait in a queue. */
  connections?: number;
  /** A queued request that has not got a connection this long fails with `BATON_QUEUE_TIMEOUT` (HAProxy's `timeout queue`; default 30 s). */
  queueTimeoutMs?: number;
  /** Idle pooled connections are closed after this long (default 4 s, under Node's and nginx's). */
  keepAliveMs?: number;
  maxHeaderSize?: number;
}

type CodedError = Error & { code?: string };

function codedError(message: string, code: string): CodedError {
  const err: CodedError = new Error(message);
  err.code = code;
  return err;
}

const NO_BODY_EXPECTED = new Set(['POST', 'PUT', 'PATCH']);
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

let clock = Date.now();
let clockTimer: NodeJS.Timeout | undefined;
let clockUsers = 0;
function useClock(): void {
  if (clockUsers++ === 0) {
    clock = Date.now();
    clockTimer = setInterval(() => (clock = Date.now()), 250);
    clockTimer.unref();
  }
}
function releaseClock(): void {
  if (--clockUsers === 0 && clockTimer !== undefined) {
    clearInterval(clockTimer);
    clockTimer = undefined;
  }
}

/** One keep-alive connection to the server; carries one request at a time. */
class Connection {
  readonly socket: Socket;
  private readonly parser: HttpParser;
  private connected = false;
  private closed = false;
  /** The request in flight, if any. */
  handler: UpstreamHandler | undefined;
  private method = 'GET';
  private upgradeRequested = false;
  /** The `101` head of a switched Upgrade request, until its read is parsed. */
  private switched: { headers: string[]; statusText: string } | undefined;
  private statusCode = 0;
  private keepAlive = true;
  private gotResponseBytes = false;
  private reused = false;
  private paused = false;
  private bodySource: Readable | undefined;
  private bodyChunked = false;
  private bodyDone = true;
  private pendingHeaders: string[] | undefined;
  private error: CodedError | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bytes came from the server since the server timer last fired or was armed. */
  private activity = false;
  idleSince = 0;
  /** How long this connection may sit idle: the pool's limit, or less when the server says so. */
  keepAliveMs: number;

  constructor(private readonly pool: Http1Pool) {
    const o = pool.options;
    this.keepAliveMs = pool.keepAliveMs;
    const socket = (this.socket = connect({ host: o.host, port: o.port, noDelay: true }));
    this.parser = createNativeParser('response', o.maxHeaderSize ?? 64 * 1024, {
      onHeaders: this.onParserHeaders,
      onHeadersComplete: this.onHeadersComplete,
      onBody: this.onBody,
      onMessageComplete: this.onMessageComplete,
    });
    this.timer = setTimeout(this.onConnectTimeout, o.connectTimeoutMs);
    socket.once('connect', this.onSocketConnect);
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onSocketDrain);
  }

  get busy(): boolean {
    return this.handler !== undefined;
  }

  /** Sends a request on this connection (idle, or still connecting). */
  send(req: UpstreamRequest, handler: UpstreamHandler): void {
    this.handler = handler;
    this.method = req.method;
    this.upgradeRequested = req.upgrade === true;
    this.statusCode = 0;
    this.gotResponseBytes = false;
    this.paused = false;
    this.error = undefined;
    handler.onConnect(this.abort);
    if (this.handler !== handler) return; // aborted at once
    this.request = req;
    if (this.connected) this.writeRequest();
  }

  private request: UpstreamRequest | undefined;

  private writeRequest(): void {
    const req = this.request!;
    this.request = undefined;
    const headers = req.headers;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    const body = req.body;
    if (body === null) {
      if (!hasLength && NO_BODY_EXPECTED.has(req.method)) head += 'content-length: 0\r\n';
      this.bodyDone = true;
    } else {
      this.bodyChunked = !hasLength;
      if (this.bodyChunked) head += 'transfer-encoding: chunked\r\n';
      this.bodyDone = false;
    }
    this.armServerTimer();
    this.socket.write(`${head}\r\n`, 'latin1');
    if (body !== null) this.streamBody(body);
  }

  private streamBody(body: Readable): void {
    this.bodySource = body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('aborted', this.onBodyError);
  }

  private detachBody(): void {
    const body = this.bodySource;
    if (body === undefined) return;
    this.bodySource = undefined;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    body.off('aborted', this.onBodyError);
  }

  private readonly onBodyData = (chunk: Buffer | string): void => {
    if (this.closed) return;
    const socket = this.socket;
    let ok: boolean;
    if (this.bodyChunked) {
      if (chunk.length === 0) return;
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      socket.write(`${size.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write(CRLF, 'latin1');
    } else ok = socket.write(chunk);
    if (!ok) this.bodySource?.pause();
  };

  private readonly onSocketDrain = (): void => {
    this.bodySource?.resume();
  };

  private readonly onBodyEnd = (): void => {
    this.detachBody();
    this.bodyDone = true;
    if (this.closed) return;
    if (this.bodyChunked) this.socket.write(LAST_CHUNK, 'latin1');
  };

  private readonly onBodyError = (): void => {
    this.detachBody();
    // The client's body stopped half-way: the server cannot get a complete request on this connection.
    this.fail(codedError('the request body was aborted', 'UND_ERR_ABORTED'));
  };

  private armServerTimer(): void {
    this.activity = false;
    const ms = this.pool.options.serverTimeoutMs;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.onServerTimeout, ms);
      this.timer.unref();
    } else this.timer.refresh();
  }

  private readonly onConnectTimeout = (): void => {
    this.timer = undefined;
    if (this.connected || this.closed) return;
    this.fail(codedError(`connect timeout (${this.pool.options.connectTimeoutMs} ms)`, 'UND_ERR_CONNECT_TIMEOUT'));
  };

  private readonly onServerTimeout = (): void => {
    if (this.handler === undefined || this.closed) return;
    // Refreshing the timer on every read costs more than letting it fire once per serverTimeoutMs and
    // re-arm: a silent body is then noticed after one to two serverTimeoutMs.
    if (this.paused || !this.bodyDone || this.activity) {
      this.activity = false;
      // The client reads the response slowly, or still sends its body: the server is not at fault.
      this.timer!.refresh();
      return;
    }
    const ms = this.pool.options.serverTimeoutMs;
    this.fail(this.statusCode >= 200
      ? codedError(`body timeout (${ms} ms)`, 'UND_ERR_BODY_TIMEOUT')
      : codedError(`headers timeout (${ms} ms)`, 'UND_ERR_HEADERS_TIMEOUT'));
  };

  private readonly onSocketConnect = (): void => {
    this.connected = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // The upstream side reads through 'data', not llhttp's own reads (`consume`): on Node 22 a consumed
    // upstream socket handed to a tunnel on `101` while its server flooded crashed the process (SIGSEGV).
    if (this.request !== undefined) this.writeRequest();
  };

  private readonly onSocketData = (data: Buffer): void => {
    if (this.handler === undefined) {
      this.outOfStep();
      return;
    }
    this.parsed(this.parser.execute(data), data);
  };

  /** Bytes with no request in flight: the connection is out of step; drop it. */
  private outOfStep(): void {
    this.gotResponseBytes = true;
    this.socket.destroy();
  }

  /** After a read was parsed: `data` is the read (undefined: the parser's own, `currentBuffer()`). */
  private parsed(r: number | ParseError, data: Buffer | undefined): void {
    this.gotResponseBytes = true;
    // Only the final response's bytes refresh the server timer: interim (1xx) responses or a head
    // trickled byte by byte do not keep a request waiting past the server timeout.
    if (this.statusCode >= 200) this.activity = true;
    if (typeof r !== 'number') this.fail(codedError(`invalid response from the server: ${(r as Error).message}`, (r as CodedError).code ?? 'HPE_INVALID'));
    else if (this.switched !== undefined) this.switchProtocols((data ?? this.parser.currentBuffer()).subarray(r));
  }

  /** The server switched protocols: the socket leaves the pool and goes to the handler. */
  private switchProtocols(head: Buffer): void {
    const { headers, statusText } = this.switched!;
    this.switched = undefined;
    const handler = this.handler!;
    this.handler = undefined;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    socket.pause();
    socket.off('data', this.onSocketData);
    socket.off('end', this.onSocketEnd);
    socket.off('error', this.onSocketError);
    socket.off('close', this.onSocketClose);
    socket.off('drain', this.onSocketDrain);
    this.parser.close();
    this.pool.removed(this);
    handler.onUpgrade!(101, headers, statusText, socket, head);
  }

  private readonly onSocketEnd = (): void => {
    if (this.handler === undefined) {
      this.socket.destroy(); // an idle connection the server closed: never reuse it
      return;
    }
    if (this.statusCode >= 200) {
      // A response delimited by the end of the connection is complete now.
      const r = this.parser.finish();
      if (typeof r !== 'number' && r !== undefined && this.handler !== undefined) this.error = codedError('the server closed the connection mid-response', 'UND_ERR_SOCKET');
    }
  };

  private readonly onSocketError = (err: Error): void => {
    this.error ??= err as CodedError;
  };

  private readonly onSocketClose = (): void => {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.detachBody();
    const handler = this.handler;
    if (handler !== undefined) {
      this.handler = undefined;
      handler.onError(this.closeError());
    }
    this.parser.close();
    this.pool.removed(this);
  };

  /** What a connection that closed under a request means, in undici's codes. */
  private closeError(): CodedError {
    const err = this.error;
    if (!this.connected) {
      if (err !== undefined && err.code !== undefined) return err;
      return codedError(err?.message ?? 'connection failed', 'ECONNREFUSED');
    }
    // A pooled connection the server closed as the request went out: a reset to proxy.ts.
    if (!this.gotResponseBytes && this.reused && err?.code !== 'ECONNRESET') return codedError('the server closed the connection', 'ECONNRESET');
    if (err !== undefined && err.code !== undefined) return err;
    return codedError(err?.message ?? 'other side closed', 'UND_ERR_SOCKET');
  }

  /** Ends the request in flight with `err` and drops the connection. */
  private fail(err: CodedError): void {
    const handler = this.handler;
    this.handler = undefined;
    this.detachBody();
    this.socket.destroy();
    if (handler !== undefined) handler.onError(err);
  }

  private readonly abort = (err?: Error): void => {
    if (this.handler === undefined) return;
    this.request = undefined;
    this.fail((err as CodedError) ?? codedError('request aborted', 'UND_ERR_ABORTED'));
  };

  private readonly resume = (): void => {
    if (!this.paused) return;
    this.paused = false;
    if (this.closed) return;
    this.socket.resume();
    this.parser.resumeReading();
  };

  // --- parser callbacks ---

  private readonly onParserHeaders = (headers: string[]): void => {
    if (this.pendingHeaders === undefined) this.pendingHeaders = headers;
    else for (let i = 0; i < headers.length; i++) this.pendingHeaders.push(headers[i]);
  };

  private readonly onHeadersComplete = (parsed: MessageHead): AfterHead => {
    const { statusCode, statusText, upgrade, shouldKeepAlive } = parsed;
    let headers = parsed.headers;
    if (headers === undefined) {
      headers = this.pendingHeaders ?? [];
    }
    this.pendingHeaders = undefined;
    if (statusCode < 200) {
      if (statusCode === 101 || upgrade) {
        if (statusCode === 101 && this.upgradeRequested && this.handler?.onUpgrade !== undefined) {
          this.statusCode = statusCode;
          this.switched = { headers, statusText };
          return AfterHead.Stop; // the rest of the read is the new protocol's
        }
        this.fail(codedError('unexpected protocol upgrade from the server', 'UND_ERR_SOCKET'));
        return AfterHead.Stop;
      }
      return AfterHead.SkipBody; // 1xx interim responses (100 Continue): not passed on
    }
    this.statusCode = statusCode;
    // A connection whose Upgrade request was not switched is not reused: the server may still expect it.
    this.keepAlive = shouldKeepAlive && !this.upgradeRequested;
    if (shouldKeepAlive) this.readKeepAliveHint(headers);
    const handler = this.handler;
    if (handler === undefined) return AfterHead.SkipBody;
    if (!handler.onHeaders(statusCode, headers, this.resume, statusText)) this.pause();
    return this.method === 'HEAD' || statusCode === 204 || statusCode === 304 ? AfterHead.SkipBody : AfterHead.ReadBody;
  };

  /**
   * `Keep-Alive: timeout=N`: the server closes idle connections after N s; stop reusing this one a
   * second before (as undici does), so a request is not sent just as the server closes it.
   */
  private readKeepAliveHint(headers: string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const m = /timeout\s*=\s*(\d+)/i.exec(headers[i + 1]);
      if (m === null) return;
      const ms = Number(m[1]) * 1000 - 1000;
      if (ms < this.keepAliveMs) this.keepAliveMs = ms;
      if (ms <= 0) this.keepAlive = false;
      return;
    }
  }

  private pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.socket.pause();
    this.parser.pauseReading();
  }

  private readonly onBody = (chunk: Buffer): void => {
    const handler = this.handler;
    if (handler !== undefined && !handler.onData(chunk)) this.pause();
  };

  private readonly onMessageComplete = (): void => {
    if (this.statusCode < 200) return; // the final response follows
    const handler = this.handler;
    if (handler === undefined) return;
    this.handler = undefined;
    this.paused = false;
    handler.onComplete(null);
    if (this.bodyDone) this.afterResponse();
    else {
      // The server answered before the request body ended (413, 401…): this connection is out of
      // step with it and may be stuck on a body the server no longer reads; drop it.
      this.detachBody();
      this.socket.destroy();
    }
  };

  /** Back to the pool (or closed) once both the response and the request body are done. */
  private afterResponse(): void {
    if (this.closed) return;
    if (!this.keepAlive || (this.pool.closing && !this.pool.hasQueue())) {
      this.socket.destroy(); // the pool learns on 'close'
      return;
    }
    // A response that completed while its client was slow left the socket paused (`paused` is reset
    // by then): a pooled connection must read, or the next request on it would wait for nothing.
    if (this.socket.isPaused()) {
      this.socket.resume();
      this.parser.resumeReading();
    }
    this.reused = true;
    this.pool.release(this);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

interface Queued {
  req: UpstreamRequest;
  handler: UpstreamHandler;
  /** When it was queued. */
  at: number;
}

/** The keep-alive connections to one server. */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private readonly maxConnections: number;
  private readonly queueTimeoutMs: number;
  readonly keepAliveMs: number;
  private readonly sweeper: NodeJS.Timeout;
  closing = false;
  private closed: (() => void) | undefined;
  private closedPromise: Promise<void> | undefined;

  constructor(readonly options: Http1PoolOptions) {
    this.maxConnections = options.connections ?? 256;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 30_000;
    this.keepAliveMs = options.keepAliveMs ?? 4_000;
    useClock();
    this.sweeper = setInterval(this.sweep, Math.max(100, Math.min(1_000, Math.min(this.keepAliveMs, this.queueTimeoutMs) / 4)));
    this.sweeper.unref();
  }

  /** Connections open (busy, idle or connecting). */
  get connections(): number {
    return this.all.size;
  }

  get idleConnections(): number {
    return this.idle.length;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): boolean {
    const idle = this.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (conn.socket.destroyed || clock - conn.idleSince >= conn.keepAliveMs) {
        conn.destroy();
        continue;
      }
      conn.send(req, handler);
      return true;
    }
    if (this.all.size < this.maxConnections) {
      const conn = new Connection(this);
      this.all.add(conn);
      conn.send(req, handler);
      return true;
    }
    // Every connection is busy: wait for one. An abort while queued ends the request at once.
    const entry: Queued = { req, handler, at: clock };
    this.queue.push(entry);
    handler.onConnect((err) => {
      const i = this.queue.indexOf(entry, this.queueHead);
      if (i === -1) return;
      this.queue.splice(i, 1);
      handler.onError(err ?? codedError('request aborted', 'UND_ERR_ABORTED'));
    });
    return false;
  }

  hasQueue(): boolean {
    return this.queue.length > this.queueHead;
  }

  private takeQueued(): Queued | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const entry = this.queue[this.queueHead++];
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    return entry;
  }

  /** A connection finished its request and can take another. */
  release(conn: Connection): void {
    const next = this.takeQueued();
    if (next !== undefined) {
      this.sendQueued(conn, next);
      return;
    }
    conn.idleSince = clock;
    this.idle.push(conn);
    this.checkClosed();
  }

  private sendQueued(conn: Connection, entry: Queued): void {
    // The queued handler already has its abort function; a fresh one replaces it.
    conn.send(entry.req, entry.handler);
  }

  private next(): void {
    while (this.hasQueue() && this.all.size < this.maxConnections) {
      const entry = this.takeQueued()!;
      const conn = new Connection(this);
      this.all.add(conn);
      this.sendQueued(conn, entry);
    }
    this.checkClosed();
  }

  /** A connection closed: forget it, and start queued requests on new connections. */
  removed(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idle.lastIndexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    this.next();
  }

  private readonly sweep = (): void => {
    const idle = this.idle;
    for (let i = 0; i < idle.length; i++) {
      const conn = idle[i];
      if (clock - conn.idleSince >= conn.keepAliveMs) conn.destroy(); // 'close' takes it out of `idle`
    }
    // Queued requests that waited too long for a connection fail (the proxy answers 503), oldest first.
    const ms = this.queueTimeoutMs;
    while (this.hasQueue() && clock - this.queue[this.queueHead].at >= ms) {
      const entry = this.takeQueued()!;
      entry.handler.onError(codedError(`no connection to the server within the queue timeout (${ms} ms)`, 'BATON_QUEUE_TIMEOUT'));
    }
  };

  private checkClosed(): void {
    if (!this.closing) return;
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.closed !== undefined && this.all.size === 0 && !this.hasQueue()) {
      const done = this.closed;
      this.closed = undefined;
      done();
    }
  }

  /** Takes no idle connections back; resolves when in-flight and queued requests are done. */
  close(): Promise<void> {
    if (this.closedPromise !== undefined) return this.closedPromise;
    this.closing = true;
    clearInterval(this.sweeper);
    this.closedPromise = new Promise<void>((resolve) => {
      this.closed = () => {
        releaseClock();
        resolve();
      };
    });
    // Idle connections close now (their 'close' calls `removed`); busy ones after their response.
    this.checkClosed();
    return this.closedPromise;
  }

  /** Ends everything now: requests in flight or queued fail. */
  async destroy(): Promise<void> {
    const pending = this.close();
    while (this.hasQueue()) this.takeQueued()!.handler.onError(codedError('the pool was destroyed', 'UND_ERR_DESTROYED'));
    for (const conn of this.all) conn.destroy();
    await pending;
  }
}
