// `/v2/events` streams as Marathon (Jetty's EventSourceServlet) serves them: CRLF frames, `\r\n`
// heartbeats, Connection: close, slow clients dropped, everything closed on leadership change.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MarathonEvent } from '@baton/marathon';
import type { Logger } from '@baton/marathon';
import { eventStreamAttachedEvent, sseFrame } from './events.js';

interface StreamClient {
  res: ServerResponse;
  filter: Set<string> | null;
  remoteAddress: string;
  /** Messages written since the socket last reported itself drained. */
  behind: number;
  congested: boolean;
}

export interface EventStreamsOptions {
  /** Shuffle the events published within one tick before writing them (Marathon guarantees no order). */
  shuffle?: boolean;
  heartbeatMs: number;
  maxOutstanding: number;
  logger: Logger;
  now: () => string;
}

export class EventStreams {
  private readonly clients = new Set<StreamClient>();
  private stalled = false;
  private heartbeat?: NodeJS.Timeout;
  /** Every event published, for tests and the programmatic API (bounded). */
  readonly recent: MarathonEvent[] = [];
  private readonly listeners = new Set<(event: MarathonEvent) => void>();
  private shuffle: boolean;
  private batch: MarathonEvent[] = [];

  constructor(private readonly options: EventStreamsOptions) {
    this.shuffle = options.shuffle ?? false;
    if (options.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  get size(): number {
    return this.clients.size;
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  /** Subscribes in-process (not over HTTP). Returns an unsubscribe function. */
  subscribe(listener: (event: MarathonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  attach(req: IncomingMessage, res: ServerResponse, filter: Set<string> | null, extraHeaders: Record<string, string>): void {
    const remoteAddress = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/event-stream;charset=UTF-8');
    res.setHeader('Connection', 'close');
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    res.setHeader('Pragma', 'no-cache');
    res.setHeader('Expires', '0');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-XSS-Protection', '1; mode=block');
    for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
    // No chunked encoding, like Jetty: the body runs until the connection closes.
    res.removeHeader('Transfer-Encoding');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    const client: StreamClient = { res, filter, remoteAddress, behind: 0, congested: false };
    this.clients.add(client);
    res.on('drain', () => {
      client.behind = 0;
      client.congested = false;
    });
    res.on('close', () => {
      if (this.clients.delete(client)) this.publish(eventStreamAttachedEvent({ remoteAddress, timestamp: this.options.now() }, true));
    });
    this.options.logger.debug({ remoteAddress, filter: filter ? [...filter] : null }, 'event stream attached');
    this.publish(eventStreamAttachedEvent({ remoteAddress, timestamp: this.options.now() }));
  }

  setShuffle(shuffle: boolean): void {
    this.shuffle = shuffle;
  }

  publish(event: MarathonEvent): void {
    if (!this.shuffle) return this.deliver(event);
    this.batch.push(event);
    if (this.batch.length === 1) {
      queueMicrotask(() => {
        const batch = this.batch;
        this.batch = [];
        for (let i = batch.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [batch[i], batch[j]] = [batch[j], batch[i]];
        }
        for (const e of batch) this.deliver(e);
      });
    }
  }

  private deliver(event: MarathonEvent): void {
    this.recent.push(event);
    if (this.recent.length > 10_000) this.recent.splice(0, this.recent.length - 5_000);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, 'event listener threw');
      }
    }
    if (this.stalled || this.clients.size === 0) return;
    let frame: string | undefined;
    for (const client of this.clients) {
      if (client.filter && !client.filter.has(event.eventType)) continue;
      frame ??= sseFrame(event);
      this.write(client, frame);
    }
  }

  private write(client: StreamClient, data: string): void {
    if (client.res.destroyed) return;
    const flushed = client.res.write(data);
    if (!flushed) client.congested = true;
    if (client.congested && ++client.behind > this.options.maxOutstanding) {
      this.options.logger.warn({ remoteAddress: client.remoteAddress }, 'event stream client too far behind; disconnecting');
      this.clients.delete(client);
      client.res.destroy();
    }
  }

  private beat(): void {
    if (this.stalled) return;
    for (const client of this.clients) {
      // Jetty writes '\r', flushes, writes '\n', flushes.
      this.write(client, '\r');
      this.write(client, '\n');
    }
  }

  /** Stops writing anything (events are lost, heartbeats pause) while keeping connections open. */
  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
  }

  /** Closes every open stream (as on leadership loss). */
  closeAll(): void {
    for (const client of [...this.clients]) {
      this.clients.delete(client);
      client.res.end();
      client.res.socket?.end();
    }
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.closeAll();
  }
}
