// Mesos-DNS's HTTP API (reference mesos-dns.md §7) with the same JSON shapes, plus `/v1/hosts/{host}/ports`
// (implemented here), `/health` and Prometheus `/metrics`. Every /v1 route answers 200, also when
// nothing is found, as Mesos-DNS does.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { redactUrl, silentLogger, type Logger, type StateFileStatus } from '@baton/marathon';
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
  /** More Prometheus text appended to `/metrics` (the DNS server's query counters). */
  metricsText?: () => string;
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
    HttpAuth: config.httpAuth === '' ? '' : `${config.httpAuth.slice(0, config.httpAuth.indexOf(':'))}:<redacted>`,
  };
  if (config.iamConfigFile !== '') out.IAMConfigFile = config.iamConfigFile;
  return out;
}

/** `/v1/axfr`: every in-domain name (PTR names are outside the domain and left out). */
export function axfrJson(view: RecordStore, config: DnsConfig): Record<string, unknown> {
  const As: Record<string, string[]> = {};
  const AAAAs: Record<string, string[]> = {};
  const SRVs: Record<string, string[]> = {};
  const suffix = '.' + view.domain;
  for (const name of view.names()) {
    if (name !== view.domain && !name.endsWith(suffix)) continue;
    for (const { type, value } of view.allValues(name) ?? []) {
      const key = name + '.';
      if (type === 'A') (As[key] ??= []).push(value);
      else if (type === 'AAAA') (AAAAs[key] ??= []).push(value);
      else if (type === 'SRV') {
        const at = value.lastIndexOf(':');
        (SRVs[key] ??= []).push(`${value.slice(0, at)}.:${value.slice(at + 1)}`);
      }
    }
  }
  return {
    TTL: config.ttl,
    Serial: view.serial,
    RefreshSeconds: config.refreshSeconds,
    Mname: config.soaMname + '.',
    Rname: config.soaRname + '.',
    Domain: config.domain,
    Records: { As, AAAAs, SRVs },
  };
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

/** True when `header` is `Basic base64(user:password)` for exactly `expected`, compared in constant time. */
export function basicAuthMatches(header: string | undefined, expected: Buffer): boolean {
  if (header === undefined || !/^basic /i.test(header)) return false;
  const given = Buffer.from(header.slice(6).trim(), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
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

  const expectedAuth = config.httpAuth === '' ? undefined : Buffer.from(config.httpAuth);
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
    if (config.enumerationOn && path === '/v1/enumerate') return json(res, 200, view.enumerate());
    if (config.enumerationOn && path === '/v1/axfr') return json(res, 200, axfrJson(view, config));
    if (path === '/health') {
      const report = healthReport(view, sources(), opts.stateFile?.());
      return json(res, report.ok ? 200 : 503, report);
    }
    if (path === '/metrics') {
      let text = storeMetricsText(view, sources());
      const extra = opts.metricsText?.();
      if (extra) text += extra.endsWith('\n') ? extra : extra + '\n';
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
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
