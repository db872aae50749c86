// The accept hook of listeners that take the PROXY protocol (`accept-proxy`, `--proxy-protocol`): each
// connection's header is read first, within a deadline a trickle cannot extend, then the connection goes
// to the listener's own handling (TLS, HTTP, TCP) as if just accepted. A connection without a valid
// header is closed, as HAProxy does.

import type { Server as NetServer, Socket } from 'node:net';
import { parseProxyHeader, type ProxyEndpoint } from './proxy-protocol.js';

const announced = new WeakMap<Socket, ProxyEndpoint>();

/** The client's address and port: the PROXY header's when the connection had one, else the peer's. */
export function clientEndpoint(socket: Socket): { address: string | undefined; port: number | undefined } {
  // A TLS socket made by a server wraps the accepted one (`_parent`), which got the header.
  const endpoint = announced.get(socket) ?? announced.get((socket as Socket & { _parent?: Socket })._parent as Socket);
  return endpoint ?? { address: socket.remoteAddress, port: socket.remotePort };
}

export interface AcceptProxyOptions {
  /** The whole header must have arrived this long after the connection was accepted. */
  deadlineMs: number;
  /** A connection closed for want of a valid header (told why). */
  onRefused: (reason: string) => void;
}

/**
 * Puts a PROXY header read in front of every `connection` listener `server` has now: call it right
 * after creating the server, before listeners that should see each raw connection (counters) are added.
 */
export function acceptProxyProtocol(server: NetServer, options: AcceptProxyOptions): void {
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    readProxyHeader(socket, options, () => {
      for (const handler of handlers) handler.call(server, socket);
    });
  });
}

function readProxyHeader(socket: Socket, options: AcceptProxyOptions, then: () => void): void {
  let received: Buffer = Buffer.alloc(0);
  let done = false;
  const finish = (): void => {
    done = true;
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    socket.off('close', onClose);
  };
  const refuse = (reason: string): void => {
    if (done) return;
    finish();
    options.onRefused(reason);
    socket.destroy();
  };
  const onReadable = (): void => {
    if (done) return;
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const header = parseProxyHeader(received);
      if (header.status === 'incomplete') continue;
      if (header.status === 'invalid') return refuse(header.reason);
      finish();
      if (header.source !== undefined) announced.set(socket, header.source);
      if (received.length > header.length) socket.unshift(received.subarray(header.length));
      // Once the 'readable' listener is gone, Node puts the stream back to "no reader yet" on the next
      // tick: the handlers then find the connection as if it were just accepted (buffered bytes kept).
      setImmediate(() => {
        if (!socket.destroyed) then();
      });
      return;
    }
  };
  const onEnd = (): void => refuse('connection ended before the PROXY header');
  const onClose = (): void => {
    if (!done) finish();
  };
  const timer = setTimeout(() => refuse(`no complete PROXY header within ${options.deadlineMs} ms`), options.deadlineMs);
  timer.unref();
  socket.on('error', noop);
  socket.on('readable', onReadable);
  socket.on('end', onEnd);
  socket.on('close', onClose);
}

function noop(): void {}
