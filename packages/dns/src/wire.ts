// DNS wire format, pure: read a query's header, question and EDNS0 OPT straight from the buffer
// (no per-query objects beyond the name string), and encode resource records into pre-built
// sections with name compression.

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended RCODE (12 bits: 1 in the OPT record, 0 in the header), RFC 6891. */
  BADVERS: 16,
} as const;

export const QCLASS = {
  IN: 1,
  ANY: 255,
} as const;

export const HEADER_SIZE = 12;
export const OPT_RR_SIZE = 11;
export const MIN_UDP_SIZE = 512;
export const MAX_MESSAGE_SIZE = 65535;

const FLAG_QR = 0x80; // in byte 2
const FLAG_AA = 0x04; // in byte 2
const FLAG_TC = 0x02; // in byte 2
const FLAG_RD = 0x01; // in byte 2
const FLAG_RA = 0x80; // in byte 3
const FLAG_CD = 0x10; // in byte 3

export type WireErrorCode =
  | 'short-header'
  | 'not-a-query'
  | 'bad-question-count'
  | 'overrun'
  | 'label-too-long'
  | 'name-too-long'
  | 'compression-in-question'
  | 'compression-loop'
  | 'bad-opt';

const WIRE_ERROR_TEXT: Record<WireErrorCode, string> = {
  'short-header': 'message shorter than the 12-byte header',
  'not-a-query': 'QR bit set: the message is a response, not a query',
  'bad-question-count': 'QDCOUNT must be 1',
  overrun: 'a name or record runs past the end of the message (wrong counts or truncated data)',
  'label-too-long': 'a label length above 63 (or a reserved label type)',
  'name-too-long': 'a name is longer than 255 bytes',
  'compression-in-question': 'compression pointer in the question name',
  'compression-loop': 'compression pointer loop or forward pointer',
  'bad-opt': 'malformed or repeated OPT record',
};

/** A message that cannot be read; `headerReadable` says whether a FORMERR reply can be formed. */
export class DnsWireError extends Error {
  readonly code: WireErrorCode;
  constructor(code: WireErrorCode) {
    super(WIRE_ERROR_TEXT[code]);
    this.name = 'DnsWireError';
    this.code = code;
  }
  get headerReadable(): boolean {
    return this.code !== 'short-header';
  }
}

/**
 * What the server needs from a query. One instance is reused for every query a server reads
 * (`readQuery` fills it in place), so the hot path allocates only the name string.
 */
export class QueryFields {
  id = 0;
  /** Header bytes 2 and 3 as received. */
  flags1 = 0;
  flags2 = 0;
  opcode = 0;
  /** Lower-case name without the trailing dot (`''` for the root); a `.` inside a label reads as NUL. */
  name = '';
  /** Wire length of the question name (labels + root byte). */
  nameLength = 0;
  qtype = 0;
  qclass = 0;
  /** Offset just past the question (header + name + type + class). */
  questionEnd = 0;
  ednsPresent = false;
  ednsUdpSize = 0;
  ednsVersion = 0;
  ednsDo = false;
}

const nameScratch = Buffer.allocUnsafe(256);

/**
 * Reads header, question and any OPT record of `msg` into `out`. Returns `undefined` when the
 * message is a well-formed query, else the error code (nothing is thrown).
 */
export function readQuery(msg: Buffer, out: QueryFields): WireErrorCode | undefined {
  const len = msg.length;
  if (len < HEADER_SIZE) return 'short-header';
  out.id = (msg[0] << 8) | msg[1];
  out.flags1 = msg[2];
  out.flags2 = msg[3];
  out.opcode = (msg[2] >> 3) & 0x0f;
  out.ednsPresent = false;
  out.ednsUdpSize = 0;
  out.ednsVersion = 0;
  out.ednsDo = false;
  out.name = '';
  out.questionEnd = 0;
  if (msg[2] & FLAG_QR) return 'not-a-query';
  const qdcount = (msg[4] << 8) | msg[5];
  if (qdcount !== 1) return 'bad-question-count';

  // Question name: plain labels only, copied lower-case into the scratch buffer.
  let off = HEADER_SIZE;
  let n = 0; // bytes written to the scratch (dotted form)
  for (;;) {
    if (off >= len) return 'overrun';
    const labelLen = msg[off];
    if (labelLen === 0) {
      off++;
      break;
    }
    if (labelLen >= 0xc0) return 'compression-in-question';
    if (labelLen > 63) return 'label-too-long'; // 0x40/0x80: reserved label types
    if (off + 1 + labelLen > len) return 'overrun';
    if (off - HEADER_SIZE + 1 + labelLen + 1 > 255) return 'name-too-long';
    if (n > 0) nameScratch[n++] = 0x2e;
    for (let i = off + 1, end = off + 1 + labelLen; i < end; i++) {
      let c = msg[i];
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      else if (c === 0x2e) c = 0;
      nameScratch[n++] = c;
    }
    off += 1 + labelLen;
  }
  out.nameLength = off - HEADER_SIZE;
  out.name = n === 0 ? '' : nameScratch.toString('latin1', 0, n);
  if (off + 4 > len) return 'overrun';
  out.qtype = (msg[off] << 8) | msg[off + 1];
  out.qclass = (msg[off + 2] << 8) | msg[off + 3];
  off += 4;
  out.questionEnd = off;

  // Skip answer and authority records (a query normally has none), then look for OPT.
  const ancount = (msg[6] << 8) | msg[7];
  const nscount = (msg[8] << 8) | msg[9];
  const arcount = (msg[10] << 8) | msg[11];
  if (ancount === 0 && nscount === 0 && arcount === 0) return undefined;
  for (let i = 0, skip = ancount + nscount; i < skip; i++) {
    const next = skipRecord(msg, off);
    if (next < 0) return next === -2 ? 'compression-loop' : 'overrun';
    off = next;
  }
  for (let i = 0; i < arcount; i++) {
    const nameEnd = skipName(msg, off);
    if (nameEnd < 0) return nameEnd === -2 ? 'compression-loop' : 'overrun';
    if (nameEnd + 10 > len) return 'overrun';
    const type = (msg[nameEnd] << 8) | msg[nameEnd + 1];
    const rdlen = (msg[nameEnd + 8] << 8) | msg[nameEnd + 9];
    const next = nameEnd + 10 + rdlen;
    if (next > len) return 'overrun';
    if (type === QTYPE.OPT) {
      if (out.ednsPresent || msg[off] !== 0) return 'bad-opt';
      out.ednsPresent = true;
      out.ednsUdpSize = (msg[nameEnd + 2] << 8) | msg[nameEnd + 3];
      out.ednsVersion = msg[nameEnd + 5];
      out.ednsDo = (msg[nameEnd + 6] & 0x80) !== 0;
    }
    off = next;
  }
  return undefined;
}

/** Offset after the name at `off` (pointers followed only backwards), -1 overrun, -2 loop. */
function skipName(msg: Buffer, off: number): number {
  const len = msg.length;
  for (;;) {
    if (off >= len) return -1;
    const b = msg[off];
    if (b === 0) return off + 1;
    if ((b & 0xc0) === 0xc0) {
      if (off + 2 > len) return -1;
      const target = ((b & 0x3f) << 8) | msg[off + 1];
      if (target >= off) return -2;
      // The name ends here for the purpose of skipping; validate the pointed-to chain is finite.
      if (!chainIsFinite(msg, target)) return -2;
      return off + 2;
    }
    if (b & 0xc0) return -1;
    off += 1 + b;
  }
}

function chainIsFinite(msg: Buffer, off: number): boolean {
  const len = msg.length;
  let hops = 0;
  let total = 0;
  for (;;) {
    if (off >= len) return false;
    const b = msg[off];
    if (b === 0) return true;
    if ((b & 0xc0) === 0xc0) {
      if (off + 2 > len || ++hops > 64) return false;
      const target = ((b & 0x3f) << 8) | msg[off + 1];
      if (target >= off) return false;
      off = target;
      continue;
    }
    if (b & 0xc0) return false;
    total += b + 1;
    if (total > 255) return false;
    off += 1 + b;
  }
}

function skipRecord(msg: Buffer, off: number): number {
  const nameEnd = skipName(msg, off);
  if (nameEnd < 0) return nameEnd;
  if (nameEnd + 10 > msg.length) return -1;
  const next = nameEnd + 10 + ((msg[nameEnd + 8] << 8) | msg[nameEnd + 9]);
  return next > msg.length ? -1 : next;
}

/** Convenience for tests and cold paths: reads a query or throws `DnsWireError`. */
export function parseQuery(msg: Buffer): QueryFields {
  const out = new QueryFields();
  const err = readQuery(msg, out);
  if (err) throw new DnsWireError(err);
  return out;
}

/** Header byte 2 of a reply to a query whose byte 2 was `queryFlags1`. */
export function replyFlags1(queryFlags1: number, authoritative: boolean, truncated: boolean): number {
  return FLAG_QR | (queryFlags1 & 0x78) | (authoritative ? FLAG_AA : 0) | (truncated ? FLAG_TC : 0) | (queryFlags1 & FLAG_RD);
}

/** Header byte 3 of a reply. */
export function replyFlags2(queryFlags2: number, recursionAvailable: boolean, rcode: number): number {
  return (recursionAvailable ? FLAG_RA : 0) | (queryFlags2 & FLAG_CD) | (rcode & 0x0f);
}

/**
 * A reply with no records: the header, plus the question as sent when `questionEnd > 0` (the
 * offset just past the question, as read by `readQuery`). For FORMERR, NOTIMP, REFUSED, SERVFAIL.
 */
export function encodeEmptyReply(msg: Buffer, questionEnd: number, rcode: number, recursionAvailable: boolean): Buffer {
  const withQuestion = questionEnd > 0;
  const out = Buffer.allocUnsafe(withQuestion ? questionEnd : HEADER_SIZE);
  if (withQuestion) msg.copy(out, 0, 0, questionEnd);
  else {
    out[0] = msg[0];
    out[1] = msg[1];
  }
  out[2] = replyFlags1(msg[2], false, false);
  out[3] = replyFlags2(msg[3], recursionAvailable, rcode);
  out.writeUInt16BE(withQuestion ? 1 : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

/** Writes an OPT pseudo-record (root owner, our UDP size, DO echoed) at `off`; returns the new offset. */
export function writeOpt(out: Buffer, off: number, udpSize: number, dnssecOk: boolean, extendedRcode = 0): number {
  out[off] = 0;
  out.writeUInt16BE(QTYPE.OPT, off + 1);
  out.writeUInt16BE(udpSize, off + 3);
  out[off + 5] = extendedRcode >> 4; // upper 8 bits of the 12-bit rcode
  out[off + 6] = 0; // version
  out[off + 7] = dnssecOk ? 0x80 : 0;
  out[off + 8] = 0;
  out.writeUInt16BE(0, off + 9); // rdlength
  return off + OPT_RR_SIZE;
}

/**
 * The reply to a query whose EDNS version is above 0 (RFC 6891 §6.1.3): the question, no records,
 * and an OPT of version 0 carrying BADVERS (as NSD answers it).
 */
export function encodeBadVersReply(msg: Buffer, questionEnd: number, recursionAvailable: boolean, udpSize: number, dnssecOk: boolean): Buffer {
  const empty = encodeEmptyReply(msg, questionEnd, RCODE.BADVERS, recursionAvailable);
  const out = Buffer.allocUnsafe(empty.length + OPT_RR_SIZE);
  empty.copy(out, 0);
  out.writeUInt16BE(1, 10);
  writeOpt(out, empty.length, udpSize, dnssecOk, RCODE.BADVERS);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding records (cold path: run when an answer is (re)built, never per query).

export function parseIPv4(ip: string): number[] | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    bytes.push(v);
  }
  return bytes;
}

export function parseIPv6(ip: string): number[] | undefined {
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const lastColon = ip.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (ip.includes('.', lastColon)) {
    const v4 = parseIPv4(ip.slice(lastColon + 1));
    if (!v4) return undefined;
    ip = `${ip.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = ip.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]);
  const rest = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !rest) return undefined;
  let groups = head;
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  }
  if (groups.length !== 8) return undefined;
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** A record to encode. Owner and name data are lower-case FQDNs without the trailing dot. */
export type ResourceRecord =
  | { owner: string; type: typeof QTYPE.A | typeof QTYPE.AAAA; ttl: number; address: string }
  | { owner: string; type: typeof QTYPE.SRV; ttl: number; priority: number; weight: number; port: number; target: string }
  | { owner: string; type: typeof QTYPE.SOA; ttl: number; soa: SoaData }
  | { owner: string; type: typeof QTYPE.NS | typeof QTYPE.PTR; ttl: number; target: string }
  | { owner: string; type: typeof QTYPE.HINFO; ttl: number; cpu: string; os: string };

export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

/** Where a name written by a `SectionEncoder` may point to. */
export type CompressionScope = 'question' | 'all';

/**
 * Encodes records into a body that follows a question at offset 12. Compression pointers are
 * absolute offsets in the final message: the question name (`questionName`, whose wire form is
 * at offset 12 in every reply) and, with scope `all`, names written earlier in this body.
 */
let encoderScratch = Buffer.allocUnsafeSlow(64 * 1024);

export class SectionEncoder {
  // All encoders write into one module-level scratch buffer (they run one at a time, synchronously),
  // so encoding leaves no garbage next to the small buffers that are kept.
  private buf = encoderScratch;
  private len = 0;
  private readonly base: number;
  private readonly questionNames = new Map<string, number>();
  private readonly bodyNames = new Map<string, number>();
  private added: string[] | null = null;

  /**
   * `questionName` lower-case without trailing dot; its wire length fixes where the body starts.
   * Starting a new encoder discards what the previous one wrote: take `bytes()` / `copyTo()` first.
   */
  constructor(questionName: string) {
    let off = HEADER_SIZE;
    const labels = questionName === '' ? [] : questionName.split('.');
    for (let i = 0; i < labels.length; i++) {
      this.questionNames.set(labels.slice(i).join('.'), off);
      off += 1 + Buffer.byteLength(labels[i], 'latin1');
    }
    this.base = off + 1 + 4;
  }

  get length(): number {
    return this.len;
  }

  /** Absolute offset in the final message of the body's first byte. */
  get bodyStart(): number {
    return this.base;
  }

  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  /** Copies the bytes written so far into `target` at `offset`. */
  copyTo(target: Buffer, offset: number): void {
    this.buf.copy(target, offset, 0, this.len);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    encoderScratch = next;
  }

  private u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  private u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  private u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  /** Writes `name`, compressed against names allowed by `scope` unless `compress` is false. */
  writeName(name: string, scope: CompressionScope, compress = true): void {
    const labels = name === '' ? [] : name.split('.');
    let total = 1;
    for (const l of labels) {
      const n = Buffer.byteLength(l, 'latin1');
      if (n === 0 || n > 63) throw new EncodeError(`label '${l}' of '${name}' is empty or longer than 63 bytes`);
      total += n + 1;
    }
    if (total > 255) throw new EncodeError(`name '${name}' is longer than 255 bytes`);
    for (let i = 0; i < labels.length; i++) {
      const suffix = i === 0 ? name : labels.slice(i).join('.');
      if (compress) {
        const ptr = this.questionNames.get(suffix) ?? (scope === 'all' ? this.bodyNames.get(suffix) : undefined);
        if (ptr !== undefined) {
          this.u16(0xc000 | ptr);
          return;
        }
      }
      const at = this.base + this.len;
      if (at < 0x3fff && !this.bodyNames.has(suffix) && !this.questionNames.has(suffix)) {
        this.bodyNames.set(suffix, at);
        this.added?.push(suffix);
      }
      this.u8(labels[i].length);
      this.ensure(labels[i].length);
      this.len += this.buf.write(labels[i], this.len, 'latin1');
    }
    this.u8(0);
  }

  /** Appends one record; returns the offset (within the body) of the SOA serial, else -1. */
  writeRecord(rr: ResourceRecord, scope: CompressionScope): number {
    const start = this.len;
    this.added = [];
    try {
      return this.writeRecordUnchecked(rr, scope);
    } catch (err) {
      this.len = start;
      for (const k of this.added) this.bodyNames.delete(k);
      throw err;
    } finally {
      this.added = null;
    }
  }

  private writeRecordUnchecked(rr: ResourceRecord, scope: CompressionScope): number {
    this.writeName(rr.owner, scope);
    this.u16(rr.type);
    this.u16(1); // class IN
    this.u32(rr.ttl);
    const rdlenAt = this.len;
    this.u16(0);
    let serialAt = -1;
    switch (rr.type) {
      case QTYPE.A: {
        const b = parseIPv4(rr.address);
        if (!b) throw new EncodeError(`'${rr.address}' is not an IPv4 address`);
        for (const x of b) this.u8(x);
        break;
      }
      case QTYPE.AAAA: {
        const b = parseIPv6(rr.address);
        if (!b) throw new EncodeError(`'${rr.address}' is not an IPv6 address`);
        for (const x of b) this.u8(x);
        break;
      }
      case QTYPE.SRV:
        this.u16(rr.priority);
        this.u16(rr.weight);
        this.u16(rr.port);
        this.writeName(rr.target, scope, false); // RFC 2782: no compression of the target
        break;
      case QTYPE.SOA:
        this.writeName(rr.soa.mname, scope);
        this.writeName(rr.soa.rname, scope);
        serialAt = this.len;
        this.u32(rr.soa.serial);
        this.u32(rr.soa.refresh);
        this.u32(rr.soa.retry);
        this.u32(rr.soa.expire);
        this.u32(rr.soa.minimum);
        break;
      case QTYPE.NS:
      case QTYPE.PTR:
        this.writeName(rr.target, scope);
        break;
      case QTYPE.HINFO:
        for (const text of [rr.cpu, rr.os]) {
          const n = Buffer.byteLength(text, 'latin1');
          if (n > 255) throw new EncodeError(`HINFO text '${text}' is longer than 255 bytes`);
          this.u8(n);
          this.ensure(n);
          this.len += this.buf.write(text, this.len, 'latin1');
        }
        break;
    }
    this.buf.writeUInt16BE(this.len - rdlenAt - 2, rdlenAt);
    return serialAt;
  }
}

/** Wire length of a name (labels + root byte), assuming valid labels. */
export function nameWireLength(name: string): number {
  return name === '' ? 1 : Buffer.byteLength(name, 'latin1') + 2;
}

/** Builds a query message (tests, tools): id, name, qtype; optional EDNS0 size and RD. */
export function encodeQuery(
  id: number,
  name: string,
  qtype: number,
  opts: { recursionDesired?: boolean; ednsUdpSize?: number; dnssecOk?: boolean } = {},
): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  const nameLen = labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 1);
  const out = Buffer.alloc(HEADER_SIZE + nameLen + 4 + (opts.ednsUdpSize ? OPT_RR_SIZE : 0));
  out.writeUInt16BE(id, 0);
  out[2] = opts.recursionDesired === false ? 0 : FLAG_RD;
  out.writeUInt16BE(1, 4);
  if (opts.ednsUdpSize) out.writeUInt16BE(1, 10);
  let off = HEADER_SIZE;
  for (const l of labels) {
    out[off] = Buffer.byteLength(l);
    off += 1 + out.write(l, off + 1);
  }
  out[off++] = 0;
  out.writeUInt16BE(qtype, off);
  out.writeUInt16BE(1, off + 2);
  off += 4;
  if (opts.ednsUdpSize) writeOpt(out, off, opts.ednsUdpSize, opts.dnssecOk ?? false);
  return out;
}
