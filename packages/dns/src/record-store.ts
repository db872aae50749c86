// The record index the DNS server and the HTTP API read. Sources publish records per owner (an app, a
// framework, the masters, …); the store merges them by name, collapses duplicates, and on each
// replacement patches only the names whose records changed and tells subscribers exactly those.
// An owner's update costs O(records of that owner), whatever the size of the rest.
import { NAMESERVER_OWNER, nameserverRecords } from './mesos-records.js';
import type { DnsRecord, OwnerRecords, RecordType } from './records.js';
import type { NameRecords, RecordView, SrvTarget } from './record-view.js';

export interface RecordStoreOptions {
  /** The authoritative domain, e.g. `mesos`. */
  domain: string;
  /** Initial SOA serial (default: Unix time now). */
  serial?: number;
  /**
   * PTR targets returned per name (default 8). An agent IP is the reverse name of every task on that
   * agent; a lookup returns the first ones published rather than thousands.
   */
  maxPtrTargets?: number;
}

/** How a source of records is doing, for `/health` and `/metrics`. */
export interface SourceStatus {
  /** `marathon`, `mesos`, … */
  name: string;
  /** The first full load is done. */
  ready: boolean;
  /** The records may be behind the cluster (source unreachable, stream down). */
  stale: boolean;
  staleSeconds: number;
  /** Epoch ms of the last successful sync or event applied. */
  lastUpdateAt?: number;
  lastError?: string;
}

/** `/v1/enumerate` shapes (Mesos-DNS `models.go`). */
export interface EnumerableRecord {
  name: string;
  host: string;
  rtype: 'A' | 'AAAA' | 'SRV';
}
export interface EnumerableTask {
  name: string;
  id: string;
  records: EnumerableRecord[];
}
export interface EnumerableFramework {
  name: string;
  tasks: EnumerableTask[];
}

export interface StoreStats {
  names: number;
  owners: number;
  tasks: number;
  records: Record<RecordType, number>;
  serial: number;
  /** Epoch ms of the last change (undefined before any). */
  lastChangeAt?: number;
}

// Type tags of values: 'A' (IPv4), '6' (IPv6), 'S' (SRV `target:port`), 'P' (PTR target).
const TAGS: Record<RecordType, string> = { A: 'A', AAAA: '6', SRV: 'S', PTR: 'P' };
const TYPES: Record<string, RecordType> = { A: 'A', '6': 'AAAA', S: 'SRV', P: 'PTR' };

/**
 * The values of one name, as compactly as V8 allows (240k names at 10,000 apps): the bare value when
 * the name has one value once (the common case); `[value, count, value, count, …]` for a few; a Map
 * value → count for many (an agent IP as the PTR name of hundreds of tasks). Values are stored bare:
 * their type follows from their shape (see `tagOf`).
 */
type NameEntry = string | (string | number)[] | Map<string, number>;

/** Distinct values kept in a pairs array before a Map takes over. */
const SMALL = 16;

/**
 * A flat copy of a string built by concatenation. V8 keeps `a + b` as a tree of the parts (32 bytes a
 * node, and the parts stay alive); names and values live as long as the records, so the store keeps
 * flat strings. `toLowerCase` returns a flat string and changes nothing here (names and values are
 * lower-case).
 */
function flat(s: string): string {
  return s.toLowerCase();
}

/**
 * What an owner publishes: the records, or a pure function returning them. A function is kept instead
 * of the records and called again when the owner is replaced or enumerated, so it must return the same
 * records every time (build them from immutable inputs). This keeps the store small: a Marathon app
 * costs two references instead of its few hundred record objects.
 */
export type OwnerInput = OwnerRecords | (() => OwnerRecords);

/** Sees each owner replacement: the records now (undefined when the owner publishes nothing) and before. */
export type OwnerWatcher = (owner: string, records: OwnerRecords | undefined, previous: OwnerRecords) => void;

const EMPTY: readonly never[] = Object.freeze([]);
const NO_OWNER: OwnerRecords = Object.freeze({ tasks: [], records: [] }) as OwnerRecords;

export class RecordStore implements RecordView {
  readonly domain: string;
  private currentSerial: number;
  private readonly maxPtrTargets: number;
  private readonly entries = new Map<string, NameEntry>();
  private readonly owners = new Map<string, OwnerInput>();
  private readonly listeners = new Set<(changed: ReadonlySet<string>) => void>();
  private readonly ownerWatchers = new Set<OwnerWatcher>();
  /** host name (`mysql.marathon.mesos`) → SRV names of its services. */
  private readonly srvByHost = new Map<string, string | string[]>();
  private readonly counts: Record<RecordType, number> = { A: 0, AAAA: 0, SRV: 0, PTR: 0 };
  private taskCount = 0;
  private batchDepth = 0;
  /** Names changed since the last notification (collected across a batch). */
  private pending?: Set<string>;
  /** Values that appeared or disappeared so far (tells replaceOwner whether it changed anything). */
  private valueChanges = 0;
  private lastChange?: number;

  constructor(opts: RecordStoreOptions) {
    this.domain = opts.domain.toLowerCase().replace(/\.$/, '');
    this.currentSerial = opts.serial ?? Math.floor(Date.now() / 1000);
    this.maxPtrTargets = opts.maxPtrTargets ?? 8;
  }

  get serial(): number {
    return this.currentSerial;
  }

  // ---------------------------------------------------------------------------------- RecordView

  lookup(name: string): NameRecords | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    // Built per call, not cached: the DNS server caches encoded answers itself, and 200k+ cached
    // snapshots would double the store's memory.
    return this.snapshotOf(entry);
  }

  names(): IterableIterator<string> {
    return this.entries.keys();
  }

  subscribe(listener: (changedNames: ReadonlySet<string>) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Calls `watcher` on every `replaceOwner`, with what the owner publishes now (undefined: nothing) and
   * what it published before: how another copy of the store is kept in step (record-replica.ts).
   */
  watchOwners(watcher: OwnerWatcher): () => void {
    this.ownerWatchers.add(watcher);
    return () => {
      this.ownerWatchers.delete(watcher);
    };
  }

  /** Takes the serial of the store this one copies (a worker's copy answers with the primary's serial). */
  setSerial(serial: number): void {
    this.currentSerial = serial >>> 0;
  }

  // ---------------------------------------------------------------------------------- updates

  /**
   * Replaces everything `owner` publishes. Only the names whose merged records change are touched and
   * reported to subscribers (at once, or at the end of the enclosing `batch`); the serial goes up by
   * one when anything changed. Returns whether anything changed.
   */
  replaceOwner(owner: string, input: OwnerInput | undefined): boolean {
    const stored = this.owners.get(owner);
    const previous = stored === undefined ? NO_OWNER : resolve(stored);
    const next = input === undefined ? undefined : resolve(input);
    const empty = !next || (next.records.length === 0 && next.tasks.length === 0 && next.framework === undefined);
    const incoming = empty ? NO_OWNER : next;
    const changed = (this.pending ??= new Set());
    const before = this.valueChanges;
    // Values are reference-counted per occurrence. Adding the new occurrences before removing the old
    // ones means a value present in both never drops to zero: only real appearances and disappearances
    // mark a name as changed.
    for (const task of incoming.tasks) this.addAll(task.records, changed);
    this.addAll(incoming.records, changed);
    for (const task of previous.tasks) this.removeAll(task.records, changed);
    this.removeAll(previous.records, changed);
    this.taskCount += incoming.tasks.length - previous.tasks.length;
    if (empty) this.owners.delete(owner);
    else this.owners.set(owner, input!);
    for (const watcher of this.ownerWatchers) watcher(owner, empty ? undefined : incoming, previous);
    const didChange = this.valueChanges !== before;
    if (this.batchDepth === 0) this.flush();
    return didChange;
  }

  removeOwner(owner: string): boolean {
    return this.replaceOwner(owner, undefined);
  }

  /** Runs `fn` (which may replace many owners) and notifies subscribers once, with one serial bump. */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      if (--this.batchDepth === 0) this.flush();
    }
  }

  ownerKeys(): IterableIterator<string> {
    return this.owners.keys();
  }

  getOwner(owner: string): OwnerRecords | undefined {
    const stored = this.owners.get(owner);
    return stored === undefined ? undefined : resolve(stored);
  }

  // ---------------------------------------------------------------------------------- reading

  stats(): StoreStats {
    return {
      names: this.entries.size,
      owners: this.owners.size,
      tasks: this.taskCount,
      records: { ...this.counts },
      serial: this.currentSerial,
      lastChangeAt: this.lastChange,
    };
  }

  /** Every value of `name` without the PTR cap, or undefined. */
  allValues(name: string): { type: RecordType; value: string }[] | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    return [...valuesOf(entry)].map((value) => ({ type: TYPES[tagOf(value)], value }));
  }

  /**
   * SRV names of the services of `host` (`mysql.marathon.mesos` → `_mysql._tcp.marathon.mesos`,
   * `_http._mysql._tcp.marathon.mesos`, …), sorted.
   */
  servicesOf(host: string): string[] {
    const names = this.srvByHost.get(host);
    return names === undefined ? [] : typeof names === 'string' ? [names] : [...names].sort();
  }

  /**
   * `/v1/enumerate`: frameworks (in the order first published) → running tasks → their A/AAAA/SRV
   * records. As in Mesos-DNS, a record is listed under the first task that produced it.
   */
  enumerate(): { frameworks: EnumerableFramework[] } {
    const frameworks = new Map<string, EnumerableFramework>();
    for (const { framework, tasks } of this.enumerateOwners()) {
      const entry = frameworks.get(framework);
      if (entry) entry.tasks.push(...tasks);
      else frameworks.set(framework, { name: framework, tasks });
    }
    return { frameworks: [...frameworks.values()] };
  }

  /** `enumerate()` one owner at a time (for callers that slice the work): its framework and tasks. */
  *enumerateOwners(): Generator<{ framework: string; tasks: EnumerableTask[] }> {
    const seen = new Set<string>();
    for (const stored of this.owners.values()) {
      const owner = resolve(stored);
      if (owner.framework === undefined) continue;
      const tasks: EnumerableTask[] = [];
      for (const task of owner.tasks) {
        const records: EnumerableRecord[] = [];
        for (const r of task.records) {
          if (r.type === 'PTR') continue;
          const key = `${r.name}\0${r.type}\0${r.value}`;
          if (seen.has(key)) continue;
          seen.add(key);
          records.push({ name: r.name + '.', host: r.type === 'SRV' ? srvHost(r.value) : r.value, rtype: r.type });
        }
        tasks.push({ name: task.name, id: task.id, records });
      }
      yield { framework: owner.framework, tasks };
    }
  }

  // ---------------------------------------------------------------------------------- internals

  private flush(): void {
    const changed = this.pending;
    this.pending = undefined;
    if (changed && changed.size > 0) this.publish(changed);
  }

  private publish(changed: Set<string>): void {
    this.currentSerial = (this.currentSerial + 1) >>> 0;
    this.lastChange = Date.now();
    for (const listener of this.listeners) {
      try {
        listener(changed);
      } catch {
        // A failing subscriber must not stop the others or the source that published.
      }
    }
  }

  private addAll(records: readonly DnsRecord[], changed: Set<string>): void {
    for (const r of records) {
      if (this.addValue(r.name, TAGS[r.type], r.value)) {
        changed.add(r.name);
        this.valueChanges++;
      }
    }
  }

  private removeAll(records: readonly DnsRecord[], changed: Set<string>): void {
    for (const r of records) {
      if (this.removeValue(r.name, TAGS[r.type], r.value)) {
        changed.add(r.name);
        this.valueChanges++;
      }
    }
  }

  /** Counts one occurrence of `tag+value` at `name`; true when the merged records of the name changed. */
  private addValue(name: string, tag: string, value: string): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      this.entries.set(flat(name), flat(value));
    } else if (typeof entry === 'string') {
      if (entry === value) {
        this.entries.set(name, [entry, 2]);
        return false;
      }
      this.entries.set(name, [entry, 1, flat(value), 1]);
    } else if (Array.isArray(entry)) {
      for (let i = 0; i < entry.length; i += 2) {
        if (entry[i] === value) {
          (entry[i + 1] as number)++;
          return false;
        }
      }
      if (entry.length < 2 * SMALL) {
        // Copied at the exact size: push() would reserve room for 16 more slots.
        const next = new Array<string | number>(entry.length + 2);
        for (let i = 0; i < entry.length; i++) next[i] = entry[i];
        next[entry.length] = flat(value);
        next[entry.length + 1] = 1;
        this.entries.set(name, next);
      } else {
        const map = new Map<string, number>();
        for (let i = 0; i < entry.length; i += 2) map.set(entry[i] as string, entry[i + 1] as number);
        map.set(flat(value), 1);
        this.entries.set(name, map);
      }
    } else {
      const count = entry.get(value);
      if (count !== undefined) {
        entry.set(value, count + 1);
        return false;
      }
      entry.set(flat(value), 1);
    }
    this.counts[TYPES[tag]]++;
    if (tag === 'S') this.indexService(name);
    return true;
  }

  private removeValue(name: string, tag: string, value: string): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined) return false;
    if (typeof entry === 'string') {
      if (entry !== value) return false;
      this.entries.delete(name);
    } else if (Array.isArray(entry)) {
      let i = 0;
      while (i < entry.length && entry[i] !== value) i += 2;
      if (i >= entry.length) return false;
      const count = entry[i + 1] as number;
      if (count > 1) {
        if (count === 2 && entry.length === 2) this.entries.set(name, entry[0] as string);
        else entry[i + 1] = count - 1;
        return false;
      }
      if (entry.length === 2) this.entries.delete(name);
      else if (entry.length === 4 && entry[3 - i] === 1) this.entries.set(name, entry[2 - i] as string);
      else {
        const next = new Array<string | number>(entry.length - 2);
        for (let j = 0, k = 0; j < entry.length; j += 2) {
          if (j === i) continue;
          next[k++] = entry[j];
          next[k++] = entry[j + 1];
        }
        this.entries.set(name, next);
      }
    } else {
      const count = entry.get(value);
      if (count === undefined) return false;
      if (count > 1) {
        entry.set(value, count - 1);
        return false;
      }
      entry.delete(value);
      if (entry.size <= SMALL / 2) {
        const next = new Array<string | number>(2 * entry.size);
        let k = 0;
        for (const [v, c] of entry) {
          next[k++] = v;
          next[k++] = c;
        }
        this.entries.set(name, next);
      }
    }
    this.counts[TYPES[tag]]--;
    if (tag === 'S' && !this.hasSrv(name)) this.unindexService(name);
    return true;
  }

  /** Whether `name` still has an SRV value. */
  private hasSrv(name: string): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined) return false;
    for (const value of valuesOf(entry)) if (tagOf(value) === 'S') return true;
    return false;
  }

  private indexService(name: string): void {
    const host = serviceHost(name);
    if (host === undefined) return;
    const names = this.srvByHost.get(host);
    if (names === undefined) this.srvByHost.set(host, name);
    else if (typeof names === 'string') {
      if (names !== name) this.srvByHost.set(host, [names, name]);
    } else if (!names.includes(name)) this.srvByHost.set(host, names.concat(name));
  }

  private unindexService(name: string): void {
    const host = serviceHost(name);
    if (host === undefined) return;
    const names = this.srvByHost.get(host);
    if (names === undefined) return;
    if (typeof names === 'string') {
      if (names === name) this.srvByHost.delete(host);
      return;
    }
    const rest = names.filter((n) => n !== name);
    if (rest.length === names.length) return;
    this.srvByHost.set(host, rest.length === 1 ? rest[0] : rest);
  }

  private snapshotOf(entry: NameEntry): NameRecords {
    if (typeof entry === 'string') {
      const one = [entry];
      switch (tagOf(entry)) {
        case 'A':
          return { a: one, aaaa: EMPTY, srv: EMPTY, ptr: EMPTY };
        case '6':
          return { a: EMPTY, aaaa: one, srv: EMPTY, ptr: EMPTY };
        case 'P':
          return { a: EMPTY, aaaa: EMPTY, srv: EMPTY, ptr: this.maxPtrTargets > 0 ? one : EMPTY };
      }
    }
    let a: string[] | undefined;
    let aaaa: string[] | undefined;
    let srv: SrvTarget[] | undefined;
    let ptr: string[] | undefined;
    for (const value of valuesOf(entry)) {
      switch (tagOf(value)) {
        case 'A':
          (a ??= []).push(value);
          break;
        case '6':
          (aaaa ??= []).push(value);
          break;
        case 'S': {
          const at = value.lastIndexOf(':');
          (srv ??= []).push({ target: value.slice(0, at), port: Number(value.slice(at + 1)) });
          break;
        }
        case 'P':
          if ((ptr ??= []).length < this.maxPtrTargets) ptr.push(value);
          break;
      }
    }
    return { a: a ?? EMPTY, aaaa: aaaa ?? EMPTY, srv: srv ?? EMPTY, ptr: ptr ?? EMPTY };
  }
}

/** The bare values of an entry, in the order they appeared. */
function* valuesOf(entry: NameEntry): IterableIterator<string> {
  if (typeof entry === 'string') yield entry;
  else if (Array.isArray(entry)) for (let i = 0; i < entry.length; i += 2) yield entry[i] as string;
  else yield* entry.keys();
}

/**
 * The type tag of a stored value from its shape: SRV values have exactly one `:` (`target:port`),
 * IPv6 addresses at least two, IPv4 addresses only digits and dots, PTR targets are names.
 */
function tagOf(value: string): string {
  const colon = value.indexOf(':');
  if (colon >= 0) return value.indexOf(':', colon + 1) < 0 ? 'S' : '6';
  return /^[\d.]+$/.test(value) ? 'A' : 'P';
}

function resolve(input: OwnerInput): OwnerRecords {
  return typeof input === 'function' ? input() : input;
}

function srvHost(value: string): string {
  const at = value.lastIndexOf(':');
  return `${value.slice(0, at)}.:${value.slice(at + 1)}`;
}

/**
 * The host an SRV name describes: `_T._tcp.rest` and `_port._T._tcp.rest` → `T.rest`; the legacy raw
 * name `_a.b._tcp.rest` → `a.b.rest`. Undefined when the name has no `_tcp`/`_udp` label.
 */
export function serviceHost(srvName: string): string | undefined {
  const labels = srvName.split('.');
  const proto = labels.findIndex((l, i) => i > 0 && (l === '_tcp' || l === '_udp'));
  if (proto < 1 || !labels[0].startsWith('_')) return undefined;
  let service = labels.slice(0, proto);
  if (service.length >= 2 && service[1].startsWith('_')) service = service.slice(1);
  return [service.join('.').slice(1), ...labels.slice(proto + 1)].join('.');
}


/** Publishes `SOAMname` → the listener IP(s) (Mesos-DNS's `ns1` record; see listener-addresses.ts) under the `nameserver` owner. */
export function publishNameserver(store: RecordStore, soaMname: string, addresses: string[]): void {
  store.replaceOwner(NAMESERVER_OWNER, { tasks: [], records: nameserverRecords(soaMname, addresses) });
}
