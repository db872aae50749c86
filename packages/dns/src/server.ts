// The DNS server: UDP and TCP on one port. In-domain queries are answered from pre-encoded
// replies (answers.ts) synchronously; other names go to the forwarder when the client may use it.
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '@baton/marathon';
import type { DnsConfig } from './config.js';
import type { RecordView } from './record-view.js';
import { Answers, udpReplyLimit, type AnswerConfig } from './answers.js';
import { Forwarder } from './forwarder.js';
import { DEFAULT_TCP_LIMITS, serveTcpMessages, type TcpLimits } from './tcp-connection.js';
import { DnsMetrics, type Transport } from './metrics.js';
import { HEADER_SIZE, MAX_MESSAGE_SIZE, QueryFields, RCODE, encodeEmptyReply, readQuery } from './wire.js';
import { MIN_UDP_SIZE, QCLASS, encodeBadVersReply } from './wire.js';
import { udpRateGate, type RateLimitConfig } from './rate-limit.js';

export type ServerConfig = AnswerConfig &
  Pick<
    DnsConfig,
    'listener' | 'port' | 'externalOn' | 'resolvers' | 'zoneResolvers' | 'timeoutSeconds' | 'forwardAllowedNetworks'
  > &
  RateLimitConfig &
  Partial<Pick<DnsConfig, 'forwardMaxPending'>>;

export interface DnsServerOptions {
  config: ServerConfig;
  view: RecordView;
  logger?: Logger;
  metrics?: DnsMetrics;
  /** Replaces the forwarder built from the config (tests). */
  forwarder?: Forwarder;
  /** A TCP connection with no message starting for this long is closed (default 10 s). */
  tcpIdleTimeoutMs?: number;
  /** The other TCP bounds (defaults: DEFAULT_TCP_LIMITS). */
  tcpLimits?: Partial<TcpLimits>;
  /** Where default upstreams come from when `resolvers` is empty (default /etc/resolv.conf). */
  resolvConfPath?: string;
}

export interface DnsServer {
  readonly address: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly answers: Answers;
  readonly metrics: DnsMetrics;
  close(): Promise<void>;
}

/** Longest TCP query accepted; anything longer is not a DNS query, and its connection is closed. */
export const MAX_TCP_QUERY = DEFAULT_TCP_LIMITS.maxMessage;

/** Builds a BlockList of the CIDRs (`10.0.0.0/8`, `::1/128`, bare addresses); bad entries are reported. */
export function networkList(cidrs: string[], onInvalid: (cidr: string) => void = () => {}): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [addr, prefixText, extra] = cidr.trim().split('/');
    const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : undefined;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
      onInvalid(cidr);
      continue;
    }
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

function isAllowed(list: net.BlockList, address: string): boolean {
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) address = address.slice(7);
  return list.check(address, net.isIPv4(address) ? 'ipv4' : 'ipv6');
}

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const { config, view } = options;
  const logger = options.logger ?? silentLogger();
  const metrics = options.metrics ?? new DnsMetrics();
  const answers = new Answers(view, config);
  const allowed = networkList(config.forwardAllowedNetworks, (cidr) =>
    logger.warn({ network: cidr }, 'ignoring invalid entry of forwardAllowedNetworks'),
  );
  const tcpLimits: TcpLimits = { ...DEFAULT_TCP_LIMITS, ...options.tcpLimits };
  if (options.tcpIdleTimeoutMs !== undefined) tcpLimits.idleMs = options.tcpIdleTimeoutMs;
  const maxUdp = config.maxUdpPayload;
  const q = new QueryFields();
  const withinRate = udpRateGate(config, metrics);
  let forwarder = options.forwarder;
  metrics.gauges = () => ({ cache: answers.stats(), forwardPending: forwarder?.pendingQueries ?? 0 });

  /**
   * Handles one message: the reply now (a Buffer), later (forwarding: a Promise), or `undefined`
   * (dropped). Never throws.
   */
  const handle = (msg: Buffer, transport: Transport, client: string): Buffer | Promise<Buffer> | undefined => {
    const started = performance.now();
    let questionEnd = 0;
    try {
      const err = readQuery(msg, q);
      questionEnd = q.questionEnd;
      if (err !== undefined) {
        metrics.malformed++;
        logger.debug({ client, transport, error: err }, 'malformed query');
        if (err === 'short-header' || err === 'not-a-query') return undefined; // nothing to answer / never answer a response
        metrics.query(0, RCODE.FORMERR, (performance.now() - started) / 1000);
        return encodeEmptyReply(msg, 0, RCODE.FORMERR, config.recurseOn);
      }
      const qtype = q.qtype;
      if (q.opcode !== 0) {
        metrics.query(qtype, RCODE.NOTIMP, (performance.now() - started) / 1000);
        return encodeEmptyReply(msg, questionEnd, RCODE.NOTIMP, config.recurseOn);
      }
      // As NSD: an EDNS version we do not speak, then a class other than IN or ANY.
      if (q.ednsPresent && q.ednsVersion > 0) {
        metrics.badVersion++;
        metrics.query(qtype, RCODE.BADVERS, (performance.now() - started) / 1000);
        return encodeBadVersReply(msg, questionEnd, config.recurseOn, Math.max(MIN_UDP_SIZE, maxUdp), q.ednsDo);
      }
      if (q.qclass !== QCLASS.IN && q.qclass !== QCLASS.ANY) {
        metrics.badClass++;
        metrics.query(qtype, RCODE.REFUSED, (performance.now() - started) / 1000);
        return encodeEmptyReply(msg, questionEnd, RCODE.REFUSED, config.recurseOn);
      }
      if (answers.isAuthoritative(q.name)) {
        const reply = answers.reply(msg, q, transport === 'udp' ? udpReplyLimit(q, maxUdp) : MAX_MESSAGE_SIZE);
        if (reply[2] & 0x02) metrics.truncated++;
        metrics.query(qtype, reply[3] & 0x0f, (performance.now() - started) / 1000);
        return reply;
      }
      if (!config.externalOn || !isAllowed(allowed, client)) {
        metrics.refused++;
        metrics.query(qtype, RCODE.REFUSED, (performance.now() - started) / 1000);
        return encodeEmptyReply(msg, questionEnd, RCODE.REFUSED, config.recurseOn);
      }
      forwarder ??= new Forwarder({
        resolvers: config.resolvers,
        zoneResolvers: config.zoneResolvers,
        timeoutMs: config.timeoutSeconds * 1000,
        self: { host: config.listener, port: udpPort },
        resolvConfPath: options.resolvConfPath,
        logger,
        maxPending: config.forwardMaxPending,
      });
      if (forwarder.full) {
        metrics.forwardRejected++;
        metrics.query(qtype, RCODE.SERVFAIL, (performance.now() - started) / 1000);
        return encodeEmptyReply(msg, questionEnd, RCODE.SERVFAIL, config.recurseOn);
      }
      metrics.forwarded(transport);
      return forwarder.forward(msg, q.name, transport, questionEnd).then((reply) => {
        if (!reply) {
          metrics.forwardFailures++;
          reply = encodeEmptyReply(msg, questionEnd, RCODE.SERVFAIL, config.recurseOn);
        }
        metrics.query(qtype, reply[3] & 0x0f, (performance.now() - started) / 1000);
        return reply;
      });
    } catch (err) {
      logger.error({ err, client, transport }, 'failed to answer a query');
      return msg.length >= HEADER_SIZE ? encodeEmptyReply(msg, questionEnd, RCODE.SERVFAIL, config.recurseOn) : undefined;
    }
  };

  const connections = new Set<net.Socket>();
  function serveTcpConnection(socket: net.Socket): void {
    metrics.tcpConnections++;
    connections.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    const client = socket.remoteAddress ?? '';
    serveTcpMessages(socket, (msg) => handle(msg, 'tcp', client), tcpLimits, (length) => {
      metrics.malformed++;
      logger.debug({ client, length }, 'closing tcp connection: impossible message length');
    });
  }

  const address = config.listener;
  let udp!: dgram.Socket;
  let tcp!: net.Server;
  let udpPort = 0;
  for (let attempt = 0; ; attempt++) {
    const family = net.isIPv6(address) ? 6 : 4;
    // Replies go to the address the query came from, always an IP literal: resolve it in place
    // rather than through dns.lookup's extra tick per datagram.
    const u = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      lookup: (host: string, _opts: unknown, cb: (err: null, address: string, family: number) => void) => cb(null, host, family),
    } as dgram.SocketOptions);
    u.on('message', (msg, rinfo) => {
      if (withinRate && !withinRate(msg, rinfo.address, (r) => u.send(r, rinfo.port, rinfo.address))) return;
      const reply = handle(msg, 'udp', rinfo.address);
      if (reply instanceof Promise) void reply.then((r) => u.send(r, rinfo.port, rinfo.address));
      else if (reply) u.send(reply, rinfo.port, rinfo.address);
    });
    const t = net.createServer(serveTcpConnection);
    try {
      udpPort = await new Promise<number>((resolve, reject) => {
        u.once('error', reject);
        u.bind(config.port, address, () => {
          u.off('error', reject);
          resolve(u.address().port);
        });
      });
      await new Promise<void>((resolve, reject) => {
        t.once('error', reject);
        t.listen(udpPort, address, () => {
          t.off('error', reject);
          resolve();
        });
      });
      udp = u;
      tcp = t;
      break;
    } catch (err) {
      u.close();
      t.close();
      // With an ephemeral port the TCP side of it may be taken: pick another pair.
      if (config.port !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        answers.close();
        throw err;
      }
    }
  }
  udp.on('error', (err) => logger.warn({ err }, 'udp socket error'));
  tcp.on('error', (err) => logger.warn({ err }, 'tcp server error'));
  try {
    udp.setRecvBufferSize(4 * 1024 * 1024);
    udp.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the system maximum applies
  }

  let closed = false;
  return {
    address,
    udpPort,
    tcpPort: udpPort,
    answers,
    metrics,
    async close() {
      if (closed) return;
      closed = true;
      answers.close();
      forwarder?.close();
      for (const s of connections) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
