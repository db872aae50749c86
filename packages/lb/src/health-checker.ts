// Runs the active health checks of every server whose backend has one (see health-check.ts), and keeps
// the set of servers they found DOWN (the balancer skips those). Without storms: a server's first
// check comes at a random point of its first interval, later ones every interval ±5% (HAProxy's
// `spread-checks 5`, as marathon-lb sets), and at most `maxConcurrent` checks run at once (the others
// wait their turn, each server at most once). A server that leaves the table stops being checked.

import type { Logger } from '@baton/marathon';
import { CheckCounter, checkSpecOf, describeResult, specKey, spreadDelay, type CheckSpec, type ProbeResult } from './health-check.js';
import { probe as socketProbe, type Prober } from './health-probe.js';
import type { Backend, RouteTable, Server } from './route-table.js';

export interface HealthCheckerOptions {
  /** Connect timeout of the data plane (HAProxy uses min(timeout connect, inter) for http checks). */
  connectTimeoutMs: number;
  /** Most checks in flight at once (default 500). */
  maxConcurrent?: number;
  /** ± spread of each interval, in percent (default 5, marathon-lb's `spread-checks 5`). */
  spreadPercent?: number;
  logger: Logger;
  /** The check itself (default: health-probe.ts over real sockets). */
  probe?: Prober;
  /** Told when a server goes DOWN or comes back UP. */
  onChange?: (serverId: string, state: 'UP' | 'DOWN') => void;
}

/** What the status pages show of a checked server. */
export interface CheckView {
  kind: 'tcp' | 'http';
  up: boolean;
  /** HAProxy's stats status: `UP`, `UP 1/3`, `DOWN 1/2`, `DOWN`. */
  status: string;
  last?: ProbeResult;
  /** Failed checks (HAProxy's `chkfail`). */
  failures: number;
  /** UP → DOWN transitions (HAProxy's `chkdown`). */
  downs: number;
  /** When the state last changed (ms since the epoch). */
  changedAt: number;
}

interface Entry {
  id: string;
  backend: string;
  server: string;
  host: string;
  spec: CheckSpec;
  key: string;
  counter: CheckCounter;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  queued: boolean;
  removed: boolean;
  last: ProbeResult | undefined;
  failures: number;
  downs: number;
  changedAt: number;
}

export class HealthChecker {
  /** Ids of servers whose checks say DOWN. */
  readonly down = new Set<string>();
  /** Checks run, and those that failed, since start. */
  checksTotal = 0;
  checksFailed = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly queue: Entry[] = [];
  private queueHead = 0;
  private inFlight = 0;
  private readonly maxConcurrent: number;
  private readonly spread: number;
  private readonly probe: Prober;
  /** Backends seen by the last sync, to skip unchanged ones. */
  private seen = new Map<string, Backend>();
  private closed = false;

  constructor(private readonly options: HealthCheckerOptions) {
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 500);
    this.spread = options.spreadPercent ?? 5;
    this.probe = options.probe ?? socketProbe;
  }

  /** Servers being checked. */
  get size(): number {
    return this.entries.size;
  }

  /** Checks running now, and waiting for a slot. */
  get running(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.queue.length - this.queueHead;
  }

  view(serverId: string): CheckView | undefined {
    const e = this.entries.get(serverId);
    if (e === undefined) return undefined;
    return { kind: e.spec.kind, up: e.counter.up, status: e.counter.label(), last: e.last, failures: e.failures, downs: e.downs, changedAt: e.changedAt };
  }

  /**
   * Follows a table built from scratch: checks servers that arrived or changed, stops those that left.
   * Walks every backend (unchanged ones cheaply); a route patch goes to `syncChanged`.
   */
  sync(table: RouteTable): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    const seen = new Map<string, Backend>();
    for (const [name, backend] of table.backends) {
      seen.set(name, backend);
      if (backend.healthCheck === undefined) continue;
      const unchanged = this.seen.get(name) === backend;
      for (const server of backend.servers) {
        if (wanted.has(server.id)) continue;
        wanted.add(server.id);
        if (!unchanged || !this.entries.has(server.id)) this.track(backend, server);
      }
    }
    this.seen = seen;
    for (const [id, entry] of this.entries) if (!wanted.has(id)) this.remove(entry);
  }

  /**
   * Follows route patches (which update the table's backends map in place): only the backends they
   * replaced are looked at, O(their servers) whatever the size of the cluster. `changed` lists the
   * versions that left and entered since the last sync, in any number per backend name; what counts
   * is the version `table` holds now.
   */
  syncChanged(table: RouteTable, changed: { left: readonly Backend[]; entered: readonly Backend[] }): void {
    if (this.closed) return;
    const versions = new Map<string, Backend[]>();
    for (const list of [changed.left, changed.entered]) {
      for (const backend of list) {
        const known = versions.get(backend.name);
        if (known === undefined) versions.set(backend.name, [backend]);
        else known.push(backend);
      }
    }
    for (const [name, earlier] of versions) {
      const backend = table.backends.get(name);
      const wanted = new Set<string>();
      if (backend?.healthCheck !== undefined) for (const server of backend.servers) wanted.add(server.id);
      for (const version of earlier) {
        for (const server of version.servers) {
          if (wanted.has(server.id)) continue;
          const entry = this.entries.get(server.id);
          if (entry !== undefined && entry.backend === name) this.remove(entry);
        }
      }
      if (backend === undefined) {
        this.seen.delete(name);
        continue;
      }
      if (this.seen.get(name) === backend) continue;
      this.seen.set(name, backend);
      if (backend.healthCheck !== undefined) for (const server of backend.servers) this.track(backend, server);
    }
  }

  private track(backend: Backend, server: Server): void {
    const spec = checkSpecOf(backend, server, this.options.connectTimeoutMs);
    if (spec === undefined) return;
    const key = specKey(server.host, spec);
    const old = this.entries.get(server.id);
    if (old !== undefined) {
      old.backend = backend.name;
      old.server = server.name;
      if (old.key === key) return;
      this.remove(old);
    }
    const entry: Entry = {
      id: server.id,
      backend: backend.name,
      server: server.name,
      host: server.host,
      spec,
      key,
      counter: new CheckCounter(spec.rise, spec.fall),
      timer: undefined,
      running: false,
      queued: false,
      removed: false,
      last: undefined,
      failures: 0,
      downs: 0,
      changedAt: Date.now(),
    };
    this.entries.set(server.id, entry);
    // The first check at a random point of the first interval: a table of 10,000 new servers
    // does not check them all at once.
    this.schedule(entry, Math.floor(Math.random() * spec.intervalMs));
  }

  private remove(entry: Entry): void {
    entry.removed = true;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    this.entries.delete(entry.id);
    if (this.down.delete(entry.id)) this.options.onChange?.(entry.id, 'UP');
  }

  private schedule(entry: Entry, delayMs: number): void {
    entry.timer = setTimeout(this.due, delayMs, entry);
    entry.timer.unref();
  }

  private readonly due = (entry: Entry): void => {
    entry.timer = undefined;
    if (entry.removed || this.closed) return;
    if (this.inFlight < this.maxConcurrent) this.run(entry);
    else if (!entry.queued) {
      entry.queued = true;
      this.queue.push(entry);
    }
  };

  private run(entry: Entry): void {
    entry.running = true;
    this.inFlight++;
    void this.probe(entry.host, entry.spec).then(
      (result) => this.finished(entry, result),
      (err: Error) => this.finished(entry, { passed: false, status: 'SOCKERR', durationMs: 0, info: err.message }),
    );
  }

  private finished(entry: Entry, result: ProbeResult): void {
    entry.running = false;
    this.inFlight--;
    this.checksTotal++;
    if (!entry.removed && !this.closed) {
      entry.last = result;
      if (!result.passed) {
        entry.failures++;
        this.checksFailed++;
      }
      const change = entry.counter.record(result.passed);
      if (change !== undefined) this.changed(entry, change, result);
      this.schedule(entry, spreadDelay(entry.spec.intervalMs, this.spread, Math.random()));
    }
    this.drain();
  }

  private drain(): void {
    while (this.inFlight < this.maxConcurrent && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++];
      next.queued = false;
      if (!next.removed && !this.closed) this.run(next);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  private changed(entry: Entry, state: 'UP' | 'DOWN', result: ProbeResult): void {
    entry.changedAt = Date.now();
    if (state === 'DOWN') {
      entry.downs++;
      this.down.add(entry.id);
    } else this.down.delete(entry.id);
    // HAProxy's wording: "Server web_10000/host_1 is DOWN, reason: Layer7 wrong status, code: 500, check duration: 2ms."
    const message = `Server ${entry.backend}/${entry.server} is ${state}, reason: ${describeResult(result)}, check duration: ${result.durationMs}ms.`;
    const fields = { backend: entry.backend, server: entry.server, check: result.status, code: result.code };
    if (state === 'DOWN') this.options.logger.warn(fields, message);
    else this.options.logger.info(fields, message);
    this.options.onChange?.(entry.id, state);
  }

  /** Stops every check (running ones finish and are dropped). */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) {
      entry.removed = true;
      clearTimeout(entry.timer);
    }
    this.entries.clear();
    this.queue.length = 0;
    this.queueHead = 0;
    this.down.clear();
  }
}
