// The DNS server over real sockets on loopback, queried with Node's resolver, dig and raw packets:
// answers, truncation and TCP fallback, EDNS0, malformed input, TCP framing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { startDnsServer, type DnsServer } from '../src/server.js';
import { DnsMetrics } from '../src/metrics.js';
import { QTYPE, RCODE, encodeQuery } from '../src/wire.js';
import { MapView, decode, frame, tcpExchange, testConfig, udpExchange } from './helpers/map-view.js';

const run = promisify(execFile);
const hasDig = spawnSync('dig', ['-v']).status === 0;

let server: DnsServer;
let view: MapView;
let resolver: Resolver;
const metrics = new DnsMetrics();

beforeAll(async () => {
  view = new MapView('mesos');
  view.set('web.marathon.mesos', { a: ['10.0.0.1', '10.0.0.2'] });
  view.set('v6.marathon.mesos', { aaaa: ['fd00::1', '2001:db8::2'] });
  view.set('_web._tcp.marathon.mesos', { srv: [{ target: 'web-a-s1.marathon.slave.mesos', port: 31000 }] });
  view.set('web-a-s1.marathon.slave.mesos', { a: ['127.0.1.1'] });
  const srv = Array.from({ length: 40 }, (_, i) => ({ target: `big-${i}-s${i}.marathon.slave.mesos`, port: 31000 + i }));
  view.set('_big._tcp.marathon.mesos', { srv });
  for (let i = 0; i < 40; i++) view.set(`big-${i}-s${i}.marathon.slave.mesos`, { a: [`10.3.0.${i}`] });
  view.set('1.0.0.10.in-addr.arpa', { ptr: ['web.marathon.mesos'] });
  server = await startDnsServer({ config: testConfig({ externalOn: false }), view, metrics, tcpIdleTimeoutMs: 2000 });
  resolver = new Resolver({ timeout: 3000, tries: 2 });
  resolver.setServers([`127.0.0.1:${server.udpPort}`]);
});
afterAll(async () => {
  await server?.close();
});

describe('baton-dns server queried with node:dns', () => {
  it('listens on one port number for UDP and TCP', () => {
    expect(server.udpPort).toBeGreaterThan(0);
    expect(server.tcpPort).toBe(server.udpPort);
  });

  it('resolves A, AAAA, SRV and PTR', async () => {
    expect((await resolver.resolve4('web.marathon.mesos')).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect((await resolver.resolve6('v6.marathon.mesos')).sort()).toEqual(['2001:db8::2', 'fd00::1']);
    expect(await resolver.resolveSrv('_web._tcp.marathon.mesos')).toMatchObject([
      { name: 'web-a-s1.marathon.slave.mesos', port: 31000, priority: 0, weight: 1 },
    ]);
    expect(await resolver.reverse('10.0.0.1')).toEqual(['web.marathon.mesos']);
  });

  it('says ENOTFOUND for unknown names and ENODATA for names with other records', async () => {
    await expect(resolver.resolve4('nope.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('web.marathon.mesos')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('gets the full answer of a large SRV set by falling back to TCP after TC', async () => {
    const records = await resolver.resolveSrv('_big._tcp.marathon.mesos');
    expect(records).toHaveLength(40);
    const udpReply = decode((await udpExchange(server.udpPort, encodeQuery(1, '_big._tcp.marathon.mesos', QTYPE.SRV)))!);
    expect(udpReply.header.tc).toBe(1);
    expect(udpReply.header.ancount).toBeLessThan(40);
  });

  it('refuses names outside the domain when forwarding is off', async () => {
    await expect(resolver.resolve4('example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
  });
});

describe('raw messages', () => {
  it('answers a large SRV set in full over UDP when the client allows 4096 bytes', async () => {
    const raw = (await udpExchange(server.udpPort, encodeQuery(2, '_big._tcp.marathon.mesos', QTYPE.SRV, { ednsUdpSize: 4096 })))!;
    const r = decode(raw);
    expect(raw.length).toBeGreaterThan(512);
    expect(r.header).toMatchObject({ tc: 0, ancount: 40, arcount: 41 });
  });

  it('answers several pipelined queries on one TCP connection', async () => {
    const { replies } = await tcpExchange(
      server.tcpPort,
      frame(encodeQuery(11, 'web.marathon.mesos', QTYPE.A), encodeQuery(12, '_big._tcp.marathon.mesos', QTYPE.SRV), encodeQuery(13, 'x.mesos', QTYPE.A)),
      3,
    );
    const byId = new Map(replies.map((r) => [decode(r).header.id, decode(r)]));
    expect(byId.get(11)!.header.ancount).toBe(2);
    expect(byId.get(12)!.header).toMatchObject({ tc: 0, ancount: 40, arcount: 40 });
    expect(byId.get(13)!.header.rcode).toBe(RCODE.NXDOMAIN);
  });

  const header = (id: number, qd: number, an = 0, ar = 0) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    h.writeUInt16BE(qd, 4);
    h.writeUInt16BE(an, 6);
    h.writeUInt16BE(ar, 10);
    return h;
  };
  const malformed: [string, 'formerr' | 'drop', Buffer][] = [
    ['random bytes', 'formerr', Buffer.from('8f3a1c01d2e4b7a6c5f80913aabbccddeeff0011', 'hex')],
    ['random bytes with QR set', 'drop', Buffer.from('8f3a9c01d2e4b7a6c5f80913aabbccddeeff0011', 'hex')],
    ['a truncated header', 'drop', Buffer.from([0x12, 0x34, 0x01])],
    ['a compression loop in the question', 'formerr', Buffer.concat([header(21, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
    ['a label that overruns the message', 'formerr', Buffer.concat([header(22, 1), Buffer.from([40, 0x61, 0x62])])],
    ['wrong counts (ancount 3, no records)', 'formerr', Buffer.concat([header(23, 1, 3), Buffer.from([1, 0x61, 0, 0, 1, 0, 1])])],
    ['no question', 'formerr', header(24, 0)],
    ['a response instead of a query', 'drop', Buffer.from([0, 25, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1])],
  ];
  it.each(malformed)('handles %s (%s) and keeps serving', async (_what, expected, msg) => {
    const before = metrics.malformed;
    const reply = await udpExchange(server.udpPort, msg, expected === 'drop' ? 300 : 2000);
    if (expected === 'drop') expect(reply).toBeUndefined();
    else {
      expect(reply).toBeDefined();
      expect(reply!.readUInt16BE(0)).toBe(msg.readUInt16BE(0));
      expect(reply![2] & 0x80).toBe(0x80);
      expect(reply![3] & 0x0f).toBe(RCODE.FORMERR);
    }
    expect(metrics.malformed).toBe(before + 1);
    expect(await resolver.resolve4('web.marathon.mesos')).toHaveLength(2);
  });

  it('answers FORMERR over TCP and keeps the connection for the next query', async () => {
    const { replies, closedByServer } = await tcpExchange(
      server.tcpPort,
      frame(Buffer.concat([header(31, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), encodeQuery(32, 'web.marathon.mesos', QTYPE.A)),
      2,
    );
    expect(closedByServer).toBe(false);
    expect(decode(replies[1]).header).toMatchObject({ id: 32, ancount: 2 });
    expect(replies[0][3] & 0x0f).toBe(RCODE.FORMERR);
  });

  it('closes only that TCP connection on a huge or impossible length', async () => {
    const huge = await tcpExchange(server.tcpPort, Buffer.from([0xff, 0xff, 1, 2, 3]), 1);
    expect(huge).toEqual({ replies: [], closedByServer: true });
    const tiny = await tcpExchange(server.tcpPort, Buffer.from([0x00, 0x03, 1, 2, 3]), 1);
    expect(tiny).toEqual({ replies: [], closedByServer: true });
    expect(await resolver.resolve4('web.marathon.mesos')).toHaveLength(2);
    const ok = await tcpExchange(server.tcpPort, frame(encodeQuery(41, 'web.marathon.mesos', QTYPE.A)), 1);
    expect(decode(ok.replies[0]).header.ancount).toBe(2);
  });

  it('closes an idle TCP connection', async () => {
    const idle = await tcpExchange(server.tcpPort, Buffer.from([0x00, 0x40, 1]), 1, 10_000);
    expect(idle.closedByServer).toBe(true);
  });

  it('counts queries by type and rcode in the Prometheus text', () => {
    const text = metrics.render();
    expect(text).toMatch(/baton_dns_queries_total\{qtype="A",rcode="NOERROR"\} \d+/);
    expect(text).toMatch(/baton_dns_queries_total\{qtype="A",rcode="NXDOMAIN"\} \d+/);
    expect(text).toMatch(/baton_dns_malformed_total \d+/);
    expect(text).toMatch(/baton_dns_query_duration_seconds_count \d+/);
    expect(metrics.count('SRV')).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasDig)(`baton-dns server queried with dig${hasDig ? '' : ' (skipped: dig is not installed)'}`, () => {
  const dig = async (...args: string[]) =>
    (await run('dig', ['@127.0.0.1', '-p', String(server.udpPort), '+time=3', '+tries=1', ...args])).stdout;

  it('answers authoritatively, with RA, over UDP and TCP', async () => {
    for (const transport of ['+notcp', '+tcp']) {
      const out = await dig(transport, 'web.marathon.mesos', 'A');
      expect(out).toMatch(/status: NOERROR/);
      expect(out).toMatch(/flags: qr aa rd ra;/);
      expect(out).toMatch(/web\.marathon\.mesos\.\s+60\s+IN\s+A\s+10\.0\.0\.1/);
    }
  });

  it('shows NXDOMAIN with the SOA in authority, and +norec keeps RD clear', async () => {
    const out = await dig('+norec', 'missing.marathon.mesos', 'A');
    expect(out).toMatch(/status: NXDOMAIN/);
    expect(out).toMatch(/flags: qr aa ra;/);
    expect(out).toMatch(/AUTHORITY SECTION:\nmissing\.marathon\.mesos\.\s+60\s+IN\s+SOA\s+ns1\.mesos\. root\.ns1\.mesos\. \d+ 60 600 86400 60/);
  });

  it('truncates without EDNS (+ignore shows TC) and answers in full with +bufsize=4096', async () => {
    const small = await dig('+noedns', '+ignore', '_big._tcp.marathon.mesos', 'SRV');
    expect(small).toMatch(/flags: qr aa tc rd ra;/);
    const large = await dig('+bufsize=4096', '_big._tcp.marathon.mesos', 'SRV');
    expect(large).toMatch(/flags: qr aa rd ra;/);
    expect(large).toMatch(/ANSWER: 40, AUTHORITY: 0, ADDITIONAL: 41/);
    expect(large).toMatch(/udp: 4096/);
  });
});
