// Forwarding of names outside the domain: the query bytes go unchanged (but for the id over UDP),
// over the client's transport, to each upstream in turn (per-server timeout); the first reply is
// relayed as is. UDP queries share a few sockets per upstream, matched by id and question; the
// number of queries waiting for upstreams is capped.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { silentLogger, type Logger } from '@baton/marathon';
import type { Transport } from './metrics.js';

export interface Upstream {
  host: string;
  port: number;
}

/** Parses `ip`, `ip:port`, `[v6]:port` or a bare IPv6 address; undefined if it is none of them. */
export function parseUpstream(spec: string): Upstream | undefined {
  const s = spec.trim();
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) return net.isIPv6(bracket[1]) ? withPort(bracket[1], bracket[2]) : undefined;
  if (net.isIP(s)) return { host: s, port: 53 };
  const colon = s.lastIndexOf(':');
  if (colon > 0 && net.isIPv4(s.slice(0, colon))) return withPort(s.slice(0, colon), s.slice(colon + 1));
  return undefined;
}

function withPort(host: string, port: string | undefined): Upstream | undefined {
  if (port === undefined) return { host, port: 53 };
  if (!/^\d+$/.test(port)) return undefined;
  const p = Number(port);
  return p > 0 && p < 65536 ? { host, port: p } : undefined;
}

/** The `nameserver` lines of resolv.conf (a missing file gives none). */
export function systemResolvers(path = '/etc/resolv.conf'): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseUpstream(m[1])) out.push(m[1]);
  }
  return out;
}

export interface ForwarderOptions {
  /** Default upstreams (`ip` or `ip:port`); empty → the nameservers of /etc/resolv.conf. */
  resolvers: string[];
  /** Zone → upstreams, chosen by the longest matching suffix. */
  zoneResolvers?: Record<string, string[]>;
  /** Per-upstream timeout. */
  timeoutMs: number;
  /** Our own listening address, never used as an upstream (it would loop). */
  self?: Upstream;
  resolvConfPath?: string;
  logger?: Logger;
  /** Forwarded queries that may wait for upstreams at once; more are refused (default 1024). */
  maxPending?: number;
}

/** Default cap on forwarded queries waiting for upstreams (config `forwardMaxPending`). */
export const DEFAULT_FORWARD_MAX_PENDING = 1024;

/** UDP sockets per upstream, shared by the queries to it (spread over a few source ports). */
const SOCKETS_PER_UPSTREAM = 4;

interface Waiter {
  question: Buffer;
  done(err: Error | undefined, reply?: Buffer): void;
}

/** One UDP socket to one upstream; queries on it carry ids unique among those waiting on it. */
class SharedUdpSocket {
  readonly waiting = new Map<number, Waiter>();
  private socket: dgram.Socket | undefined;
  private connected = false;
  /** Queries sent while the socket connects. */
  private queued: [Buffer, (err: Error | null) => void][] = [];

  constructor(private readonly upstream: Upstream) {}

  /** Sends `query` (its id replaced by a free one); `done` gets the reply with the original id back. */
  send(query: Buffer, questionEnd: number, done: (err: Error | undefined, reply?: Buffer) => void): () => void {
    if (this.waiting.size >= 0x8000) {
      done(new Error('no free query id'));
      return () => {};
    }
    let id: number;
    do id = randomInt(0x10000);
    while (this.waiting.has(id));
    const originalId = query.readUInt16BE(0);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    const waiter: Waiter = {
      question: query.subarray(12, questionEnd),
      done: (err, reply) => {
        if (this.waiting.get(id) !== waiter) return;
        this.waiting.delete(id);
        if (reply) reply.writeUInt16BE(originalId, 0);
        done(err, reply);
      },
    };
    this.waiting.set(id, waiter);
    const sent = (err: Error | null) => {
      if (err) waiter.done(err);
    };
    const socket = this.open();
    if (this.connected) socket.send(out, sent);
    else this.queued.push([out, sent]);
    return () => {
      if (this.waiting.get(id) === waiter) this.waiting.delete(id);
    };
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    this.connected = false;
    this.queued = [];
  }

  private open(): dgram.Socket {
    if (this.socket) return this.socket;
    const socket = dgram.createSocket(net.isIPv6(this.upstream.host) ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('message', (reply) => {
      // A connected socket only receives from the upstream; id and question must be the query's.
      if (reply.length < 12) return;
      const waiter = this.waiting.get(reply.readUInt16BE(0));
      if (!waiter) return;
      const q = waiter.question;
      if (reply.length < 12 + q.length || reply.compare(q, 0, q.length, 12, 12 + q.length) !== 0) return;
      waiter.done(undefined, Buffer.from(reply));
    });
    socket.on('error', (err) => {
      // An ICMP error (port unreachable) is not tied to one query: every query on the socket fails over.
      if (this.socket === socket) {
        this.socket = undefined;
        this.connected = false;
        this.queued = [];
      }
      try {
        socket.close();
      } catch {
        // already closed
      }
      for (const waiter of [...this.waiting.values()]) waiter.done(err);
    });
    socket.connect(this.upstream.port, this.upstream.host, () => {
      if (this.socket !== socket) return;
      this.connected = true;
      const queued = this.queued;
      this.queued = [];
      for (const [msg, sent] of queued) socket.send(msg, sent);
    });
    return socket;
  }
}

export class Forwarder {
  private readonly defaults: Upstream[];
  private readonly zones: { suffix: string; zone: string; upstreams: Upstream[] }[];
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly pending = new Set<() => void>();
  private readonly udpSockets = new Map<string, { next: number; sockets: SharedUdpSocket[] }>();
  private readonly maxPending: number;
  private queries = 0;
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.logger = options.logger ?? silentLogger();
    this.timeoutMs = options.timeoutMs;
    this.maxPending = options.maxPending ?? DEFAULT_FORWARD_MAX_PENDING;
    const notSelf = (u: Upstream) =>
      !(options.self && u.port === options.self.port && u.host === options.self.host);
    const parse = (specs: string[]) =>
      specs.flatMap((spec) => {
        const u = parseUpstream(spec);
        if (!u) this.logger.warn({ resolver: spec }, 'ignoring resolver that is not ip or ip:port');
        return u && notSelf(u) ? [u] : [];
      });
    const resolvers = options.resolvers.length ? options.resolvers : systemResolvers(options.resolvConfPath);
    this.defaults = parse(resolvers);
    this.zones = Object.entries(options.zoneResolvers ?? {})
      .map(([zone, specs]) => {
        const z = zone.toLowerCase().replace(/\.$/, '');
        return { zone: z, suffix: `.${z}`, upstreams: parse(specs) };
      })
      .sort((a, b) => b.zone.length - a.zone.length);
  }

  /** Upstreams for `name` (lower-case, no trailing dot): the longest matching zone, else the defaults. */
  upstreamsFor(name: string): Upstream[] {
    for (const z of this.zones) if (name === z.zone || name.endsWith(z.suffix)) return z.upstreams;
    return this.defaults;
  }

  /** Queries waiting for upstreams now. */
  get pendingQueries(): number {
    return this.queries;
  }

  /** True when `maxPending` queries wait: `forward` would refuse another. */
  get full(): boolean {
    return this.queries >= this.maxPending;
  }

  /**
   * Sends `query` to each upstream for `name` in order until one answers; resolves with that
   * reply, or `undefined` when all failed or `full` (the caller answers SERVFAIL). Never rejects.
   * `questionEnd` (where the question section ends) lets UDP replies be matched by question too.
   */
  async forward(query: Buffer, name: string, transport: Transport, questionEnd = 12): Promise<Buffer | undefined> {
    if (this.full) return undefined;
    this.queries++;
    try {
      for (const upstream of this.upstreamsFor(name)) {
        if (this.closed) return undefined;
        try {
          return transport === 'udp' ? await this.exchangeUdp(query, questionEnd, upstream) : await this.exchangeTcp(query, upstream);
        } catch (err) {
          this.logger.debug({ upstream: `${upstream.host}:${upstream.port}`, name, err: (err as Error).message }, 'upstream failed');
        }
      }
      return undefined;
    } finally {
      this.queries--;
    }
  }

  /** Aborts exchanges in flight. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.pending]) abort();
    for (const { sockets } of this.udpSockets.values()) for (const s of sockets) s.close();
    this.udpSockets.clear();
  }

  private exchangeUdp(query: Buffer, questionEnd: number, upstream: Upstream): Promise<Buffer> {
    const key = `${upstream.host}|${upstream.port}`;
    let pool = this.udpSockets.get(key);
    if (!pool) {
      pool = { next: 0, sockets: Array.from({ length: SOCKETS_PER_UPSTREAM }, () => new SharedUdpSocket(upstream)) };
      this.udpSockets.set(key, pool);
    }
    const shared = pool.sockets[pool.next];
    pool.next = (pool.next + 1) % pool.sockets.length;
    let forget = () => {};
    return this.exchange(
      () => forget(),
      (finish) => {
        forget = shared.send(query, Math.max(12, questionEnd), finish);
      },
    );
  }

  private exchangeTcp(query: Buffer, upstream: Upstream): Promise<Buffer> {
    const socket = net.connect({ host: upstream.host, port: upstream.port });
    let received: Buffer = Buffer.alloc(0);
    return this.exchange(
      () => socket.destroy(),
      (finish) => {
        socket.on('error', (err) => finish(err));
        socket.on('close', () => finish(new Error('connection closed before a reply')));
        socket.on('connect', () => {
          const framed = Buffer.allocUnsafe(2 + query.length);
          framed.writeUInt16BE(query.length, 0);
          query.copy(framed, 2);
          socket.write(framed);
        });
        socket.on('data', (chunk: Buffer) => {
          received = received.length ? Buffer.concat([received, chunk]) : chunk;
          if (received.length < 2) return;
          const len = received.readUInt16BE(0);
          if (received.length >= 2 + len) finish(undefined, Buffer.from(received.subarray(2, 2 + len)));
        });
      },
    );
  }

  /**
   * One query/reply exchange with an upstream: settles once, on the first reply, error, timeout or
   * close of the forwarder, and releases the socket each time.
   */
  private exchange(
    release: () => void,
    run: (finish: (err: Error | undefined, reply?: Buffer) => void) => void,
  ): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, reply?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        release();
        if (err) reject(err);
        else resolve(reply!);
      };
      const abort = () => finish(new Error('forwarder closed'));
      this.pending.add(abort);
      const timer = setTimeout(() => finish(new Error(`timeout after ${this.timeoutMs} ms`)), this.timeoutMs);
      run(finish);
    });
  }
}
