// Raw socket paths: TCP service ports (a socket relay with a connect timeout) and HTTP Upgrade /
// WebSocket on every HTTP route (the request is forwarded as any other; when its server answers `101`
// both sockets are piped, otherwise the answer is an ordinary response). Connect failures mark the
// server down and the next server is tried. Both directions have back-pressure: a side that does not
// read stops the other side being read.

import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FrontRequest } from './front-request.js';
import { clientAddress, networkAllowed } from './admission.js';
import { admitOrAnswer, forwardUpgrade, type Frontend, type ProxyContext } from './proxy.js';
import type { Backend, Server } from './route-table.js';
import type { Counters } from './stats.js';
import { NO_SERVER } from './access-log.js';
import { clientEndpoint } from './proxy-accept.js';

const MAX_ATTEMPTS = 4;

/**
 * Read buffer of a TCP service-port tunnel's server side. Node's default stream reads allocate a
 * 64 KiB buffer per read and run each through the Readable/pipe machinery; reading into one reused
 * 256 KiB buffer (`onread`) and writing it straight to the client halved the CPU per byte of a bulk
 * transfer in bench/lb. Untouched pages of it cost no memory, so connections that only ever carry
 * small messages pay little for it.
 */
export const RELAY_BUFFER_BYTES = 256 * 1024;

/**
 * Server → client half of a TCP tunnel: the server socket reads into `onread.buffer` and each read is
 * written to `target` at once. While a write is pending (the client is slower), the server socket stops
 * reading, so the buffer is never overwritten before the kernel has taken its bytes.
 */
interface Relay {
  source: Socket | undefined;
  onread: { buffer: Buffer; callback: (bytes: number, buffer: Buffer) => boolean };
}

function createRelay(target: Duplex): Relay {
  let waiting = false;
  const written = (err?: Error | null): void => {
    if (err || !waiting) return;
    waiting = false;
    relay.source?.resume();
  };
  const relay: Relay = {
    source: undefined,
    onread: {
      buffer: Buffer.allocUnsafe(RELAY_BUFFER_BYTES),
      callback: (bytes, buffer) => {
        target.write(buffer.subarray(0, bytes), written);
        if (target.writableLength === 0) return true;
        waiting = true;
        return false;
      },
    },
  };
  return relay;
}

/**
 * Connects to a server of `backend`, trying others (up to 4 in all) when one refuses or times out.
 * Calls `done` with the connected socket, or with an error status (502 refused, 503 none, 504 timeout).
 */
export function connectToBackend(
  ctx: ProxyContext,
  backend: Backend,
  clientIp: string,
  done: (result: { socket: Socket; server: Server } | { status: 502 | 503 | 504 }) => void,
  relay?: Relay,
): void {
  let tried: Set<string> | undefined;
  let lastStatus: 502 | 503 | 504 = 503;
  const attempt = (n: number): void => {
    const server = n < MAX_ATTEMPTS ? ctx.balancer.pick(backend, clientIp, tried) : undefined;
    if (server === undefined) {
      done({ status: lastStatus });
      return;
    }
    const socket = connect({ host: server.host, port: server.port, allowHalfOpen: true, onread: relay?.onread });
    if (relay !== undefined) relay.source = socket;
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), ctx.timeouts.connectMs);
    const onError = (err: Error & { code?: string }): void => {
      clearTimeout(timer);
      socket.destroy();
      const retryMs = ctx.balancer.health.markFailure(server.id, err.code ?? err.message);
      ctx.stats.backend(backend.name).econ++;
      ctx.stats.server(server.id).econ++;
      ctx.logger[retryMs < 1_000 ? 'debug' : 'warn']({ backend: backend.name, server: server.name, err: err.message, retryMs }, 'server refused the connection; marked down');
      lastStatus = err.code === 'ETIMEDOUT' ? 504 : 502;
      (tried ??= new Set()).add(server.id);
      attempt(n + 1);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      ctx.balancer.health.markSuccess(server.id);
      done({ socket, server });
    });
  };
  attempt(0);
}

/**
 * Pipes two sockets until both sides are done; counts bytes; calls `onClose` once. With `relayed`,
 * the server socket's reads already go to the client (`createRelay`): only its end is passed on.
 */
export function splice(
  client: Duplex & { bytesRead?: number; bytesWritten?: number },
  server: Socket,
  idleMs: number,
  onClose: (bytesIn: number, bytesOut: number) => void,
  relayed = false,
): void {
  let closed = 0;
  const bytesIn0 = server.bytesWritten;
  const bytesOut0 = server.bytesRead;
  const finish = (): void => {
    if (++closed === 2) onClose(server.bytesWritten - bytesIn0, server.bytesRead - bytesOut0);
  };
  const destroyBoth = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on('error', destroyBoth);
  server.on('error', destroyBoth);
  client.once('close', () => {
    server.destroy();
    finish();
  });
  server.once('close', () => {
    client.destroy();
    finish();
  });
  if (idleMs > 0) {
    (client as Socket).setTimeout?.(idleMs, destroyBoth);
    server.setTimeout(idleMs, destroyBoth);
  }
  client.pipe(server);
  if (relayed) server.once('end', () => client.end());
  else server.pipe(client);
}

/** A tunnel's end: frees its server slot and adds its bytes to the server's and the backend's counters. */
function tunnelClosed(ctx: ProxyContext, serverId: string, sc: Counters, bc: Counters): (bytesIn: number, bytesOut: number) => void {
  return (bytesIn, bytesOut) => {
    ctx.balancer.release(serverId);
    sc.scur--;
    bc.scur--;
    sc.bin += bytesIn;
    sc.bout += bytesOut;
    bc.bin += bytesIn;
    bc.bout += bytesOut;
  };
}

/** The tcplog line of a TCP connection (when there is an access log): `Tc` = connect time, -1 when none. */
function logTcp(ctx: ProxyContext, frontend: Frontend, client: Socket, acceptedAt: number, backend: string, server: string, Tc: number, bytes: number, termination: string): void {
  ctx.accessLog?.tcp({
    clientIp: clientAddress(clientEndpoint(client).address),
    clientPort: clientEndpoint(client).port ?? 0,
    acceptedAt,
    frontend: frontend.name,
    backend,
    server,
    Tw: Tc < 0 ? -1 : 0,
    Tc,
    Tt: Date.now() - acceptedAt,
    bytes,
    termination,
  });
}

/** The handler for `connection` events of a TCP-mode service-port listener. */
export function createTcpHandler(ctx: ProxyContext, frontend: Frontend): (client: Socket) => void {
  return (client) => {
    const counters = frontend.counters;
    const acceptedAt = ctx.accessLog === undefined ? 0 : Date.now();
    client.pause();
    client.on('error', () => client.destroy());
    const backend = frontend.backendName === undefined ? undefined : ctx.table().backends.get(frontend.backendName);
    const clientIp = clientAddress(clientEndpoint(client).address);
    if (backend === undefined || !networkAllowed(backend, clientIp)) {
      counters.ereq++;
      if (acceptedAt !== 0) logTcp(ctx, frontend, client, acceptedAt, frontend.name, NO_SERVER, -1, 0, 'PR');
      client.destroy();
      return;
    }
    const bc = ctx.stats.backend(backend.name);
    bc.scur++;
    bc.stot++;
    const relay = createRelay(client);
    const connectingAt = acceptedAt === 0 ? 0 : Date.now();
    connectToBackend(ctx, backend, clientIp, (result) => {
      if ('status' in result) {
        bc.scur--;
        if (acceptedAt !== 0) logTcp(ctx, frontend, client, acceptedAt, backend.name, NO_SERVER, -1, 0, result.status === 504 ? 'sC' : 'SC');
        client.destroy();
        return;
      }
      if (client.destroyed) {
        bc.scur--;
        result.socket.destroy();
        return;
      }
      const { socket, server } = result;
      ctx.balancer.acquire(server.id);
      const sc = ctx.stats.server(server.id);
      sc.scur++;
      sc.stot++;
      client.setNoDelay(true);
      const closed = tunnelClosed(ctx, server.id, sc, bc);
      const Tc = acceptedAt === 0 ? 0 : Date.now() - connectingAt;
      splice(
        client,
        socket,
        ctx.timeouts.tunnelMs,
        acceptedAt === 0
          ? closed
          : (bytesIn, bytesOut) => {
              closed(bytesIn, bytesOut);
              logTcp(ctx, frontend, client, acceptedAt, backend.name, server.name, Tc, bytesOut, '--');
            },
        true,
      );
      client.resume();
    }, relay);
  };
}

/** The handler for Upgrade requests (WebSocket and others) of an HTTP(S) listener. */
export function createUpgradeHandler(ctx: ProxyContext, frontend: Frontend): (req: FrontRequest) => void {
  return (req) => {
    const raw = req.rawHeaders;
    let host: string | undefined;
    let appId: string | undefined;
    let authorization: string | undefined;
    let cookie: string | undefined;
    let duplicateHost = false;
    const forward: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i].toLowerCase();
      if (lower === 'host') {
        if (host !== undefined) duplicateHost = true;
        host ??= raw[i + 1];
        continue;
      }
      if (lower === 'x-forwarded-port' || (lower === 'x-forwarded-proto' && ctx.overwriteForwardedProto === true)) continue;
      if (lower === 'x-marathon-app-id') appId = raw[i + 1];
      else if (lower === 'authorization') authorization = raw[i + 1];
      else if (lower === 'cookie') cookie = cookie === undefined ? raw[i + 1] : `${cookie}; ${raw[i + 1]}`;
      forward.push(raw[i], raw[i + 1]);
    }
    const clientIp = clientAddress(clientEndpoint(req.socket).address);
    const backend = admitOrAnswer(ctx, frontend, req, { host, duplicateHost, expect: undefined, authorization, appId }, clientIp, true);
    if (typeof backend === 'number') return;
    // Until the server answers `101` this is an ordinary request (client and server timeouts, the
    // proxypass rewrite, X-Forwarded-*); the tunnel and its timeout start only then.
    const head = { host, expect: undefined, duplicateHost, cookie, authorization, appId, hasBody: false, forward };
    forwardUpgrade(ctx, frontend, req, backend, head, clientIp, (client, clientHead, upstream, upstreamHead, server) => {
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (clientHead.length > 0) upstream.write(clientHead);
      splice(client, upstream, ctx.timeouts.tunnelMs, tunnelClosed(ctx, server.id, ctx.stats.server(server.id), ctx.stats.backend(backend.name)));
    });
  };
}
