// Forwarding of names outside the domain to a second DNS server started here (dns2), over the
// client's transport; SERVFAIL when every upstream fails; REFUSED when forwarding is not allowed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { createServer, Packet } from 'dns2';
import { Forwarder, parseUpstream, systemResolvers } from '../src/forwarder.js';
import { startDnsServer, networkList, type DnsServer } from '../src/server.js';
import { QTYPE, RCODE, encodeQuery } from '../src/wire.js';
import { MapView, decode, frame, tcpExchange, testConfig, udpExchange } from './helpers/map-view.js';

type Dns2Server = ReturnType<typeof createServer>;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An upstream answering `example.org` A and `corp.internal` A; it marks its answers with its name. */
async function startUpstream(address: string): Promise<{ port: number; queries: number }> {
  const stats = { port: 0, queries: 0 };
  const server: Dns2Server = createServer({
    udp: true,
    tcp: true,
    handle: (request: any, send: any) => {
      stats.queries++;
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      if (/^(example\.org|.*corp\.internal)$/i.test(q.name)) {
        (response.answers as unknown[]).push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 300, address });
      } else response.header.rcode = RCODE.NXDOMAIN;
      send(response);
    },
  });
  const port = await freeUdpAndTcpPort();
  await server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } });
  cleanups.push(() => server.close());
  stats.port = port;
  return stats;
}

/** A port free for both UDP and TCP on 127.0.0.1 (an ephemeral UDP port may be taken for TCP). */
async function freeUdpAndTcpPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const port = udp.address().port;
    const tcp = net.createServer();
    const free = await new Promise<boolean>((r) => tcp.once('error', () => r(false)).listen(port, '127.0.0.1', () => r(true)));
    await new Promise<void>((r) => udp.close(() => r()));
    if (free) {
      await new Promise<void>((r) => tcp.close(() => r()));
      return port;
    }
  }
}

/** A UDP port that answers nothing (bound, silent) and one that is closed. */
async function silentPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s.address().port;
}
async function closedPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startServer(overrides: Parameters<typeof testConfig>[0]): Promise<{ server: DnsServer; resolver: Resolver }> {
  const view = new MapView('mesos');
  view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
  const server = await startDnsServer({ config: testConfig(overrides), view });
  cleanups.push(() => server.close());
  const resolver = new Resolver({ timeout: 4000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.udpPort}`]);
  return { server, resolver };
}

let upstream: { port: number; queries: number };
let zoneUpstream: { port: number; queries: number };
beforeAll(async () => {
  upstream = await startUpstream('93.184.216.34');
  zoneUpstream = await startUpstream('10.99.0.1');
});

describe('forwarding', () => {
  it('relays the upstream reply over UDP and TCP, with the client id and the upstream flags', async () => {
    const { server, resolver } = await startServer({ resolvers: [`127.0.0.1:${upstream.port}`] });
    expect(await resolver.resolve4('example.org')).toEqual(['93.184.216.34']);
    await expect(resolver.resolve4('nothing.example.org')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const viaUdp = decode((await udpExchange(server.udpPort, encodeQuery(0x5151, 'example.org', QTYPE.A)))!);
    expect(viaUdp.header).toMatchObject({ id: 0x5151, aa: 0, rcode: RCODE.NOERROR });
    const before = upstream.queries;
    const { replies } = await tcpExchange(server.tcpPort, frame(encodeQuery(0x5252, 'example.org', QTYPE.A)), 1);
    expect(decode(replies[0]).header.id).toBe(0x5252);
    expect(decode(replies[0]).answers[0].address).toBe('93.184.216.34');
    expect(upstream.queries).toBe(before + 1);
    // In-domain names are still answered locally.
    expect(await resolver.resolve4('web.marathon.mesos')).toEqual(['10.0.0.1']);
  });

  it('tries the next upstream after a silent one times out, and after a closed port', async () => {
    const { resolver } = await startServer({
      resolvers: [`127.0.0.1:${await silentPort()}`, `127.0.0.1:${await closedPort()}`, `127.0.0.1:${upstream.port}`],
      timeoutSeconds: 0.3,
    });
    expect(await resolver.resolve4('example.org')).toEqual(['93.184.216.34']);
  });

  it('sends zones to their own resolvers by the longest matching suffix', async () => {
    const { resolver } = await startServer({
      resolvers: [`127.0.0.1:${upstream.port}`],
      zoneResolvers: { internal: [`127.0.0.1:${await closedPort()}`], 'corp.internal': [`127.0.0.1:${zoneUpstream.port}`] },
    });
    expect(await resolver.resolve4('db.corp.internal')).toEqual(['10.99.0.1']);
    await expect(resolver.resolve4('other.internal')).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });

  it('answers SERVFAIL when every upstream is dead', async () => {
    const { server, resolver } = await startServer({ resolvers: [`127.0.0.1:${await closedPort()}`], timeoutSeconds: 0.5 });
    await expect(resolver.resolve4('example.org')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    const raw = decode((await udpExchange(server.udpPort, encodeQuery(9, 'example.org', QTYPE.A)))!);
    expect(raw.header).toMatchObject({ id: 9, rcode: RCODE.SERVFAIL, qdcount: 1 });
    expect(server.metrics.forwardFailures).toBeGreaterThanOrEqual(2);
  });

  it('refuses with externalOn=false and for clients outside forwardAllowedNetworks', async () => {
    const off = await startServer({ resolvers: [`127.0.0.1:${upstream.port}`], externalOn: false });
    await expect(off.resolver.resolve4('example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
    const outside = await startServer({ resolvers: [`127.0.0.1:${upstream.port}`], forwardAllowedNetworks: ['10.0.0.0/8', '::1/128'] });
    await expect(outside.resolver.resolve4('example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
    const { replies } = await tcpExchange(outside.server.tcpPort, frame(encodeQuery(3, 'example.org', QTYPE.A)), 1);
    expect(decode(replies[0]).header.rcode).toBe(RCODE.REFUSED);
    // Refusing to forward does not stop in-domain answers.
    expect(await outside.resolver.resolve4('web.marathon.mesos')).toEqual(['10.0.0.1']);
  });
});

describe('forwarder pieces', () => {
  it('parses upstream addresses', () => {
    expect(parseUpstream('8.8.8.8')).toEqual({ host: '8.8.8.8', port: 53 });
    expect(parseUpstream('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseUpstream('::1')).toEqual({ host: '::1', port: 53 });
    expect(parseUpstream('[fd00::1]:5300')).toEqual({ host: 'fd00::1', port: 5300 });
    for (const bad of ['dns.google', '1.2.3.4:0', '1.2.3.4:99999', '[::1]:x', '']) expect(parseUpstream(bad)).toBeUndefined();
  });

  it('reads nameservers from resolv.conf and uses them when no resolvers are configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-dns-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, `# comment\nsearch example\nnameserver 127.0.0.1\nnameserver not-an-ip\n  nameserver ::1\noptions ndots:2\n`);
    expect(systemResolvers(path)).toEqual(['127.0.0.1', '::1']);
    expect(systemResolvers(join(dir, 'missing'))).toEqual([]);
    const f = new Forwarder({ resolvers: [], timeoutMs: 100, resolvConfPath: path });
    expect(f.upstreamsFor('example.org')).toEqual([
      { host: '127.0.0.1', port: 53 },
      { host: '::1', port: 53 },
    ]);
  });

  it('matches client addresses against CIDRs, IPv4-mapped included', () => {
    const invalid: string[] = [];
    const list = networkList(['127.0.0.0/8', 'fd00::/8', '10.1.2.3', 'bogus', '10.0.0.0/33'], (c) => invalid.push(c));
    expect(invalid).toEqual(['bogus', '10.0.0.0/33']);
    expect(list.check('127.9.9.9', 'ipv4')).toBe(true);
    expect(list.check('10.1.2.3', 'ipv4')).toBe(true);
    expect(list.check('10.1.2.4', 'ipv4')).toBe(false);
    expect(list.check('fd12::1', 'ipv6')).toBe(true);
  });
});
