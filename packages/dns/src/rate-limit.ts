// UDP response-rate limiting per client network, with NSD's and BIND's `slip`: a network (an IPv4
// /24, an IPv6 /56 by default) may receive `responsesPerSecond` replies a second (a token bucket
// holding one second's worth); of the replies over that rate every `slip`-th is sent as an empty
// reply with TC set (a real client retries over TCP, which is not limited), the others are dropped.
// The limiter is pure (the caller passes the time); the table of networks is capped, the least recently
// seen goes. `udpRateGate` puts it in front of the UDP socket.
import { performance } from 'node:perf_hooks';
import type { DnsConfig } from './config.js';
import type { DnsMetrics } from './metrics.js';
import { RCODE, encodeEmptyReply, parseIPv4, parseIPv6, readQuery, QueryFields } from './wire.js';

export type RateLimitConfig = Pick<DnsConfig, 'rrlResponsesPerSecond' | 'rrlSlip' | 'rrlIpv4PrefixLength' | 'rrlIpv6PrefixLength' | 'recurseOn'>;

export type RateVerdict = 'pass' | 'drop' | 'slip';

export interface RateLimitOptions {
  responsesPerSecond: number;
  /** 0: drop every reply over the rate; N: send every Nth as TC, drop the others. */
  slip: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Networks tracked at once (default 65 536). */
  maxNetworks?: number;
}

interface Bucket {
  tokens: number;
  at: number;
  over: number;
}

/** The network `address` belongs to, as a map key (`4:10.1.2.0`, `6:2001:db8:…`), or undefined when not an IP. */
export function networkKey(address: string, ipv4PrefixLength: number, ipv6PrefixLength: number): string | undefined {
  if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
  const v4 = address.includes(':') ? undefined : parseIPv4(address);
  const bytes = v4 ?? parseIPv6(address);
  if (!bytes) return undefined;
  let bits = v4 ? ipv4PrefixLength : ipv6PrefixLength;
  for (let i = 0; i < bytes.length; i++, bits -= 8) {
    if (bits >= 8) continue;
    bytes[i] = bits <= 0 ? 0 : bytes[i] & (0xff << (8 - bits));
  }
  return v4 ? `4:${bytes.join('.')}` : `6:${bytes.map((b) => b.toString(16)).join(':')}`;
}

export class ResponseRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly slip: number;
  private readonly maxNetworks: number;

  constructor(private readonly options: RateLimitOptions) {
    this.rate = options.responsesPerSecond;
    this.slip = options.slip;
    this.maxNetworks = options.maxNetworks ?? 65_536;
  }

  /** Networks currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  /** Whether a reply to `address` may go now (`nowMs`: a monotonic clock in milliseconds). */
  check(address: string, nowMs: number): RateVerdict {
    const key = networkKey(address, this.options.ipv4PrefixLength, this.options.ipv6PrefixLength);
    if (key === undefined) return 'pass';
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key); // re-inserted below: the map stays ordered by last use
      bucket.tokens = Math.min(this.rate, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.rate);
      bucket.at = nowMs;
    } else {
      if (this.buckets.size >= this.maxNetworks) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.rate, at: nowMs, over: 0 };
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.over = 0;
      return 'pass';
    }
    bucket.over++;
    return this.slip > 0 && bucket.over % this.slip === 0 ? 'slip' : 'drop';
  }
}

/**
 * The check run on each UDP query before it is answered, or undefined when rate limiting is off:
 * true = answer it; false = it was dropped, or its slip reply (the question, no records, TC set)
 * was handed to `sendSlip`. Counted in `metrics`.
 */
export function udpRateGate(
  config: RateLimitConfig,
  metrics: DnsMetrics,
): ((msg: Buffer, client: string, sendSlip: (reply: Buffer) => void) => boolean) | undefined {
  if (!(config.rrlResponsesPerSecond > 0)) return undefined;
  const limiter = new ResponseRateLimiter({
    responsesPerSecond: config.rrlResponsesPerSecond,
    slip: config.rrlSlip,
    ipv4PrefixLength: config.rrlIpv4PrefixLength,
    ipv6PrefixLength: config.rrlIpv6PrefixLength,
  });
  const q = new QueryFields();
  return (msg, client, sendSlip) => {
    const verdict = limiter.check(client, performance.now());
    if (verdict === 'pass') return true;
    if (verdict === 'slip' && readQuery(msg, q) === undefined) {
      metrics.rateLimitedSlipped++;
      const reply = encodeEmptyReply(msg, q.questionEnd, RCODE.NOERROR, config.recurseOn);
      reply[2] |= 0x02; // TC: ask again over TCP
      sendSlip(reply);
    } else metrics.rateLimitedDropped++;
    return false;
  };
}
