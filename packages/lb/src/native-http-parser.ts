// The one place baton-lb touches Node's internal HTTP/1 parser (`_http_common`'s `HTTPParser`, the
// llhttp binding Node's own http server and client use). Node documents that module as deprecated
// (DEP0199) and may close or change it, so everything about it is here: loading it, its positional
// callback slots (`kOnHeadersComplete`…) turned into named callbacks, its `consume` (the parser reads
// a socket's libuv stream itself, as Node's http server has it do), and a self-test run once at
// start-up that parses a canned request and a canned response (keep-alive, chunked body, upgrade).
//
// When the module is missing or the self-test fails — or `BATON_LB_HTTP_PARSER=fallback` asks —
// `httpParserStatus()` says `fallback`: baton-lb then serves HTTP/1.1 with Node's public `http`
// server (node-http-front.ts) and reaches servers with undici (upstream.ts), instead of failing on
// the first request.

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** A message head as the parser reports it. */
export interface MessageHead {
  versionMajor: number;
  versionMinor: number;
  /** Flat name/value list; the headers passed to `onHeaders` before (a long head) come first. */
  headers: string[] | undefined;
  /** Request method (request parsers). */
  method: string;
  /** Request target, or the part after what `onHeaders` passed (request parsers). */
  url: string;
  /** Status code (response parsers). */
  statusCode: number;
  statusText: string;
  upgrade: boolean;
  shouldKeepAlive: boolean;
}

/** What `onHeadersComplete` tells the parser to do next. */
export const AfterHead = {
  /** Read the body as the head frames it. */
  ReadBody: 0,
  /** The message has no body (a response to HEAD, a 1xx, 204, 304). */
  SkipBody: 1,
  /** Stop parsing: the rest of the read is not HTTP (an upgrade), or is not to be looked at. */
  Stop: 2,
} as const;
export type AfterHead = (typeof AfterHead)[keyof typeof AfterHead];

/** The callbacks of one parser, called with the native parser as `this`: pass arrow functions. */
export interface ParserCallbacks {
  onMessageBegin?: () => void;
  /** Part of a head too long for one callback: its headers and (request parsers) target so far. */
  onHeaders: (headers: string[], url: string) => void;
  /** `head` is the parser's own, refilled for the next message: read it during the call. */
  onHeadersComplete: (head: MessageHead) => AfterHead;
  onBody: (chunk: Buffer) => void;
  onMessageComplete: () => void;
}

/** A parse error, with llhttp's code (`HPE_HEADER_OVERFLOW`, `HPE_INVALID_METHOD`…). */
export type ParseError = Error & { code?: string };

export interface HttpParser {
  /** Bytes of `data` consumed (less than its length after `AfterHead.Stop`), or the error. */
  execute(data: Buffer): number | ParseError;
  /** The input ended (a body delimited by the connection's end completes here). */
  finish(): number | ParseError | undefined;
  /**
   * Has the parser read `socket` itself, as Node's http server does: each read goes from libuv into
   * llhttp with no Buffer, stream push or 'data' event in between (the read buffer is the binding's
   * own, reused), and `onRead` then gets what `execute` would have returned. The socket's end and
   * errors still reach its stream. False (nothing changed; feed `execute` from 'data') when the socket
   * cannot be read that way: not a libuv stream (TLS), or its stream already carried bytes.
   */
  consume(socket: Socket, onRead: (ret: number | ParseError) => void): boolean;
  /**
   * Stops / restarts reading a consumed socket (its stream's `pause()`/`resume()` do not reach the
   * reads the parser takes). The read being parsed is still parsed to its end.
   */
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Gives the socket back to its stream: later bytes come as 'data' again (its reads restart if
   * `pauseReading` stopped them; the stream's own back-pressure then applies).
   */
  unconsume(): void;
  /** Inside `onRead`: a copy of the bytes of the read just parsed. */
  currentBuffer(): Buffer;
  /** Detaches the callbacks (and gives a consumed socket back); the parser is not used again. */
  close(): void;
}

/** The libuv stream under a `net.Socket` (undefined once it is closed). */
interface StreamHandle {
  isStreamBase?: boolean;
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type NativeParser = any;

/** The part of `_http_common` used here. */
export interface NativeBinding {
  HTTPParser: NativeParser;
  methods: string[];
}

export type ParserMode = 'native' | 'fallback';

export interface HttpParserStatus {
  mode: ParserMode;
  /** Why the fallback runs (fallback only). */
  reason?: string;
}

function loadBinding(): NativeBinding {
  return createRequire(import.meta.url)('_http_common') as NativeBinding;
}

function handleOf(socket: Socket): StreamHandle | undefined {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;
}

class NativeHttpParser implements HttpParser {
  private closed = false;
  /** The consumed socket. */
  private socket: Socket | undefined;
  /** `pauseReading` stopped the consumed socket's reads. */
  private stopped = false;

  constructor(
    private readonly native: NativeParser,
    private readonly binding: NativeBinding,
    private readonly free: NativeParser[] | undefined,
  ) {}

  execute(data: Buffer): number | ParseError {
    return this.native.execute(data);
  }

  finish(): number | ParseError | undefined {
    return this.native.finish();
  }

  consume(socket: Socket, onRead: (ret: number | ParseError) => void): boolean {
    const p = this.native;
    const handle = handleOf(socket);
    if (this.closed || this.socket !== undefined || typeof p.consume !== 'function' || handle?.isStreamBase !== true) return false;
    // Only a socket whose stream never carried data: one that did (a PROXY header read first) may
    // have bytes buffered, or restart its reads from the stream side behind `pauseReading`.
    if ((socket as { encrypted?: boolean }).encrypted === true || socket.readableLength > 0 || socket.readableDidRead) return false;
    p[this.binding.HTTPParser.kOnExecute] = onRead;
    p.consume(handle);
    this.socket = socket;
    return true;
  }

  pauseReading(): void {
    if (this.stopped || this.socket === undefined) return;
    this.stopped = true;
    const handle = handleOf(this.socket);
    if (handle === undefined || !handle.reading) return;
    handle.reading = false;
    handle.readStop();
  }

  resumeReading(): void {
    if (!this.stopped || this.socket === undefined) return;
    this.stopped = false;
    restartReads(this.socket);
  }

  unconsume(): void {
    const socket = this.socket;
    if (socket === undefined) return;
    this.socket = undefined;
    const p = this.native;
    p.unconsume();
    p[this.binding.HTTPParser.kOnExecute] = null;
    if (this.stopped) {
      this.stopped = false;
      if (!socket.destroyed) restartReads(socket);
    }
  }

  currentBuffer(): Buffer {
    return this.native.getCurrentBuffer();
  }

  close(): void {
    if (this.closed) return;
    this.unconsume();
    this.closed = true;
    const p = this.native;
    const b = this.binding;
    p[b.HTTPParser.kOnMessageBegin] = p[b.HTTPParser.kOnHeaders] = p[b.HTTPParser.kOnHeadersComplete] = null;
    p[b.HTTPParser.kOnBody] = p[b.HTTPParser.kOnMessageComplete] = null;
    p.remove?.();
    if (this.free !== undefined && this.free.length < 256) this.free.push(p);
    else p.close();
  }
}

function restartReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (handle === undefined || handle.reading) return;
  handle.reading = true;
  handle.readStart();
}

/** Request parsers are pooled (one per client connection); response parsers are not. */
const freeRequestParsers = new WeakMap<NativeBinding, NativeParser[]>();

/** A parser over `binding` (the real `_http_common` unless a test passes another). */
export function createParser(binding: NativeBinding, kind: 'request' | 'response', maxHeaderSize: number, cb: ParserCallbacks): HttpParser {
  const { HTTPParser, methods } = binding;
  let free: NativeParser[] | undefined;
  if (kind === 'request') {
    free = freeRequestParsers.get(binding);
    if (free === undefined) freeRequestParsers.set(binding, (free = []));
  }
  const p: NativeParser = free?.pop() ?? new HTTPParser();
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderSize, HTTPParser.kLenientNone ?? 0);
  // No function in a slot: the binding skips that call into JS.
  p[HTTPParser.kOnMessageBegin] = cb.onMessageBegin ?? null;
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => cb.onHeaders(headers, url ?? '');
  // One head object per parser, filled for each message (callbacks read it during the call only).
  const head: MessageHead = { versionMajor: 0, versionMinor: 0, headers: undefined, method: '', url: '', statusCode: 0, statusText: '', upgrade: false, shouldKeepAlive: false };
  p[HTTPParser.kOnHeadersComplete] = (
    versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined,
    statusCode: number | undefined, statusText: string | undefined, upgrade: boolean, shouldKeepAlive: boolean,
  ): number => {
    head.versionMajor = versionMajor;
    head.versionMinor = versionMinor;
    head.headers = headers;
    head.method = method === undefined ? '' : (methods[method] ?? '');
    head.url = url ?? '';
    head.statusCode = statusCode ?? 0;
    head.statusText = statusText ?? '';
    head.upgrade = Boolean(upgrade);
    head.shouldKeepAlive = Boolean(shouldKeepAlive);
    return cb.onHeadersComplete(head);
  };
  p[HTTPParser.kOnBody] = cb.onBody;
  p[HTTPParser.kOnMessageComplete] = cb.onMessageComplete;
  return new NativeHttpParser(p, binding, free);
}

// --- the self-test ---

interface Parsed {
  heads: MessageHead[];
  bodies: string[];
  completes: number;
  consumed: number | ParseError;
}

function parseAll(binding: NativeBinding, kind: 'request' | 'response', input: string, noBodyAt = -1): Parsed {
  const out: Parsed = { heads: [], bodies: [], completes: 0, consumed: 0 };
  let pending: string[] = [];
  let pendingUrl = '';
  const parser = createParser(binding, kind, 16 * 1024, {
    onHeaders: (headers, url) => {
      pending = pending.concat(headers);
      pendingUrl += url;
    },
    onHeadersComplete: (head) => {
      out.heads.push({ ...head, headers: pending.concat(head.headers ?? []), url: pendingUrl + head.url });
      pending = [];
      pendingUrl = '';
      out.bodies.push('');
      if (head.upgrade) return AfterHead.Stop;
      return out.heads.length - 1 === noBodyAt ? AfterHead.SkipBody : AfterHead.ReadBody;
    },
    onBody: (chunk) => {
      out.bodies[out.bodies.length - 1] += chunk.toString('latin1');
    },
    onMessageComplete: () => {
      out.completes++;
    },
  });
  // Fed in two reads split mid-head, as a socket may deliver it.
  const data = Buffer.from(input, 'latin1');
  const first = parser.execute(data.subarray(0, 7));
  out.consumed = typeof first === 'number' ? (() => {
    const rest = parser.execute(data.subarray(7));
    return typeof rest === 'number' ? first + rest : rest;
  })() : first;
  parser.close();
  return out;
}

const CANNED_REQUESTS =
  'GET /a?x=1 HTTP/1.1\r\nHost: app.test\r\nX-Two: a\r\n\r\n' +
  'POST /b HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
  'GET /c HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n' +
  'GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nAFTER';

const CANNED_RESPONSES =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n' +
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' + // the answer to a HEAD request: no body
  'HTTP/1.1 204 No Content\r\n\r\n' +
  'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nFRAME';

/** Differences between what `binding` parsed from the canned messages and what they hold (empty: it works). */
export function selfTest(binding: NativeBinding): string[] {
  const problems: string[] = [];
  const expect = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  const req = parseAll(binding, 'request', CANNED_REQUESTS);
  expect('request heads', req.heads.map((h) => [h.method, h.url, `${h.versionMajor}.${h.versionMinor}`, h.shouldKeepAlive, h.upgrade]), [
    ['GET', '/a?x=1', '1.1', true, false],
    ['POST', '/b', '1.1', true, false],
    ['GET', '/c', '1.0', true, false],
    ['GET', '/ws', '1.1', true, true],
  ]);
  expect('request headers', req.heads[0]?.headers, ['Host', 'app.test', 'X-Two', 'a']);
  expect('request bodies', req.bodies.slice(0, 3), ['', 'abcde', '']);
  expect('bytes before the upgraded protocol', req.consumed, CANNED_REQUESTS.length - 'AFTER'.length);
  const res = parseAll(binding, 'response', CANNED_RESPONSES, 1);
  expect('response heads', res.heads.map((h) => [h.statusCode, h.statusText, h.shouldKeepAlive, h.upgrade]), [
    [200, 'OK', true, false],
    [200, 'OK', true, false],
    [204, 'No Content', true, false],
    [101, 'Switching Protocols', true, true],
  ]);
  expect('response bodies', res.bodies.slice(0, 3), ['wxyz', '', '']);
  expect('responses completed', res.completes, 4);
  expect('bytes before the upgraded protocol', res.consumed, CANNED_RESPONSES.length - 'FRAME'.length);
  return problems;
}

/** The native parser if it loads and passes the self-test; why not otherwise. */
export function checkNativeParser(load: () => NativeBinding = loadBinding): HttpParserStatus {
  let binding: NativeBinding;
  try {
    binding = load();
    if (typeof binding?.HTTPParser !== 'function' || !Array.isArray(binding.methods)) throw new Error('_http_common has no HTTPParser');
  } catch (err) {
    return { mode: 'fallback', reason: `Node's internal HTTP parser is not available: ${(err as Error).message}` };
  }
  let problems: string[];
  try {
    problems = selfTest(binding);
  } catch (err) {
    problems = [`threw ${(err as Error).message}`];
  }
  if (problems.length > 0) return { mode: 'fallback', reason: `Node's internal HTTP parser failed its self-test: ${problems.join('; ')}` };
  return { mode: 'native' };
}

let checked: { status: HttpParserStatus; binding: NativeBinding | undefined } | undefined;

function nativeCheck(): { status: HttpParserStatus; binding: NativeBinding | undefined } {
  if (checked === undefined) {
    const status = checkNativeParser();
    checked = { status, binding: status.mode === 'native' ? loadBinding() : undefined };
  }
  return checked;
}

/**
 * Which HTTP/1 implementation baton-lb runs on: `native` (the internal parser, self-tested once per
 * process) or `fallback` (Node's `http` server and undici; also chosen by `BATON_LB_HTTP_PARSER=fallback`).
 */
export function httpParserStatus(): HttpParserStatus {
  if (process.env.BATON_LB_HTTP_PARSER === 'fallback') return { mode: 'fallback', reason: 'BATON_LB_HTTP_PARSER=fallback' };
  return nativeCheck().status;
}

/** A parser for baton-lb's own HTTP/1 code (throws when the native parser failed its self-test). */
export function createNativeParser(kind: 'request' | 'response', maxHeaderSize: number, cb: ParserCallbacks): HttpParser {
  const { status, binding } = nativeCheck();
  if (binding === undefined) throw new Error(status.reason);
  return createParser(binding, kind, maxHeaderSize, cb);
}
