// HTTP/2 on TLS listeners whose ALPN picked `h2`. Each stream becomes a `H2Request`, which has the
// same surface as http1-server.ts's `FrontRequest`, so the one request handler of proxy.ts (routing,
// admission, headers, limits, the forward to HTTP/1.1 servers) serves it.
//
// Bounds: streams open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS; beyond it nghttp2
// refuses the stream), the header list size and pair count, Node's own caps on session memory and on
// streams a client resets (rapid reset), the request body read through flow control (a stream that
// is not read stops the client's window), and deadlines on the body and on writes the client does
// not read.

import { constants, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BODY_READY_BYTES } from './http1-server.js';
import { parseBindOptions } from './bind-options.js';

export interface Http2FrontOptions {
  /** Streams open at once per connection (default 100). */
  maxConcurrentStreams: number;
  /** Largest request header list, uncompressed octets (HTTP/1.1's largest head). */
  maxHeaderListSize: number;
  /** Most header fields per request accepted by the HTTP/2 layer (admission refuses beyond its own limit). */
  maxHeaderPairs: number;
  /** A connection without any open stream is closed after this long (GOAWAY). */
  keepAliveMs: number;
  /** A write the client does not read may wait this long; then the stream is reset. */
  clientTimeoutMs: number;
  /** Receiving BODY_READY_BYTES of the body (or all of it) from the request head; then 408. */
  headTimeoutMs: number;
  /** Receiving the whole body from the request head; then the stream is reset. */
  bodyTimeoutMs: number;
  onListenerError?: (err: unknown) => void;
}

export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

/** Response headers HTTP/2 forbids (connection-specific). */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * The ALPN protocols of a bind's options (`HAPROXY_{n}_BIND_OPTIONS`, HAProxy's `alpn h2,http/1.1`),
 * or undefined when it names none.
 */
export function bindAlpn(bindOptions: string | undefined): string[] | undefined {
  return parseBindOptions(bindOptions).alpn;
}

/** Whether a bind's ALPN list offers HTTP/2. */
export function offersH2(protocols: readonly string[] | undefined): boolean {
  return protocols !== undefined && protocols.includes('h2');
}

/** One HTTP/2 stream as the proxy's request handler sees a request. */
export class H2Request {
  readonly method: string;
  readonly url: string;
  /** Flat name/value list: `:authority` as `host`, cookies joined, pseudo-headers left out. */
  readonly rawHeaders: string[];
  readonly socket: Socket;
  readonly http10 = false;
  readonly http2 = true;
  readonly upgrade = false;
  keepAlive = true;
  finished = false;
  complete: boolean;
  bodyBytes = 0;
  readonly receivedAt = Date.now();
  startedAt = this.receivedAt;
  onAbort: (() => void) | undefined;
  private bodyStream: Readable | undefined;
  private bodyReady: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closeSession = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    headers: Record<string, string | string[] | undefined>,
    rawHeaders: string[],
    socket: Socket,
    private readonly options: Http2FrontOptions,
  ) {
    this.socket = socket;
    this.method = String(headers[':method'] ?? 'GET');
    this.url = String(headers[':path'] ?? '/');
    this.complete = stream.endAfterHeaders;
    this.rawHeaders = toHttp1Headers(rawHeaders, !this.complete);
    stream.on('close', this.onClose);
    stream.on('error', noop);
    if (!this.complete) this.readBody();
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get awaitingBody(): boolean {
    return this.bodyReady !== undefined;
  }

  /** The body stream: filled from the HTTP/2 stream, which is paused while it is full (flow control). */
  private readBody(): void {
    const stream = this.stream;
    const body = (this.bodyStream = new Readable({ read: () => stream.resume() }));
    stream.on('data', (chunk: Buffer) => {
      this.bodyBytes += chunk.length;
      if (!body.push(chunk)) stream.pause();
      if (this.bodyBytes >= BODY_READY_BYTES) this.bodyIsReady();
    });
    stream.on('end', () => {
      this.complete = true;
      this.clearTimer();
      body.push(null);
      this.bodyIsReady();
    });
    this.timer = setTimeout(this.onBodyTimeout, this.options.headTimeoutMs);
    this.timer.unref();
  }

  private readonly onBodyTimeout = (): void => {
    this.timer = undefined;
    if (this.complete || this.finished) return;
    if (this.bodyReady !== undefined) {
      // No server slot taken yet: answered as HTTP/1.1's head deadline is.
      this.bodyReady = undefined;
      this.respond(408, ['content-type', 'text/plain; charset=utf-8'], '408 Request Time-out\n');
      return;
    }
    const rest = this.options.bodyTimeoutMs - (Date.now() - this.receivedAt);
    if (rest > 0) {
      this.timer = setTimeout(this.onBodyTimeout, rest);
      this.timer.unref();
    } else this.destroy();
  };

  body(): Readable {
    return this.bodyStream ?? Readable.from([]);
  }

  whenBodyReady(ready: () => void): void {
    if (this.complete || this.bodyBytes >= BODY_READY_BYTES) ready();
    else this.bodyReady = ready;
  }

  private bodyIsReady(): void {
    const ready = this.bodyReady;
    if (ready === undefined) return;
    this.bodyReady = undefined;
    ready();
  }

  writeContinue(): void {
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }

  writeHead(statusCode: number, _statusText: string, headers: string[]): void {
    const out: Record<string, string | string[] | number> = { ':status': statusCode };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i].toLowerCase();
      const value = headers[i + 1];
      if (CONNECTION_HEADERS.has(name)) {
        if (name === 'connection' && value.toLowerCase() === 'close') this.closeSession = true;
        continue;
      }
      const known = out[name];
      if (known === undefined) out[name] = value;
      else if (Array.isArray(known)) known.push(value);
      else out[name] = [known as string, value];
    }
    this.stream.respond(out, { endStream: this.method === 'HEAD' || statusCode === 204 || statusCode === 304 });
  }

  write(chunk: Buffer): boolean {
    const stream = this.stream;
    if (this.finished || chunk.length === 0 || stream.writableEnded || stream.destroyed) return true;
    return stream.write(chunk);
  }

  /** Waits for the client to read; a client that stops reading has its stream reset after clientTimeoutMs. */
  onceDrain(listener: () => void): void {
    const stream = this.stream;
    const timer = setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), this.options.clientTimeoutMs);
    timer.unref();
    stream.once('drain', () => {
      clearTimeout(timer);
      listener();
    });
    stream.once('close', () => clearTimeout(timer));
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    const stream = this.stream;
    if (!stream.writableEnded && !stream.destroyed) stream.end();
    if (this.closeSession && !stream.session?.closed) stream.session?.close();
  }

  respond(statusCode: number, headers: string[], body: string): void {
    this.writeHead(statusCode, '', headers);
    if (body !== '' && !this.stream.writableEnded) this.stream.write(body);
    this.end();
  }

  switchProtocols(): { socket: Socket; head: Buffer } {
    throw new Error('HTTP/2 streams do not switch protocols');
  }

  /** Resets the stream (a response that cannot be completed); the connection's other streams go on. */
  destroy(): void {
    this.finished = true;
    this.clearTimer();
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly onClose = (): void => {
    this.clearTimer();
    this.bodyReady = undefined;
    const body = this.bodyStream;
    if (body !== undefined && !this.complete && !body.destroyed) {
      body.emit('aborted');
      body.destroy();
    }
    if (this.finished) return;
    this.finished = true;
    const onAbort = this.onAbort;
    this.onAbort = undefined;
    onAbort?.();
  };
}

/**
 * An HTTP/2 request's fields as HTTP/1.1 carries them: `:authority` becomes `host`, and a `host`
 * field is then ignored (as HAProxy does, against HTTP/2 desync attacks); cookies are joined into one
 * header (RFC 9113 §8.2.3), and a body without a length is marked chunked for the server.
 */
export function toHttp1Headers(raw: string[], hasBody: boolean): string[] {
  const out: string[] = [];
  let authority: string | undefined;
  let cookie: string | undefined;
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58) {
      if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'content-length') hasLength = true;
    out.push(name, value);
  }
  if (authority !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (out[i] === 'host') out.splice(i, 2);
    out.unshift('host', authority);
  }
  if (cookie !== undefined) out.push('cookie', cookie);
  if (hasBody && !hasLength) out.push('transfer-encoding', 'chunked');
  return out;
}

/** The HTTP/2 side of a TLS listener: takes the sockets whose ALPN picked `h2`. */
export interface Http2Front {
  /** Serves HTTP/2 on a TLS socket whose handshake selected `h2`. */
  accept(socket: TLSSocket): void;
  /** Sends GOAWAY on every connection: open streams finish, no new ones start. */
  closeSessions(): void;
  /** Connections being served. */
  readonly sessions: number;
}

export function createHttp2Front(options: Http2FrontOptions, onRequest: (req: H2Request) => void): Http2Front {
  /** Each connection with its TLS socket and its streams open. */
  const sessions = new Map<ServerHttp2Session, { socket: Socket; open: number }>();
  let accepting: Socket | undefined;
  let closing = false;
  const server: Http2Server = createH2Server({
    maxHeaderListPairs: options.maxHeaderPairs,
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    settings: {
      maxConcurrentStreams: options.maxConcurrentStreams,
      maxHeaderListSize: options.maxHeaderListSize,
      enablePush: false,
    },
  });
  server.on('session', (session: ServerHttp2Session) => {
    const entry = { socket: accepting!, open: 0 };
    sessions.set(session, entry);
    session.on('error', noop);
    session.once('close', () => sessions.delete(session));
    // Idle: no frame for keepAliveMs while no stream is open (a stream waiting on its server is not idle).
    session.setTimeout(options.keepAliveMs, () => {
      if (entry.open === 0 && !session.closed) session.close();
    });
    if (closing) session.close();
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const entry = sessions.get(stream.session as ServerHttp2Session);
    if (entry === undefined) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    entry.open++;
    stream.once('close', () => entry.open--);
    try {
      if (headers[':method'] === 'CONNECT') {
        // A reverse proxy, never a forward one (as HTTP/1.1's CONNECT).
        stream.respond({ ':status': 405, allow: 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS' }, { endStream: true });
        return;
      }
      onRequest(new H2Request(stream, headers, rawHeaders, entry.socket, options));
    } catch (err) {
      options.onListenerError?.(err);
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  });
  return {
    accept(socket: TLSSocket): void {
      accepting = socket;
      try {
        server.emit('connection', socket);
      } finally {
        accepting = undefined;
      }
    },
    closeSessions(): void {
      closing = true;
      for (const session of sessions.keys()) if (!session.closed) session.close();
    },
    get sessions(): number {
      return sessions.size;
    },
  };
}

function noop(): void {}
