// Upgrade requests to a server on Node's public `http` client, for the fallback (native-http-parser.ts):
// undici cannot relay an answer other than `101` to an Upgrade request, and baton's own client needs
// the internal parser. One connection per request (an upgraded connection is never pooled anyway);
// errors carry the codes undici uses, so proxy.ts retries and marks servers as with the other pools.

import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamHandler, UpstreamRequest } from './http1-upstream.js';

export interface NodeHttpUpgradePoolOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Longest wait for the response head, and longest silence while a response body streams. */
  serverTimeoutMs: number;
}

type CodedError = Error & { code?: string };

function codedError(message: string, code: string): CodedError {
  const err: CodedError = new Error(message);
  err.code = code;
  return err;
}

export class NodeHttpUpgradePool {
  private readonly active = new Set<ClientRequest>();
  private idle: (() => void) | undefined;

  constructor(private readonly options: NodeHttpUpgradePoolOptions) {}

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): boolean {
    const o = this.options;
    let done = false;
    const finish = (err?: CodedError): void => {
      if (done) return;
      done = true;
      this.active.delete(req);
      if (this.active.size === 0) this.idle?.();
      if (err !== undefined) handler.onError(err);
    };
    const req = httpRequest({ host: o.host, port: o.port, method: request.method, path: request.path, headers: request.headers, setHost: false, agent: false });
    this.active.add(req);
    let connected = false;
    req.setTimeout(o.connectTimeoutMs, () => {
      req.destroy(connected ? codedError('no response head in time', 'UND_ERR_HEADERS_TIMEOUT') : codedError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT'));
    });
    req.once('socket', (socket: Socket) => {
      socket.once('connect', () => {
        connected = true;
        req.setTimeout(o.serverTimeoutMs);
      });
    });
    req.on('error', (err: CodedError) => finish(err.code === undefined ? codedError(err.message, 'UND_ERR_SOCKET') : err));
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      req.setTimeout(0);
      socket.setTimeout(0);
      finish();
      handler.onUpgrade!(res.statusCode ?? 101, res.rawHeaders, res.statusMessage ?? '', socket, head);
    });
    req.on('response', (res: IncomingMessage) => {
      const resume = (): void => {
        res.resume();
      };
      if (!handler.onHeaders(res.statusCode ?? 502, res.rawHeaders, resume, res.statusMessage ?? '')) res.pause();
      res.on('data', (chunk: Buffer) => {
        if (!handler.onData(chunk)) res.pause();
      });
      res.on('end', () => {
        if (done) return;
        finish();
        handler.onComplete(null);
      });
      res.on('aborted', () => finish(codedError('the server closed the connection mid-response', 'UND_ERR_SOCKET')));
    });
    handler.onConnect((err?: Error) => req.destroy(err ?? codedError('request aborted', 'UND_ERR_ABORTED')));
    if (request.body !== null) request.body.pipe(req);
    else req.end();
    return true;
  }

  close(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  destroy(): Promise<void> {
    for (const req of this.active) req.destroy();
    return this.close();
  }
}
