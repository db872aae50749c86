// Authoritative answers, pre-encoded. For each (name, qtype) asked, wildcard names included, the
// reply body (answer, authority and additional sections, compressed against the question at
// offset 12) is built once from the RecordView and kept, up to `cacheSize` replies (least recently
// used evicted), until the view reports that name (or the owner of a wildcard, or an SRV target it
// uses) changed. A query then costs: copy the question as sent, patch the header, append the body.
//
// Semantics follow Mesos-DNS (reference §6): AA, RA = recurseOn, one TTL, NXDOMAIN + SOA for
// unknown names, NODATA + SOA for names with other records, SRV + additional A/AAAA, SOA/NS in
// the authority section, ANY = SRV + A + AAAA (with `minimalAny`, baton's default: one synthesized
// HINFO, RFC 8482). baton adds PTR for reverse names the view holds and honours EDNS0 buffer sizes.
import type { DnsConfig } from './config.js';
import type { NameRecords, RecordView } from './record-view.js';
import {
  EncodeError,
  MAX_MESSAGE_SIZE,
  MIN_UDP_SIZE,
  OPT_RR_SIZE,
  QTYPE,
  RCODE,
  SectionEncoder,
  nameWireLength,
  replyFlags1,
  replyFlags2,
  writeOpt,
  type QueryFields,
  type ResourceRecord,
} from './wire.js';

export type AnswerConfig = Pick<
  DnsConfig,
  | 'ttl'
  | 'srvRecordDefaultWeight'
  | 'soaMname'
  | 'soaRname'
  | 'soaRefresh'
  | 'soaRetry'
  | 'soaExpire'
  | 'recurseOn'
  | 'setTruncateBit'
  | 'maxUdpPayload'
  | 'minimalAny'
> &
  Partial<Pick<DnsConfig, 'cacheSize'>>;

/** The sections of one reply, in record form (built on a cache miss only). */
export interface AnswerPlan {
  rcode: number;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  /** Names whose records went into the additional section (SRV targets). */
  dependsOn: string[];
}

/**
 * A pre-encoded reply, kept as one Buffer (few objects per cached name):
 *
 *   0 u8 rcode | 1 u8 orderings | 2 u8 next ordering | 3 unused | 4 u32 serial
 *   8 u32 × orderings: offset of each ordering's block
 *   block: u16 bodyLength, u16 answers, u16 authorityEnd, u16 authorities, u16 additionals,
 *          u16 serialAt (0xffff: none), u16 × answers: end of each answer record, then the body
 *
 * A body is the answer, authority and additional sections, compressed against the question at
 * offset 12. The authority section points only into the question, so answers can be cut from the
 * tail without breaking it.
 */
type Encoded = Buffer;

const E_RCODE = 0;
const E_COUNT = 1;
const E_NEXT = 2;
const E_SERIAL = 4;
const E_TABLE = 8;
const V_BODY_LEN = 0;
const V_ANSWERS = 2;
const V_AUTH_END = 4;
const V_NS = 6;
const V_AR = 8;
const V_SERIAL_AT = 10;
const V_ENDS = 12;
const NO_SERIAL = 0xffff;
/** Records stop being added once a body reaches this size: nothing longer could ever be sent. */
const MAX_BODY = 64_000;

const MAX_ORDERINGS = 4;

const REVERSE_SUFFIXES = ['.in-addr.arpa', '.ip6.arpa'];

export function isReverseName(name: string): boolean {
  return name.endsWith(REVERSE_SUFFIXES[0]) || name.endsWith(REVERSE_SUFFIXES[1]);
}

/** Mesos-DNS's wildcard cleaning: `bob.*.mesos` → `bob.mesos`. */
export function cleanWildcard(name: string): string {
  return name.includes('.*') ? name.split('.*').join('') : name;
}

/** The size a UDP reply may have: 512, or the client's EDNS0 size capped by `maxUdpPayload`. */
export function udpReplyLimit(q: QueryFields, maxUdpPayload: number): number {
  if (!q.ednsPresent) return MIN_UDP_SIZE;
  return Math.max(MIN_UDP_SIZE, Math.min(q.ednsUdpSize, maxUdpPayload, MAX_MESSAGE_SIZE));
}

/**
 * What Mesos-DNS answers for `qtype` at `owner` (lower-case, cleaned). `questionName` is the
 * question as asked (lower-case): SRV, SOA, NS and PTR owners reuse it, as Mesos-DNS does.
 */
export function planAnswer(
  view: RecordView,
  config: AnswerConfig,
  owner: string,
  questionName: string,
  qtype: number,
): AnswerPlan {
  const recs = view.lookup(owner);
  const ttl = config.ttl;
  const plan: AnswerPlan = { rcode: RCODE.NOERROR, answers: [], authority: [], additional: [], dependsOn: [] };
  const soa = (): ResourceRecord => ({
    owner: questionName,
    type: QTYPE.SOA,
    ttl,
    soa: {
      mname: config.soaMname,
      rname: config.soaRname,
      serial: view.serial >>> 0,
      refresh: config.soaRefresh,
      retry: config.soaRetry,
      expire: config.soaExpire,
      minimum: ttl,
    },
  });
  const ns = (): ResourceRecord => ({ owner: questionName, type: QTYPE.NS, ttl, target: config.soaMname });
  const addA = (r: NameRecords | undefined) => {
    for (const address of r?.a ?? []) plan.answers.push({ owner, type: QTYPE.A, ttl, address });
  };
  const addAAAA = (r: NameRecords | undefined) => {
    for (const address of r?.aaaa ?? []) plan.answers.push({ owner, type: QTYPE.AAAA, ttl, address });
  };
  const addSrv = (r: NameRecords | undefined) => {
    const seen = new Set<string>();
    for (const { target, port } of r?.srv ?? []) {
      plan.answers.push({
        owner: questionName,
        type: QTYPE.SRV,
        ttl,
        priority: 0,
        weight: config.srvRecordDefaultWeight,
        port,
        target,
      });
      if (seen.has(target)) continue;
      seen.add(target);
      plan.dependsOn.push(target);
      const t = view.lookup(target);
      if (t?.a.length) plan.additional.push({ owner: target, type: QTYPE.A, ttl, address: t.a[0] });
      if (t?.aaaa.length) plan.additional.push({ owner: target, type: QTYPE.AAAA, ttl, address: t.aaaa[0] });
    }
  };

  switch (qtype) {
    case QTYPE.A:
      addA(recs);
      break;
    case QTYPE.AAAA:
      addAAAA(recs);
      break;
    case QTYPE.SRV:
      addSrv(recs);
      return plan; // no records: NOERROR, empty, no SOA
    case QTYPE.SOA:
      plan.authority.push(soa());
      return plan;
    case QTYPE.NS:
      plan.authority.push(ns());
      return plan;
    case QTYPE.PTR:
      for (const target of recs?.ptr ?? []) plan.answers.push({ owner: questionName, type: QTYPE.PTR, ttl, target });
      break;
    case QTYPE.ANY:
      if (config.minimalAny) {
        // RFC 8482 §4.2: one small record instead of every RRset, so ANY cannot amplify.
        if (recs && recs.a.length + recs.aaaa.length + recs.srv.length + recs.ptr.length > 0) {
          plan.answers.push({ owner: questionName, type: QTYPE.HINFO, ttl, cpu: 'RFC8482', os: '' });
        }
        break;
      }
      addSrv(recs);
      addA(recs);
      addAAAA(recs);
      if (plan.answers.length > 0) plan.authority.push(soa(), ns());
      break;
  }
  if (plan.answers.length === 0) {
    const exists = !!recs && recs.a.length + recs.aaaa.length + recs.srv.length + recs.ptr.length > 0;
    plan.rcode = exists ? RCODE.NOERROR : RCODE.NXDOMAIN;
    plan.additional = [];
    plan.dependsOn = [];
    plan.authority = [soa()];
  }
  return plan;
}

let assembly = Buffer.allocUnsafeSlow(64 * 1024);

/** Encodes a plan into up to MAX_ORDERINGS bodies, each starting the answers at another record. */
function encodePlan(plan: AnswerPlan, questionName: string, serial: number): Encoded {
  const n = plan.answers.length;
  const orderings = Math.min(n, MAX_ORDERINGS) || 1;
  let len = E_TABLE + 4 * orderings;
  for (let r = 0; r < orderings; r++) {
    const start = Math.floor((r * n) / orderings);
    const answers = start === 0 ? plan.answers : [...plan.answers.slice(start), ...plan.answers.slice(0, start)];
    const enc = new SectionEncoder(questionName);
    const answerEnds: number[] = [];
    let serialAt = NO_SERIAL;
    const write = (rr: ResourceRecord, scope: 'question' | 'all'): boolean => {
      if (enc.length >= MAX_BODY) return false;
      try {
        const at = enc.writeRecord(rr, scope);
        if (at >= 0) serialAt = at;
        return true;
      } catch (err) {
        if (err instanceof EncodeError) return false; // a record that cannot be put on the wire is left out
        throw err;
      }
    };
    for (const rr of answers) if (write(rr, 'all')) answerEnds.push(enc.length);
    let nsCount = 0;
    for (const rr of plan.authority) if (write(rr, 'question')) nsCount++;
    const authEnd = enc.length;
    let arCount = 0;
    for (const rr of plan.additional) if (write(rr, 'all')) arCount++;

    const blockLen = V_ENDS + 2 * answerEnds.length + enc.length;
    if (assembly.length < len + blockLen) {
      const bigger = Buffer.allocUnsafeSlow(2 * (len + blockLen));
      assembly.copy(bigger, 0, 0, len);
      assembly = bigger;
    }
    assembly.writeUInt32BE(len, E_TABLE + 4 * r);
    assembly.writeUInt16BE(enc.length, len + V_BODY_LEN);
    assembly.writeUInt16BE(answerEnds.length, len + V_ANSWERS);
    assembly.writeUInt16BE(authEnd, len + V_AUTH_END);
    assembly.writeUInt16BE(nsCount, len + V_NS);
    assembly.writeUInt16BE(arCount, len + V_AR);
    assembly.writeUInt16BE(serialAt, len + V_SERIAL_AT);
    for (let i = 0; i < answerEnds.length; i++) assembly.writeUInt16BE(answerEnds[i], len + V_ENDS + 2 * i);
    enc.copyTo(assembly, len + V_ENDS + 2 * answerEnds.length);
    len += blockLen;
  }
  assembly[E_RCODE] = plan.rcode;
  assembly[E_COUNT] = orderings;
  assembly[E_NEXT] = 0;
  assembly[3] = 0;
  assembly.writeUInt32BE(serial >>> 0, E_SERIAL);
  const out = Buffer.allocUnsafe(len);
  assembly.copy(out, 0, 0, len);
  return out;
}

/** A question name of the given wire length that ends in `domain` (for replies shared by length). */
function syntheticName(wireLength: number, domain: string): string {
  let filler = wireLength - nameWireLength(domain);
  const labels: string[] = [];
  while (filler > 0) {
    let l = Math.min(63, filler - 1);
    if (filler - (l + 1) === 1) l--;
    labels.push('\x01'.repeat(l));
    filler -= l + 1;
  }
  labels.push(domain);
  return labels.join('.');
}

/** Default bound of the answer cache (config `cacheSize`): entries, one per (question name, qtype). */
export const DEFAULT_CACHE_SIZE = 100_000;

/**
 * Replies kept per question name, one per qtype: clients ask a name a few types (A, AAAA, SRV, ANY,
 * HTTPS…); a client cycling through all 65,536 evicts only that name's own older replies.
 */
const MAX_TYPES_PER_NAME = 16;

/** The cached replies for one question name, one per qtype asked. */
interface NameEntry {
  /** `[qtype, reply, qtype, reply, …]`: few qtypes are asked of one name. */
  replies: (number | Encoded)[];
  /** Other names whose records went into them (a wildcard's cleaned name, SRV targets), if any. */
  deps: string[] | undefined;
  /** `Answers.stamp` when it last moved to the recent end. */
  stamp: number;
}

export interface AnswerCacheStats {
  size: number;
  maxSize: number;
  hits: number;
  misses: number;
  evictions: number;
}

/**
 * The answer cache of one RecordView, a bounded LRU. `reply` is the per-query path; everything
 * else runs on a cache miss or when the view changes.
 */
export class Answers {
  private readonly view: RecordView;
  private readonly config: AnswerConfig;
  private readonly domain: string;
  private readonly domainSuffix: string;
  private readonly maxEntries: number;
  /** Question name → its replies, least recently used first. */
  private readonly cache = new Map<string, NameEntry>();
  /** Replies held in `cache` (what `cacheSize` bounds). */
  private size = 0;
  /** For unknown in-domain names: replies that depend only on the question's wire length. */
  private readonly byLength = new Map<number, Encoded>();
  /** Name → the other question names whose replies were built from its records. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly unsubscribe: () => void;
  private stamp = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(view: RecordView, config: AnswerConfig) {
    this.view = view;
    this.config = config;
    this.domain = view.domain;
    this.domainSuffix = `.${view.domain}`;
    this.maxEntries = Math.max(1, config.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.unsubscribe = view.subscribe((changed) => this.invalidate(changed));
  }

  close(): void {
    this.unsubscribe();
    this.cache.clear();
    this.size = 0;
    this.byLength.clear();
    this.dependents.clear();
  }

  /** Names with cached replies (for metrics and tests). */
  get cachedNames(): number {
    return this.cache.size;
  }

  /** Cached replies (one per name and type). */
  get cachedReplies(): number {
    return this.size;
  }

  stats(): AnswerCacheStats {
    return { size: this.size, maxSize: this.maxEntries, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Whether this server answers `name` itself: the domain, or a reverse name the view holds. */
  isAuthoritative(name: string): boolean {
    if (name === this.domain || name.endsWith(this.domainSuffix)) return true;
    if (name.includes('*')) name = cleanWildcard(name);
    if (name === this.domain || name.endsWith(this.domainSuffix)) return true;
    return isReverseName(name) && this.view.lookup(name) !== undefined;
  }

  private invalidate(changed: ReadonlySet<string>): void {
    for (const name of changed) {
      this.remove(name);
      const names = this.dependents.get(name);
      if (names) for (const dependent of [...names]) this.remove(dependent);
    }
  }

  /** Drops every cached reply to questions for `name`; returns how many there were. */
  private remove(name: string): number {
    const entry = this.cache.get(name);
    if (!entry) return 0;
    this.cache.delete(name);
    const count = entry.replies.length >> 1;
    this.size -= count;
    if (entry.deps) {
      for (const dep of entry.deps) {
        const names = this.dependents.get(dep);
        if (!names) continue;
        names.delete(name);
        if (names.size === 0) this.dependents.delete(dep);
      }
    }
    return count;
  }

  private encoded(q: QueryFields): Encoded {
    const name = q.name;
    const qtype = q.qtype;
    let entry = this.cache.get(name);
    if (entry) {
      const replies = entry.replies;
      for (let i = 0; i < replies.length; i += 2) {
        if (replies[i] !== qtype) continue;
        this.hits++;
        const enc = replies[i + 1] as Encoded;
        if (i !== replies.length - 2) {
          // The name's most recently used reply goes last; the first one is evicted from a full entry.
          replies.splice(i, 2);
          replies.push(qtype, enc);
        }
        // Move to the recent end only once it has aged a quarter of the cache: hot entries cost no Map churn.
        if (this.stamp - entry.stamp > this.maxEntries >> 2) {
          this.cache.delete(name);
          this.cache.set(name, entry);
          entry.stamp = ++this.stamp;
        }
        return enc;
      }
    }
    const wildcard = name.includes('*');
    const owner = wildcard ? cleanWildcard(name) : name;
    if (!wildcard && this.view.lookup(name) === undefined && name !== this.domain && name.endsWith(this.domainSuffix)) {
      return this.sharedByLength(q);
    }
    this.misses++;
    const plan = planAnswer(this.view, this.config, owner, name, qtype);
    const enc = encodePlan(plan, name, this.view.serial);
    if (entry) {
      this.cache.delete(name); // to the recent end
      entry.stamp = ++this.stamp;
    } else entry = { replies: [], deps: undefined, stamp: ++this.stamp };
    this.cache.set(name, entry);
    if (entry.replies.length >= 2 * MAX_TYPES_PER_NAME) {
      entry.replies.splice(0, 2);
      this.size--;
      this.evictions++;
    }
    entry.replies.push(qtype, enc);
    this.size++;
    for (const dep of owner === name ? plan.dependsOn : [owner, ...plan.dependsOn]) {
      if (dep === name) continue;
      if (entry.deps === undefined) entry.deps = [dep];
      else if (!entry.deps.includes(dep)) entry.deps.push(dep);
      else continue;
      const names = this.dependents.get(dep);
      if (names) names.add(name);
      else this.dependents.set(dep, new Set([name]));
    }
    while (this.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value!;
      if (oldest !== name) {
        this.evictions += this.remove(oldest);
        continue;
      }
      // Only this name is left: keep just the reply built now.
      const dropped = (entry.replies.length >> 1) - 1;
      entry.replies = [qtype, enc];
      this.size -= dropped;
      this.evictions += dropped;
    }
    return enc;
  }

  /** NXDOMAIN, SOA, NS and empty SRV replies for in-domain names the view does not have. */
  private sharedByLength(q: QueryFields): Encoded {
    const qt = q.qtype;
    const kind = qt === QTYPE.SOA || qt === QTYPE.NS || qt === QTYPE.SRV ? qt : QTYPE.A;
    const key = q.nameLength * 4 + (kind === QTYPE.SOA ? 1 : kind === QTYPE.NS ? 2 : kind === QTYPE.SRV ? 3 : 0);
    let enc = this.byLength.get(key);
    if (!enc) {
      const name = syntheticName(q.nameLength, this.domain);
      enc = encodePlan(planAnswer(this.view, this.config, name, name, kind), name, this.view.serial);
      this.byLength.set(key, enc);
    }
    return enc;
  }

  /**
   * The reply to an authoritative query `q` read from `msg`, at most `maxSize` bytes
   * (512 / EDNS0 size over UDP, 65535 over TCP): additional records dropped first, then answers
   * cut from the tail, TC set when anything was cut (and `setTruncateBit`).
   */
  reply(msg: Buffer, q: QueryFields, maxSize: number): Buffer {
    const enc = this.encoded(q);
    const count = enc[E_COUNT];
    const serial = this.view.serial >>> 0;
    if (enc.readUInt32BE(E_SERIAL) !== serial) {
      for (let i = 0; i < count; i++) {
        const v = enc.readUInt32BE(E_TABLE + 4 * i);
        const at = enc.readUInt16BE(v + V_SERIAL_AT);
        if (at !== NO_SERIAL) enc.writeUInt32BE(serial, v + V_ENDS + 2 * enc.readUInt16BE(v + V_ANSWERS) + at);
      }
      enc.writeUInt32BE(serial, E_SERIAL);
    }
    let v = E_TABLE + 4 * count;
    if (count > 1) {
      const k = enc[E_NEXT];
      enc[E_NEXT] = k + 1 === count ? 0 : k + 1;
      v = enc.readUInt32BE(E_TABLE + 4 * k);
    }
    const bodyLen = (enc[v + V_BODY_LEN] << 8) | enc[v + V_BODY_LEN + 1];
    const answers = (enc[v + V_ANSWERS] << 8) | enc[v + V_ANSWERS + 1];
    const authEnd = (enc[v + V_AUTH_END] << 8) | enc[v + V_AUTH_END + 1];
    const ends = v + V_ENDS;
    const body = ends + 2 * answers;
    const answerEnd = (i: number) => (enc[ends + 2 * i] << 8) | enc[ends + 2 * i + 1];

    const qEnd = q.questionEnd;
    const optLen = q.ednsPresent ? OPT_RR_SIZE : 0;
    const room = Math.min(maxSize, MAX_MESSAGE_SIZE) - qEnd - optLen;
    let anCount = answers;
    let nsCount = (enc[v + V_NS] << 8) | enc[v + V_NS + 1];
    let arCount = (enc[v + V_AR] << 8) | enc[v + V_AR + 1];
    let truncated = false;
    let out: Buffer;
    if (bodyLen <= room) {
      out = Buffer.allocUnsafe(qEnd + bodyLen + optLen);
      enc.copy(out, qEnd, body, body + bodyLen);
    } else {
      truncated = true;
      arCount = 0;
      const answersEnd = anCount ? answerEnd(anCount - 1) : 0;
      if (authEnd <= room) {
        out = Buffer.allocUnsafe(qEnd + authEnd + optLen);
        enc.copy(out, qEnd, body, body + authEnd);
      } else {
        let authLen = authEnd - answersEnd;
        if (authLen > room) {
          authLen = 0;
          nsCount = 0;
        }
        while (anCount > 0 && answerEnd(anCount - 1) + authLen > room) anCount--;
        const keep = anCount ? answerEnd(anCount - 1) : 0;
        out = Buffer.allocUnsafe(qEnd + keep + authLen + optLen);
        enc.copy(out, qEnd, body, body + keep);
        enc.copy(out, qEnd + keep, body + answersEnd, body + answersEnd + authLen);
      }
    }
    msg.copy(out, 0, 0, qEnd);
    out[2] = replyFlags1(msg[2], true, truncated && this.config.setTruncateBit);
    out[3] = replyFlags2(msg[3], this.config.recurseOn, enc[E_RCODE]);
    out[4] = 0;
    out[5] = 1;
    out[6] = anCount >> 8;
    out[7] = anCount & 0xff;
    out[8] = nsCount >> 8;
    out[9] = nsCount & 0xff;
    if (optLen) {
      arCount++;
      writeOpt(out, out.length - OPT_RR_SIZE, Math.max(MIN_UDP_SIZE, this.config.maxUdpPayload), q.ednsDo);
    }
    out[10] = arCount >> 8;
    out[11] = arCount & 0xff;
    return out;
  }
}
