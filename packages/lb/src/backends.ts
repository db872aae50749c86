// Which tasks become servers, at which address, behind which service port (marathon-lb §2). Pure:
// host names are used as Marathon reports them (the data plane resolves them when it connects).

import { createHash } from 'node:crypto';
import type { App, AppHealthCheck, Task } from '@baton/marathon';

/** Task states marathon-lb keeps (LOST and UNREACHABLE deliberately, to ride out agent partitions). */
export const KEPT_TASK_STATES: ReadonlySet<string> = new Set(['TASK_RUNNING', 'TASK_LOST', 'TASK_UNREACHABLE']);

/** A task with no state is kept too (old Marathon payloads carry none). */
export function isKeptState(state: string | undefined): boolean {
  return state === undefined || state === '' || KEPT_TASK_STATES.has(state);
}

/** A small least-recently-used map (Map keeps insertion order; a hit moves the key to the end). */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  /** Oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }
}

export interface TaskFilterOptions {
  /** marathon-lb's --health-check: filter tasks of apps that have health checks. */
  healthCheck: boolean;
  /** Last known health per task id, used when Marathon reports none (e.g. right after a failover). */
  healthCache: LruCache<string, boolean>;
}

/** Why a task is not a server, or undefined when it is one. */
export function taskSkipReason(app: App, task: Task, options: TaskFilterOptions): string | undefined {
  if (!task.host) return 'no host';
  if (!isKeptState(task.state)) return `state ${task.state}`;
  if (options.healthCheck && app.healthChecks.length > 0) {
    if (task.health === 'unknown') {
      if (options.healthCache.get(task.id) !== true) return 'no health result (and none cached)';
    } else {
      const alive = task.health === 'healthy';
      options.healthCache.set(task.id, alive);
      if (!alive) return 'unhealthy';
    }
  }
  return undefined;
}

/** Where a task answers: its IP and its ports in service-port order (marathon-lb's table of §2). */
export function taskEndpoint(app: App, task: Task): { ip: string; ports: number[] } | undefined {
  if (app.networkMode === 'container') {
    const ip = task.ipAddresses[0]?.ipAddress;
    const ports = app.ports.map((p) => p.containerPort ?? 0).filter((p) => p > 0);
    if (!ip || ports.length === 0) return undefined;
    return { ip, ports };
  }
  if (!task.host) return undefined;
  let ports: number[] = task.ports;
  if (ports.length === 0) {
    ports =
      app.networkMode === 'container/bridge'
        ? app.ports.map((p) => p.containerPort ?? 0).filter((p) => p > 0)
        : app.ports.map((p) => p.servicePort).filter((p) => p > 0);
  }
  if (ports.length === 0) return undefined;
  return { ip: task.host, ports };
}

/** marathon-lb's server name: `host_ip_port` (host left out when it is the IP), non-`[A-Za-z0-9-]` → `_`. */
export function serverName(agentHost: string, ip: string, port: number): string {
  const raw = agentHost === ip || agentHost === '' ? `${ip}_${port}` : `${agentHost}_${ip}_${port}`;
  return raw.replace(/[^A-Za-z0-9-]/g, '_');
}

/** marathon-lb's sticky cookie value: the first 10 hex characters of sha1(server name). */
export function serverCookie(name: string): string {
  return createHash('sha1').update(name).digest('hex').slice(0, 10);
}

/** marathon-lb's backend name: `/grp/api` on 10001 → `grp_api_10001`. */
export function backendName(appId: string, port: number): string {
  return `${appId.slice(1).replace(/\//g, '_')}_${port}`;
}

/**
 * The health check marathon-lb uses for service port `portIndex`: the first one that has a `port`, or
 * whose `portIndex` matches.
 */
export function healthCheckFor(app: App, portIndex: number): AppHealthCheck | undefined {
  for (const check of app.healthChecks) {
    if (check.port !== undefined && check.port > 0) return check;
    if (check.portIndex === portIndex) return check;
  }
  return undefined;
}

/**
 * Service ports for IP-per-task apps that have none, from [min, max] (marathon-lb's
 * --min/--max-serv-port-ip-per-task), by marathon-lb's formula:
 * `min + int(sha1("{appId}-{taskPort}-{i}")[:8], 16) % (max - min + 1)` for i = 0..49 until a free
 * port is found, then the lowest free port.
 *
 * Unlike marathon-lb (which starts afresh on every regeneration, so a port can move when another app
 * changes), an assignment is remembered per (app id, port index) until the app or that port goes away.
 */
export class ServicePortAssigner {
  private readonly byKey = new Map<string, number>();
  private readonly used = new Map<number, string>();

  constructor(
    readonly min: number,
    readonly max: number,
  ) {}

  /** The port assigned to this app port, assigning one if needed; undefined when the range is full. */
  assign(appId: string, portIndex: number, taskPort: number): number | undefined {
    const key = `${appId}\n${portIndex}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    const range = this.max - this.min + 1;
    if (range <= 0) return undefined;
    let port: number | undefined;
    for (let i = 0; i < 50 && port === undefined; i++) {
      const hash = createHash('sha1').update(`${appId}-${taskPort}-${i}`).digest('hex');
      const trial = this.min + (Number.parseInt(hash.slice(0, 8), 16) % range);
      if (!this.used.has(trial)) port = trial;
    }
    for (let trial = this.min; port === undefined && trial <= this.max; trial++) {
      if (!this.used.has(trial)) port = trial;
    }
    if (port === undefined) return undefined;
    this.byKey.set(key, port);
    this.used.set(port, key);
    return port;
  }

  /** Forgets the assignments of `appId` from port index `fromIndex` on (all of them by default). */
  release(appId: string, fromIndex = 0): void {
    for (const [key, port] of this.byKey) {
      const newline = key.lastIndexOf('\n');
      if (key.slice(0, newline) === appId && Number(key.slice(newline + 1)) >= fromIndex) {
        this.byKey.delete(key);
        this.used.delete(port);
      }
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The assignments (`appId\nportIndex` → port), for `restore` in another assigner. */
  entries(): [key: string, port: number][] {
    return [...this.byKey];
  }

  restore(entries: Iterable<[key: string, port: number]>): void {
    for (const [key, port] of entries) {
      if (this.used.has(port) || port < this.min || port > this.max) continue;
      this.byKey.set(key, port);
      this.used.set(port, key);
    }
  }
}

/**
 * The service port of each app port (0 = none). IP-per-task apps whose ports have no service port at
 * all get ports from the assigner (keyed by `unitId`, the app id or the zdd group id).
 */
export function servicePortsOf(app: App, unitId: string, assigner: ServicePortAssigner | undefined): number[] {
  const ports = app.ports.map((p) => p.servicePort);
  if (app.networkMode !== 'container' || !assigner) return ports;
  if (ports.some((p) => p > 0)) {
    assigner.release(unitId);
    return ports;
  }
  assigner.release(unitId, app.ports.length);
  return app.ports.map((p) => {
    const taskPort = p.containerPort ?? 0;
    return taskPort > 0 ? (assigner.assign(unitId, p.index, taskPort) ?? 0) : 0;
  });
}
