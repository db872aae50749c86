// A tiny in-memory RecordView for the server's tests, plus a complete test configuration and
// helpers to exchange raw DNS messages over UDP/TCP on loopback.
import dgram from 'node:dgram';
import net from 'node:net';
import { Packet } from 'dns2';
import type { NameRecords, RecordView } from '../../src/record-view.js';
import type { ServerConfig } from '../../src/server.js';

export class MapView implements RecordView {
  readonly domain: string;
  serial = 1000;
  private readonly records = new Map<string, NameRecords>();
  private readonly listeners = new Set<(changed: ReadonlySet<string>) => void>();

  constructor(domain = 'mesos') {
    this.domain = domain;
  }

  lookup(name: string): NameRecords | undefined {
    return this.records.get(name);
  }

  names(): IterableIterator<string> {
    return this.records.keys();
  }

  /** Sets (or with `undefined`, removes) the records of `name` and notifies subscribers. */
  set(name: string, recs: Partial<NameRecords> | undefined): void {
    if (recs) this.records.set(name, { a: [], aaaa: [], srv: [], ptr: [], ...recs });
    else this.records.delete(name);
    this.serial++;
    for (const l of this.listeners) l(new Set([name]));
  }

  subscribe(listener: (changed: ReadonlySet<string>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    ttl: 60,
    srvRecordDefaultWeight: 1,
    soaMname: 'ns1.mesos',
    soaRname: 'root.ns1.mesos',
    soaRefresh: 60,
    soaRetry: 600,
    soaExpire: 86400,
    recurseOn: true,
    setTruncateBit: true,
    maxUdpPayload: 4096,
    listener: '127.0.0.1',
    port: 0,
    externalOn: true,
    resolvers: [],
    zoneResolvers: {},
    timeoutSeconds: 2,
    forwardAllowedNetworks: ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
    minimalAny: false, // Mesos-DNS's ANY; the RFC 8482 default is tested on its own
    rrlResponsesPerSecond: 0,
    rrlSlip: 2,
    rrlIpv4PrefixLength: 24,
    rrlIpv6PrefixLength: 56,
    ...overrides,
  };
}

/** Sends `msg` over UDP and resolves with the first reply, or `undefined` after `timeoutMs`. */
export function udpExchange(port: number, msg: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.send(msg, port, '127.0.0.1');
  });
}

/** Sends length-framed `msgs` on one TCP connection; resolves with the replies and whether the server closed. */
export function tcpExchange(
  port: number,
  raw: Buffer,
  expectedReplies: number,
  timeoutMs = 3000,
): Promise<{ replies: Buffer[]; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ replies, closedByServer });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write(raw));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= expectedReplies) done(false);
    });
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
  });
}

export function frame(...msgs: Buffer[]): Buffer {
  return Buffer.concat(
    msgs.flatMap((m) => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(m.length);
      return [len, m];
    }),
  );
}

export interface Decoded {
  header: { id: number; qr: number; aa: number; tc: number; rd: number; ra: number; rcode: number; qdcount: number; ancount: number; nscount: number; arcount: number };
  questions: { name: string; type: number }[];
  answers: Record<string, unknown>[];
  authorities: Record<string, unknown>[];
  additionals: Record<string, unknown>[];
}

export function decode(reply: Buffer): Decoded {
  return Packet.parse(reply) as unknown as Decoded;
}
