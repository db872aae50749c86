// DNS server metrics: counters kept in typed arrays (no allocation per query), rendered as
// Prometheus text for the HTTP API's /metrics.

const QTYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  35: 'NAPTR',
  43: 'DS',
  48: 'DNSKEY',
  64: 'SVCB',
  65: 'HTTPS',
  251: 'IXFR',
  252: 'AXFR',
  255: 'ANY',
};
const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };
const OTHER_QTYPE = 256;
/** The 4-bit header rcodes, and BADVERS (16, an extended rcode). */
const RCODES = 17;

/** Upper bounds (seconds) of the latency histogram buckets. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type Transport = 'udp' | 'tcp';

/** What the server's live parts report at render time (the answer cache, the forwarder). */
export interface DnsGauges {
  cache: { size: number; maxSize: number; hits: number; misses: number; evictions: number };
  forwardPending: number;
}

/** The plain counters of DnsMetrics (summed across workers). */
const COUNTERS = [
  'forwardedUdp',
  'forwardedTcp',
  'forwardFailures',
  'forwardRejected',
  'malformed',
  'truncated',
  'refused',
  'tcpConnections',
  'badVersion',
  'badClass',
  'rateLimitedDropped',
  'rateLimitedSlipped',
] as const;

/** What a worker's DnsMetrics hold at one moment, as plain data (it crosses the IPC channel by structured clone). */
export interface DnsMetricsSnapshot {
  queries: Float64Array;
  latencyBuckets: Float64Array;
  latencySum: number;
  latencyCount: number;
  counters: Record<(typeof COUNTERS)[number], number>;
  gauges?: DnsGauges;
}

export class DnsMetrics {
  private readonly queries = new Float64Array((OTHER_QTYPE + 1) * RCODES);
  private readonly latencyBuckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  private latencySum = 0;
  private latencyCount = 0;
  forwardedUdp = 0;
  forwardedTcp = 0;
  forwardFailures = 0;
  /** Forwarded queries answered SERVFAIL at once because `forwardMaxPending` queries were waiting. */
  forwardRejected = 0;
  malformed = 0;
  truncated = 0;
  refused = 0;
  tcpConnections = 0;
  /** Queries with an EDNS version above 0 (answered BADVERS). */
  badVersion = 0;
  /** Queries of a class other than IN or ANY (refused). */
  badClass = 0;
  /** UDP replies held back by response-rate limiting: dropped, or sent empty with TC (slipped). */
  rateLimitedDropped = 0;
  rateLimitedSlipped = 0;
  /** Set by the server: read when rendering. */
  gauges?: () => DnsGauges;

  /** The counters and gauges now, as plain data. */
  snapshot(): DnsMetricsSnapshot {
    const counters = {} as DnsMetricsSnapshot['counters'];
    for (const key of COUNTERS) counters[key] = this[key];
    const out: DnsMetricsSnapshot = {
      queries: this.queries.slice(),
      latencyBuckets: this.latencyBuckets.slice(),
      latencySum: this.latencySum,
      latencyCount: this.latencyCount,
      counters,
    };
    const gauges = this.gauges?.();
    if (gauges) out.gauges = { cache: { ...gauges.cache }, forwardPending: gauges.forwardPending };
    return out;
  }

  /** Metrics whose counters and gauges are the sums of the snapshots' (the workers of one server). */
  static sum(snapshots: readonly DnsMetricsSnapshot[]): DnsMetrics {
    const total = new DnsMetrics();
    let gauges: DnsGauges | undefined;
    for (const s of snapshots) {
      for (let i = 0; i < total.queries.length; i++) total.queries[i] += s.queries[i] ?? 0;
      for (let i = 0; i < total.latencyBuckets.length; i++) total.latencyBuckets[i] += s.latencyBuckets[i] ?? 0;
      total.latencySum += s.latencySum;
      total.latencyCount += s.latencyCount;
      for (const key of COUNTERS) total[key] += s.counters[key] ?? 0;
      if (s.gauges) {
        gauges ??= { cache: { size: 0, maxSize: 0, hits: 0, misses: 0, evictions: 0 }, forwardPending: 0 };
        for (const key of ['size', 'maxSize', 'hits', 'misses', 'evictions'] as const) gauges.cache[key] += s.gauges.cache[key];
        gauges.forwardPending += s.gauges.forwardPending;
      }
    }
    const summed = gauges;
    if (summed) total.gauges = () => summed;
    return total;
  }

  /** One answered query: its qtype, the reply's rcode and the time spent, in seconds. */
  query(qtype: number, rcode: number, seconds: number): void {
    const t = qtype in QTYPE_NAMES ? qtype : OTHER_QTYPE;
    this.queries[t * RCODES + (rcode < RCODES ? rcode : rcode & 0x0f)]++;
    this.latencySum += seconds;
    this.latencyCount++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.latencyBuckets[i]++;
  }

  forwarded(transport: Transport): void {
    if (transport === 'udp') this.forwardedUdp++;
    else this.forwardedTcp++;
  }

  /** Total queries answered (any rcode). */
  get totalQueries(): number {
    return this.latencyCount;
  }

  /** Queries answered with `qtypeName` / `rcodeName` (for tests and status pages). */
  count(qtypeName?: string, rcodeName?: string): number {
    let total = 0;
    for (let t = 0; t <= OTHER_QTYPE; t++) {
      const tName = t === OTHER_QTYPE ? 'other' : QTYPE_NAMES[t];
      if (tName === undefined || (qtypeName !== undefined && tName !== qtypeName)) continue;
      for (let r = 0; r < RCODES; r++) {
        if (rcodeName !== undefined && rcodeLabel(r) !== rcodeName) continue;
        total += this.queries[t * RCODES + r];
      }
    }
    return total;
  }

  render(): string {
    const lines: string[] = [];
    lines.push('# HELP baton_dns_queries_total DNS queries answered, by query type and response code.');
    lines.push('# TYPE baton_dns_queries_total counter');
    for (let t = 0; t <= OTHER_QTYPE; t++) {
      const tName = t === OTHER_QTYPE ? 'other' : QTYPE_NAMES[t];
      if (tName === undefined) continue;
      for (let r = 0; r < RCODES; r++) {
        const v = this.queries[t * RCODES + r];
        if (v > 0) lines.push(`baton_dns_queries_total{qtype="${tName}",rcode="${rcodeLabel(r)}"} ${v}`);
      }
    }
    const counter = (name: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    counter('baton_dns_forwarded_total', 'Queries forwarded to upstream resolvers, by client transport.', [
      ['{transport="udp"}', this.forwardedUdp],
      ['{transport="tcp"}', this.forwardedTcp],
    ]);
    counter('baton_dns_forward_failures_total', 'Forwarded queries no upstream answered (SERVFAIL).', [['', this.forwardFailures]]);
    counter('baton_dns_forward_rejected_total', 'Queries answered SERVFAIL without forwarding: forwardMaxPending queries were waiting.', [['', this.forwardRejected]]);
    counter('baton_dns_malformed_total', 'Malformed messages (answered FORMERR or dropped).', [['', this.malformed]]);
    counter('baton_dns_truncated_total', 'Replies truncated to fit the UDP size.', [['', this.truncated]]);
    counter('baton_dns_refused_total', 'Queries refused (forwarding off or client not allowed).', [['', this.refused]]);
    counter('baton_dns_bad_version_total', 'Queries with an EDNS version above 0 (answered BADVERS).', [['', this.badVersion]]);
    counter('baton_dns_bad_class_total', 'Queries of a class other than IN or ANY (refused).', [['', this.badClass]]);
    counter('baton_dns_rate_limited_total', 'UDP replies over the response rate limit, dropped or sent truncated (slip).', [
      ['{action="drop"}', this.rateLimitedDropped],
      ['{action="slip"}', this.rateLimitedSlipped],
    ]);
    counter('baton_dns_tcp_connections_total', 'TCP connections accepted.', [['', this.tcpConnections]]);
    const live = this.gauges?.();
    if (live) {
      const gauge = (name: string, help: string, v: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${v}`);
      gauge('baton_dns_answer_cache_entries', 'Pre-encoded answers cached.', live.cache.size);
      gauge('baton_dns_answer_cache_max_entries', 'Bound of the answer cache (cacheSize).', live.cache.maxSize);
      counter('baton_dns_answer_cache_hits_total', 'Authoritative queries answered from the cache.', [['', live.cache.hits]]);
      counter('baton_dns_answer_cache_misses_total', 'Authoritative queries whose answer was built.', [['', live.cache.misses]]);
      counter('baton_dns_answer_cache_evictions_total', 'Answers evicted to keep the cache within cacheSize.', [['', live.cache.evictions]]);
      gauge('baton_dns_forward_pending', 'Forwarded queries waiting for upstreams.', live.forwardPending);
    }
    lines.push('# HELP baton_dns_query_duration_seconds Time from reading a query to sending its reply.');
    lines.push('# TYPE baton_dns_query_duration_seconds histogram');
    let cumulative = 0;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      cumulative += this.latencyBuckets[i];
      lines.push(`baton_dns_query_duration_seconds_bucket{le="${LATENCY_BUCKETS[i]}"} ${cumulative}`);
    }
    cumulative += this.latencyBuckets[LATENCY_BUCKETS.length];
    lines.push(`baton_dns_query_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
    lines.push(`baton_dns_query_duration_seconds_sum ${this.latencySum}`);
    lines.push(`baton_dns_query_duration_seconds_count ${this.latencyCount}`);
    return `${lines.join('\n')}\n`;
  }
}

function rcodeLabel(r: number): string {
  return RCODE_NAMES[r] ?? String(r);
}
