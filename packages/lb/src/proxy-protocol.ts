// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt), versions 1 (text) and 2 (binary):
// what a load balancer in front sends first on each connection to tell the real client's address.
// Pure: bytes in, a verdict out. The listener glue (proxy-accept.ts) feeds it what has arrived.

import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Text } from '@baton/marathon';

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export type ProxyHeader =
  /** More bytes are needed (never returned once the header could not fit its bound). */
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  | {
      status: 'ok';
      version: 1 | 2;
      /** Bytes the header took; what follows is the client's own data. */
      length: number;
      /** The client and the address it connected to; absent for v1 UNKNOWN, v2 LOCAL and v2 UNSPEC/UNIX (use the connection's own). */
      source?: ProxyEndpoint;
      destination?: ProxyEndpoint;
    };

/** v1: the longest line, "PROXY TCP6 <39> <39> 65535 65535\r\n". */
export const V1_MAX_LENGTH = 107;
/** v2: the 16-byte fixed part, then up to this many bytes of addresses and TLVs (HAProxy's own limit is its buffer). */
export const V2_MAX_PAYLOAD = 2_048;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');

/** Reads a PROXY header at the start of `data` (everything received so far on the connection). */
export function parseProxyHeader(data: Buffer): ProxyHeader {
  if (data.length === 0) return { status: 'incomplete' };
  if (data[0] === V2_SIGNATURE[0]) {
    const n = Math.min(data.length, V2_SIGNATURE.length);
    if (!data.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return invalid('not a PROXY protocol header');
    return parseV2(data);
  }
  const n = Math.min(data.length, V1_SIGNATURE.length);
  if (!data.subarray(0, n).equals(V1_SIGNATURE.subarray(0, n))) return invalid('not a PROXY protocol header');
  return parseV1(data);
}

function invalid(reason: string): ProxyHeader {
  return { status: 'invalid', reason };
}

function parseV1(data: Buffer): ProxyHeader {
  const end = data.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1');
  if (end === -1) return data.length >= V1_MAX_LENGTH ? invalid(`v1 header longer than ${V1_MAX_LENGTH} bytes`) : { status: 'incomplete' };
  const line = data.toString('latin1', 0, end);
  const length = end + 2;
  const fields = line.split(' ');
  const family = fields[1];
  // "UNKNOWN" may carry anything up to the CRLF; the receiver ignores it and uses the real addresses.
  if (family === 'UNKNOWN') return { status: 'ok', version: 1, length };
  if (family !== 'TCP4' && family !== 'TCP6') return invalid(`v1 protocol ${JSON.stringify(family ?? '')} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return invalid('v1 header does not have 4 address fields');
  const [, , src, dst, sport, dport] = fields;
  const isFamily = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(src) || !isFamily(dst)) return invalid(`v1 ${family} addresses are not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const sourcePort = v1Port(sport);
  const destinationPort = v1Port(dport);
  if (sourcePort === undefined || destinationPort === undefined) return invalid('v1 port is not 0..65535');
  return { status: 'ok', version: 1, length, source: { address: src, port: sourcePort }, destination: { address: dst, port: destinationPort } };
}

function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(data: Buffer): ProxyHeader {
  if (data.length < 16) return { status: 'incomplete' };
  const versionCommand = data[12];
  if (versionCommand >> 4 !== 2) return invalid(`v2 version ${versionCommand >> 4} is not 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`v2 command ${command} is not LOCAL or PROXY`);
  const payload = data.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD) return invalid(`v2 header of ${16 + payload} bytes is over the ${16 + V2_MAX_PAYLOAD}-byte limit`);
  const length = 16 + payload;
  if (data.length < length) return { status: 'incomplete' };
  // LOCAL: the proxy's own connection (a health check); the real addresses stand.
  if (command === 0) return { status: 'ok', version: 2, length };
  const family = data[13] >> 4;
  const body = data.subarray(16, length);
  if (family === 1) {
    if (payload < 12) return invalid('v2 IPv4 addresses truncated');
    return {
      status: 'ok',
      version: 2,
      length,
      source: { address: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`, port: body.readUInt16BE(8) },
      destination: { address: `${body[4]}.${body[5]}.${body[6]}.${body[7]}`, port: body.readUInt16BE(10) },
    };
  }
  if (family === 2) {
    if (payload < 36) return invalid('v2 IPv6 addresses truncated');
    return {
      status: 'ok',
      version: 2,
      length,
      source: { address: ipv6BytesText(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      destination: { address: ipv6BytesText(body.subarray(16, 32)), port: body.readUInt16BE(34) },
    };
  }
  if (family === 0 || family === 3) return { status: 'ok', version: 2, length }; // UNSPEC, UNIX: no IP to use
  return invalid(`v2 address family ${family} is unknown`);
}

/** RFC 5952 text of 16 bytes; an IPv4-mapped address keeps its dotted tail (`::ffff:1.2.3.4`). */
function ipv6BytesText(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  return ipv6Text(groups);
}
