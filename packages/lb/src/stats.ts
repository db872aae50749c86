// Traffic counters per frontend (listener), backend and server, as HAProxy's stats page shows them.
// Plain objects with numbers: the request path only increments fields.

export class Counters {
  /** Current sessions (open connections for frontends and TCP, in-flight requests for HTTP backends). */
  scur = 0;
  /** Total sessions (connections or requests). */
  stot = 0;
  /** Bytes received from clients. */
  bin = 0;
  /** Bytes sent to clients. */
  bout = 0;
  /** Request errors (bad requests, denied, no route). */
  ereq = 0;
  /** Connection errors towards servers. */
  econ = 0;
  /** Response errors (timeouts, resets after connect). */
  eresp = 0;
  /** Responses by status class: index 1..5 = 1xx..5xx, 0 = other. */
  readonly hrsp: number[] = [0, 0, 0, 0, 0, 0];

  countStatus(status: number): void {
    const cls = (status / 100) | 0;
    this.hrsp[cls >= 1 && cls <= 5 ? cls : 0]++;
  }
}

export class LbStats {
  readonly frontends = new Map<string, Counters>();
  readonly backends = new Map<string, Counters>();
  readonly servers = new Map<string, Counters>();
  /** Connections closed for want of a valid PROXY protocol header within its deadline. */
  proxyHeaderRefused = 0;

  frontend(name: string): Counters {
    let c = this.frontends.get(name);
    if (c === undefined) this.frontends.set(name, (c = new Counters()));
    return c;
  }

  backend(name: string): Counters {
    let c = this.backends.get(name);
    if (c === undefined) this.backends.set(name, (c = new Counters()));
    return c;
  }

  server(id: string): Counters {
    let c = this.servers.get(id);
    if (c === undefined) this.servers.set(id, (c = new Counters()));
    return c;
  }

  /** Drops counters of backends and servers that left the table and have nothing in flight. */
  retain(backendNames: ReadonlySet<string>, serverIds: ReadonlySet<string>): void {
    for (const [name, c] of this.backends) if (!backendNames.has(name) && c.scur === 0) this.backends.delete(name);
    for (const [id, c] of this.servers) if (!serverIds.has(id) && c.scur === 0) this.servers.delete(id);
  }
}

/** Counters as plain data (for a worker's report to the primary). */
export interface CountersData {
  scur: number;
  stot: number;
  bin: number;
  bout: number;
  ereq: number;
  econ: number;
  eresp: number;
  hrsp: number[];
}

export interface LbStatsData {
  frontends: [string, CountersData][];
  backends: [string, CountersData][];
  servers: [string, CountersData][];
  proxyHeaderRefused: number;
}

function countersData(c: Counters): CountersData {
  return { scur: c.scur, stot: c.stot, bin: c.bin, bout: c.bout, ereq: c.ereq, econ: c.econ, eresp: c.eresp, hrsp: [...c.hrsp] };
}

export function statsData(stats: LbStats): LbStatsData {
  const all = (map: Map<string, Counters>): [string, CountersData][] => [...map].map(([key, c]): [string, CountersData] => [key, countersData(c)]);
  return { frontends: all(stats.frontends), backends: all(stats.backends), servers: all(stats.servers), proxyHeaderRefused: stats.proxyHeaderRefused };
}

/** The counters of a process that is gone: its totals stay, no session of it is open. */
export function withoutSessions(data: LbStatsData): LbStatsData {
  const closed = ([key, c]: [string, CountersData]): [string, CountersData] => [key, { ...c, scur: 0 }];
  return { frontends: data.frontends.map(closed), backends: data.backends.map(closed), servers: data.servers.map(closed), proxyHeaderRefused: data.proxyHeaderRefused };
}

/** The sum of several processes' counters (the workers of one load balancer). */
export function sumStats(parts: readonly LbStatsData[]): LbStats {
  const sum = new LbStats();
  const add = (target: Counters, c: CountersData): void => {
    target.scur += c.scur;
    target.stot += c.stot;
    target.bin += c.bin;
    target.bout += c.bout;
    target.ereq += c.ereq;
    target.econ += c.econ;
    target.eresp += c.eresp;
    for (let i = 0; i < target.hrsp.length; i++) target.hrsp[i] += c.hrsp[i] ?? 0;
  };
  for (const part of parts) {
    for (const [name, c] of part.frontends) add(sum.frontend(name), c);
    for (const [name, c] of part.backends) add(sum.backend(name), c);
    for (const [id, c] of part.servers) add(sum.server(id), c);
    sum.proxyHeaderRefused += part.proxyHeaderRefused;
  }
  return sum;
}
