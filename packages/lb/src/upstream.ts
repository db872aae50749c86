// Pooled keep-alive connections to each server (one undici Pool per `Server.id`). A server that leaves
// the route table gets no new requests; its pool is closed gracefully, so in-flight requests finish.

import { Pool } from 'undici';
import type { Server } from './route-table.js';

export interface UpstreamOptions {
  connectTimeoutMs: number;
  /** Time to wait for response headers, and the longest silence while a body streams. */
  serverTimeoutMs: number;
  /** Most connections per server (default 256). */
  connectionsPerServer?: number;
}

interface Entry {
  pool: Pool;
  host: string;
  port: number;
}

export class Upstreams {
  private readonly pools = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly options: UpstreamOptions) {}

  /** The pool for a server, created on first use. */
  get(server: Server): Pool {
    const entry = this.pools.get(server.id);
    if (entry !== undefined && entry.port === server.port && entry.host === server.host) return entry.pool;
    if (entry !== undefined) this.retire(server.id, entry);
    const host = server.host.includes(':') ? `[${server.host}]` : server.host;
    const pool = new Pool(`http://${host}:${server.port}`, {
      connections: this.options.connectionsPerServer ?? 256,
      pipelining: 1,
      connectTimeout: this.options.connectTimeoutMs,
      headersTimeout: this.options.serverTimeoutMs,
      bodyTimeout: this.options.serverTimeoutMs,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      maxHeaderSize: 64 * 1024,
    });
    this.pools.set(server.id, { pool, host: server.host, port: server.port });
    return pool;
  }

  get size(): number {
    return this.pools.size;
  }

  /** Closes (gracefully) the pools of servers not in `serverIds`. */
  retainOnly(serverIds: ReadonlySet<string>): void {
    for (const [id, entry] of this.pools) if (!serverIds.has(id)) this.retire(id, entry);
  }

  private retire(id: string, entry: Entry): void {
    this.pools.delete(id);
    const done = entry.pool.close().catch(() => undefined);
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  /** Closes every pool: waits for in-flight requests up to `graceMs`, then destroys what is left. */
  async close(graceMs = 10_000): Promise<void> {
    const entries = [...this.pools.values()];
    this.pools.clear();
    const all = Promise.all([...entries.map((e) => e.pool.close().catch(() => undefined)), ...this.closing]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) await Promise.all(entries.map((e) => e.pool.destroy().catch(() => undefined)));
  }
}
