// What changed between two route tables, for the data plane's deferred sync: which servers and
// backends are still live, and whether the service-port listeners are the same.

import type { Backend, RouteTable } from './route-table.js';

/** The prune walks run at least this often (at the next burst) even when nothing left (see `retainServers`). */
export const FULL_PRUNE_MS = 30_000;

export interface BackendDelta {
  left: Backend[];
  entered: Backend[];
}

export function liveSets(table: RouteTable): { serverRefs: Map<string, number>; backendNames: Set<string> } {
  const serverRefs = new Map<string, number>();
  const backendNames = new Set<string>();
  for (const [name, backend] of table.backends) {
    backendNames.add(name);
    for (const server of backend.servers) serverRefs.set(server.id, (serverRefs.get(server.id) ?? 0) + 1);
  }
  return { serverRefs, backendNames };
}

/** The keys of a Map, seen as a read-only Set (no copy). */
export class KeySet<K> implements ReadonlySet<K> {
  constructor(private readonly map: ReadonlyMap<K, unknown>) {}
  get size(): number {
    return this.map.size;
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  forEach(callback: (value: K, key: K, set: ReadonlySet<K>) => void, thisArg?: unknown): void {
    for (const key of this.map.keys()) callback.call(thisArg, key, key, this);
  }
  keys(): IterableIterator<K> {
    return this.map.keys();
  }
  values(): IterableIterator<K> {
    return this.map.keys();
  }
  *entries(): IterableIterator<[K, K]> {
    for (const key of this.map.keys()) yield [key, key];
  }
  [Symbol.iterator](): IterableIterator<K> {
    return this.map.keys();
  }
}

/** True when both tables ask for the same service-port listeners serving the same backends. */
export function sameListeners(a: RouteTable, b: RouteTable): boolean {
  if (a.listeners === undefined || b.listeners === undefined) return a.servicePorts === b.servicePorts;
  if (a.listeners === b.listeners) return true;
  if (a.listeners.length !== b.listeners.length) return false;
  for (let i = 0; i < a.listeners.length; i++) {
    const x = a.listeners[i];
    const y = b.listeners[i];
    if (x.port !== y.port || x.bindAddr !== y.bindAddr || x.backend !== y.backend) return false;
  }
  return true;
}
