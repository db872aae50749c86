// Mesos-DNS query semantics from pre-encoded answers (reference mesos-dns.md §6), checked by
// decoding the replies with dns2's parser.
import { afterEach, describe, expect, it } from 'vitest';
import { Answers, cleanWildcard, udpReplyLimit } from '../src/answers.js';
import { QTYPE, RCODE, encodeQuery, parseQuery } from '../src/wire.js';
import { MapView, decode, testConfig } from './helpers/map-view.js';

const open: Answers[] = [];
afterEach(() => {
  while (open.length) open.pop()!.close();
});

function setup(configOverrides = {}) {
  const view = new MapView('mesos');
  const config = testConfig(configOverrides);
  const answers = new Answers(view, config);
  open.push(answers);
  const ask = (name: string, qtype: number, opts: { ednsUdpSize?: number; max?: number; id?: number } = {}) => {
    const msg = encodeQuery(opts.id ?? 77, name, qtype, { ednsUdpSize: opts.ednsUdpSize });
    const q = parseQuery(msg);
    const reply = answers.reply(msg, q, opts.max ?? udpReplyLimit(q, config.maxUdpPayload));
    return { raw: reply, ...decode(reply) };
  };
  return { view, answers, ask };
}

describe('A and AAAA', () => {
  it('answers authoritatively with every address, the config TTL and RA = recurseOn', () => {
    const { view, ask } = setup({ ttl: 7 });
    view.set('web.marathon.mesos', { a: ['10.0.0.1', '10.0.0.2'], aaaa: ['fd00::1'] });
    const r = ask('web.marathon.mesos', QTYPE.A, { id: 4321 });
    expect(r.header).toMatchObject({ id: 4321, qr: 1, aa: 1, ra: 1, tc: 0, rcode: RCODE.NOERROR, ancount: 2, nscount: 0 });
    expect(r.answers.map((a) => a.address).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(r.answers.every((a) => a.ttl === 7 && a.name === 'web.marathon.mesos')).toBe(true);
    const r6 = ask('web.marathon.mesos', QTYPE.AAAA);
    expect(r6.answers.map((a) => a.address)).toEqual(['fd00::1']);
    const { view: v2, ask: ask2 } = setup({ recurseOn: false });
    v2.set('x.mesos', { a: ['1.2.3.4'] });
    expect(ask2('x.mesos', QTYPE.A).header.ra).toBe(0);
  });

  it('copies the question as sent (case preserved) and matches names case-insensitively', () => {
    const { view, ask } = setup();
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    const r = ask('WeB.Marathon.MESOS', QTYPE.A);
    expect(r.questions[0].name).toBe('WeB.Marathon.MESOS');
    expect(r.answers[0].address).toBe('10.0.0.1');
  });

  it('rotates the order of the answers between queries', () => {
    const { view, ask } = setup();
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
    view.set('web.marathon.mesos', { a: ips });
    const firsts = new Set<unknown>();
    for (let i = 0; i < 8; i++) {
      const r = ask('web.marathon.mesos', QTYPE.A);
      expect(r.answers.map((a) => a.address).sort()).toEqual(ips);
      firsts.add(r.answers[0].address);
    }
    expect(firsts.size).toBe(4);
  });

  it('cleans the .* wildcard as Mesos-DNS does', () => {
    expect(cleanWildcard('bob.*.mesos')).toBe('bob.mesos');
    const { view, ask } = setup();
    view.set('web.marathon.mesos', { a: ['10.0.0.9'] });
    const r = ask('web.*.marathon.mesos', QTYPE.A);
    expect(r.header.rcode).toBe(RCODE.NOERROR);
    expect(r.answers[0]).toMatchObject({ name: 'web.marathon.mesos', address: '10.0.0.9' });
    expect(r.questions[0].name).toBe('web.*.marathon.mesos');
  });
});

describe('NXDOMAIN and NODATA', () => {
  it('answers NXDOMAIN with the SOA (owner = question, minimum = ttl) for unknown names', () => {
    const { view, ask } = setup({ ttl: 30, soaRefresh: 11, soaRetry: 22, soaExpire: 33 });
    view.serial = 123456;
    const r = ask('nope.marathon.mesos', QTYPE.A);
    expect(r.header).toMatchObject({ aa: 1, rcode: RCODE.NXDOMAIN, ancount: 0, nscount: 1 });
    expect(r.authorities[0]).toMatchObject({
      name: 'nope.marathon.mesos',
      type: QTYPE.SOA,
      ttl: 30,
      primary: 'ns1.mesos',
      admin: 'root.ns1.mesos',
      serial: 123456,
      refresh: 11,
      retry: 22,
      expiration: 33,
      minimum: 30,
    });
    // Another unknown name of the same length shares the encoding but keeps its own question.
    const r2 = ask('nope.marathon.mesoz.mesos', QTYPE.TXT);
    expect(r2.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(r2.authorities[0].name).toBe('nope.marathon.mesoz.mesos');
  });

  it('answers NOERROR with no data and the SOA when the name has other records', () => {
    const { view, ask } = setup();
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    view.set('_web._tcp.marathon.mesos', { srv: [{ target: 'web-x.marathon.slave.mesos', port: 31000 }] });
    for (const [name, qtype] of [
      ['web.marathon.mesos', QTYPE.AAAA],
      ['web.marathon.mesos', QTYPE.TXT],
      ['_web._tcp.marathon.mesos', QTYPE.A],
    ] as const) {
      const r = ask(name, qtype);
      expect(r.header.rcode, `${name} ${qtype}`).toBe(RCODE.NOERROR);
      expect(r.header.ancount).toBe(0);
      expect(r.authorities[0].type).toBe(QTYPE.SOA);
    }
  });

  it('follows the serial in cached SOA records', () => {
    const { view, ask } = setup();
    expect(ask('gone.mesos', QTYPE.A).authorities[0].serial).toBe(view.serial);
    view.set('other.mesos', { a: ['1.1.1.1'] });
    view.set('other2.mesos', { a: ['1.1.1.2'] });
    expect(ask('gone.mesos', QTYPE.A).authorities[0].serial).toBe(view.serial);
  });
});

describe('SRV', () => {
  it('answers priority 0, the configured weight, and the first A/AAAA of each target in additional', () => {
    const { view, ask } = setup({ srvRecordDefaultWeight: 5 });
    view.set('_web._tcp.marathon.mesos', {
      srv: [
        { target: 'web-a-s1.marathon.slave.mesos', port: 31000 },
        { target: 'web-a-s1.marathon.slave.mesos', port: 31001 },
        { target: 'web-b-s2.marathon.slave.mesos', port: 31002 },
      ],
    });
    view.set('web-a-s1.marathon.slave.mesos', { a: ['10.0.1.1', '10.0.1.9'], aaaa: ['fd00::11'] });
    view.set('web-b-s2.marathon.slave.mesos', { a: ['10.0.1.2'] });
    const r = ask('_web._tcp.marathon.mesos', QTYPE.SRV);
    expect(r.header).toMatchObject({ rcode: RCODE.NOERROR, aa: 1, ancount: 3, nscount: 0, arcount: 3 });
    expect(r.answers.map((a) => `${a.priority} ${a.weight} ${a.port} ${a.target}`).sort()).toEqual([
      '0 5 31000 web-a-s1.marathon.slave.mesos',
      '0 5 31001 web-a-s1.marathon.slave.mesos',
      '0 5 31002 web-b-s2.marathon.slave.mesos',
    ]);
    expect(r.additionals.map((a) => `${a.name} ${a.address}`).sort()).toEqual([
      'web-a-s1.marathon.slave.mesos 10.0.1.1',
      'web-a-s1.marathon.slave.mesos fd00::11',
      'web-b-s2.marathon.slave.mesos 10.0.1.2',
    ]);
  });

  it('answers NOERROR with nothing (no SOA) when there is no SRV record', () => {
    const { view, ask } = setup();
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    for (const name of ['web.marathon.mesos', '_nothing._tcp.marathon.mesos']) {
      const r = ask(name, QTYPE.SRV);
      expect(r.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 0, nscount: 0, arcount: 0 });
    }
  });

  it('rebuilds an SRV answer when a target it carries in additional changes', () => {
    const { view, ask } = setup();
    view.set('_db._tcp.mesos', { srv: [{ target: 'db-1.mesos', port: 1 }] });
    view.set('db-1.mesos', { a: ['10.9.9.1'] });
    expect(ask('_db._tcp.mesos', QTYPE.SRV).additionals[0].address).toBe('10.9.9.1');
    view.set('db-1.mesos', { a: ['10.9.9.2'] });
    expect(ask('_db._tcp.mesos', QTYPE.SRV).additionals[0].address).toBe('10.9.9.2');
  });
});

describe('SOA, NS, ANY, PTR', () => {
  it('puts the SOA or the NS in the authority section for any name in the domain', () => {
    const { view, ask } = setup();
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    for (const name of ['mesos', 'web.marathon.mesos', 'unknown.mesos']) {
      const soa = ask(name, QTYPE.SOA);
      expect(soa.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 0, nscount: 1 });
      expect(soa.authorities[0]).toMatchObject({ name, type: QTYPE.SOA, primary: 'ns1.mesos' });
      const ns = ask(name, QTYPE.NS);
      expect(ns.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 0, nscount: 1 });
      expect(ns.authorities[0]).toMatchObject({ name, type: QTYPE.NS, ns: 'ns1.mesos' });
    }
  });

  it('answers ANY with one HINFO "RFC8482" record with minimalAny (RFC 8482), NXDOMAIN for unknown names', () => {
    const { view, ask } = setup({ minimalAny: true });
    view.set('leader.mesos', { a: ['10.0.0.5'], aaaa: ['fd00::5'], srv: [{ target: 'leader.mesos', port: 5050 }] });
    const r = ask('leader.mesos', QTYPE.ANY);
    expect(r.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 1, nscount: 0, arcount: 0 });
    expect(r.answers[0]).toMatchObject({ name: 'leader.mesos', type: QTYPE.HINFO });
    expect(ask('nothing.mesos', QTYPE.ANY).header).toMatchObject({ rcode: RCODE.NXDOMAIN, ancount: 0, nscount: 1 });
  });

  it('answers ANY with SRV + A + AAAA, and SOA and NS in authority, without minimalAny (Mesos-DNS)', () => {
    const { view, ask } = setup();
    view.set('leader.mesos', { a: ['10.0.0.5'], aaaa: ['fd00::5'], srv: [{ target: 'leader.mesos', port: 5050 }] });
    const r = ask('leader.mesos', QTYPE.ANY);
    expect(r.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 3, nscount: 2 });
    expect(r.answers.map((a) => a.type).sort((a, b) => Number(a) - Number(b))).toEqual([QTYPE.A, QTYPE.AAAA, QTYPE.SRV]);
    expect(r.authorities.map((a) => a.type)).toEqual([QTYPE.SOA, QTYPE.NS]);
    expect(ask('nothing.mesos', QTYPE.ANY).header.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('answers PTR for reverse names the view holds and treats others as not its own', () => {
    const { view, answers, ask } = setup();
    view.set('1.0.0.10.in-addr.arpa', { ptr: ['web-a-s1.marathon.mesos', 'web.marathon.mesos'] });
    expect(answers.isAuthoritative('1.0.0.10.in-addr.arpa')).toBe(true);
    expect(answers.isAuthoritative('2.0.0.10.in-addr.arpa')).toBe(false);
    expect(answers.isAuthoritative('example.org')).toBe(false);
    expect(answers.isAuthoritative('anything.mesos')).toBe(true);
    const r = ask('1.0.0.10.in-addr.arpa', QTYPE.PTR);
    expect(r.header).toMatchObject({ rcode: RCODE.NOERROR, aa: 1, ancount: 2 });
    expect(r.answers.map((a) => a.domain).sort()).toEqual(['web-a-s1.marathon.mesos', 'web.marathon.mesos']);
    expect(ask('1.0.0.10.in-addr.arpa', QTYPE.A).header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 0, nscount: 1 });
  });
});

describe('size limits', () => {
  function bigSrv(view: MapView, n: number) {
    const srv = Array.from({ length: n }, (_, i) => ({ target: `big-task${i}-s${i}.marathon.slave.mesos`, port: 31000 + i }));
    view.set('_big._tcp.marathon.mesos', { srv });
    for (let i = 0; i < n; i++) view.set(`big-task${i}-s${i}.marathon.slave.mesos`, { a: [`10.1.0.${i}`] });
  }

  it('drops additional records first, then answers from the tail, and sets TC', () => {
    const { view, ask } = setup();
    bigSrv(view, 8); // ~8 × 55 bytes of answers fit in 512, not with their additional records
    const r = ask('_big._tcp.marathon.mesos', QTYPE.SRV);
    expect(r.raw.length).toBeLessThanOrEqual(512);
    expect(r.header).toMatchObject({ tc: 1, ancount: 8, arcount: 0 });
    const { view: v2, ask: ask2 } = setup();
    bigSrv(v2, 30);
    const r2 = ask2('_big._tcp.marathon.mesos', QTYPE.SRV);
    expect(r2.raw.length).toBeLessThanOrEqual(512);
    expect(r2.header.tc).toBe(1);
    expect(r2.header.ancount).toBeGreaterThan(0);
    expect(r2.header.ancount).toBeLessThan(30);
    expect(r2.answers).toHaveLength(r2.header.ancount);
  });

  it('keeps the SOA when answers are cut from an ANY reply', () => {
    const { view, ask } = setup();
    view.set('many.mesos', { a: Array.from({ length: 60 }, (_, i) => `10.2.0.${i}`) });
    const r = ask('many.mesos', QTYPE.ANY);
    expect(r.raw.length).toBeLessThanOrEqual(512);
    expect(r.header.tc).toBe(1);
    expect(r.authorities.map((a) => a.type)).toEqual([QTYPE.SOA, QTYPE.NS]);
  });

  it('honours the EDNS0 size (capped by maxUdpPayload, at least 512) and echoes an OPT', () => {
    const { view, ask } = setup({ maxUdpPayload: 1400 });
    bigSrv(view, 30);
    const full = ask('_big._tcp.marathon.mesos', QTYPE.SRV, { max: 65535 });
    expect(full.header).toMatchObject({ tc: 0, ancount: 30, arcount: 30 });
    const e = ask('_big._tcp.marathon.mesos', QTYPE.SRV, { ednsUdpSize: 4096 });
    expect(e.raw.length).toBeLessThanOrEqual(1400);
    expect(e.raw.length).toBeGreaterThan(512);
    expect(e.header.tc).toBe(1);
    const opt = e.additionals.find((a) => a.type === QTYPE.OPT);
    expect(opt).toBeDefined();
    const { view: v2, ask: ask2 } = setup();
    bigSrv(v2, 30);
    const e2 = ask2('_big._tcp.marathon.mesos', QTYPE.SRV, { ednsUdpSize: 4096 });
    expect(e2.header).toMatchObject({ tc: 0, ancount: 30, arcount: 31 });
    const tiny = ask2('_big._tcp.marathon.mesos', QTYPE.SRV, { ednsUdpSize: 100 });
    expect(tiny.raw.length).toBeLessThanOrEqual(512);
    expect(tiny.raw.length).toBeGreaterThan(400);
  });

  it('clears TC when setTruncateBit is false but still cuts', () => {
    const { view, ask } = setup({ setTruncateBit: false });
    bigSrv(view, 30);
    const r = ask('_big._tcp.marathon.mesos', QTYPE.SRV);
    expect(r.raw.length).toBeLessThanOrEqual(512);
    expect(r.header.tc).toBe(0);
  });
});
