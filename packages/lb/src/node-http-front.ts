// The fallback HTTP/1.1 front end: Node's public `http`/`https` server, adapted to the `FrontRequest`
// the proxy uses. baton-lb runs on it only when Node's internal parser is missing or fails its
// start-up self-test (native-http-parser.ts), or when `BATON_LB_HTTP_PARSER=fallback` asks. It keeps
// the behaviour users notice — routing, keep-alive, pipelining (answered in order by Node), chunked
// bodies, `100 Continue`, WebSocket and other upgrades, the head/keep-alive/client timeouts and the
// 400/408/431 refusals — with Node's costs and these differences from http1-server.ts:
//   - a request body is not awaited before the request takes a server slot (`whenBodyReady` is at once);
//   - an Upgrade request the server does not switch is answered and its connection then closed;
//   - a request whose body is still arriving has Node's `requestTimeout` (head + body deadlines) as bound.

import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import type { FrontRequest } from './front-request.js';
import type { ConnectListener, Http1Listener, Http1ServerOptions } from './http1-server.js';

type FrontListener = (req: FrontRequest) => void;

/** An ordinary request: Node's request and response behind the proxy's interface. */
class NodeFrontRequest implements FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly socket: Socket;
  readonly http10: boolean;
  onAbort: (() => void) | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    this.rawHeaders = req.rawHeaders;
    this.socket = req.socket;
    this.http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    res.once('close', () => {
      if (!res.writableFinished) this.onAbort?.();
    });
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  body(): Readable {
    return this.req;
  }

  whenBodyReady(ready: () => void): void {
    ready();
  }

  writeContinue(): void {
    if (!this.res.headersSent) this.res.writeContinue();
  }

  writeHead(statusCode: number, statusText: string, headers: string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      const value = headers[i + 1];
      if (value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1) throw new Error(`invalid value for header ${headers[i]}`);
    }
    this.res.writeHead(statusCode, statusText || STATUS_CODES[statusCode] || 'Unknown', headers);
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  end(): void {
    this.res.end();
  }

  respond(statusCode: number, headers: string[], body: string): void {
    this.writeHead(statusCode, '', headers);
    this.res.end(body);
  }

  switchProtocols(): { socket: Socket; head: Buffer } {
    throw new Error('not an Upgrade request');
  }

  destroy(): void {
    this.socket.destroy();
  }

  onceDrain(listener: () => void): void {
    this.res.once('drain', listener);
  }
}

/**
 * An Upgrade request: Node has already handed over its socket, so any answer but `101` is written
 * on the socket directly and ends the connection.
 */
class UpgradeFrontRequest implements FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly http10: boolean;
  headersSent = false;
  private finished = false;
  onAbort: (() => void) | undefined;

  constructor(
    req: IncomingMessage,
    readonly socket: Socket,
    private readonly head: Buffer,
  ) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    this.rawHeaders = req.rawHeaders;
    this.http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      if (!this.finished) this.onAbort?.();
    });
  }

  body(): Readable {
    return Readable.from([]);
  }

  whenBodyReady(ready: () => void): void {
    ready();
  }

  writeContinue(): void {}

  writeHead(statusCode: number, statusText: string, headers: string[]): void {
    if (this.headersSent) throw new Error('response head already sent');
    let text = `HTTP/1.1 ${statusCode} ${statusText || STATUS_CODES[statusCode] || 'Unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1) throw new Error(`invalid value for header ${name}`);
      if (name.toLowerCase() !== 'connection') text += `${name}: ${value}\r\n`;
    }
    this.headersSent = true;
    // The body ends with the connection: no chunked framing needed.
    this.socket.write(`${text}connection: close\r\n\r\n`, 'latin1');
  }

  write(chunk: Buffer): boolean {
    if (this.method === 'HEAD') return true;
    return this.socket.write(chunk);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.end();
  }

  respond(statusCode: number, headers: string[], body: string): void {
    this.writeHead(statusCode, '', headers);
    if (body !== '') this.write(Buffer.from(body));
    this.end();
  }

  switchProtocols(head: string): { socket: Socket; head: Buffer } {
    if (this.headersSent) throw new Error('not an Upgrade request awaiting its response');
    this.headersSent = true;
    this.finished = true;
    this.socket.write(head, 'latin1');
    return { socket: this.socket, head: this.head };
  }

  destroy(): void {
    this.finished = true;
    this.socket.destroy();
  }

  onceDrain(listener: () => void): void {
    this.socket.once('drain', listener);
  }
}

/** What a request Node's parser refused is answered with. */
function clientErrorStatus(err: Error & { code?: string }): number {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    default:
      return 400;
  }
}

/** The same listener as `createHttp1Server`, on Node's `http` (or `https`) server. */
export function createNodeHttpServer(
  options: Http1ServerOptions,
  handlers: { onRequest: FrontListener; onUpgrade: FrontListener; onConnect: ConnectListener },
  tlsOptions?: TlsOptions,
): Http1Listener {
  const httpOptions = {
    maxHeaderSize: options.maxHeaderSize,
    insecureHTTPParser: false,
    headersTimeout: options.headTimeoutMs,
    requestTimeout: options.headTimeoutMs + options.bodyTimeoutMs,
    // Node checks the head timeout every 30 s by default: too coarse for a slowloris bound.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(options.headTimeoutMs / 4))),
    keepAliveTimeout: options.keepAliveMs,
    noDelay: true,
  };
  const server: HttpServer = tlsOptions !== undefined
    ? (createHttpsServer({ handshakeTimeout: options.clientTimeoutMs, ...httpOptions, ...tlsOptions }) as unknown as HttpServer)
    : createHttpServer(httpOptions);
  server.maxHeadersCount = 0; // every header reaches the proxy, which counts them against its own limit
  server.timeout = options.clientTimeoutMs;
  const run = (listener: FrontListener, req: FrontRequest): void => {
    try {
      listener(req);
    } catch (err) {
      options.onListenerError?.(err);
      req.socket.destroy();
    }
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => run(handlers.onRequest, new NodeFrontRequest(req, res));
  server.on('request', onRequest);
  server.on('checkContinue', onRequest); // the proxy answers `100 Continue` once the request is admitted
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => run(handlers.onUpgrade, new UpgradeFrontRequest(req, socket, head)));
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const http10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    handlers.onConnect({ method: req.method ?? 'CONNECT', http10, url: req.url ?? '', rawHeaders: req.rawHeaders, socket }, socket, head);
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(err);
    const reason = STATUS_CODES[status] ?? 'Bad Request';
    options.onClientError?.(status, reason);
    const refuse = (): void => {
      if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\n\r\n`, 'latin1');
      setTimeout(() => socket.destroy(), 1_000).unref(); // a client that never closes its side
    };
    // A response in progress on this connection goes first, then the refusal.
    const inProgress = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inProgress != null && !inProgress.writableFinished) {
      inProgress.once('finish', refuse);
      inProgress.once('close', () => {
        if (!inProgress.writableFinished) socket.destroy();
      });
    } else refuse();
  });
  return server as unknown as Http1Listener;
}
