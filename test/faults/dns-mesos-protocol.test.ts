// The real baton-dns bin on a wider Mesos state (packages/dns/test/fixtures/mesos-state-wide.json,
// served by a fake master on loopback), its agent and framework host names resolved through a DNS
// server on loopback (`hostnameResolvers`), so no lookup leaves the machine. Each Mesos-DNS class and
// each protocol rule (ANY, BADVERS, classes, response-rate limiting, enumeration) is checked over UDP
// and TCP with node:dns, raw packets and dig (dig tests are skipped when dig is not installed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { promisify } from 'node:util';
import { defaultDnsConfig } from '../../packages/dns/src/config.js';
import { taskHash } from '../../packages/dns/src/naming.js';
import { RecordStore } from '../../packages/dns/src/record-store.js';
import { startDnsServer, type DnsServer } from '../../packages/dns/src/server.js';
import { QTYPE, encodeQuery } from '../../packages/dns/src/wire.js';
import { decode, frame, tcpExchange, udpExchange } from '../../packages/dns/test/helpers/map-view.js';
import { BINS, ensureBuilt, repoDir, startBin, type RunningBin } from './hardening-helpers.js';
import { metric } from './fault-helpers.js';

const run = promisify(execFile);
const hasDig = spawnSync('dig', ['-v']).status === 0;
const FIXTURE = join(repoDir, 'packages/dns/test/fixtures/mesos-state-wide.json');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Dns {
  bin: RunningBin;
  port: number;
  http: number;
  resolver: Resolver;
}

let hosts: DnsServer;
/** The default bin: minimal ANY, no rate limit. */
let plain: Dns;
/** `minimalAny` off, response-rate limiting on (5/s, slip 2), enumeration off. */
let strict: Dns;

async function startDns(dir: string, name: string, config: Record<string, unknown>): Promise<Dns> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ HTTPListener: '127.0.0.1', externalon: false, resolvers: ['127.0.0.1:9'], ...config }));
  const bin = startBin(BINS.dns, ['--config', file, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--log-level', 'warn']);
  cleanups.push(() => bin.stop());
  const m = await bin.waitForLine(/udp\+tcp 127\.0\.0\.1:(\d+), http 127\.0\.0\.1:(\d+)/);
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([`127.0.0.1:${m[1]}`]);
  return { bin, port: Number(m[1]), http: Number(m[2]), resolver };
}

beforeAll(async () => {
  ensureBuilt('dns');
  // The host names of the state, on a DNS server of their own (baton's, for domain `example`).
  const store = new RecordStore({ domain: 'example' });
  store.replaceOwner('hosts', {
    tasks: [],
    records: [
      { name: 'agent-7.example', type: 'A', value: '10.0.7.7' },
      { name: 'agent-7.example', type: 'AAAA', value: 'fd00::7:7' },
      { name: 'kafka-sched.example', type: 'A', value: '10.0.9.1' },
      { name: 'spark-driver.example', type: 'A', value: '10.0.9.2' },
    ],
  });
  hosts = await startDnsServer({ config: { ...defaultDnsConfig(), listener: '127.0.0.1', port: 0, externalOn: false }, view: store });
  cleanups.push(() => hosts.close());

  const master: Server = createServer((req, res) => {
    if (req.url !== '/master/state') return res.writeHead(404).end();
    const port = (master.address() as AddressInfo).port;
    res.setHeader('content-type', 'application/json');
    res.end(readFileSync(FIXTURE, 'utf8').replace('master@127.0.0.1:5050', `master@127.0.0.1:${port}`));
  });
  await new Promise<void>((resolve) => master.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => master.close(resolve)));

  const dir = mkdtempSync(join(tmpdir(), 'baton-dns-mesos-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const common = {
    masters: [`127.0.0.1:${(master.address() as AddressInfo).port}`],
    hostnameResolvers: [`127.0.0.1:${hosts.udpPort}`],
    IPSources: ['netinfo', 'mesos', 'docker', 'host'],
    refreshSeconds: 60,
    timeout: 2,
  };
  [plain, strict] = await Promise.all([
    startDns(dir, 'plain', common),
    startDns(dir, 'strict', { ...common, minimalAny: false, rrlResponsesPerSecond: 5, rrlSlip: 2, EnumerationOn: false }),
  ]);
}, 120_000);

// --- clients ---------------------------------------------------------------------------------------

type RType = 'A' | 'AAAA' | 'SRV';

/** Values of `name`/`type` from a raw reply: addresses, or `target:port` for SRV; the rcode beside. */
function valuesOf(reply: Buffer | undefined): { rcode: number; values: string[] } {
  if (!reply) throw new Error('no reply');
  const d = decode(reply);
  const values = d.answers.map((a) => (a.target !== undefined ? `${String(a.target).replace(/\.$/, '')}:${a.port}` : String(a.address)));
  return { rcode: d.header.rcode, values: values.sort() };
}

let nextId = 1;
async function rawUdp(port: number, name: string, type: RType) {
  return valuesOf(await udpExchange(port, encodeQuery(nextId++, name, QTYPE[type])));
}
async function rawTcp(port: number, name: string, type: RType) {
  const { replies } = await tcpExchange(port, frame(encodeQuery(nextId++, name, QTYPE[type])), 1);
  return valuesOf(replies[0]);
}
async function nodeDns(resolver: Resolver, name: string, type: RType): Promise<string[]> {
  try {
    if (type === 'A') return (await resolver.resolve4(name)).sort();
    if (type === 'AAAA') return (await resolver.resolve6(name)).sort();
    return (await resolver.resolveSrv(name)).map((s) => `${s.name}:${s.port}`).sort();
  } catch (err) {
    if (['ENOTFOUND', 'ENODATA'].includes((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}
async function dig(port: number, ...args: string[]): Promise<{ status: string; values: string[]; text: string }> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', '+noall', '+comments', '+answer', ...args]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? '';
  const values = stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return f[3] === 'SRV' ? `${f[7].replace(/\.$/, '')}:${f[6]}` : f.slice(4).join(' ');
    });
  return { status, values: values.sort(), text: stdout };
}

// --- the Mesos-DNS classes ---------------------------------------------------------------------------

const broker0 = `broker-0-${taskHash('broker-0.1')}-s7.kafka.slave.mesos`;
const CLASSES: { what: string; name: string; type: RType; values: string[] }[] = [
  { what: '1. an agent whose pid holds a host name: slave.<domain> (A)', name: 'slave.mesos', type: 'A', values: ['10.0.1.1', '10.0.7.7'] },
  { what: '1. … and its resolved IPv6 address (AAAA)', name: 'slave.mesos', type: 'AAAA', values: ['fd00::7:7'] },
  { what: '1. a task on that agent (A, host IP source)', name: 'broker-0.kafka.mesos', type: 'A', values: ['10.0.7.7'] },
  { what: '1. the task’s SRV to its agent', name: '_broker-0._tcp.kafka.mesos', type: 'SRV', values: [`${broker0}:9092`] },
  { what: '1. a task on an agent whose host name does not resolve is absent', name: 'broker-1.kafka.mesos', type: 'A', values: [] },
  { what: '2. a framework pid with a host name: <framework>.<domain>', name: 'kafka.mesos', type: 'A', values: ['10.0.9.1'] },
  { what: '2. … and _framework._tcp.<framework>.<domain>', name: '_framework._tcp.kafka.mesos', type: 'SRV', values: ['kafka.mesos:9000'] },
  { what: '2. a framework without a pid, by its host name', name: 'spark.mesos', type: 'A', values: ['10.0.9.2'] },
  { what: '3. two TASK_RUNNING statuses with the same timestamp: the first', name: 'tie.kafka.mesos', type: 'A', values: ['192.168.3.1'] },
  { what: '4. a Mesos IP label given more than once: every value (A)', name: 'mesos-ip.kafka.mesos', type: 'A', values: ['172.18.0.5', '172.18.0.6'] },
  { what: '4. … (AAAA)', name: 'mesos-ip.kafka.mesos', type: 'AAAA', values: ['fd00::18:7'] },
  { what: '4. a Docker IP label given more than once: every value', name: 'docker-ip.kafka.mesos', type: 'A', values: ['172.17.0.5', '172.17.0.6'] },
  { what: '5. a discovery name with capitals (My_Web): answered, unlike Mesos-DNS', name: 'My_Web.kafka.mesos', type: 'A', values: ['192.168.4.1'] },
  { what: '5. … and its sanitised name, as Mesos-DNS', name: 'my-web.kafka.mesos', type: 'A', values: ['192.168.4.1'] },
];

describe('baton-dns on a wider Mesos state: the Mesos-DNS classes', () => {
  it('resolved the host names through the configured resolver only', () => {
    expect(hosts.metrics.totalQueries).toBeGreaterThan(0);
  });

  for (const c of CLASSES) {
    it(`${c.what}: node:dns over UDP, raw packets over UDP and TCP`, async () => {
      expect(await nodeDns(plain.resolver, c.name, c.type)).toEqual(c.values);
      const udp = await rawUdp(plain.port, c.name, c.type);
      const tcp = await rawTcp(plain.port, c.name, c.type);
      expect(udp.values).toEqual(c.values);
      expect(tcp.values).toEqual(c.values);
      expect(udp.rcode).toBe(tcp.rcode);
    });
  }

  describe.skipIf(!hasDig)(`with dig${hasDig ? '' : ' (skipped: dig is not installed)'}`, () => {
    for (const c of CLASSES) {
      it(`${c.what}: dig over UDP and TCP`, async () => {
        for (const transport of ['+notcp', '+tcp']) {
          const r = await dig(plain.port, transport, c.name, c.type);
          expect(r.values, r.text).toEqual(c.values);
          expect(r.status).toBe(c.values.length > 0 ? 'NOERROR' : 'NXDOMAIN');
        }
      });
    }
  });
});

// --- protocol hygiene --------------------------------------------------------------------------------

/** A query with the given class and, optionally, an OPT record of the given EDNS version. */
function query(id: number, name: string, qtype: number, opts: { qclass?: number; ednsVersion?: number } = {}): Buffer {
  const msg = encodeQuery(id, name, qtype, opts.ednsVersion === undefined ? {} : { ednsUdpSize: 4096 });
  const questionEnd = 12 + name.split('.').reduce((n, l) => n + 1 + l.length, 1) + 4;
  msg.writeUInt16BE(opts.qclass ?? 1, questionEnd - 2);
  if (opts.ednsVersion !== undefined) msg[questionEnd + 6] = opts.ednsVersion;
  return msg;
}

/** Header fields and the records of a reply, read by hand (HINFO and OPT's extended rcode included). */
function parse(reply: Buffer) {
  const skipName = (off: number): number => {
    for (;;) {
      const b = reply[off];
      if (b === 0) return off + 1;
      if ((b & 0xc0) === 0xc0) return off + 2;
      off += 1 + b;
    }
  };
  let off = skipName(12) + 4;
  const records: { type: number; ttl: number; rdata: Buffer; section: 'answer' | 'authority' | 'additional' }[] = [];
  const counts = [reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)];
  const sections = ['answer', 'authority', 'additional'] as const;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      off = skipName(off);
      const rdlen = reply.readUInt16BE(off + 8);
      records.push({ type: reply.readUInt16BE(off), ttl: reply.readUInt32BE(off + 4), rdata: reply.subarray(off + 10, off + 10 + rdlen), section: sections[s] });
      off += 10 + rdlen;
    }
  }
  const opt = records.find((r) => r.type === QTYPE.OPT);
  return {
    rcode: (reply[3] & 0x0f) | (opt ? (opt.ttl >>> 24) << 4 : 0),
    tc: (reply[2] & 0x02) !== 0,
    answers: records.filter((r) => r.section === 'answer'),
    authority: records.filter((r) => r.section === 'authority'),
    ednsVersion: opt ? (opt.ttl >>> 16) & 0xff : undefined,
  };
}

async function both(port: number, msg: Buffer): Promise<Buffer[]> {
  const udp = await udpExchange(port, msg);
  const { replies } = await tcpExchange(port, frame(msg), 1);
  if (!udp || !replies[0]) throw new Error('no reply');
  return [udp, replies[0]];
}

async function metricsOf(dns: Dns): Promise<string> {
  return (await fetch(`http://127.0.0.1:${dns.http}/metrics`)).text();
}

describe('baton-dns protocol hygiene', () => {
  it('answers ANY with one HINFO "RFC8482" record (RFC 8482), small whatever the name holds; NXDOMAIN stays', async () => {
    const ask = query(nextId++, 'mesos-ip.kafka.mesos', QTYPE.ANY, { ednsVersion: 0 });
    for (const reply of await both(plain.port, ask)) {
      const r = parse(reply);
      expect(r.rcode).toBe(0);
      expect(r.answers.map((a) => a.type)).toEqual([13]);
      expect(r.answers[0].rdata.toString('latin1')).toBe('\x07RFC8482\x00');
      expect(r.authority).toEqual([]);
      expect(reply.length).toBeLessThanOrEqual(ask.length + 25);
    }
    for (const reply of await both(plain.port, query(nextId++, 'nothing.kafka.mesos', QTYPE.ANY))) expect(parse(reply).rcode).toBe(3);
    // with minimalAny off, the whole Mesos-DNS answer: SRV + A + AAAA, and SOA and NS
    for (const reply of await both(strict.port, query(nextId++, 'mesos-ip.kafka.mesos', QTYPE.ANY, { ednsVersion: 0 }))) {
      const r = parse(reply);
      expect(r.answers.map((a) => a.type).sort()).toEqual([QTYPE.A, QTYPE.A, QTYPE.AAAA]);
      expect(r.authority.map((a) => a.type)).toEqual([QTYPE.SOA, QTYPE.NS]);
    }
  });

  it('answers BADVERS to an EDNS version above 0, with an OPT of version 0, and counts it', async () => {
    for (const reply of await both(plain.port, query(nextId++, 'kafka.mesos', QTYPE.A, { ednsVersion: 1 }))) {
      const r = parse(reply);
      expect(r.rcode).toBe(16);
      expect(r.ednsVersion).toBe(0);
      expect(r.answers).toEqual([]);
    }
    // version 0 is answered as usual
    for (const reply of await both(plain.port, query(nextId++, 'kafka.mesos', QTYPE.A, { ednsVersion: 0 }))) expect(parse(reply).answers).toHaveLength(1);
    const text = await metricsOf(plain);
    expect(metric(text, 'baton_dns_bad_version_total')).toBeGreaterThanOrEqual(2);
    expect(metric(text, 'baton_dns_queries_total', '{qtype="A",rcode="BADVERS"}')).toBeGreaterThanOrEqual(2);
  });

  it('refuses classes other than IN and ANY (CHAOS, Hesiod, NONE) and counts them; class ANY is answered', async () => {
    for (const qclass of [3, 4, 254]) {
      for (const reply of await both(plain.port, query(nextId++, 'kafka.mesos', QTYPE.A, { qclass }))) {
        const r = parse(reply);
        expect(r.rcode).toBe(5);
        expect(r.answers).toEqual([]);
      }
    }
    for (const reply of await both(plain.port, query(nextId++, 'kafka.mesos', QTYPE.A, { qclass: 255 }))) expect(parse(reply).answers).toHaveLength(1);
    expect(metric(await metricsOf(plain), 'baton_dns_bad_class_total')).toBeGreaterThanOrEqual(6);
  });

  it('limits UDP replies per client network when configured: slips every 2nd as TC, drops the rest; TCP is not limited', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    const replies: Buffer[] = [];
    socket.on('message', (m) => replies.push(m));
    let sendingSeconds = 0;
    const send = async (port: number, n: number) => {
      replies.length = 0;
      const started = performance.now();
      for (let i = 0; i < n; i++) await new Promise<void>((resolve) => socket.send(query(nextId++, 'kafka.mesos', QTYPE.A), port, '127.0.0.1', () => resolve()));
      sendingSeconds = (performance.now() - started) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return replies.map(parse);
    };
    // off by default: all 40 answered
    const unlimited = await send(plain.port, 40);
    expect(unlimited.filter((r) => r.answers.length === 1)).toHaveLength(40);
    const limited = await send(strict.port, 40);
    const answered = limited.filter((r) => r.answers.length === 1 && !r.tc).length;
    const slipped = limited.filter((r) => r.tc && r.answers.length === 0).length;
    expect(answered).toBeGreaterThanOrEqual(5);
    expect(answered).toBeLessThanOrEqual(5 + Math.ceil(5 * sendingSeconds) + 1); // a second's worth, refilled at 5/s while sending
    expect(slipped).toBeGreaterThanOrEqual(Math.floor((40 - answered) / 2) - 1); // every 2nd over the rate
    expect(slipped).toBeGreaterThan(0);
    expect(answered + slipped).toBeLessThan(40);
    // TCP from the same network: every query answered
    const { replies: tcp } = await tcpExchange(strict.port, frame(...Array.from({ length: 20 }, () => query(nextId++, 'kafka.mesos', QTYPE.A))), 20);
    expect(tcp.map(parse).filter((r) => r.answers.length === 1)).toHaveLength(20);
    // node:dns, on a slipped (TC) reply, asks again over TCP and gets its answer
    for (let i = 0; i < 10; i++) expect(await strict.resolver.resolve4('kafka.mesos')).toEqual(['10.0.9.1']);
    const text = await metricsOf(strict);
    expect(metric(text, 'baton_dns_rate_limited_total', '{action="drop"}')).toBeGreaterThan(0);
    expect(metric(text, 'baton_dns_rate_limited_total', '{action="slip"}')).toBeGreaterThanOrEqual(slipped);
    expect(metric(await metricsOf(plain), 'baton_dns_rate_limited_total', '{action="drop"}')).toBe(0);
  });

  it('serves /v1/axfr and /v1/enumerate unless EnumerationOn is false', async () => {
    for (const path of ['/v1/axfr', '/v1/enumerate']) {
      expect((await fetch(`http://127.0.0.1:${plain.http}${path}`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${strict.http}${path}`)).status).toBe(404);
    }
  });

  describe.skipIf(!hasDig)(`with dig${hasDig ? '' : ' (skipped: dig is not installed)'}`, () => {
    it('ANY, BADVERS and classes over UDP and TCP', async () => {
      for (const transport of ['+notcp', '+tcp']) {
        const any = await dig(plain.port, transport, 'mesos-ip.kafka.mesos', 'ANY');
        expect(any.values, any.text).toEqual(['"RFC8482" ""']);
        expect((await dig(plain.port, transport, '+edns=1', '+noednsnegotiation', 'kafka.mesos', 'A')).status).toBe('BADVERS');
        expect((await dig(plain.port, transport, 'CH', 'TXT', 'version.bind')).status).toBe('REFUSED');
        expect((await dig(plain.port, transport, '-c', 'HS', 'kafka.mesos', 'A')).status).toBe('REFUSED');
        const full = await dig(strict.port, transport, 'mesos-ip.kafka.mesos', 'ANY');
        expect(full.values, full.text).toEqual(['172.18.0.5', '172.18.0.6', 'fd00::18:7']);
      }
    });
  });
});
