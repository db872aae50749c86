// The client side of baton-lb's HTTP listeners: `net` (or `tls`) sockets and Node's native request
// parser (llhttp, the one Node's own http server uses), without Node's IncomingMessage/ServerResponse
// streams. A request is one `FrontRequest` that also writes its response; a response head and a small
// body leave in one socket write. What Node's http server did for the proxy is done here:
//   - limits: head size (431), malformed requests (400), a head not complete in time (408);
//   - keep-alive: HTTP/1.1 persistent by default, HTTP/1.0 only with `Connection: keep-alive`,
//     pipelined requests answered in order, idle connections closed after `keepAliveMs`;
//   - response framing: chunked when the response has no length, none for HEAD/204/304;
//   - request bodies as a Readable with back-pressure on the client socket;
//   - back-pressure on responses: while a connection's unread replies pass WRITE_HIGH_WATER bytes, the
//     next pipelined request is not started and (MAX_WAITING requests ahead) the socket is not read;
//   - Upgrade requests are ordinary requests until the listener switches protocols (on the server's
//     `101`); CONNECT requests are handed over with the socket and the bytes after the head.
//
// Memory per connection is bounded by: the request heads parsed ahead (MAX_WAITING + 1 of at most
// `maxHeaderSize` each), the body bytes of requests not yet started (BUFFERED_BODY_BYTES in all, then
// the socket is paused), one socket read (64 KiB), and the unread replies (WRITE_HIGH_WATER plus one
// response chunk).

import { Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { AfterHead, createNativeParser, type HttpParser, type MessageHead, type ParseError } from './native-http-parser.js';


export interface Http1ServerOptions {
  /** Largest request head in bytes (431 beyond). */
  maxHeaderSize: number;
  /** A request head must be complete this long after its first byte (408 otherwise). */
  headTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
  /** Inactivity allowed while the proxy waits on the client (a fresh connection, a request body, a blocked write). */
  clientTimeoutMs: number;
  /** A request body must be complete this long after its head (408, or the connection cut); a trickle does not extend it. */
  bodyTimeoutMs: number;
  /** A request the parser refused, answered here (400, 408, 413, 431) before the connection closes. */
  onClientError?: (status: number, reason: string) => void;
  /** The request listener threw: the connection is cut and this is told why. */
  onListenerError?: (err: unknown) => void;
}

/** An Upgrade or CONNECT request, handed over with its socket. */
export interface UpgradeRequest {
  method: string;
  http10: boolean;
  url: string;
  rawHeaders: string[];
  socket: Socket;
}

export type RequestListener = (req: FrontRequest) => void;
export type ConnectListener = (req: UpgradeRequest, socket: Socket, head: Buffer) => void;

/** A listener with the one method of Node's http.Server that closing needs. */
export type Http1Listener = NetServer & { closeIdleConnections(): void };

/** Bodies up to this size are appended to the pending head and leave in the same write. */
const COALESCE_BYTES = 16 * 1024;
/** Pipelined requests parsed ahead of their turn; beyond this the client socket stops being read. */
export const MAX_WAITING = 32;
/** Unread response bytes beyond which the next request waits for the client to read ('drain'). */
export const WRITE_HIGH_WATER = 64 * 1024;
/** Body bytes kept for requests of a connection that have not started; beyond this the client socket stops being read. */
export const BUFFERED_BODY_BYTES = 64 * 1024;
/** A request body up to this size is received whole before `whenBodyReady` (no server slot held meanwhile). */
export const BODY_READY_BYTES = 16 * 1024;
const LAST_CHUNK = '0\r\n\r\n';

class BodyStream extends Readable {
  constructor(private readonly conn: Http1Connection) {
    super();
  }

  override _read(): void {
    this.conn.resumeBody();
  }
}

/** One request on a client connection, and its response. */
export class FrontRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** Flat name/value list, as received. */
  readonly rawHeaders: string[];
  readonly socket: Socket;
  /** The client spoke HTTP/1.0. */
  readonly http10: boolean;
  /** The connection stays open after this response. */
  keepAlive: boolean;
  headersSent = false;
  finished = false;
  /** Every byte of the request (head and body) has been received. */
  complete = false;
  /** An Upgrade request: answered as any other request unless the listener switches protocols. */
  readonly upgrade: boolean;
  /** When the request head was complete. */
  readonly receivedAt = Date.now();
  /** When the request's first byte was parsed. */
  startedAt = this.receivedAt;
  /** Body bytes received so far. */
  bodyBytes = 0;
  /** Called once when the client connection closes before the response ended. */
  onAbort: (() => void) | undefined;
  private stream: BodyStream | undefined;
  private buffered: Buffer[] | undefined;
  private bufferedBytes = 0;
  private bodyReady: (() => void) | undefined;
  private chunked = false;
  private noBody = false;
  /** Response bytes not yet written: the head and the body so far (latin1). */
  private pending: string | undefined;

  constructor(
    private readonly conn: Http1Connection,
    method: string,
    url: string,
    rawHeaders: string[],
    http10: boolean,
    keepAlive: boolean,
    upgrade = false,
  ) {
    this.upgrade = upgrade;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.socket = conn.socket;
    this.http10 = http10;
    this.keepAlive = keepAlive;
  }

  /** The request body as a stream (created on first call; chunks received before are in it). */
  body(): Readable {
    let stream = this.stream;
    if (stream === undefined) {
      stream = this.stream = new BodyStream(this.conn);
      const buffered = this.buffered;
      this.buffered = undefined;
      this.releaseBuffered();
      if (buffered !== undefined) for (const chunk of buffered) stream.push(chunk);
      if (this.complete) stream.push(null);
    }
    return stream;
  }

  /**
   * Calls `ready` once the body is complete or BODY_READY_BYTES of it have arrived (at once when the
   * request has no body left to wait for). Until then the request holds no server slot; the
   * connection's request-head deadline covers the wait (as HAProxy's `option http-buffer-request`).
   */
  whenBodyReady(ready: () => void): void {
    if (this.complete || this.bodyBytes >= BODY_READY_BYTES) ready();
    else this.bodyReady = ready;
  }

  /** Waiting in `whenBodyReady`. */
  get awaitingBody(): boolean {
    return this.bodyReady !== undefined;
  }

  private bodyIsReady(): void {
    const ready = this.bodyReady;
    if (ready === undefined) return;
    this.bodyReady = undefined;
    ready();
  }

  /** @internal a body chunk from the parser; false when the client should stop sending for now. */
  pushBody(chunk: Buffer): boolean {
    if (this.finished) return true; // answered already: the rest of the body is read and dropped
    this.bodyBytes += chunk.length;
    let more: boolean;
    if (this.stream !== undefined) more = this.stream.push(chunk);
    else {
      (this.buffered ??= []).push(chunk);
      this.bufferedBytes += chunk.length;
      more = (this.conn.bufferedBody += chunk.length) < BUFFERED_BODY_BYTES;
    }
    if (this.bodyReady !== undefined && this.bodyBytes >= BODY_READY_BYTES) this.bodyIsReady();
    return more;
  }

  /** Body bytes held before a stream was asked for no longer count against the connection. */
  private releaseBuffered(): void {
    this.conn.bufferedBody -= this.bufferedBytes;
    this.bufferedBytes = 0;
  }

  /** @internal the request ended (complete) or the client went away (aborted). */
  endBody(aborted: boolean): void {
    const stream = this.stream;
    if (aborted) {
      this.buffered = undefined;
      this.releaseBuffered();
      if (stream !== undefined && !stream.readableEnded) {
        stream.emit('aborted');
        stream.destroy();
      }
      return;
    }
    this.complete = true;
    if (stream !== undefined) stream.push(null);
    this.bodyIsReady();
  }

  /** `100 Continue`, for a client that sent `Expect: 100-continue`. */
  writeContinue(): void {
    if (!this.headersSent && !this.socket.destroyed) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  /**
   * The response head. `headers` is a flat name/value list without hop-by-hop headers, except
   * `connection: close`, which ends the connection after this response.
   */
  writeHead(statusCode: number, statusText: string, headers: string[]): void {
    if (this.headersSent) throw new Error('response head already sent');
    let head = `HTTP/1.1 ${statusCode} ${statusText || STATUS_CODES[statusCode] || 'Unknown'}\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1) throw new Error(`invalid value for header ${name}`);
      const len = name.length;
      if (len === 14 && name.toLowerCase() === 'content-length') hasLength = true;
      else if (len === 10 && name.toLowerCase() === 'connection') {
        if (value.toLowerCase() === 'close') this.keepAlive = false;
        continue;
      }
      head += `${name}: ${value}\r\n`;
    }
    this.noBody = this.method === 'HEAD' || statusCode === 204 || statusCode === 304 || statusCode < 200;
    if (!hasLength && !this.noBody) {
      if (this.http10) this.keepAlive = false; // the body ends with the connection
      else {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
    if (this.conn.closing) this.keepAlive = false;
    if (!this.keepAlive) head += 'connection: close\r\n';
    else if (this.http10) head += 'connection: keep-alive\r\n';
    this.headersSent = true;
    this.pending = `${head}\r\n`;
    // The body and the end usually follow in the same turn: they join the head; if not, it goes now.
    process.nextTick(flushPending, this);
  }

  /** A body chunk; false when the client is slow (wait for `onceDrain`). */
  write(chunk: Buffer): boolean {
    if (this.noBody || chunk.length === 0 || this.finished) return true;
    const socket = this.socket;
    this.conn.lastActivity = Date.now();
    if (this.pending !== undefined && chunk.length <= COALESCE_BYTES) {
      const data = chunk.toString('latin1');
      this.pending += this.chunked ? `${chunk.length.toString(16)}\r\n${data}\r\n` : data;
      return true;
    }
    this.flush();
    if (!this.chunked) return socket.write(chunk);
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  /** Ends the response; the connection takes the next request (or closes). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.buffered = undefined;
    this.releaseBuffered();
    const tail = this.chunked ? LAST_CHUNK : '';
    const pending = this.pending;
    if (pending !== undefined) {
      this.pending = undefined;
      this.socket.write(pending + tail, 'latin1');
    } else if (tail !== '') this.socket.write(tail, 'latin1');
    this.conn.responseDone(this);
  }

  /** A whole local response (errors, redirects, 401). */
  respond(statusCode: number, headers: string[], body: string): void {
    this.writeHead(statusCode, '', headers);
    if (body !== '' && !this.noBody) this.write(Buffer.from(body));
    this.end();
  }

  /**
   * Ends HTTP on this connection after an Upgrade request: writes `head` (the `101` response head,
   * as sent) and hands over the socket with the client bytes received after the request head.
   */
  switchProtocols(head: string): { socket: Socket; head: Buffer } {
    if (!this.upgrade || this.headersSent) throw new Error('not an Upgrade request awaiting its response');
    this.headersSent = true;
    this.finished = true;
    return this.conn.switchProtocols(this, head);
  }

  /** Cuts the connection (a response that cannot be completed). */
  destroy(): void {
    this.finished = true;
    this.socket.destroy();
  }

  onceDrain(listener: () => void): void {
    this.socket.once('drain', listener);
  }

  /** @internal */
  flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    if (!this.socket.destroyed) this.socket.write(pending, 'latin1');
  }
}

function flushPending(req: FrontRequest): void {
  req.flush();
}

/** One client connection: its parser, the request being answered and those pipelined behind it. */
class Http1Connection {
  private readonly parser: HttpParser;
  /** The request whose response is being produced. */
  private current: FrontRequest | undefined;
  /** Requests parsed while `current` was being answered, in order. */
  private readonly waiting: FrontRequest[] = [];
  /** The request whose body the parser is reading. */
  private reading: FrontRequest | undefined;
  private partialHeaders: string[] | undefined;
  private partialUrl = '';
  /** A CONNECT request, handed over once the responses before it are done. */
  private upgrade: { req: UpgradeRequest; head: Buffer | undefined } | undefined;
  /** An Upgrade request stops parsing: the bytes after its head wait here for its response. */
  private held: Buffer | undefined;
  private holding = false;
  /** A request head refused in a parser callback (400, 505), answered once the read is parsed. */
  private headRefusal = 0;
  private pausedForBody = false;
  private pausedForQueue = false;
  /** The client does not read its replies: nothing more is started or read until 'drain'. */
  private pausedForWrite = false;
  private clientEnded = false;
  /** No longer reading requests from the socket (closing, refused, or handed over). */
  private detached = false;
  private handedOver = false;
  /** The request parsed in this read that starts when the read is parsed. */
  private toStart: FrontRequest | undefined;
  /** A refusal (status) waiting for the response in progress to end. */
  private refusal = 0;
  /** When the head in progress started (0: none in progress). */
  headStartedAt = 0;
  /** When the connection last went idle (opened, or a response ended). */
  idleSince: number;
  lastActivity: number;
  served = 0;
  /** Body bytes held for requests whose body stream nobody asked for yet. */
  bufferedBody = 0;

  constructor(
    readonly socket: Socket,
    private readonly owner: Http1ServerState,
  ) {
    this.idleSince = this.lastActivity = Date.now();
    this.parser = createNativeParser('request', owner.options.maxHeaderSize, {
      onMessageBegin: this.onMessageBegin,
      onHeaders: this.onHeaders,
      onHeadersComplete: this.onHeadersComplete,
      onBody: this.onBody,
      onMessageComplete: this.onMessageComplete,
    });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', noop);
    socket.on('close', this.onClose);
    // Plain TCP: llhttp reads the socket itself ('data' then only brings bytes buffered before).
    this.parser.consume(socket, this.onRead);
  }

  get closing(): boolean {
    return this.owner.closing;
  }

  /** Idle: no request being answered, waiting or arriving. */
  get idle(): boolean {
    return this.current === undefined && this.waiting.length === 0 && this.headStartedAt === 0;
  }

  /** The proxy waits on the client: its request body, or a write it does not read. */
  get waitingOnClient(): boolean {
    return (this.reading !== undefined && this.reading === this.current) || this.socket.writableLength > 0;
  }

  private readonly onData = (data: Buffer): void => {
    this.parsed(this.parser.execute(data), data);
  };

  /** A read the parser took from the socket itself (`consume`). */
  private readonly onRead = (ret: number | ParseError): void => {
    this.parsed(ret, undefined);
  };

  /** After a read was parsed: `data` is the read (undefined: the parser's own, `currentBuffer()`). */
  private parsed(ret: number | ParseError, data: Buffer | undefined): void {
    this.lastActivity = Date.now();
    // A request is started only once its read is parsed: an error later in the same read (a bad
    // body, say) then refuses it before anything was forwarded.
    const toStart = this.toStart;
    this.toStart = undefined;
    const headRefusal = this.headRefusal;
    if (typeof ret !== 'number' || headRefusal !== 0) {
      this.headRefusal = 0;
      if (typeof ret !== 'number') this.parseError(ret as Error & { code?: string });
      else this.refuse(headRefusal);
      if (toStart !== undefined && this.current === toStart) this.start(toStart); // the bad request was a later one
      return;
    }
    const upgrade = this.upgrade;
    if (upgrade !== undefined && upgrade.head === undefined) {
      upgrade.head = (data ?? this.parser.currentBuffer()).subarray(ret);
      this.pauseReading();
    }
    if (this.holding && this.held === undefined) {
      this.held = (data ?? this.parser.currentBuffer()).subarray(ret);
      this.pauseReading();
    }
    if (toStart !== undefined) this.start(toStart);
    if (this.upgrade !== undefined && this.current === undefined) this.handOver();
  }

  /** Stops reading the client (the read being parsed is parsed to its end). */
  private pauseReading(): void {
    this.socket.pause();
    this.parser.pauseReading();
  }

  private readonly onEnd = (): void => {
    this.clientEnded = true;
    if (this.detached) return;
    const ret = this.parser.finish();
    if (ret instanceof Error && this.current === undefined) {
      this.parseError(ret as Error & { code?: string });
      return;
    }
    if (this.current === undefined && this.waiting.length === 0) this.socket.end();
  };

  private readonly onClose = (): void => {
    this.owner.connections.delete(this);
    if (this.handedOver) return;
    const current = this.current;
    this.current = undefined;
    if (current !== undefined && !current.finished) {
      current.finished = true;
      current.endBody(true);
      current.onAbort?.();
    }
    for (const req of this.waiting) req.endBody(true);
    this.waiting.length = 0;
    this.freeParser();
  };

  private freeParser(): void {
    this.parser.close();
  }

  private parseError(err: Error & { code?: string }): void {
    const code = err.code ?? '';
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
    this.refuse(status);
  }

  /** Answers `status` to a request that could not be read, then closes (after the response in progress). */
  refuse(status: number): void {
    const socket = this.socket;
    const current = this.current;
    const broken = this.reading;
    this.reading = undefined;
    if (current !== undefined && !current.finished) {
      if (broken !== current) {
        // A later pipelined request is bad: the responses before it go first, then the refusal.
        const i = broken === undefined ? -1 : this.waiting.indexOf(broken);
        if (i !== -1) for (const dropped of this.waiting.splice(i)) dropped.endBody(true);
        this.refusal = status;
        this.detach();
        return;
      }
      // The request being answered has a bad body: it is abandoned (and aborted upstream) before
      // its body stream fails, so that nothing but the refusal is written.
      const answered = current.headersSent;
      current.finished = true;
      this.current = undefined;
      current.onAbort?.();
      current.endBody(true);
      if (answered) {
        socket.destroy();
        this.detach();
        return;
      }
    }
    const reason = STATUS_CODES[status] ?? 'Bad Request';
    this.owner.options.onClientError?.(status, reason);
    if (this.current === undefined && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\n\r\n`, 'latin1');
      setTimeout(destroySocket, 1_000, socket).unref(); // a client that never closes its side
    } else socket.destroy();
    this.detach();
  }

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    const socket = this.socket;
    // Later bytes go to the socket's stream (read and dropped, or paused there), as with 'data'.
    this.parser.unconsume();
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    this.owner.connections.delete(this);
  }

  // --- parser callbacks ---

  private readonly onMessageBegin = (): void => {
    this.headStartedAt = Date.now();
  };

  private readonly onHeaders = (headers: string[], url: string): void => {
    if (this.partialHeaders === undefined) this.partialHeaders = headers;
    else for (let i = 0; i < headers.length; i++) this.partialHeaders.push(headers[i]);
    this.partialUrl += url;
  };

  private readonly onHeadersComplete = (parsed: MessageHead): AfterHead => {
    const { versionMajor: major, versionMinor: minor, method: methodName, upgrade, shouldKeepAlive } = parsed;
    let { headers, url } = parsed;
    const startedAt = this.headStartedAt;
    this.headStartedAt = 0;
    if (this.detached) return AfterHead.Stop; // the rest of this read is not looked at
    if (headers === undefined) headers = this.partialHeaders ?? [];
    else if (this.partialHeaders !== undefined) headers = this.partialHeaders.concat(headers);
    if (url === '') url = this.partialUrl;
    else if (this.partialUrl !== '') url = this.partialUrl + url;
    this.partialHeaders = undefined;
    this.partialUrl = '';
    const http10 = major === 1 && minor === 0;
    const refusal = headError(major, http10, headers, upgrade);
    if (refusal !== 0) {
      this.headRefusal = refusal;
      return AfterHead.Stop; // stop parsing: nothing after a refused head is looked at
    }
    if (upgrade && methodName === 'CONNECT') {
      this.upgrade = { req: { method: methodName, http10, url, rawHeaders: headers, socket: this.socket }, head: undefined };
      return AfterHead.Stop; // stop parsing: the rest belongs to the CONNECT listener
    }
    const req = new FrontRequest(this, methodName, url, headers, http10, shouldKeepAlive, upgrade);
    if (startedAt !== 0) req.startedAt = startedAt;
    if (upgrade) {
      // Parsing stops here: the bytes after the head are the new protocol's if the server switches,
      // or the next request's if it answers anything else.
      req.complete = true;
      this.holding = true;
      if (this.current === undefined) this.current = this.toStart = req;
      else this.waiting.push(req);
      return AfterHead.Stop;
    }
    this.reading = req;
    if (this.current === undefined) this.current = this.toStart = req;
    else {
      this.waiting.push(req);
      if (this.waiting.length >= MAX_WAITING && !this.pausedForQueue) {
        this.pausedForQueue = true;
        this.pauseReading();
      }
    }
    return AfterHead.ReadBody;
  };

  private readonly onBody = (chunk: Buffer): void => {
    if (this.detached) return;
    const req = this.reading;
    if (req !== undefined && !req.pushBody(chunk) && !this.pausedForBody) {
      this.pausedForBody = true;
      this.pauseReading();
    }
  };

  private readonly onMessageComplete = (): void => {
    const req = this.reading;
    this.reading = undefined;
    req?.endBody(false);
  };

  resumeBody(): void {
    if (!this.pausedForBody) return;
    this.pausedForBody = false;
    this.resumeReading();
  }

  /** Reads the socket again unless something still holds it. */
  private resumeReading(): void {
    if (this.pausedForBody || this.pausedForQueue || this.pausedForWrite || this.holding || this.detached) return;
    this.socket.resume();
    this.parser.resumeReading();
  }

  private start(req: FrontRequest): void {
    this.current = req;
    try {
      if (req.upgrade) this.owner.onUpgrade(req);
      else this.owner.onRequest(req);
    } catch (err) {
      this.owner.options.onListenerError?.(err);
      this.destroy();
    }
  }

  /** The response to `req` ended: the next request, or the connection's end. */
  responseDone(req: FrontRequest): void {
    if (req !== this.current) return;
    this.current = undefined;
    this.served++;
    this.lastActivity = this.idleSince = Date.now();
    const socket = this.socket;
    if (this.refusal !== 0 && this.waiting.length === 0) {
      this.refuse(this.refusal);
      return;
    }
    if (!req.keepAlive || (this.clientEnded && this.waiting.length === 0)) {
      this.detach();
      socket.end();
      return;
    }
    // A body the response did not wait for is read to its end (and dropped) before the next request.
    if (!req.complete) this.resumeBody();
    if (req.upgrade) {
      // The server did not switch protocols: the bytes after the Upgrade request are parsed as HTTP.
      const held = this.held;
      this.held = undefined;
      this.holding = false;
      if (held !== undefined && held.length > 0) process.nextTick(parseHeld, this, held);
    }
    if (socket.writableLength > WRITE_HIGH_WATER) {
      // The client is not reading its replies: the next request waits, and the socket is not read.
      this.pausedForWrite = true;
      this.pauseReading();
      socket.once('drain', this.onDrain);
      return;
    }
    this.next();
  }

  private readonly onDrain = (): void => {
    if (!this.pausedForWrite) return;
    this.pausedForWrite = false;
    if (this.detached) return;
    this.lastActivity = Date.now();
    this.next();
  };

  /** Starts the next pipelined request (or the CONNECT hand-over) and reads on when the queue allows. */
  private next(): void {
    const next = this.waiting.shift();
    if (this.pausedForQueue && this.waiting.length < MAX_WAITING / 2) this.pausedForQueue = false;
    this.resumeReading();
    if (next !== undefined) process.nextTick(startNext, this, next);
    else if (this.upgrade !== undefined) this.handOver();
  }

  /** @internal bytes received after an Upgrade request the server did not switch. */
  parseHeld(held: Buffer): void {
    if (this.detached || this.socket.destroyed) return;
    this.onData(held);
  }

  /** @internal the listener switched `req` (an Upgrade request) to another protocol. */
  switchProtocols(req: FrontRequest, head: string): { socket: Socket; head: Buffer } {
    const socket = this.socket;
    const held = this.held ?? Buffer.alloc(0);
    this.held = undefined;
    this.holding = false;
    if (req === this.current) this.current = undefined;
    this.detach();
    this.handedOver = true;
    this.freeParser();
    socket.off('close', this.onClose);
    socket.off('error', noop);
    socket.off('drain', this.onDrain);
    if (!socket.destroyed) socket.write(head, 'latin1');
    return { socket, head: held };
  }

  /** @internal */
  startWaiting(req: FrontRequest): void {
    if (this.handedOver || this.current !== undefined || this.socket.destroyed) return;
    this.start(req);
  }

  /** Gives the socket to the CONNECT listener. */
  private handOver(): void {
    const upgrade = this.upgrade!;
    this.upgrade = undefined;
    this.detach();
    this.handedOver = true;
    this.freeParser();
    const socket = this.socket;
    socket.off('close', this.onClose);
    socket.off('error', noop);
    // As Node's http server leaves it: not flowing until the new owner reads.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    this.owner.onConnect(upgrade.req, socket, upgrade.head ?? Buffer.alloc(0));
  }

  /** The periodic check of this connection's timers. */
  check(now: number): void {
    const o = this.owner.options;
    // Deadlines a trickle of bytes does not extend: the request head (and a small body awaited before
    // the request takes a server slot), then the whole body.
    const current = this.current;
    if (current !== undefined && current.awaitingBody && now - current.startedAt >= o.headTimeoutMs) {
      this.refuse(408);
      return;
    }
    const reading = this.reading;
    if (reading !== undefined && now - reading.receivedAt >= o.bodyTimeoutMs) {
      this.refuse(408);
      return;
    }
    if (this.headStartedAt !== 0 && !this.pausedForQueue && !this.pausedForWrite) {
      if (now - this.headStartedAt >= o.headTimeoutMs) this.refuse(408);
      return;
    }
    if (this.current === undefined && this.waiting.length === 0) {
      const limit = this.served > 0 ? o.keepAliveMs : o.clientTimeoutMs;
      if (now - this.idleSince >= limit) this.destroy();
      return;
    }
    if (this.waitingOnClient && now - this.lastActivity >= o.clientTimeoutMs) this.destroy();
  }

  destroy(): void {
    this.detach();
    this.socket.destroy();
  }
}

function startNext(conn: Http1Connection, req: FrontRequest): void {
  conn.startWaiting(req);
}

function parseHeld(conn: Http1Connection, held: Buffer): void {
  conn.parseHeld(held);
}

/**
 * Why a request head is refused before any routing (0: it is not): not HTTP/1.x (`505`, as an
 * `HTTP/2.0` request line), `Transfer-Encoding` on HTTP/1.0, any coding but a single `chunked`
 * (baton-lb does not decode them, and forwarding the body re-chunked would drop the coding), or an
 * Upgrade request with a body (its bytes would otherwise be parsed as the next request when the
 * server does not switch).
 */
function headError(major: number, http10: boolean, headers: string[], upgrade: boolean): number {
  if (major !== 1) return 505;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const len = name.length;
    if (len === 17 && name.toLowerCase() === 'transfer-encoding') {
      if (http10 || upgrade || headers[i + 1].trim().toLowerCase() !== 'chunked') return 400;
      for (let j = i + 2; j < headers.length; j += 2) {
        if (headers[j].length === 17 && headers[j].toLowerCase() === 'transfer-encoding') return 400;
      }
    } else if (upgrade && len === 14 && name.toLowerCase() === 'content-length' && headers[i + 1].trim() !== '0') return 400;
  }
  return 0;
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function noop(): void {}

interface Http1ServerState {
  options: Http1ServerOptions;
  connections: Set<Http1Connection>;
  closing: boolean;
  onRequest: RequestListener;
  onUpgrade: RequestListener;
  onConnect: ConnectListener;
}

/**
 * Closes each connection of a TLS listener whose handshake has not finished `ms` after it was
 * accepted: a deadline, not an inactivity timer, so a handshake trickled byte by byte ends too.
 */
export function limitTlsHandshake(server: TlsServer, ms: number): void {
  const pending = new Map<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(destroySocket, ms, socket);
    timer.unref();
    pending.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      pending.delete(socket);
    });
  });
  server.on('secureConnection', (tlsSocket: Socket & { _parent?: Socket }) => {
    const raw = tlsSocket._parent;
    const timer = raw === undefined ? undefined : pending.get(raw);
    if (timer === undefined) return;
    clearTimeout(timer);
    pending.delete(raw!);
  });
}

/**
 * An HTTP/1.1 listener (HTTPS when `tlsOptions` is given; with `onHttp2`, connections that negotiated
 * `h2` through ALPN are handed to it). `onUpgrade` gets Upgrade requests (see
 * `FrontRequest.switchProtocols`); `onConnect` gets CONNECT requests, and must answer them (baton-lb
 * refuses them).
 */
export function createHttp1Server(
  options: Http1ServerOptions,
  handlers: { onRequest: RequestListener; onUpgrade: RequestListener; onConnect: ConnectListener; onHttp2?: (socket: TLSSocket) => void },
  tlsOptions?: TlsOptions,
): Http1Listener {
  const state: Http1ServerState = { options, connections: new Set(), closing: false, ...handlers };
  // The timeouts' sweep runs only while the listener has connections: a cluster's thousands of idle
  // service-port listeners cost no timer (one interval each fired thousands of callbacks a second).
  const sweepMs = Math.max(100, Math.min(1_000, Math.floor(Math.min(options.headTimeoutMs, options.keepAliveMs) / 4)));
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    if (state.connections.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
      return;
    }
    const now = Date.now();
    for (const conn of state.connections) conn.check(now);
  };
  const onHttp2 = handlers.onHttp2;
  const onSocket = (socket: Socket): void => {
    // A TLS connection whose ALPN picked HTTP/2 goes to the HTTP/2 front end (http2-server.ts).
    if (onHttp2 !== undefined && (socket as TLSSocket).alpnProtocol === 'h2') return onHttp2(socket as TLSSocket);
    state.connections.add(new Http1Connection(socket, state));
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, sweepMs);
      sweeper.unref();
    }
  };
  const server = (tlsOptions !== undefined
    ? new TlsServer({ handshakeTimeout: options.clientTimeoutMs, ...tlsOptions, allowHalfOpen: true }, onSocket)
    : new NetServer({ allowHalfOpen: true, noDelay: true }, onSocket)) as Http1Listener;
  if (tlsOptions !== undefined) {
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    limitTlsHandshake(server as unknown as TlsServer, options.clientTimeoutMs);
  }
  server.on('close', () => {
    clearInterval(sweeper);
    sweeper = undefined;
  });
  server.closeIdleConnections = () => {
    state.closing = true;
    for (const conn of state.connections) if (conn.idle) conn.destroy();
  };
  return server;
}
