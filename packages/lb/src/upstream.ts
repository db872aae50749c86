// Pooled keep-alive connections to each server (one pool per `Server.id`). A server that leaves the
// route table gets no new requests; its pool is closed gracefully, so in-flight requests finish.
// The pools are http1-upstream.ts's (net.Socket + Node's native parser) unless `client: 'undici'`
// asks for undici `Pool`s (kept to compare the two in bench/lb), or Node's internal parser is not
// usable (native-http-parser.ts): then undici, and Node's `http` client for Upgrade requests.

import { Pool } from 'undici';
import { Http1Pool, type UpstreamHandler, type UpstreamRequest } from './http1-upstream.js';
import { httpParserStatus } from './native-http-parser.js';
import { NodeHttpUpgradePool } from './node-http-upgrade.js';
import type { Server } from './route-table.js';

/** What the request path needs of a pool (undici's `Pool` and `Http1Pool` both have it). */
export interface UpstreamPool {
  dispatch(request: UpstreamRequest & { headersTimeout?: number; bodyTimeout?: number }, handler: UpstreamHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export type UpstreamClient = 'http1' | 'undici';

/**
 * The client used when none is given: baton's own; `BATON_LB_UPSTREAM_CLIENT=undici` picks undici
 * (benchmarks compare both). Without a usable internal parser it is always undici.
 */
export function defaultUpstreamClient(): UpstreamClient {
  if (httpParserStatus().mode === 'fallback') return 'undici';
  return process.env.BATON_LB_UPSTREAM_CLIENT === 'undici' ? 'undici' : 'http1';
}

/** The pools' kinds: the two clients, and Node's `http` client for Upgrade requests in the fallback. */
type PoolKind = UpstreamClient | 'node-http';

export interface UpstreamOptions {
  connectTimeoutMs: number;
  /** Time to wait for response headers, and the longest silence while a body streams. */
  serverTimeoutMs: number;
  /** Most connections per server (default 256). */
  connectionsPerServer?: number;
  /** Longest wait of a queued request for a connection (default 30 s; baton's own client only). */
  queueTimeoutMs?: number;
  /** Which HTTP client the pools use (default `defaultUpstreamClient()`). */
  client?: UpstreamClient;
}

interface Entry {
  pool: UpstreamPool;
  host: string;
  port: number;
}

export class Upstreams {
  private readonly pools = new Map<string, Entry>();
  /** With undici pools: baton's own (or Node's `http`) pools for Upgrade requests (undici's cannot relay a non-101 answer). */
  private readonly upgradePools = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();

  readonly client: UpstreamClient;
  /** The client of Upgrade requests when `client` is undici. */
  private readonly upgradeClient: PoolKind;

  constructor(private readonly options: UpstreamOptions) {
    const native = httpParserStatus().mode === 'native';
    this.client = native ? (options.client ?? defaultUpstreamClient()) : 'undici';
    this.upgradeClient = native ? 'http1' : 'node-http';
  }

  /** The pool for a server, created on first use. */
  get(server: Server): UpstreamPool {
    return this.poolIn(this.pools, server, this.client);
  }

  /** The pool for Upgrade requests to a server: always baton's own client. */
  forUpgrade(server: Server): UpstreamPool {
    return this.client === 'http1' ? this.get(server) : this.poolIn(this.upgradePools, server, this.upgradeClient);
  }

  private poolIn(pools: Map<string, Entry>, server: Server, client: PoolKind): UpstreamPool {
    const entry = pools.get(server.id);
    if (entry !== undefined && entry.port === server.port && entry.host === server.host) return entry.pool;
    if (entry !== undefined) this.retire(pools, server.id, entry);
    const pool = client === 'http1' ? this.http1Pool(server) : client === 'undici' ? this.undiciPool(server) : this.nodeHttpPool(server);
    pools.set(server.id, { pool, host: server.host, port: server.port });
    return pool;
  }

  private http1Pool(server: Server): UpstreamPool {
    return new Http1Pool({
      host: server.host,
      port: server.port,
      connections: this.options.connectionsPerServer ?? 256,
      connectTimeoutMs: this.options.connectTimeoutMs,
      serverTimeoutMs: this.options.serverTimeoutMs,
      queueTimeoutMs: this.options.queueTimeoutMs,
      keepAliveMs: 4_000,
      maxHeaderSize: 64 * 1024,
    });
  }

  private nodeHttpPool(server: Server): UpstreamPool {
    return new NodeHttpUpgradePool({
      host: server.host,
      port: server.port,
      connectTimeoutMs: this.options.connectTimeoutMs,
      serverTimeoutMs: this.options.serverTimeoutMs,
    });
  }

  private undiciPool(server: Server): UpstreamPool {
    const host = server.host.includes(':') ? `[${server.host}]` : server.host;
    return new Pool(`http://${host}:${server.port}`, {
      connections: this.options.connectionsPerServer ?? 256,
      pipelining: 1,
      connectTimeout: this.options.connectTimeoutMs,
      headersTimeout: this.options.serverTimeoutMs,
      bodyTimeout: this.options.serverTimeoutMs,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      maxHeaderSize: 64 * 1024,
    }) as unknown as UpstreamPool;
  }

  get size(): number {
    return this.pools.size;
  }

  /** Closes (gracefully) the pools of servers not in `serverIds`. */
  retainOnly(serverIds: ReadonlySet<string>): void {
    for (const pools of [this.pools, this.upgradePools]) {
      for (const [id, entry] of pools) if (!serverIds.has(id)) this.retire(pools, id, entry);
    }
  }

  private retire(pools: Map<string, Entry>, id: string, entry: Entry): void {
    pools.delete(id);
    const done = entry.pool.close().catch(() => undefined);
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  /** Closes every pool: waits for in-flight requests up to `graceMs`, then destroys what is left. */
  async close(graceMs = 10_000): Promise<void> {
    const entries = [...this.pools.values(), ...this.upgradePools.values()];
    this.pools.clear();
    this.upgradePools.clear();
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
