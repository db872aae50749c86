// The HTTP request path: admission (admission.ts: route lookup in the table's precomputed maps, the
// host's auth and redirect rules, the backend's network ACL and root redirect), then forwarding over pooled keep-alive
// connections (http1-upstream.ts, or undici's `Pool.dispatch`) and a handler that streams the
// response straight into the client's (http1-server.ts). Requests that never reached a server are
// retried on another one.

import type { Logger } from '@baton/marathon';
import type { Balancer } from './balancer.js';
import type { Backend, BasicAuth, RouteTable, Server } from './route-table.js';
import type { Counters, LbStats } from './stats.js';
import type { Upstreams } from './upstream.js';
import type { Socket } from 'node:net';
import type { UpstreamHandler, UpstreamRequest } from './http1-upstream.js';
import type { FrontRequest } from './front-request.js';
import { NO_SERVER, type AccessLog } from './access-log.js';
import { admit, clientAddress, MESSAGES, originForm, type Answer, type FrontendKind } from './admission.js';
import { clientEndpoint } from './proxy-accept.js';
import { forwardedProto, removeStickyCookie, rewriteLocation, STICKY_COOKIE, stickyCookieValue, stripProxyPath } from './request-rewrite.js';

export interface Timeouts {
  /** Connecting to a server (HAProxy `timeout connect`). */
  connectMs: number;
  /** Client inactivity (HAProxy `timeout client`). */
  clientMs: number;
  /** Waiting for the server's response headers, and body silence (HAProxy `timeout server`). */
  serverMs: number;
  /** Idle WebSocket / TCP tunnels (HAProxy `timeout tunnel`). */
  tunnelMs: number;
  /**
   * Receiving a complete request head, and a request body of up to 16 KiB, which is received whole
   * before the request takes a server slot (HAProxy `timeout http-request` with `option http-buffer-request`).
   */
  httpRequestMs: number;
  /** Receiving a whole request body, from the end of its head; a trickle does not extend it. */
  httpBodyMs: number;
  /** A request waiting for a free connection to its server; then 503 (HAProxy `timeout queue`). */
  queueMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  connectMs: 3_000,
  clientMs: 30_000,
  serverMs: 30_000,
  tunnelMs: 3_600_000,
  httpRequestMs: 15_000,
  httpBodyMs: 300_000,
  queueMs: 30_000,
};

export const HSTS_VALUE = 'max-age=15768000';

export type { FrontendKind } from './admission.js';

/** One listener as the request path sees it. */
export interface Frontend {
  name: string;
  kind: FrontendKind;
  /** Bound port, sent as X-Forwarded-Port. */
  port: number;
  tls: boolean;
  /** For service ports: the backend this listener serves (swapped with the table). */
  backendName?: string;
  counters: Counters;
  /** Set when the listener stops accepting: responses then close their connection. */
  closing: boolean;
}

export interface ProxyContext {
  table(): RouteTable;
  balancer: Balancer;
  upstreams: Upstreams;
  stats: LbStats;
  timeouts: Timeouts;
  /** Port of the HTTPS listener, for redirects (443 → no port in the URL). */
  httpsPort: number;
  /** Most request headers accepted; more → 400. */
  maxHeaders: number;
  /** Checks an Authorization header against a backend's basic auth. */
  checkAuth(auth: BasicAuth, authorization: string | undefined): boolean;
  /** Drop the client's X-Forwarded-Proto and set `http`/`https` (--overwrite-forwarded-proto). */
  overwriteForwardedProto?: boolean;
  logger: Logger;
  /** One line per request (access-log.ts); undefined = no access log, and no cost. */
  accessLog?: AccessLog;
}

/** How many other servers a request that never reached its server may try. */
const MAX_RETRIES = 3;

/** Errors raised before a single byte reached the server: safe to retry elsewhere. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isConnectError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code !== undefined && CONNECT_ERRORS.has(code);
}

/** A reused keep-alive connection that the server had already closed. */
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** The request waited in its server's queue past the queue timeout (503, as HAProxy). */
export function isQueueTimeout(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'BATON_QUEUE_TIMEOUT';
}

export function isTimeoutError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT';
}

// ---------------------------------------------------------------------------------------------
// Request handling

/** What the incoming request head tells the proxy, read in one pass over `rawHeaders`. */
export interface RequestHead {
  host: string | undefined;
  /** The `Expect` header's value, if any. */
  expect: string | undefined;
  /** More than one Host header: refused (400). */
  duplicateHost: boolean;
  cookie: string | undefined;
  authorization: string | undefined;
  appId: string | undefined;
  hasBody: boolean;
  /** Headers to forward (hop-by-hop and the ones we set removed), flat name/value list. */
  forward: string[];
}

function readHead(raw: string[], overwriteForwardedProto: boolean): RequestHead {
  const forward: string[] = [];
  let host: string | undefined;
  let expect: string | undefined;
  let cookie: string | undefined;
  let authorization: string | undefined;
  let appId: string | undefined;
  let hasBody = false;
  let duplicateHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    switch (name.length) {
      case 2: // te
        if (name.toLowerCase() === 'te') continue;
        break;
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host === undefined) host = value;
          else duplicateHost = true;
          continue;
        }
        break;
      case 6: {
        const lower = name.toLowerCase();
        if (lower === 'cookie') cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        else if (lower === 'expect') {
          expect = value;
          continue;
        }
        break;
      }
      case 7: {
        const lower = name.toLowerCase();
        if (lower === 'trailer') continue;
        if (lower === 'upgrade') continue;
        break;
      }
      case 10: {
        const lower = name.toLowerCase();
        if (lower === 'keep-alive') continue;
        if (lower === 'connection') continue;
        break;
      }
      case 13:
        if (name.toLowerCase() === 'authorization') authorization = value;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (value !== '0') hasBody = true;
        }
        break;
      case 16: {
        const lower = name.toLowerCase();
        if (lower === 'proxy-connection' || lower === 'x-forwarded-port') continue;
        break;
      }
      case 17: {
        const lower = name.toLowerCase();
        if (lower === 'transfer-encoding') {
          hasBody = true;
          continue;
        } else if (lower === 'x-forwarded-proto') {
          if (overwriteForwardedProto) continue;
        }
        else if (lower === 'x-marathon-app-id') appId = value;
        break;
      }
    }
    forward.push(name, value);
  }
  return { host, expect, duplicateHost, cookie, authorization, appId, hasBody, forward };
}


function plainResponse(res: FrontRequest, frontend: Frontend, status: number, body: string): void {
  sendAnswer(res, frontend, { status, headers: TEXT_HEADERS, body, close: false, requestError: false });
}
const TEXT_HEADERS = ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-cache'];

/** Sends an answer the LB gives itself (admission's, or a failed exchange's). */
export function sendAnswer(res: FrontRequest, frontend: Frontend, answer: Answer): void {
  frontend.counters.countStatus(answer.status);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = [...answer.headers, 'content-length', String(Buffer.byteLength(answer.body))];
  if (answer.close || frontend.closing) headers.push('connection', 'close');
  try {
    res.respond(answer.status, headers, answer.body);
  } catch {
    // a header value that cannot be sent: nothing safe to answer
    res.destroy();
  }
}

/** The handler for `request` events of an HTTP(S) listener. */
export function createRequestHandler(ctx: ProxyContext, frontend: Frontend): (req: FrontRequest) => void {
  const handle = requestHandler(ctx, frontend);
  const log = ctx.accessLog;
  if (log === undefined) return handle;
  return (req) => {
    const acceptedAt = Date.now();
    // Answered at once (refused, redirected, no route) → logged here; else the exchange logs its end.
    const answered = handle(req);
    if (answered !== 0) logAnswered(log, req, frontend, acceptedAt, answered);
  };
}

/** The access-log line of a request answered by the proxy itself (HAProxy: backend = frontend, `<NOSRV>`). */
function logAnswered(log: AccessLog, req: FrontRequest, frontend: Frontend, acceptedAt: number, status: number): void {
  log.http({
    clientIp: clientAddress(clientEndpoint(req.socket).address),
    clientPort: clientEndpoint(req.socket).port ?? 0,
    acceptedAt,
    frontend: frontend.name,
    backend: frontend.name,
    server: NO_SERVER,
    TR: 0,
    Tw: -1,
    Tc: -1,
    Tr: -1,
    Ta: Date.now() - acceptedAt,
    status,
    bytes: 0,
    termination: status >= 300 && status < 400 ? 'LR--' : status === 503 ? 'SC--' : 'PR--',
    method: req.method,
    url: req.url,
    http10: req.http10,
    http2: req.http2,
  });
}

/**
 * Handles one request: the status the LB answered it with itself, or 0 when a `ProxyExchange` took it
 * over (it then logs its own end).
 */
function requestHandler(ctx: ProxyContext, frontend: Frontend): (req: FrontRequest) => number {
  return (req) => {
    const raw = req.rawHeaders;
    const head = readHead(raw, ctx.overwriteForwardedProto === true);
    const url = req.url;
    const clientIp = clientAddress(clientEndpoint(req.socket).address);
    const backend = admitOrAnswer(ctx, frontend, req, head, clientIp, false);
    if (typeof backend === 'number') return backend;
    if (head.expect !== undefined && !req.http10) req.writeContinue();
    new ProxyExchange(ctx, frontend, req, backend, head, clientIp, url).start();
    return 0;
  };
}

/**
 * Where an Upgrade request's connection goes once its server answered `101`: the client socket (the
 * `101` head already written to it) with the client's bytes after its request head, and the server
 * socket with the server's bytes after the `101` head. The server slot is the tunnel's to release.
 */
export type TunnelStarter = (client: Socket, clientHead: Buffer, upstream: Socket, upstreamHead: Buffer, server: Server) => void;

/**
 * Runs the admission chain for a request or an Upgrade request: the backend it goes to, or the status
 * the LB answered it with itself (an Upgrade request's answer closes the connection).
 */
export function admitOrAnswer(
  ctx: ProxyContext,
  frontend: Frontend,
  req: FrontRequest,
  head: Pick<RequestHead, 'host' | 'duplicateHost' | 'expect' | 'authorization' | 'appId'>,
  clientIp: string,
  upgrade: boolean,
): Backend | number {
  const admission = admit(
    {
      frontend,
      url: req.url,
      http10: req.http10,
      headerCount: req.rawHeaders.length / 2,
      host: head.host,
      duplicateHost: head.duplicateHost,
      expect: head.expect,
      authorization: head.authorization,
      appId: head.appId,
      sni: frontend.tls ? (req.socket as { servername?: string | false }).servername || undefined : undefined,
      clientIp,
      upgrade,
    },
    { table: ctx.table(), maxHeaders: ctx.maxHeaders, httpsPort: ctx.httpsPort, checkAuth: ctx.checkAuth },
  );
  if (admission.answer === undefined) return admission.route.backend;
  if (admission.answer.requestError) frontend.counters.ereq++;
  sendAnswer(req, frontend, upgrade ? { ...admission.answer, close: true } : admission.answer);
  return admission.answer.status;
}

/**
 * Forwards an Upgrade request (already checked, `head.forward` keeping its `Connection`/`Upgrade`
 * headers) as an ordinary request: a `101` switches both connections to a tunnel (`startTunnel`); any
 * other answer is relayed as a response and the client connection stays HTTP.
 */
export function forwardUpgrade(ctx: ProxyContext, frontend: Frontend, req: FrontRequest, backend: Backend, head: RequestHead, clientIp: string, startTunnel: TunnelStarter): void {
  new ProxyExchange(ctx, frontend, req, backend, head, clientIp, req.url, startTunnel).start();
}

/** One request forwarded to one backend (possibly several servers in turn, before any byte was sent). */
class ProxyExchange implements UpstreamHandler {
  private server: Server | undefined;
  private tried: Set<string> | undefined;
  private attempts = 0;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private finished = false;
  private clientGone = false;
  private stickyFromCookie = false;
  private retriedReset = false;
  private bytesOut = 0;
  private status = 0;
  /** Access-log timestamps (only taken when there is an access log). */
  private acceptedAt = 0;
  private dispatchedAt = 0;
  private headersAt = 0;
  private clientPort = 0;
  private backendCounters: Counters;
  private serverCounters: Counters | undefined;
  private readonly options: UpstreamRequest & { headersTimeout: number; bodyTimeout: number };

  constructor(
    private readonly ctx: ProxyContext,
    private readonly frontend: Frontend,
    private readonly res: FrontRequest,
    private readonly backend: Backend,
    private readonly head: RequestHead,
    private readonly clientIp: string,
    url: string,
    private readonly startTunnel?: TunnelStarter,
  ) {
    this.backendCounters = ctx.stats.backend(backend.name);
    if (ctx.accessLog !== undefined) {
      this.acceptedAt = Date.now();
      this.clientPort = clientEndpoint(res.socket).port ?? 0;
    }
    const forward = head.forward;
    let path = originForm(url);
    let host = head.host;
    if (backend.proxyPassPath !== undefined && backend.proxyPassPath !== '') {
      path = stripProxyPath(path, backend.proxyPassPath);
      if (backend.vhosts.length > 0 && !backend.vhosts[0].startsWith('*')) host = backend.vhosts[0];
    }
    if (backend.sticky && head.cookie !== undefined) removeStickyCookie(forward);
    if (host !== undefined) forward.push('host', host);
    forward.push('x-forwarded-for', clientIp, 'x-forwarded-port', String(frontend.port));
    const proto = forwardedProto(frontend.tls, ctx.overwriteForwardedProto === true);
    if (proto !== undefined) forward.push('x-forwarded-proto', proto);
    this.options = {
      method: res.method,
      path,
      headers: forward,
      body: head.hasBody ? res.body() : null,
      headersTimeout: ctx.timeouts.serverMs,
      bodyTimeout: ctx.timeouts.serverMs,
      upgrade: startTunnel !== undefined,
    };
  }

  start(): void {
    this.res.onAbort = this.onClientClose;
    const counters = this.backendCounters;
    counters.scur++;
    counters.stot++;
    let server: Server | undefined;
    if (this.backend.sticky) {
      const cookie = stickyCookieValue(this.head.cookie);
      if (cookie !== undefined) {
        server = this.ctx.balancer.pickByCookie(this.backend, cookie);
        this.stickyFromCookie = server !== undefined;
      }
    }
    // A small body is received whole before a server slot is taken: a client trickling it holds none.
    this.res.whenBodyReady(() => {
      if (!this.clientGone) this.dispatch(server);
    });
  }

  private readonly onClientClose = (): void => {
    if (this.finished) return;
    this.clientGone = true;
    if (this.server === undefined) {
      // Gone (or timed out) before its body was ready: no server was involved.
      this.finished = true;
      this.backendCounters.scur--;
      return;
    }
    this.abortUpstream?.(new Error('client closed the connection'));
  };

  private dispatch(chosen?: Server): void {
    const server = chosen ?? this.ctx.balancer.pick(this.backend, this.clientIp, this.tried);
    const upstreams = this.ctx.upstreams;
    if (server === undefined) {
      this.fail(503, 'SC--');
      return;
    }
    this.server = server;
    this.attempts++;
    if (this.acceptedAt !== 0) this.dispatchedAt = Date.now();
    this.ctx.balancer.acquire(server.id);
    const sc = (this.serverCounters = this.ctx.stats.server(server.id));
    sc.scur++;
    sc.stot++;
    (this.startTunnel === undefined ? upstreams.get(server) : upstreams.forUpgrade(server)).dispatch(this.options, this);
  }

  private releaseServer(): void {
    if (this.server === undefined) return;
    this.ctx.balancer.release(this.server.id);
    if (this.serverCounters !== undefined) this.serverCounters.scur--;
  }

  /** The access-log line of this request, if there is an access log. */
  private logEnd(status: number, termination: string): void {
    const log = this.ctx.accessLog;
    if (log === undefined) return;
    const now = Date.now();
    const res = this.res;
    log.http({
      clientIp: this.clientIp,
      clientPort: this.clientPort,
      acceptedAt: this.acceptedAt,
      frontend: this.frontend.name,
      backend: this.backend.name,
      server: this.server?.name ?? NO_SERVER,
      TR: 0,
      Tw: 0,
      // Pooled keep-alive connections: the connect is not seen per request (HAProxy logs 0 on reuse too).
      Tc: this.server === undefined ? -1 : 0,
      Tr: this.headersAt === 0 ? -1 : this.headersAt - this.dispatchedAt,
      Ta: now - this.acceptedAt,
      status,
      bytes: this.bytesOut,
      termination,
      method: res.method,
      url: res.url,
      http10: res.http10,
      http2: res.http2,
    });
  }

  private fail(status: number, termination: string): void {
    if (this.finished) return;
    this.logEnd(status, termination);
    this.finished = true;
    this.backendCounters.scur--;
    this.backendCounters.countStatus(status);
    if (this.serverCounters !== undefined) this.serverCounters.countStatus(status);
    if (!this.clientGone) plainResponse(this.res, this.frontend, status, MESSAGES[status] ?? '');
  }

  // --- UpstreamHandler (undici's DispatchHandler calls the same methods) ---

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.clientGone) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: (string | Buffer)[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx interim responses are not relayed
    const server = this.server!;
    this.ctx.balancer.health.markSuccess(server.id);
    const backend = this.backend;
    const headers: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      // Strings from http1-upstream.ts, Buffers from undici.
      const rawName = rawHeaders[i];
      const rawValue = rawHeaders[i + 1];
      const name = typeof rawName === 'string' ? rawName : rawName.toString('latin1');
      let value = typeof rawValue === 'string' ? rawValue : rawValue.toString('latin1');
      const len = name.length;
      if (len === 8 || len === 10 || len === 16 || len === 17) {
        const lower = name.toLowerCase();
        if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding' || lower === 'proxy-connection') continue;
        if (lower === 'location' && backend.revProxyPath) value = rewriteLocation(value, backend.vhosts[0], backend.revProxyPath);
      }
      headers.push(name, value);
    }
    if (backend.useHsts) headers.push('strict-transport-security', HSTS_VALUE);
    if (backend.sticky && !this.stickyFromCookie) {
      headers.push('set-cookie', `${STICKY_COOKIE}=${server.cookie}; path=/`, 'cache-control', 'private');
    }
    if (this.frontend.closing) headers.push('connection', 'close');
    this.status = statusCode;
    if (this.acceptedAt !== 0) this.headersAt = Date.now();
    this.backendCounters.countStatus(statusCode);
    this.serverCounters?.countStatus(statusCode);
    this.frontend.counters.countStatus(statusCode);
    const res = this.res;
    try {
      res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      this.ctx.logger.debug({ err, backend: backend.name }, 'invalid response head from server');
      this.abortUpstream?.(err as Error);
      return false;
    }
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.res.write(chunk)) return true;
    // Back-pressure: the upstream client stops reading from the server until the client drains.
    if (this.resume !== undefined) this.res.onceDrain(this.resume);
    return false;
  }

  onUpgrade(statusCode: number, rawHeaders: string[], statusText: string, upstream: Socket, upstreamHead: Buffer): void {
    const server = this.server!;
    this.finished = true;
    this.ctx.balancer.health.markSuccess(server.id);
    if (this.clientGone || this.res.socket.destroyed) {
      this.releaseServer();
      this.backendCounters.scur--;
      upstream.destroy();
      return;
    }
    this.backendCounters.countStatus(statusCode);
    this.serverCounters?.countStatus(statusCode);
    this.frontend.counters.countStatus(statusCode);
    let text = `HTTP/1.1 101 ${statusText || 'Switching Protocols'}\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
    const { socket, head } = this.res.switchProtocols(`${text}\r\n`);
    this.startTunnel!(socket, head, upstream, upstreamHead, server);
  }

  onComplete(): void {
    this.logEnd(this.status, '----');
    this.finished = true;
    this.releaseServer();
    const bc = this.backendCounters;
    bc.scur--;
    bc.bout += this.bytesOut;
    if (this.serverCounters !== undefined) this.serverCounters.bout += this.bytesOut;
    this.res.end();
  }

  onError(err: Error): void {
    this.releaseServer();
    if (this.finished) return;
    const server = this.server;
    if (this.clientGone) {
      this.logEnd(this.status === 0 ? -1 : this.status, this.status === 0 ? 'CH--' : 'CD--');
      this.finished = true;
      this.backendCounters.scur--;
      return;
    }
    if (this.res.headersSent) {
      // The response had started: nothing better to do than cut the client connection.
      this.logEnd(this.status, isTimeoutError(err) ? 'sD--' : 'SD--');
      this.finished = true;
      this.backendCounters.scur--;
      this.backendCounters.eresp++;
      this.res.destroy();
      return;
    }
    if (server !== undefined && isConnectError(err)) {
      const retryMs = this.ctx.balancer.health.markFailure(server.id, (err as { code?: string }).code ?? err.message);
      this.backendCounters.econ++;
      if (this.serverCounters !== undefined) this.serverCounters.econ++;
      // Quick re-probes of a task that does not listen yet are routine: logged at debug.
      this.ctx.logger[retryMs < 1_000 ? 'debug' : 'warn']({ backend: this.backend.name, server: server.name, err: err.message, retryMs }, 'server refused the connection; marked down');
      if (this.attempts <= MAX_RETRIES && !(this.options.body?.readableDidRead ?? false)) {
        (this.tried ??= new Set()).add(server.id);
        const next = this.ctx.balancer.pick(this.backend, this.clientIp, this.tried);
        if (next !== undefined) {
          this.dispatch(next);
          return;
        }
      }
      this.fail(isTimeoutError(err) ? 504 : 502, isTimeoutError(err) ? 'sC--' : 'SC--');
      return;
    }
    // The server closed the connection before answering (a keep-alive race, a server that just died
    // with more pooled connections behind this one, or one that stops as it is scaled down): an
    // idempotent request without a body is safe to send again — to each other server in turn (up to
    // the retry limit), or once more to the same one when there is no other.
    const code = (err as { code?: string }).code;
    if (code !== undefined && RESET_ERRORS.has(code) && !this.head.hasBody && IDEMPOTENT.has(this.options.method) && this.attempts <= MAX_RETRIES) {
      if (server !== undefined) (this.tried ??= new Set()).add(server.id);
      const next = this.ctx.balancer.pick(this.backend, this.clientIp, this.tried) ?? (this.retriedReset ? undefined : server);
      if (next !== undefined) {
        this.retriedReset = true;
        this.dispatch(next);
        return;
      }
    }
    if (isQueueTimeout(err)) {
      this.fail(503, 'sQ--');
      return;
    }
    this.backendCounters.eresp++;
    if (this.serverCounters !== undefined) this.serverCounters.eresp++;
    this.fail(isTimeoutError(err) ? 504 : 502, isTimeoutError(err) ? 'sH--' : 'SH--');
  }
}
