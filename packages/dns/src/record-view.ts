// What the DNS server and the HTTP API read: the records of the domain, by owner name.
// Names are lower-case FQDNs without the trailing dot (`meter.marathon.mesos`).

export interface SrvTarget {
  /** Lower-case FQDN without the trailing dot, e.g. `meter-ab3kd-s1.marathon.slave.mesos`. */
  target: string;
  port: number;
}

export interface NameRecords {
  a: readonly string[];
  aaaa: readonly string[];
  srv: readonly SrvTarget[];
  /** PTR targets (owner names like `4.3.2.1.in-addr.arpa`), lower-case FQDNs without the trailing dot. */
  ptr: readonly string[];
}

export interface RecordView {
  /** The authoritative domain, lower-case, e.g. `mesos`. */
  readonly domain: string;
  /** SOA serial; changes whenever any record changes. */
  readonly serial: number;
  /** Records owned by `name` (already lower-case, no trailing dot), or undefined when the name has none. */
  lookup(name: string): NameRecords | undefined;
  names(): IterableIterator<string>;
  /** Called synchronously after each change with exactly the owner names whose records changed. */
  subscribe(listener: (changedNames: ReadonlySet<string>) => void): () => void;
}
