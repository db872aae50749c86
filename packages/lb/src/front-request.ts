// What the proxy needs of one client request and its response, whichever HTTP/1.1 front end read it:
// baton's own (http1-server.ts, on Node's internal parser) or the fallback on Node's `http` server
// (node-http-front.ts).

import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';

export interface FrontRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** Flat name/value list, as received. */
  readonly rawHeaders: string[];
  readonly socket: Socket;
  /** The client spoke HTTP/1.0. */
  readonly http10: boolean;
  /** The request came on an HTTP/2 stream. */
  readonly http2?: boolean;
  readonly headersSent: boolean;
  /** Called once when the client connection closes before the response ended. */
  onAbort: (() => void) | undefined;
  /** The request body (de-chunked). */
  body(): Readable;
  /** Calls `ready` once enough of the body is in to take a server slot (see http1-server.ts). */
  whenBodyReady(ready: () => void): void;
  /** `100 Continue`, for a client that sent `Expect: 100-continue`. */
  writeContinue(): void;
  /** The response head; `headers` is a flat list without hop-by-hop headers but `connection: close`. */
  writeHead(statusCode: number, statusText: string, headers: string[]): void;
  /** A body chunk; false when the client is slow (wait for `onceDrain`). */
  write(chunk: Buffer): boolean;
  end(): void;
  /** A whole local response (errors, redirects, 401). */
  respond(statusCode: number, headers: string[], body: string): void;
  /** After an Upgrade request: writes `head` (the `101` head) and hands over the socket and the client's bytes after the request head. */
  switchProtocols(head: string): { socket: Socket; head: Buffer };
  /** Cuts the connection. */
  destroy(): void;
  onceDrain(listener: () => void): void;
}
