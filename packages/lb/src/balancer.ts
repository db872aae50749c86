// Choosing a server for a new request or connection: roundrobin, leastconn or source (client-IP hash)
// over the live servers of a backend, with passive health (a server that refused or timed out a
// connection is skipped until its retry time). State is keyed by `Server.id`, so it survives table swaps.

import type { Backend, Server } from './route-table.js';

export interface PassiveHealthOptions {
  /** First retry delay after a connect failure (default 1000 ms); doubles per consecutive failure. */
  initialBackoffMs?: number;
  /** Longest retry delay (default 30000 ms). */
  maxBackoffMs?: number;
  /** First retry delay after a refused connection (default 25 ms); doubles per refusal. */
  refusedBackoffMs?: number;
  /** Longest retry delay while refusals are re-probed quickly (default 100 ms). */
  refusedMaxBackoffMs?: number;
  /** How long refusals are re-probed quickly before the slow backoff (default 3000 ms). */
  refusedWindowMs?: number;
}

interface DownEntry {
  failures: number;
  retryAt: number;
  lastError: string;
  /** When the current run of refused connections began (undefined once another error came). */
  refusedSince: number | undefined;
  /** Failures on the slow schedule (for its doubling). */
  slowFailures: number;
}

export type ServerHealth = 'up' | 'down';

/**
 * Servers that failed to accept a connection, and when each may be tried again. A refused connection
 * (nothing listens on the port) is the normal state of a task Marathon reports running before its
 * process listens: it is re-probed quickly (25, 50, 100 ms, then every 100 ms) for 3 s, so the task gets
 * its first request soon after it listens. Other failures (timeouts, unreachable hosts) and refusals
 * that last longer back off from 1 s to 30 s. A probe is an ordinary request that, refused, is retried
 * on another server before any byte was sent: no client request fails for it.
 */
export class PassiveHealth {
  private readonly down = new Map<string, DownEntry>();
  private readonly proven = new Set<string>();
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly refusedMs: number;
  private readonly refusedMaxMs: number;
  private readonly refusedWindowMs: number;

  constructor(options: PassiveHealthOptions = {}) {
    this.initialMs = options.initialBackoffMs ?? 1_000;
    this.maxMs = options.maxBackoffMs ?? 30_000;
    this.refusedMs = options.refusedBackoffMs ?? 25;
    this.refusedMaxMs = options.refusedMaxBackoffMs ?? 100;
    this.refusedWindowMs = options.refusedWindowMs ?? 3_000;
  }

  /** True unless the server is down and its retry time has not come yet. */
  isAvailable(serverId: string, now = Date.now()): boolean {
    if (this.down.size === 0) return true;
    const entry = this.down.get(serverId);
    return entry === undefined || entry.retryAt <= now;
  }

  state(serverId: string): ServerHealth {
    return this.down.has(serverId) ? 'down' : 'up';
  }

  /** Records a connect failure (`reason`: the error code); returns the delay before the server is tried again. */
  markFailure(serverId: string, reason: string, now = Date.now()): number {
    const entry = this.down.get(serverId);
    const failures = (entry?.failures ?? 0) + 1;
    const refusedSince = reason === 'ECONNREFUSED' ? (entry === undefined ? now : entry.refusedSince) : undefined;
    let slowFailures = entry?.slowFailures ?? 0;
    let delay: number;
    if (refusedSince !== undefined && now - refusedSince < this.refusedWindowMs) {
      delay = Math.min(this.refusedMaxMs, this.refusedMs * 2 ** Math.min(failures - 1, 30));
    } else {
      slowFailures++;
      delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(slowFailures - 1, 30));
    }
    this.down.set(serverId, { failures, retryAt: now + delay, lastError: reason, refusedSince, slowFailures });
    return delay;
  }

  /** A connection succeeded: the server is up again (and known to listen). */
  markSuccess(serverId: string): void {
    if (this.down.size !== 0) this.down.delete(serverId);
    if (!this.proven.has(serverId)) this.proven.add(serverId);
  }

  /** Whether a connection to the server has ever succeeded (a new task has not listened yet). */
  isProven(serverId: string): boolean {
    return this.proven.has(serverId);
  }

  /** Details of a down server, for status pages. */
  details(serverId: string): { failures: number; retryAt: number; lastError: string } | undefined {
    return this.down.get(serverId);
  }

  /** Drops state of servers that are no longer in any backend. */
  retainOnly(serverIds: ReadonlySet<string>): void {
    for (const id of this.down.keys()) if (!serverIds.has(id)) this.down.delete(id);
    for (const id of this.proven) if (!serverIds.has(id)) this.proven.delete(id);
  }
}

/** FNV-1a, 32 bit: a cheap, stable hash for `balance source`. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export class Balancer {
  readonly health: PassiveHealth;
  /** Servers that active health checks found DOWN (health-checker.ts); never picked. */
  checkedDown: ReadonlySet<string> = new Set();
  private readonly active = new Map<string, number>();
  private readonly cursors = new Map<string, number>();

  constructor(health = new PassiveHealth()) {
    this.health = health;
  }

  /** Open requests/connections on a server (for leastconn and status). */
  activeOn(serverId: string): number {
    return this.active.get(serverId) ?? 0;
  }

  acquire(serverId: string): void {
    this.active.set(serverId, (this.active.get(serverId) ?? 0) + 1);
  }

  release(serverId: string): void {
    const n = (this.active.get(serverId) ?? 1) - 1;
    if (n <= 0) this.active.delete(serverId);
    else this.active.set(serverId, n);
  }

  /**
   * A request probes at most one server that is down (its retry time come): once a server refused it
   * (`exclude` holds the servers it tried), only servers that are up are tried, so a scale-up of
   * many tasks that do not listen yet cannot use up a request's retries.
   */
  private eligible(server: Server, exclude: ReadonlySet<string> | undefined, now: number, provenOnly = false): boolean {
    if (server.draining) return false;
    if (this.checkedDown.size !== 0 && this.checkedDown.has(server.id)) return false;
    if (exclude === undefined || exclude.size === 0) return this.health.isAvailable(server.id, now);
    return !exclude.has(server.id) && this.health.state(server.id) === 'up' && (!provenOnly || this.health.isProven(server.id));
  }

  /**
   * A server for a new request: not draining, not in `exclude` (servers already tried for this
   * request), not DOWN by its active checks, not passively down. Undefined when there is none.
   */
  pick(backend: Backend, clientIp: string, exclude?: ReadonlySet<string>, now = Date.now()): Server | undefined {
    const servers = backend.servers;
    const n = servers.length;
    if (n === 0) return undefined;
    if (exclude !== undefined && exclude.size > 0) {
      // A retry after a refusal: a server known to listen, when there is one (during a scale-up
      // several new tasks may not listen yet, and each would cost the request one of its retries).
      const proven = this.pickFrom(backend, clientIp, exclude, now, true);
      if (proven !== undefined) return proven;
    }
    return this.pickFrom(backend, clientIp, exclude, now, false);
  }

  private pickFrom(backend: Backend, clientIp: string, exclude: ReadonlySet<string> | undefined, now: number, provenOnly: boolean): Server | undefined {
    const servers = backend.servers;
    const n = servers.length;
    if (backend.balance === 'source') {
      const start = hashString(clientIp) % n;
      for (let i = 0; i < n; i++) {
        const server = servers[(start + i) % n];
        if (this.eligible(server, exclude, now, provenOnly)) return server;
      }
      return undefined;
    }
    const cursor = this.cursors.get(backend.name) ?? 0;
    this.cursors.set(backend.name, cursor + 1 >= 0x3fffffff ? 0 : cursor + 1);
    const start = cursor % n;
    if (backend.balance === 'leastconn') {
      let best: Server | undefined;
      let bestActive = Infinity;
      for (let i = 0; i < n; i++) {
        const server = servers[(start + i) % n];
        if (!this.eligible(server, exclude, now, provenOnly)) continue;
        const active = this.active.get(server.id) ?? 0;
        if (active < bestActive) {
          best = server;
          bestActive = active;
        }
      }
      return best;
    }
    // Roundrobin turns go to the eligible servers only (as HAProxy, whose rotation holds only the
    // servers that take traffic): a draining or down server's turn is not handed to its neighbour.
    const first = servers[start];
    if (exclude === undefined && this.health.isAvailable(first.id, now) && !this.anyOutOfRotation(servers)) return first;
    let eligible = 0;
    for (let i = 0; i < n; i++) if (this.eligible(servers[i], exclude, now, provenOnly)) eligible++;
    if (eligible === 0) return undefined;
    let turn = cursor % eligible;
    for (let i = 0; i < n; i++) {
      const server = servers[i];
      if (this.eligible(server, exclude, now, provenOnly) && turn-- === 0) return server;
    }
    return undefined;
  }

  /** Whether a server is draining or DOWN by its active checks (out of the roundrobin rotation). */
  private anyOutOfRotation(servers: readonly Server[]): boolean {
    const checkedDown = this.checkedDown;
    for (let i = 0; i < servers.length; i++) {
      if (servers[i].draining || (checkedDown.size !== 0 && checkedDown.has(servers[i].id))) return true;
    }
    return false;
  }

  /** The server a sticky cookie names, if it is still in the backend and may take new requests. */
  pickByCookie(backend: Backend, cookie: string, exclude?: ReadonlySet<string>, now = Date.now()): Server | undefined {
    for (const server of backend.servers) {
      if (server.cookie === cookie) return this.eligible(server, exclude, now) ? server : undefined;
    }
    return undefined;
  }

  /** Forgets round-robin cursors of backends that are gone. */
  retainBackends(names: ReadonlySet<string>): void {
    for (const name of this.cursors.keys()) if (!names.has(name)) this.cursors.delete(name);
  }
}
