import { describe, expect, it } from 'vitest';
import { parseBindOptions } from '../src/bind-options.js';
import { parseProxyHeader, V1_MAX_LENGTH, V2_MAX_PAYLOAD } from '../src/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: command (0 LOCAL, 1 PROXY), family byte, address block and TLVs. */
function v2(command: number, familyTransport: number, body: Buffer, declared = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(declared, 2);
  return Buffer.concat([SIG, fixed, body]);
}

function ipv4Block(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  b.set(src, 0);
  b.set(dst, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function ipv6Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  Buffer.from(src, 'hex').copy(b, 0);
  Buffer.from(dst, 'hex').copy(b, 16);
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

/** A TLV: type, 2-byte length, value. */
function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

const v4 = ipv4Block([203, 0, 113, 7], [10, 0, 0, 1], 51000, 80);
const v6 = ipv6Block('20010db8000000000000000000000001', '20010db8000000000000000000000002', 40000, 443);
const ok = (source: string | undefined, port: number | undefined, version: 1 | 2, length: number) => ({
  status: 'ok',
  version,
  length,
  ...(source === undefined ? {} : { source: { address: source, port } }),
});

describe('parseProxyHeader', () => {
  const cases: [string, Buffer, object][] = [
    ['v1 TCP4', Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nGET /'), ok('203.0.113.7', 51000, 1, 42)],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n'), ok('2001:db8::1', 40000, 1, 46)],
    ['v1 UNKNOWN (real addresses stand)', Buffer.from('PROXY UNKNOWN whatever follows\r\n'), ok(undefined, undefined, 1, 32)],
    ['v1 UNKNOWN bare', Buffer.from('PROXY UNKNOWN\r\n'), ok(undefined, undefined, 1, 15)],
    ['v1 without CRLF yet', Buffer.from('PROXY TCP4 203.0.113.7 10.0'), { status: 'incomplete' }],
    ['v1 signature cut short', Buffer.from('PRO'), { status: 'incomplete' }],
    ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n'), { status: 'invalid' }],
    ['v1 port out of range', Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 65536 80\r\n'), { status: 'invalid' }],
    ['v1 missing fields', Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 80\r\n'), { status: 'invalid' }],
    ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n'), { status: 'invalid' }],
    ['v1 oversize (no CRLF in 107 bytes)', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH)}\r\n`), { status: 'invalid' }],
    ['v2 PROXY IPv4', Buffer.concat([v2(1, 0x11, v4), Buffer.from('GET /')]), ok('203.0.113.7', 51000, 2, 28)],
    ['v2 PROXY IPv6', v2(1, 0x21, v6), ok('2001:db8::1', 40000, 2, 52)],
    ['v2 PROXY IPv4 with TLVs skipped', v2(1, 0x11, Buffer.concat([v4, tlv(0x01, Buffer.from('h2')), tlv(0x04, Buffer.alloc(0))])), ok('203.0.113.7', 51000, 2, 16 + 12 + 5 + 3)],
    ['v2 LOCAL (real addresses stand)', v2(0, 0x00, Buffer.alloc(0)), ok(undefined, undefined, 2, 16)],
    ['v2 LOCAL with an address block ignored', v2(0, 0x11, v4), ok(undefined, undefined, 2, 28)],
    ['v2 UNSPEC family', v2(1, 0x00, Buffer.alloc(0)), ok(undefined, undefined, 2, 16)],
    ['v2 truncated (length says more than arrived)', v2(1, 0x11, v4.subarray(0, 6), 12), { status: 'incomplete' }],
    ['v2 fixed part cut short', SIG.subarray(0, 9), { status: 'incomplete' }],
    ['v2 IPv4 block shorter than 12 bytes', v2(1, 0x11, v4.subarray(0, 8)), { status: 'invalid' }],
    ['v2 IPv6 block shorter than 36 bytes', v2(1, 0x21, v4), { status: 'invalid' }],
    ['v2 oversize', v2(1, 0x11, v4, V2_MAX_PAYLOAD + 1), { status: 'invalid' }],
    ['v2 version 1', Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 12]), v4]), { status: 'invalid' }],
    ['v2 command 2', v2(2, 0x11, v4), { status: 'invalid' }],
    ['v2 family 5', v2(1, 0x51, v4), { status: 'invalid' }],
    ['v2 signature broken', Buffer.concat([Buffer.from('0d0a0d0a000d0a51', 'hex'), Buffer.from('XXXX')]), { status: 'invalid' }],
    ['garbage: an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n'), { status: 'invalid' }],
    ['garbage: a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), { status: 'invalid' }],
    ['garbage: lower-case proxy', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), { status: 'invalid' }],
    ['nothing yet', Buffer.alloc(0), { status: 'incomplete' }],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(parseProxyHeader(input)).toMatchObject(expected);
  });

  it('v2 IPv6 addresses in RFC 5952 text, IPv4-mapped as ::ffff:a.b.c.d', () => {
    const mapped = parseProxyHeader(v2(1, 0x21, ipv6Block('00000000000000000000ffffcb007107', '00000000000000000000000000000001', 1, 2)));
    expect(mapped).toMatchObject({ status: 'ok', source: { address: '::ffff:203.0.113.7' }, destination: { address: '::1' } });
    const middle = parseProxyHeader(v2(1, 0x21, ipv6Block('fe800000000000000001000000000001', '20010db800010000000000000000ffff', 1, 2)));
    expect(middle).toMatchObject({ status: 'ok', source: { address: 'fe80::1:0:0:1' }, destination: { address: '2001:db8:1::ffff' } });
  });
});

describe('parseBindOptions', () => {
  it('applies accept-proxy, ssl crt, ciphers and ssl-min-ver', () => {
    expect(parseBindOptions('accept-proxy ssl crt /etc/ssl/a.pem ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-min-ver TLSv1.3')).toEqual({
      acceptProxy: true,
      ssl: true,
      crt: '/etc/ssl/a.pem',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
      minVersion: 'TLSv1.3',
      problems: [],
    });
  });

  it('names what it does not apply, with its arguments, and keeps the rest', () => {
    const parsed = parseBindOptions('maxconn 100 accept-proxy v4v6 ssl-min-ver SSLv3 crt');
    expect(parsed.acceptProxy).toBe(true);
    expect(parsed.minVersion).toBeUndefined();
    expect(parsed.problems).toEqual(['maxconn 100: not applied by baton-lb; ignored', 'v4v6: not applied by baton-lb; ignored', expect.stringMatching(/^ssl-min-ver SSLv3: not one of/), 'crt needs a value']);
    expect(parseBindOptions('crt /a.pem').problems).toEqual(['crt /a.pem without ssl: no TLS on this port (as HAProxy)']);
  });
});
