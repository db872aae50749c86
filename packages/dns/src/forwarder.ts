// Forwarding of names outside the domain: the query bytes go unchanged, over the client's
// transport, to each upstream in turn (per-server timeout); the first reply is relayed as is.
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
}

export class Forwarder {
  private readonly defaults: Upstream[];
  private readonly zones: { suffix: string; zone: string; upstreams: Upstream[] }[];
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly pending = new Set<() => void>();
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.logger = options.logger ?? silentLogger();
    this.timeoutMs = options.timeoutMs;
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

  /**
   * Sends `query` to each upstream for `name` in order until one answers; resolves with that
   * reply, or `undefined` when all failed (the caller answers SERVFAIL). Never rejects.
   */
  async forward(query: Buffer, name: string, transport: Transport): Promise<Buffer | undefined> {
    for (const upstream of this.upstreamsFor(name)) {
      if (this.closed) return undefined;
      try {
        return transport === 'udp' ? await this.exchangeUdp(query, upstream) : await this.exchangeTcp(query, upstream);
      } catch (err) {
        this.logger.debug({ upstream: `${upstream.host}:${upstream.port}`, name, err: (err as Error).message }, 'upstream failed');
      }
    }
    return undefined;
  }

  /** Aborts exchanges in flight. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.pending]) abort();
  }

  private exchangeUdp(query: Buffer, upstream: Upstream): Promise<Buffer> {
    const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
    return this.exchange(
      () => socket.close(),
      (finish, done) => {
        socket.on('error', (err) => finish(err));
        socket.on('message', (reply) => {
          // A connected socket only receives from the upstream; the id must be the query's.
          if (reply.length >= 12 && reply[0] === query[0] && reply[1] === query[1]) finish(undefined, reply);
        });
        socket.connect(upstream.port, upstream.host, () => {
          if (done()) return;
          socket.send(query, (err) => {
            if (err) finish(err);
          });
        });
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
    run: (finish: (err: Error | undefined, reply?: Buffer) => void, done: () => boolean) => void,
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
      run(finish, () => settled);
    });
  }
}
