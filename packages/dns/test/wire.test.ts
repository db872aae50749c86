// Reading queries straight from the buffer, and encoding records with compression.
import { describe, expect, it } from 'vitest';
import {
  DnsWireError,
  QTYPE,
  QueryFields,
  RCODE,
  SectionEncoder,
  encodeEmptyReply,
  encodeQuery,
  parseIPv6,
  parseQuery,
  readQuery,
} from '../src/wire.js';
import { decode } from './helpers/map-view.js';

function header(qd = 1, an = 0, ns = 0, ar = 0, id = 0x1234): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h[2] = 0x01;
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}
const qtail = Buffer.from([0, 1, 0, 1]);
const label = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

describe('readQuery', () => {
  it('reads id, flags, a lower-cased name, type, class and where the question ends', () => {
    const msg = encodeQuery(0xbeef, 'Web.Marathon.MESOS', QTYPE.SRV);
    const q = parseQuery(msg);
    expect(q.id).toBe(0xbeef);
    expect(q.name).toBe('web.marathon.mesos');
    expect(q.qtype).toBe(QTYPE.SRV);
    expect(q.qclass).toBe(1);
    expect(q.nameLength).toBe(20);
    expect(q.questionEnd).toBe(msg.length);
    expect(q.ednsPresent).toBe(false);
  });

  it('reads the root name as the empty string', () => {
    expect(parseQuery(encodeQuery(1, '.', QTYPE.NS)).name).toBe('');
  });

  it('finds an EDNS0 OPT record: UDP size and DO bit', () => {
    const q = parseQuery(encodeQuery(1, 'a.mesos', QTYPE.A, { ednsUdpSize: 4096, dnssecOk: true }));
    expect(q).toMatchObject({ ednsPresent: true, ednsUdpSize: 4096, ednsDo: true, ednsVersion: 0 });
  });

  it('reuses one QueryFields object and resets EDNS between queries', () => {
    const q = new QueryFields();
    expect(readQuery(encodeQuery(1, 'a.mesos', QTYPE.A, { ednsUdpSize: 1232 }), q)).toBeUndefined();
    expect(q.ednsPresent).toBe(true);
    expect(readQuery(encodeQuery(2, 'b.mesos', QTYPE.A), q)).toBeUndefined();
    expect(q.ednsPresent).toBe(false);
    expect(q.name).toBe('b.mesos');
  });

  const longLabel = 'x'.repeat(64);
  const cases: [string, Buffer, string][] = [
    ['truncated header', Buffer.from([1, 2, 3]), 'short-header'],
    ['a response (QR set)', Buffer.concat([Buffer.from([0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]), label('a'), Buffer.from([0]), qtail]), 'not-a-query'],
    ['no question', header(0), 'bad-question-count'],
    ['two questions', Buffer.concat([header(2), label('a'), Buffer.from([0]), qtail, label('b'), Buffer.from([0]), qtail]), 'bad-question-count'],
    ['name runs past the end', Buffer.concat([header(), Buffer.from([5]), Buffer.from('ab')]), 'overrun'],
    ['no type/class after the name', Buffer.concat([header(), label('a'), Buffer.from([0, 0])]), 'overrun'],
    ['label longer than 63', Buffer.concat([header(), label(longLabel), Buffer.from([0]), qtail]), 'label-too-long'],
    ['name longer than 255', Buffer.concat([header(), ...Array.from({ length: 5 }, () => label('y'.repeat(60))), Buffer.from([0]), qtail]), 'name-too-long'],
    ['compression pointer in the question (a loop to itself)', Buffer.concat([header(), Buffer.from([0xc0, 12]), qtail]), 'compression-in-question'],
    ['reserved label type 0x80', Buffer.concat([header(), Buffer.from([0x81]), Buffer.from('a'), Buffer.from([0]), qtail]), 'label-too-long'],
    ['arcount says 1 but nothing follows', Buffer.concat([header(1, 0, 0, 1), label('a'), Buffer.from([0]), qtail]), 'overrun'],
    ['ancount says 2 but nothing follows', Buffer.concat([header(1, 2), label('a'), Buffer.from([0]), qtail]), 'overrun'],
    [
      'compression loop in an additional record',
      Buffer.concat([header(1, 0, 0, 1), label('a'), Buffer.from([0]), qtail, Buffer.from([0xc0, 0x17]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 0])]),
      'compression-loop',
    ],
  ];
  it.each(cases)('rejects %s', (_what, msg, code) => {
    const q = new QueryFields();
    expect(readQuery(msg, q)).toBe(code);
    expect(() => parseQuery(msg)).toThrow(DnsWireError);
  });

  it('names the problem in the thrown error and says whether a header could be read', () => {
    try {
      parseQuery(Buffer.from([1]));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DnsWireError);
      expect((err as DnsWireError).code).toBe('short-header');
      expect((err as DnsWireError).headerReadable).toBe(false);
      expect((err as Error).message).toMatch(/12-byte header/);
    }
  });

  it('accepts a backwards pointer in an additional record', () => {
    const msg = Buffer.concat([header(1, 0, 0, 1), label('a'), Buffer.from([0]), qtail, Buffer.from([0xc0, 12]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]);
    expect(readQuery(msg, new QueryFields())).toBeUndefined();
  });
});

describe('encodeEmptyReply', () => {
  it('keeps id, RD and the question, sets QR and the rcode', () => {
    const msg = encodeQuery(0x4242, 'example.org', QTYPE.A);
    const q = parseQuery(msg);
    const reply = decode(encodeEmptyReply(msg, q.questionEnd, RCODE.REFUSED, true));
    expect(reply.header).toMatchObject({ id: 0x4242, qr: 1, rd: 1, ra: 1, aa: 0, rcode: RCODE.REFUSED, qdcount: 1 });
    expect(reply.questions[0]).toMatchObject({ name: 'example.org', type: QTYPE.A });
  });

  it('is a bare header when the question could not be read', () => {
    const reply = encodeEmptyReply(Buffer.concat([header(), Buffer.from([9, 1])]), 0, RCODE.FORMERR, false);
    expect(reply.length).toBe(12);
    expect(reply[3] & 0x0f).toBe(RCODE.FORMERR);
    expect(reply.readUInt16BE(0)).toBe(0x1234);
  });
});

describe('parseIPv6', () => {
  it.each([
    ['::1', '00000000000000000000000000000001'],
    ['fd00::1:2', 'fd000000000000000000000000010002'],
    ['2001:db8::', '20010db8000000000000000000000000'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
  ])('%s', (ip, hex) => {
    expect(Buffer.from(parseIPv6(ip)!).toString('hex')).toBe(hex);
  });
  it.each(['1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '10.0.0.1', '1:2:3:4:5:6:7'])('rejects %s', (ip) => {
    expect(parseIPv6(ip)).toBeUndefined();
  });
});

describe('SectionEncoder', () => {
  it('points owners and suffixes at the question and at names written earlier', () => {
    const q = encodeQuery(7, '_web._tcp.marathon.mesos', QTYPE.SRV);
    const enc = new SectionEncoder('_web._tcp.marathon.mesos');
    expect(enc.bodyStart).toBe(q.length);
    enc.writeRecord({ owner: '_web._tcp.marathon.mesos', type: QTYPE.SRV, ttl: 60, priority: 0, weight: 1, port: 31000, target: 'web-abc-s1.marathon.slave.mesos' }, 'all');
    enc.writeRecord({ owner: 'web-abc-s1.marathon.slave.mesos', type: QTYPE.A, ttl: 60, address: '10.0.0.1' }, 'all');
    const body = enc.bytes();
    // The owner of the SRV is a pointer to offset 12.
    expect(body.subarray(0, 2)).toEqual(Buffer.from([0xc0, 12]));
    const msg = Buffer.concat([q, body]);
    msg[2] |= 0x80;
    msg.writeUInt16BE(1, 6);
    msg.writeUInt16BE(1, 10);
    const d = decode(msg);
    expect(d.answers[0]).toMatchObject({ name: '_web._tcp.marathon.mesos', type: QTYPE.SRV, port: 31000, target: 'web-abc-s1.marathon.slave.mesos', ttl: 60 });
    expect(d.additionals[0]).toMatchObject({ name: 'web-abc-s1.marathon.slave.mesos', type: QTYPE.A, address: '10.0.0.1' });
    // The additional owner is a pointer into the SRV target written just before.
    const aOwnerAt = q.length + body.length - (2 + 10 + 4);
    expect(msg[aOwnerAt] & 0xc0).toBe(0xc0);
  });

  it('leaves out a record that cannot be encoded and keeps the body intact', () => {
    const enc = new SectionEncoder('a.mesos');
    expect(() => enc.writeRecord({ owner: 'a.mesos', type: QTYPE.A, ttl: 1, address: 'not-an-ip' }, 'all')).toThrow(/IPv4/);
    expect(() => enc.writeRecord({ owner: `${'z'.repeat(64)}.mesos`, type: QTYPE.A, ttl: 1, address: '1.2.3.4' }, 'all')).toThrow(/63/);
    expect(enc.length).toBe(0);
  });
});
