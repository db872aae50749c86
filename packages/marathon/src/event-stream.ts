// One connection to Marathon's `/v2/events` SSE stream: redirects from standbys, a silence watchdog,
// parsed events out, exactly one `close` with a reason.
import { EventEmitter } from 'node:events';
import { request, type Dispatcher } from 'undici';
import { silentLogger, type Logger } from './log.js';
import { SseParser, parseMarathonEvent, isEventError } from './sse.js';
import { authorizationHeader, describeNetworkError, normalizeBaseUrl, type MarathonAuth } from './client.js';
import type { MarathonEvent } from './types.js';

export interface EventStreamOptions {
  /** Marathon base URL, e.g. `http://m1:8080` (`/v2/events` is appended). */
  url: string;
  /** Credentials, resent to the leader after a redirect. Ignored when `headers.authorization` is set. */
  auth?: MarathonAuth;
  /** Extra request headers (e.g. `MarathonClient.requestHeaders()`); `accept` is always `text/event-stream`. */
  headers?: Record<string, string>;
  /** undici dispatcher (e.g. `MarathonClient.dispatcher`, for its TLS settings). */
  dispatcher?: Dispatcher;
  /** `event_type` filters; empty or absent = all events. */
  eventTypes?: string[];
  /** Time allowed for the response headers, in ms (default 10 000). */
  timeoutMs?: number;
  /** A stream silent for this long (no event, no heartbeat) is dead, in ms (default 30 000). */
  heartbeatTimeoutMs?: number;
  /**
   * Characters one SSE line or message may take (default 16 MiB, see DEFAULT_MAX_MESSAGE_LENGTH). A
   * longer one closes the stream with an error naming the limit; the feed reconnects and resyncs.
   */
  maxMessageLength?: number;
  /** Redirects followed (standby → leader) before giving up (default 3). */
  maxRedirects?: number;
  /** Aborts the connection attempt or the open stream. */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Opening the stream failed; `reason` is short, e.g. `http 405`, `connection refused`, `too many redirects`. */
export class EventStreamError extends Error {
  override name = 'EventStreamError';
  constructor(
    readonly reason: string,
    readonly url: string,
    /** HTTP status when the server answered. */
    readonly status?: number,
  ) {
    super(`event stream ${url}: ${reason}`);
  }
}

export interface EventStreamEvents {
  event: [event: MarathonEvent];
  /** A message that is not a valid Marathon event; the stream goes on. */
  invalid: [error: string, data: string];
  /** Emitted once: `stalled` (watchdog), `closed` (server ended it), `stopped` (close()), or `error: …`. */
  close: [reason: string];
}

/**
 * Use `openEventStream(options)`, or `new MarathonEventStream(options)` then `await stream.open()`.
 * Listeners for `event` should be attached before `open()` resolves to miss nothing: events are only
 * emitted after `open()` resolved.
 */
export class MarathonEventStream extends EventEmitter<EventStreamEvents> {
  /** The base URL the stream ended up connected to (the leader after a redirect). */
  connectedUrl?: string;
  /** The leader announced in `X-Marathon-Leader` (`host:port`), else the host of `connectedUrl`. */
  leader?: string;
  /** True when the leader came from an `X-Marathon-Leader` header or a redirect, not just the URL. */
  leaderConfirmed = false;
  private readonly options: EventStreamOptions;
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private watchdog?: NodeJS.Timeout;
  private closedReason?: string;
  private opened = false;
  private detachSignal?: () => void;

  constructor(options: EventStreamOptions) {
    super();
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    if (options.signal) {
      if (options.signal.aborted) this.abort.abort();
      else {
        const onAbort = () => this.close();
        options.signal.addEventListener('abort', onAbort, { once: true });
        this.detachSignal = () => options.signal!.removeEventListener('abort', onAbort);
      }
    }
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Connects (following redirects) and starts streaming; rejects with an EventStreamError. */
  async open(): Promise<{ url: string; leader?: string }> {
    if (this.opened) throw new Error('event stream already opened');
    this.opened = true;
    try {
      return await this.connect();
    } catch (err) {
      this.finish(err instanceof EventStreamError ? err.reason : String(err));
      throw err;
    }
  }

  private async connect(): Promise<{ url: string; leader?: string }> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const maxRedirects = this.options.maxRedirects ?? 3;
    const headers: Record<string, string> = { ...(this.options.headers ?? {}) };
    const auth = authorizationHeader(this.options.auth);
    if (auth && !headers.authorization) headers.authorization = auth;
    headers.accept = 'text/event-stream';

    let target = eventsUrl(normalizeBaseUrl(this.options.url), this.options.eventTypes ?? []);
    for (let hop = 0; ; hop++) {
      if (this.abort.signal.aborted) throw new EventStreamError('stopped', target);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(target, {
          method: 'GET',
          headers,
          dispatcher: this.options.dispatcher,
          signal: this.abort.signal,
          headersTimeout: timeoutMs,
          bodyTimeout: 0,
        });
      } catch (err) {
        if (this.abort.signal.aborted) throw new EventStreamError('stopped', target);
        throw new EventStreamError(describeNetworkError(err, timeoutMs), target);
      }
      const status = res.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        res.body.resume();
        const location = header(res.headers, 'location');
        if (!location) throw new EventStreamError(`http ${status} without Location`, target, status);
        if (hop >= maxRedirects) throw new EventStreamError('too many redirects', target, status);
        const next = new URL(location, target).toString();
        this.logger.info({ from: target, to: next }, 'event stream redirected');
        target = next;
        continue;
      }
      if (status !== 200) {
        const detail = await res.body.text().catch(() => '');
        this.logger.debug({ url: target, status, detail: detail.slice(0, 200) }, 'event stream refused');
        const reason = status === 401 ? 'http 401 (credentials rejected)' : `http ${status}`;
        throw new EventStreamError(reason, target, status);
      }
      this.connectedUrl = baseOf(target);
      const leaderHeader = header(res.headers, 'x-marathon-leader');
      this.leader = leaderHostPort(leaderHeader ?? this.connectedUrl);
      this.leaderConfirmed = leaderHeader !== undefined || hop > 0;
      this.stream(res.body);
      return { url: this.connectedUrl, leader: this.leader };
    }
  }

  /** Closes the stream; emits `close` with reason `stopped` unless it had already closed. */
  close(): void {
    this.finish('stopped');
  }

  private stream(body: Dispatcher.ResponseData['body']): void {
    const parser = new SseParser({ maxMessageLength: this.options.maxMessageLength });
    const heartbeatTimeoutMs = this.options.heartbeatTimeoutMs ?? 30_000;
    const armWatchdog = () => {
      if (this.watchdog) this.watchdog.refresh();
      else this.watchdog = setTimeout(() => this.finish('stalled'), heartbeatTimeoutMs);
    };
    armWatchdog();
    body.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      // Only complete lines (events, heartbeats) prove the stream alive: bytes of a line that never
      // ends do not hold the watchdog off.
      const lines = parser.lines;
      const messages = parser.push(chunk);
      if (parser.lines !== lines) armWatchdog();
      for (const message of messages) {
        if (this.closed) return;
        const parsed = parseMarathonEvent(message);
        if (isEventError(parsed)) this.emit('invalid', parsed.error, message.data);
        else this.emit('event', parsed);
      }
      if (parser.error !== undefined) {
        this.logger.warn({ url: this.connectedUrl, error: parser.error }, 'event stream refused; reconnecting');
        this.finish(`error: ${parser.error}`);
      }
    });
    body.on('end', () => this.finish('closed'));
    body.on('error', (err) => this.finish(`error: ${describeNetworkError(err, 0)}`));
    body.on('close', () => this.finish('closed'));
  }

  private finish(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.detachSignal?.();
    if (this.watchdog) clearTimeout(this.watchdog);
    this.abort.abort();
    this.logger.debug({ url: this.connectedUrl, reason }, 'event stream closed');
    if (this.connectedUrl !== undefined) this.emit('close', reason);
  }
}

/** Opens an event stream; listeners attached in `onEvent` see every event from the first byte. */
export async function openEventStream(
  options: EventStreamOptions,
  onEvent?: (event: MarathonEvent) => void,
): Promise<MarathonEventStream> {
  const stream = new MarathonEventStream(options);
  if (onEvent) stream.on('event', onEvent);
  await stream.open();
  return stream;
}

function eventsUrl(base: string, eventTypes: string[]): string {
  const query = new URLSearchParams();
  for (const type of eventTypes) query.append('event_type', type);
  const qs = query.toString();
  return `${base}/v2/events${qs ? `?${qs}` : ''}`;
}

/** `http://leader:8080/service/marathon/v2/events?…` → `http://leader:8080/service/marathon`. */
function baseOf(eventsTarget: string): string {
  const url = new URL(eventsTarget);
  const path = url.pathname.replace(/\/v2\/events\/?$/, '').replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/** `http://host:8080` or `host:8080` → `host:8080`; the default port is filled in. */
export function leaderHostPort(value: string): string {
  try {
    const url = new URL(value.includes('://') ? value : `http://${value}`);
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return `${url.hostname}:${port}`;
  } catch {
    return value;
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
