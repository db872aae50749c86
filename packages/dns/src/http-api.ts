// Mesos-DNS's HTTP API (reference mesos-dns.md §7) with the same JSON shapes, plus `/v1/hosts/{host}/ports`
// (implemented here), `/health` and Prometheus `/metrics`. Every /v1 route answers 200, also when
// nothing is found, as Mesos-DNS does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { basicAuthMatches, redactUrl, silentLogger, type Logger, type StateFileStatus } from '@baton/marathon';
import type { DnsConfig } from './config.js';
import type { RecordStore, SourceStatus } from './record-store.js';

export interface HttpApiOptions {
  config: DnsConfig;
  view: RecordStore;
  /** Reported by `/v1/version`. */
  version: string;
  /** Reported by `/v1/version` as `URL` (default: empty). */
  url?: string;
  /** The sources' statuses, for `/health` and `/metrics` (default: none). */
  health?: () => SourceStatus[];
  /** `--state-file`'s writes and failures, for `/health` (default: none). */
  stateFile?: () => StateFileStatus | undefined;
  /** More Prometheus text appended to `/metrics` (the DNS server's query counters, summed over the workers). */
  metricsText?: () => string | Promise<string>;
  logger?: Logger;
}

export interface HealthReport {
  /** Every source has loaded once: answers are complete. */
  ok: boolean;
  /** Some source may be behind the cluster (answers come from the last known state). */
  stale: boolean;
  /** The largest staleSeconds among the sources. */
  staleSeconds: number;
  records: number;
  names: number;
  serial: number;
  sources: Record<string, SourceStatus>;
  /** `--state-file`: writes, failures and the last error (a failing file does not make `ok` false). */
  stateFile?: StateFileStatus;
}

export interface HostRow {
  host: string;
  ip: string;
}
export interface ServiceRow {
  service: string;
  host: string;
  ip: string;
  port: string;
}
/** A row of `/v1/hosts/{host}/ports`: one per service port of the host (a baton addition). */
export interface PortRow {
  /** The SRV name, e.g. `_http._web._tcp.marathon.mesos.`. */
  service: string;
  /** `tcp` or `udp`. */
  protocol: string;
  /** The port name for named-port SRVs, else `""`. */
  name: string;
  /** The SRV target. */
  host: string;
  ip: string;
  port: string;
}

const EMPTY_HOST: HostRow[] = [{ host: '', ip: '' }];
const EMPTY_SERVICE: ServiceRow[] = [{ service: '', host: '', ip: '', port: '' }];
const EMPTY_PORT: PortRow[] = [{ service: '', protocol: '', name: '', host: '', ip: '', port: '' }];

/** Mesos-DNS's name cleaning: lower-case, `.*` removed; returned without the trailing dot. */
export function cleanQueryName(name: string): string {
  return name.toLowerCase().split('.*').join('').replace(/\.$/, '');
}

/** Rows of `/v1/hosts/{host}`: A rows, then AAAA rows. */
export function hostRows(view: RecordStore, host: string): HostRow[] {
  const name = cleanQueryName(host);
  const records = view.lookup(name);
  if (!records || records.a.length + records.aaaa.length === 0) return EMPTY_HOST;
  return [...records.a, ...records.aaaa].map((ip) => ({ host: name + '.', ip }));
}

function firstIps(view: RecordStore, target: string): { a?: string; aaaa?: string } {
  const records = view.lookup(target);
  return { a: records?.a[0], aaaa: records?.aaaa[0] };
}

/** Rows of `/v1/services/{service}`: one per SRV target (first A), one more when it also has AAAA. */
export function serviceRows(view: RecordStore, service: string): ServiceRow[] {
  const records = view.lookup(cleanQueryName(service));
  if (!records || records.srv.length === 0) return EMPTY_SERVICE;
  const rows: ServiceRow[] = [];
  for (const { target, port } of records.srv) {
    const { a, aaaa } = firstIps(view, target);
    const base = { service, host: target + '.', port: String(port) };
    if (a !== undefined || aaaa === undefined) rows.push({ ...base, ip: a ?? '' });
    if (aaaa !== undefined) rows.push({ ...base, ip: aaaa });
  }
  return rows;
}

/** Rows of `/v1/hosts/{host}/ports`: every SRV of the host's services, sorted by service name. */
export function portRows(view: RecordStore, host: string): PortRow[] {
  const rows: PortRow[] = [];
  for (const service of view.servicesOf(cleanQueryName(host))) {
    const labels = service.split('.');
    const protoAt = labels.findIndex((l, i) => i > 0 && (l === '_tcp' || l === '_udp'));
    const name = protoAt >= 2 && labels[1].startsWith('_') ? labels[0].slice(1) : '';
    const protocol = labels[protoAt].slice(1);
    for (const { target, port } of view.lookup(service)?.srv ?? []) {
      const { a, aaaa } = firstIps(view, target);
      const base = { service: service + '.', protocol, name, host: target + '.', port: String(port) };
      if (a !== undefined || aaaa === undefined) rows.push({ ...base, ip: a ?? '' });
      if (aaaa !== undefined) rows.push({ ...base, ip: aaaa });
    }
  }
  return rows.length > 0 ? rows : EMPTY_PORT;
}

/** `/v1/config`: Mesos-DNS's `records.Config` field names; secrets redacted. */
export function configJson(config: DnsConfig, serial: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    RefreshSeconds: config.refreshSeconds,
    Port: config.port,
    Timeout: config.timeoutSeconds,
    StateTimeoutSeconds: config.stateTimeoutSeconds,
    ZkDetectionTimeout: config.zkDetectionTimeout,
    HttpPort: config.httpPort,
    TTL: config.ttl,
    SRVRecordDefaultWeight: config.srvRecordDefaultWeight,
    SOASerial: serial,
    SOARefresh: config.soaRefresh,
    SOARetry: config.soaRetry,
    SOAExpire: config.soaExpire,
    SOAMinttl: config.soaMinttl,
    SOAMname: config.soaMname + '.',
    SOARname: config.soaRname + '.',
    Masters: config.masters,
    ZoneResolvers: config.zoneResolvers,
    Resolvers: config.resolvers,
    IPSources: config.ipSources,
    Zk: redactUrl(config.zk),
    Domain: config.domain,
    File: config.file,
    Listener: config.listener,
    HTTPListener: config.httpListener,
    RecurseOn: config.recurseOn,
    DnsOn: config.dnsOn,
    HttpOn: config.httpOn,
    ExternalOn: config.externalOn,
    EnforceRFC952: config.enforceRfc952,
    SetTruncateBit: config.setTruncateBit,
    EnumerationOn: config.enumerationOn,
    MesosHTTPSOn: config.mesosHttpsOn,
    CACertFile: config.caCertFile,
    CertFile: config.certFile,
    KeyFile: config.keyFile,
    MesosCredentials: { Principal: config.mesosCredentials.principal, Secret: config.mesosCredentials.secret === '' ? '' : '<redacted>' },
    MesosAuthentication: config.mesosAuthentication,
    // baton additions
    Marathon: config.marathon.map(redactUrl),
    HealthyOnly: config.healthyOnly,
    PtrOn: config.ptrOn,
    ForwardAllowedNetworks: config.forwardAllowedNetworks,
    MaxUdpPayload: config.maxUdpPayload,
    ForwardMaxPending: config.forwardMaxPending,
    CacheSize: config.cacheSize,
    Workers: config.workers,
    HttpAuth: config.httpAuth === '' ? '' : `${config.httpAuth.slice(0, config.httpAuth.indexOf(':'))}:<redacted>`,
    HostnameResolvers: config.hostnameResolvers,
    MinimalAny: config.minimalAny,
    RrlResponsesPerSecond: config.rrlResponsesPerSecond,
    RrlSlip: config.rrlSlip,
    RrlIpv4PrefixLength: config.rrlIpv4PrefixLength,
    RrlIpv6PrefixLength: config.rrlIpv6PrefixLength,
  };
  if (config.iamConfigFile !== '') out.IAMConfigFile = config.iamConfigFile;
  return out;
}

/** `/v1/axfr`: every in-domain name (PTR names are outside the domain and left out). */
export function axfrJson(view: RecordStore, config: DnsConfig): Record<string, unknown> {
  const text: string[] = [];
  for (const _ of axfrText(view, config, text));
  return JSON.parse(text.join('')) as Record<string, unknown>;
}

/** The text of `/v1/axfr` pushed onto `out` in parts, yielding between names (one pass per record type). */
export function* axfrText(view: RecordStore, config: DnsConfig, out: { push(...parts: string[]): unknown }): Generator<void> {
  out.push(
    `{"TTL":${config.ttl},"Serial":${view.serial},"RefreshSeconds":${config.refreshSeconds},"Mname":${JSON.stringify(config.soaMname + '.')},` +
      `"Rname":${JSON.stringify(config.soaRname + '.')},"Domain":${JSON.stringify(config.domain)},"Records":{`,
  );
  const suffix = '.' + view.domain;
  for (const [type, key] of [['A', 'As'], ['AAAA', 'AAAAs'], ['SRV', 'SRVs']] as const) {
    out.push(type === 'A' ? `"${key}":{` : `,"${key}":{`);
    let first = true;
    for (const name of view.names()) {
      if (name !== view.domain && !name.endsWith(suffix)) continue;
      const values: string[] = [];
      for (const v of view.allValues(name) ?? []) {
        if (v.type !== type) continue;
        if (type !== 'SRV') values.push(v.value);
        else {
          const at = v.value.lastIndexOf(':');
          values.push(`${v.value.slice(0, at)}.:${v.value.slice(at + 1)}`);
        }
      }
      if (values.length > 0) {
        out.push(first ? '' : ',', JSON.stringify(name + '.'), ':', JSON.stringify(values));
        first = false;
      }
      yield;
    }
    out.push('}');
  }
  out.push('}}');
}

/** The text of `/v1/enumerate` appended to `out`, yielding between owners (tasks are grouped by framework). */
export function* enumerateText(view: RecordStore, out: ChunkedText): Generator<void> {
  const frameworks = new Map<string, ChunkedText>();
  for (const { framework, tasks } of view.enumerateOwners()) {
    let text = frameworks.get(framework);
    if (!text) frameworks.set(framework, (text = new ChunkedText()));
    for (const task of tasks) text.push(text.length === 0 && text.pending === 0 ? '' : ',', JSON.stringify(task));
    yield;
  }
  out.push('{"frameworks":[');
  let first = true;
  for (const [name, text] of frameworks) {
    out.push(first ? '' : ',', `{"name":${JSON.stringify(name)},"tasks":[`);
    first = false;
    out.append(text);
    out.push(']}');
  }
  out.push(']}');
}

/**
 * Text collected as UTF-8 Buffers of about 256 KiB (no huge string, few small ones; Buffers that
 * size are mapped apart from the heap, so their memory goes back to the system once dropped).
 */
export class ChunkedText {
  readonly chunks: Buffer[] = [];
  length = 0;
  private parts: string[] = [];
  private chars = 0;

  /** Parts not yet in `chunks`. */
  get pending(): number {
    return this.parts.length;
  }

  push(...parts: string[]): void {
    for (const part of parts) {
      this.parts.push(part);
      this.chars += part.length;
    }
    if (this.chars >= 256 * 1024) this.flush();
  }

  /** Moves `other`'s text to the end of this one. */
  append(other: ChunkedText): void {
    this.flush();
    other.flush();
    this.chunks.push(...other.chunks);
    this.length += other.length;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const chunk = Buffer.from(this.parts.join(''));
    this.parts = [];
    this.chars = 0;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
}

/** How long a built listing is kept for further calls (while the records do not change). */
export const LISTING_KEEP_MS = 10_000;

/** Longest stretch of listing work between two turns of the event loop (DNS is served in between). */
export const LISTING_SLICE_MS = 4;

/** Runs `steps` to the end in slices of about LISTING_SLICE_MS, giving the event loop a turn after each. */
export async function runSliced<T>(steps: Generator<void, T>): Promise<T> {
  let until = performance.now() + LISTING_SLICE_MS;
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() >= until) {
      await new Promise((resolve) => setImmediate(resolve));
      until = performance.now() + LISTING_SLICE_MS;
    }
  }
}

/** A listing's JSON body: UTF-8 chunks, sent one after the other. */
export interface ListingBody {
  chunks: Buffer[];
  length: number;
}

/**
 * The JSON bodies of the big listings, built in slices, one build at a time (calls arriving during a
 * build of their route share it), and kept for LISTING_KEEP_MS unless the records change: concurrent
 * and repeated calls cost one body, and every response sends those same Buffers.
 */
export class ListingCache {
  private readonly built = new Map<string, { serial: number; body: ListingBody }>();
  private readonly building = new Map<string, Promise<ListingBody>>();
  /** The build running now: the next one starts after it (their memory never adds up). */
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly view: RecordStore) {}

  body(route: string, build: (out: ChunkedText) => Generator<void>): Promise<ListingBody> {
    const cached = this.built.get(route);
    if (cached && cached.serial === this.view.serial) return Promise.resolve(cached.body);
    const inFlight = this.building.get(route);
    if (inFlight) return inFlight;
    const promise = this.last.then(async () => {
      try {
        const serial = this.view.serial;
        const again = this.built.get(route);
        if (again && again.serial === serial) return again.body;
        const text = new ChunkedText();
        await runSliced(build(text));
        text.flush();
        const body = { chunks: text.chunks, length: text.length };
        // Records that changed during the build leave it tagged with the old serial: the next call rebuilds.
        // Kept for a while only, so that an idle API holds no listing.
        this.built.set(route, { serial, body });
        setTimeout(() => {
          if (this.built.get(route)?.body === body) this.built.delete(route);
        }, LISTING_KEEP_MS).unref();
        return body;
      } finally {
        this.building.delete(route);
      }
    });
    this.last = promise.catch(() => undefined);
    this.building.set(route, promise);
    return promise;
  }
}

export function healthReport(view: RecordStore, sources: SourceStatus[], stateFile?: StateFileStatus): HealthReport {
  const stats = view.stats();
  const byName: Record<string, SourceStatus> = {};
  for (const s of sources) byName[s.name] = s;
  return {
    ok: sources.every((s) => s.ready),
    stale: sources.some((s) => s.stale),
    staleSeconds: Math.max(0, ...sources.map((s) => s.staleSeconds)),
    records: stats.records.A + stats.records.AAAA + stats.records.SRV + stats.records.PTR,
    names: stats.names,
    serial: stats.serial,
    sources: byName,
    ...(stateFile ? { stateFile } : {}),
  };
}

const labelValue = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text for the store and the sources. */
export function storeMetricsText(view: RecordStore, sources: SourceStatus[], now = Date.now()): string {
  const stats = view.stats();
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: [labels: string, value: number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  gauge('baton_dns_records', 'Distinct records served, by type.', (['A', 'AAAA', 'SRV', 'PTR'] as const).map((t) => [`{type="${t}"}`, stats.records[t]]));
  gauge('baton_dns_names', 'Owner names with records.', [['', stats.names]]);
  gauge('baton_dns_tasks', 'Tasks with published records.', [['', stats.tasks]]);
  gauge('baton_dns_serial', 'SOA serial.', [['', stats.serial]]);
  gauge('baton_dns_last_change_timestamp_seconds', 'When the records last changed (Unix time).', [['', stats.lastChangeAt === undefined ? 0 : stats.lastChangeAt / 1000]]);
  const per = (pick: (s: SourceStatus) => number | undefined): [string, number][] =>
    sources.flatMap((s) => {
      const v = pick(s);
      return v === undefined ? [] : [[`{source="${labelValue(s.name)}"}`, v] as [string, number]];
    });
  gauge('baton_dns_source_ready', 'The source has loaded once (1) or not yet (0).', per((s) => (s.ready ? 1 : 0)));
  gauge('baton_dns_source_stale', 'The source may be behind the cluster (1) or is in sync (0).', per((s) => (s.stale ? 1 : 0)));
  gauge('baton_dns_source_stale_seconds', 'Seconds the source has been stale.', per((s) => s.staleSeconds));
  gauge(
    'baton_dns_source_last_update_age_seconds',
    'Seconds since the source last brought news (an event or a successful poll).',
    per((s) => (s.lastUpdateAt === undefined ? undefined : Math.max(0, (now - s.lastUpdateAt) / 1000))),
  );
  return lines.join('\n') + '\n';
}


/** The request handler; `createHttpApi` wraps it in a server. `/health` stays open with `httpAuth` (for load-balancer and orchestrator probes). */
export function httpApiHandler(opts: HttpApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const logger = opts.logger ?? silentLogger();
  const { config, view } = opts;
  const sources = (): SourceStatus[] => opts.health?.() ?? [];

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const listings = new ListingCache(view);
  const listing = (req: IncomingMessage, res: ServerResponse, route: string, build: (out: ChunkedText) => Generator<void>): void => {
    listings.body(route, build).then(
      (body) => {
        if (res.destroyed) return;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
        // The shared chunks are queued by reference: a client that reads slowly holds no copy.
        if (req.method !== 'HEAD') for (const chunk of body.chunks) res.write(chunk);
        res.end();
      },
      (err: unknown) => {
        logger.error({ err, url: req.url }, 'HTTP API request failed');
        if (!res.headersSent) json(res, 500, { error: (err as Error).message });
        else res.destroy();
      },
    );
  };

  const expectedAuth = config.httpAuth === '' ? undefined : config.httpAuth;
  const route = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://api.invalid').pathname;
    if (expectedAuth !== undefined && path !== '/health' && !basicAuthMatches(req.headers.authorization, expectedAuth)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="baton-dns"');
      return json(res, 401, { error: 'unauthorized' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(res, 405, { error: `method ${req.method} not allowed` });
    }
    if (path === '/v1/version') return json(res, 200, { Service: 'baton-dns', Version: opts.version, URL: opts.url ?? '' });
    if (path === '/v1/config') return json(res, 200, configJson(config, view.serial));
    if (path.startsWith('/v1/hosts/')) {
      const rest = decodeURIComponent(path.slice('/v1/hosts/'.length));
      if (rest.endsWith('/ports')) return json(res, 200, portRows(view, rest.slice(0, -'/ports'.length)));
      if (rest !== '' && !rest.includes('/')) return json(res, 200, hostRows(view, rest));
    }
    if (path.startsWith('/v1/services/')) {
      const service = decodeURIComponent(path.slice('/v1/services/'.length));
      if (service !== '' && !service.includes('/')) return json(res, 200, serviceRows(view, service));
    }
    if (config.enumerationOn && path === '/v1/enumerate') return listing(req, res, path, (out) => enumerateText(view, out));
    if (config.enumerationOn && path === '/v1/axfr') return listing(req, res, path, (out) => axfrText(view, config, out));
    if (path === '/health') {
      const report = healthReport(view, sources(), opts.stateFile?.());
      return json(res, report.ok ? 200 : 503, report);
    }
    if (path === '/metrics') {
      const storeText = storeMetricsText(view, sources());
      const send = (extra: string | undefined): void => {
        if (res.destroyed) return;
        const text = storeText + (!extra ? '' : extra.endsWith('\n') ? extra : extra + '\n');
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      };
      const extra = opts.metricsText?.();
      if (!(extra instanceof Promise)) return send(extra);
      extra.then(send, (err: unknown) => {
        logger.error({ err, url: req.url }, 'HTTP API request failed');
        if (!res.headersSent) json(res, 500, { error: (err as Error).message });
      });
      return;
    }
    json(res, 404, { error: `no route ${path}` });
  };

  return (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      logger.error({ err, url: req.url }, 'HTTP API request failed');
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
      else res.destroy();
    }
  };
}

/** An HTTP server (not yet listening) serving the API; listen on `config.httpListener:config.httpPort`. */
export function createHttpApi(opts: HttpApiOptions): Server {
  return createServer(httpApiHandler(opts));
}
