// The admin port (marathon-lb's :9090): health check, the live configuration and maps, the signal
// endpoints, an HAProxy-like stats page (HTML and CSV), Prometheus metrics and a JSON status.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basicAuthMatches, stateFileMetricsText, type FeedStatus, type Logger, type StateFileStatus } from '@baton/marathon';
import type { Backend, RouteProblem, RouteTable } from './route-table.js';
import type { ListenerInfo } from './load-balancer.js';
import type { Counters, LbStats } from './stats.js';
import type { CheckStatus } from './health-check.js';
import type { HealthChecker } from './health-checker.js';
import type { PassiveHealth } from './balancer.js';

/** A worker process of `--workers N`, as the admin port reports it. */
export interface WorkerStatus {
  worker: number;
  pid: number | null;
  /** `serving`: answered the admin port's question in time; `silent`: did not; `starting`: not serving yet. */
  state: 'serving' | 'silent' | 'starting';
  /** Cluster state version of the table the worker serves. */
  tableVersion?: number;
  restarts: number;
}

/** What the admin pages read of the data plane: one process's load balancer, or every worker's summed. */
export interface AdminLbView {
  listeners(): ListenerInfo[];
  problems(): RouteProblem[];
  stats: LbStats;
  balancer: { health: Pick<PassiveHealth, 'details'>; activeOn(serverId: string): number };
  checks?: Pick<HealthChecker, 'view' | 'checksTotal' | 'checksFailed' | 'size' | 'down' | 'running' | 'waiting'>;
  accessLog?: { readonly dropped: number };
  /** With `--workers`: each worker, and whether it answered. */
  workers?: WorkerStatus[];
}

export interface AdminSource {
  table(): RouteTable;
  lb: AdminLbView;
  /** The data plane's figures gathered per request (every worker's, with `--workers`); `lb` without it. */
  view?(): Promise<AdminLbView>;
  feedStatus(): FeedStatus | undefined;
  /** `--state-file`'s writes and failures, when there is one. */
  stateFileStatus?(): StateFileStatus | undefined;
  /** `/_mlb_signal/hup`: full resync from Marathon (one at a time: calls while one runs join it). */
  resync(): Promise<void>;
  /** `/_mlb_signal/usr1`: re-apply the current table. */
  reload(): Promise<void>;
  renderConfig?: (table: RouteTable) => string;
  renderVhostMap?: (table: RouteTable) => string;
  renderAppMap?: (table: RouteTable) => string;
  /** `user:pass` required on every path but the health check. */
  adminAuth?: string;
  logger: Logger;
}

export type ServerState = 'UP' | 'DOWN' | 'DRAIN';

export interface ServerStatus {
  id: string;
  name: string;
  taskId: string;
  host: string;
  port: number;
  state: ServerState;
  active: number;
  /** Consecutive connect failures while down. */
  failures?: number;
  retryInMs?: number;
  lastError?: string;
  /** Active health check, when the backend has one. */
  check?: ServerCheckStatus;
}

export interface ServerCheckStatus {
  kind: 'tcp' | 'http';
  /** HAProxy's stats status: `UP`, `UP 1/3` (going down), `DOWN 1/2` (going up), `DOWN`. */
  status: string;
  /** HAProxy's check_status of the last check (`L7OK`, `L7STS`, `L4CON`, ...). */
  last?: CheckStatus;
  code?: number;
  durationMs?: number;
  info?: string;
  /** Failed checks, and UP → DOWN transitions, since the server was added. */
  failures: number;
  downs: number;
  /** Seconds since the state last changed. */
  sinceChangeSeconds: number;
}

export interface BackendStatus {
  name: string;
  appId: string;
  portIndex: number;
  mode: string;
  servicePort: number;
  balance: string;
  vhosts: string[];
  paths: string[];
  servers: ServerStatus[];
}

export function serverStatuses(source: Pick<AdminSource, 'lb'>, backend: Backend, now = Date.now()): ServerStatus[] {
  const { balancer } = source.lb;
  return backend.servers.map((s) => {
    const down = balancer.health.details(s.id);
    const check = source.lb.checks?.view(s.id);
    const state: ServerState = s.draining ? 'DRAIN' : down !== undefined || (check !== undefined && !check.up) ? 'DOWN' : 'UP';
    const status: ServerStatus = { id: s.id, name: s.name, taskId: s.taskId, host: s.host, port: s.port, state, active: balancer.activeOn(s.id) };
    if (check !== undefined) {
      status.check = { kind: check.kind, status: check.status, failures: check.failures, downs: check.downs, sinceChangeSeconds: Math.max(0, Math.round((now - check.changedAt) / 1000)) };
      if (check.last !== undefined) {
        status.check.last = check.last.status;
        status.check.durationMs = check.last.durationMs;
        if (check.last.code !== undefined) status.check.code = check.last.code;
        if (check.last.info !== undefined) status.check.info = check.last.info;
      }
    }
    if (down !== undefined) {
      status.failures = down.failures;
      status.retryInMs = Math.max(0, down.retryAt - now);
      status.lastError = down.lastError;
    }
    return status;
  });
}

function syncAgeSeconds(lastSyncAt: unknown): number | null {
  const at = typeof lastSyncAt === 'number' ? lastSyncAt : typeof lastSyncAt === 'string' ? Date.parse(lastSyncAt) : NaN;
  return Number.isFinite(at) ? Math.max(0, Math.round((Date.now() - at) / 100) / 10) : null;
}

/** The JSON of `/_baton/status`. */
export function renderStatus(source: Pick<AdminSource, 'lb' | 'table' | 'feedStatus' | 'stateFileStatus'>): object {
  const table = source.table();
  const feed = source.feedStatus();
  const stateFile = source.stateFileStatus?.();
  return {
    tableVersion: table.stateVersion,
    feed: feed === undefined ? null : { ...feed, ageSeconds: syncAgeSeconds(feed.lastSyncAt) },
    ...(stateFile ? { stateFile } : {}),
    ...(source.lb.workers ? { workers: source.lb.workers } : {}),
    listeners: source.lb.listeners(),
    problems: source.lb.problems(),
    backends: [...table.backends.values()].map(
      (b): BackendStatus => ({
        name: b.name,
        appId: b.appId,
        portIndex: b.portIndex,
        mode: b.mode,
        servicePort: b.servicePort,
        balance: b.balance,
        vhosts: b.vhosts,
        paths: b.paths,
        servers: serverStatuses(source, b),
      }),
    ),
  };
}

// --- HAProxy-like stats ---------------------------------------------------------------------------

/** HAProxy's CSV columns up to `hrsp_other`, in HAProxy's order. */
export const CSV_COLUMNS = [
  'pxname', 'svname', 'qcur', 'qmax', 'scur', 'smax', 'slim', 'stot', 'bin', 'bout', 'dreq', 'dresp', 'ereq', 'econ',
  'eresp', 'wretr', 'wredis', 'status', 'weight', 'act', 'bck', 'chkfail', 'chkdown', 'lastchg', 'downtime', 'qlimit',
  'pid', 'iid', 'sid', 'throttle', 'lbtot', 'tracked', 'type', 'rate', 'rate_lim', 'rate_max', 'check_status',
  'check_code', 'check_duration', 'hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other',
] as const;

export interface StatsRow {
  pxname: string;
  svname: string;
  /** 0 frontend, 1 backend, 2 server. */
  type: 0 | 1 | 2;
  status: string;
  counters: Counters | undefined;
  act?: number;
  check?: ServerCheckStatus;
}

export function statsRows(source: Pick<AdminSource, 'lb' | 'table'>): StatsRow[] {
  const { stats } = source.lb;
  const rows: StatsRow[] = [];
  for (const l of source.lb.listeners()) {
    if (l.kind === 'admin') continue;
    rows.push({ pxname: l.name, svname: 'FRONTEND', type: 0, status: 'OPEN', counters: stats.frontends.get(l.name) });
  }
  for (const backend of source.table().backends.values()) {
    const servers = serverStatuses(source, backend);
    let up = 0;
    for (const s of servers) {
      if (s.state === 'UP') up++;
      rows.push({ pxname: backend.name, svname: s.name, type: 2, status: serverRowStatus(s), counters: stats.servers.get(s.id), act: 1, check: s.check });
    }
    rows.push({ pxname: backend.name, svname: 'BACKEND', type: 1, status: up > 0 ? 'UP' : 'DOWN', counters: stats.backends.get(backend.name), act: up });
  }
  return rows;
}

/** A server's stats status: DRAIN, or its check's HAProxy status (`UP 1/3`...), or UP/DOWN. */
function serverRowStatus(s: ServerStatus): string {
  // A draining server is what marathon-lb writes as `disabled`: HAProxy shows it MAINT, which zdd reads.
  if (s.state === 'DRAIN') return 'MAINT';
  if (s.check !== undefined && s.state === 'UP') return s.check.status;
  if (s.check !== undefined && s.check.status.startsWith('DOWN')) return s.check.status;
  return s.state;
}

function csvValue(row: StatsRow, column: (typeof CSV_COLUMNS)[number]): string | number {
  const c = row.counters;
  switch (column) {
    case 'pxname': return row.pxname;
    case 'svname': return row.svname;
    case 'scur': case 'stot': case 'bin': case 'bout': case 'ereq': case 'econ': case 'eresp':
      return c?.[column] ?? 0;
    case 'status': return row.status;
    case 'type': return row.type;
    case 'act': return row.act ?? '';
    case 'weight': return row.type === 2 ? 1 : '';
    case 'pid': return 1;
    case 'check_status': return row.check?.last ?? '';
    case 'check_code': return row.check?.code ?? '';
    case 'check_duration': return row.check?.durationMs ?? '';
    case 'chkfail': return row.check?.failures ?? '';
    case 'chkdown': return row.check?.downs ?? '';
    case 'lastchg': return row.check?.sinceChangeSeconds ?? '';
    case 'hrsp_1xx': case 'hrsp_2xx': case 'hrsp_3xx': case 'hrsp_4xx': case 'hrsp_5xx':
      return c?.hrsp[Number(column[5])] ?? 0;
    case 'hrsp_other': return c?.hrsp[0] ?? 0;
    default: return '';
  }
}

export function renderStatsCsv(rows: StatsRow[]): string {
  let out = `# ${CSV_COLUMNS.join(',')},\n`;
  for (const row of rows) out += `${CSV_COLUMNS.map((col) => csvValue(row, col)).join(',')},\n`;
  return out;
}

function workersLine(workers: WorkerStatus[]): string {
  const serving = workers.filter((w) => w.state === 'serving').length;
  const missing = workers.filter((w) => w.state !== 'serving').map((w) => `worker ${w.worker} ${w.state}`);
  return `${serving} of ${workers.length} workers counted${missing.length > 0 ? ` (${missing.join(', ')})` : ''}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

export function renderStatsHtml(rows: StatsRow[], tableVersion: number, workers?: WorkerStatus[]): string {
  const groups = new Map<string, StatsRow[]>();
  for (const row of rows) {
    let list = groups.get(row.pxname);
    if (list === undefined) groups.set(row.pxname, (list = []));
    list.push(row);
  }
  let body = '';
  for (const [pxname, list] of groups) {
    body += `<h2>${escapeHtml(pxname)}</h2>\n<table>\n<tr><th>name</th><th>status</th><th>cur sessions</th><th>total sessions</th><th>bytes in</th><th>bytes out</th><th>req errors</th><th>conn errors</th><th>resp errors</th><th>2xx</th><th>4xx</th><th>5xx</th></tr>\n`;
    for (const row of list) {
      const c = row.counters;
      body += `<tr class="${row.status.split(' ')[0].toLowerCase()}"><td>${escapeHtml(row.svname)}</td><td>${row.status}</td><td>${c?.scur ?? 0}</td><td>${c?.stot ?? 0}</td><td>${c?.bin ?? 0}</td><td>${c?.bout ?? 0}</td><td>${c?.ereq ?? 0}</td><td>${c?.econ ?? 0}</td><td>${c?.eresp ?? 0}</td><td>${c?.hrsp[2] ?? 0}</td><td>${c?.hrsp[4] ?? 0}</td><td>${c?.hrsp[5] ?? 0}</td></tr>\n`;
    }
    body += '</table>\n';
  }
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>baton-lb statistics</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #999;padding:2px 6px;text-align:right}td:first-child{text-align:left}tr.up td{background:#c0ffc0}tr.down td{background:#ffc0c0}tr.maint td{background:#a0a0ff}</style>
</head><body><h1>baton-lb statistics</h1><p>route table version ${tableVersion}</p>${workers === undefined ? '' : `<p>${escapeHtml(workersLine(workers))}</p>`}
${body}</body></html>
`;
}

// --- Prometheus -----------------------------------------------------------------------------------

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(source: Pick<AdminSource, 'lb' | 'table' | 'feedStatus' | 'stateFileStatus'>): string {
  const table = source.table();
  const { stats } = source.lb;
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const classes = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

  metric('baton_lb_requests_total', 'counter', 'HTTP responses sent per backend, by status class.');
  for (const [name, c] of stats.backends) {
    for (let i = 1; i <= 6; i++) {
      const idx = i % 6;
      if (c.hrsp[idx] > 0 || (idx >= 2 && idx <= 5)) lines.push(`baton_lb_requests_total{backend="${label(name)}",code="${classes[idx]}"} ${c.hrsp[idx]}`);
    }
  }
  metric('baton_lb_backend_bytes_total', 'counter', 'Body bytes per backend: in = from clients, out = to clients.');
  for (const [name, c] of stats.backends) {
    lines.push(`baton_lb_backend_bytes_total{backend="${label(name)}",direction="in"} ${c.bin}`);
    lines.push(`baton_lb_backend_bytes_total{backend="${label(name)}",direction="out"} ${c.bout}`);
  }
  metric('baton_lb_backend_active_sessions', 'gauge', 'Requests or tunnels in flight per backend.');
  for (const [name, c] of stats.backends) lines.push(`baton_lb_backend_active_sessions{backend="${label(name)}"} ${c.scur}`);
  metric('baton_lb_backend_connection_errors_total', 'counter', 'Failed connection attempts to servers, per backend.');
  for (const [name, c] of stats.backends) lines.push(`baton_lb_backend_connection_errors_total{backend="${label(name)}"} ${c.econ}`);
  metric('baton_lb_backend_response_errors_total', 'counter', 'Server timeouts and resets after connecting, per backend.');
  for (const [name, c] of stats.backends) lines.push(`baton_lb_backend_response_errors_total{backend="${label(name)}"} ${c.eresp}`);

  metric('baton_lb_frontend_active_connections', 'gauge', 'Open client connections per listener.');
  for (const [name, c] of stats.frontends) lines.push(`baton_lb_frontend_active_connections{frontend="${label(name)}"} ${c.scur}`);
  metric('baton_lb_frontend_connections_total', 'counter', 'Client connections accepted per listener.');
  for (const [name, c] of stats.frontends) lines.push(`baton_lb_frontend_connections_total{frontend="${label(name)}"} ${c.stot}`);
  metric('baton_lb_frontend_bytes_total', 'counter', 'Bytes per listener (closed connections): in = from clients, out = to clients.');
  for (const [name, c] of stats.frontends) {
    lines.push(`baton_lb_frontend_bytes_total{frontend="${label(name)}",direction="in"} ${c.bin}`);
    lines.push(`baton_lb_frontend_bytes_total{frontend="${label(name)}",direction="out"} ${c.bout}`);
  }
  metric('baton_lb_frontend_request_errors_total', 'counter', 'Requests refused per listener (no route, denied, bad request).');
  for (const [name, c] of stats.frontends) lines.push(`baton_lb_frontend_request_errors_total{frontend="${label(name)}"} ${c.ereq}`);

  metric('baton_lb_backend_servers', 'gauge', 'Servers per backend by state.');
  for (const backend of table.backends.values()) {
    const counts = { up: 0, down: 0, draining: 0 };
    for (const s of serverStatuses(source, backend)) counts[s.state === 'UP' ? 'up' : s.state === 'DOWN' ? 'down' : 'draining']++;
    for (const [state, n] of Object.entries(counts)) lines.push(`baton_lb_backend_servers{backend="${label(backend.name)}",state="${state}"} ${n}`);
  }
  const checks = source.lb.checks;
  if (checks !== undefined) {
    metric('baton_lb_health_checks_total', 'counter', 'Active health checks run, by result.');
    lines.push(`baton_lb_health_checks_total{result="passed"} ${checks.checksTotal - checks.checksFailed}`);
    lines.push(`baton_lb_health_checks_total{result="failed"} ${checks.checksFailed}`);
    metric('baton_lb_health_checked_servers', 'gauge', 'Servers with an active health check, by check state.');
    lines.push(`baton_lb_health_checked_servers{state="up"} ${checks.size - checks.down.size}`);
    lines.push(`baton_lb_health_checked_servers{state="down"} ${checks.down.size}`);
    metric('baton_lb_health_checks_in_flight', 'gauge', 'Active health checks running now (capped), and waiting for a slot.');
    lines.push(`baton_lb_health_checks_in_flight{phase="running"} ${checks.running}`);
    lines.push(`baton_lb_health_checks_in_flight{phase="waiting"} ${checks.waiting}`);
  }
  if (source.lb.accessLog !== undefined) {
    metric('baton_lb_access_log_dropped_total', 'counter', 'Access-log lines dropped because the log sink could not keep up.');
    lines.push(`baton_lb_access_log_dropped_total ${source.lb.accessLog.dropped}`);
  }
  const workers = source.lb.workers;
  if (workers !== undefined) {
    metric('baton_lb_workers', 'gauge', 'Worker processes by state (serving: answered this scrape in time).');
    for (const state of ['serving', 'silent', 'starting']) lines.push(`baton_lb_workers{state="${state}"} ${workers.filter((w) => w.state === state).length}`);
    metric('baton_lb_worker_restarts_total', 'counter', 'Worker processes restarted after they died.');
    lines.push(`baton_lb_worker_restarts_total ${workers.reduce((n, w) => n + w.restarts, 0)}`);
  }
  metric('baton_lb_proxy_header_refused_total', 'counter', 'Connections closed on accept-proxy listeners: PROXY protocol header missing, malformed or late.');
  lines.push(`baton_lb_proxy_header_refused_total ${source.lb.stats.proxyHeaderRefused}`);
  metric('baton_lb_route_problems', 'gauge', 'Problems in the current route table, by kind (each affects only its app port).');
  const kinds = new Map<string, number>();
  for (const p of source.lb.problems()) kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
  for (const [kind, n] of kinds) lines.push(`baton_lb_route_problems{kind="${label(kind)}"} ${n}`);
  metric('baton_lb_route_table_version', 'gauge', 'Cluster state version the served route table was built from.');
  lines.push(`baton_lb_route_table_version ${table.stateVersion}`);
  metric('baton_lb_backends', 'gauge', 'Backends in the route table.');
  lines.push(`baton_lb_backends ${table.backends.size}`);

  const feed = source.feedStatus();
  if (feed !== undefined) {
    metric('baton_lb_feed_connected', 'gauge', '1 while the Marathon event stream is connected.');
    lines.push(`baton_lb_feed_connected ${feed.connected ? 1 : 0}`);
    metric('baton_lb_feed_stale', 'gauge', '1 while the routes may lag Marathon (stream down or resync failing).');
    lines.push(`baton_lb_feed_stale ${feed.stale ? 1 : 0}`);
    metric('baton_lb_feed_staleness_seconds', 'gauge', 'Seconds since the state was last known in sync (0 when fresh).');
    lines.push(`baton_lb_feed_staleness_seconds ${feed.staleSeconds}`);
    metric('baton_lb_feed_events_total', 'counter', 'Marathon events applied.');
    lines.push(`baton_lb_feed_events_total ${feed.eventsApplied}`);
  }
  return `${lines.join('\n')}\n${stateFileMetricsText('baton_lb', source.stateFileStatus?.())}`;
}

// --- HTTP -----------------------------------------------------------------------------------------

function send(res: ServerResponse, status: number, type: string, body: string, extra?: Record<string, string>): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache', ...extra });
  res.end(body);
}


export function createAdminServer(source: AdminSource): Server {
  const server = createServer((req, res) => {
    void handle(source, req, res).catch((err: Error) => {
      source.logger.error({ err }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', `${err.message}\n`);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}

async function handle(source: AdminSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (path === '/_haproxy_health_check') {
    send(res, 200, 'text/plain', 'OK\n');
    return;
  }
  if (source.adminAuth && !basicAuthMatches(req.headers.authorization, source.adminAuth)) {
    send(res, 401, 'text/plain', 'Unauthorized\n', { 'www-authenticate': 'Basic realm="baton-lb admin"' });
    return;
  }
  const table = source.table();
  // The pages of the data plane's figures: with --workers, gathered from every worker first.
  const withView = async (): Promise<AdminSource> => (source.view === undefined ? source : { ...source, lb: await source.view() });
  switch (path) {
    case '/_haproxy_getconfig':
      send(res, 200, 'text/plain; charset=utf-8', source.renderConfig ? source.renderConfig(table) : `${JSON.stringify(renderStatus(await withView()), null, 2)}\n`);
      return;
    case '/_haproxy_getvhostmap':
      send(res, 200, 'text/plain; charset=utf-8', source.renderVhostMap ? source.renderVhostMap(table) : '');
      return;
    case '/_haproxy_getappmap':
      send(res, 200, 'text/plain; charset=utf-8', source.renderAppMap ? source.renderAppMap(table) : '');
      return;
    case '/_haproxy_getpids':
      send(res, 200, 'text/plain', `${process.pid}\n`);
      return;
    case '/_mlb_signal/hup':
      try {
        await source.resync();
        send(res, 200, 'text/plain', 'Resynced with Marathon\n');
      } catch (err) {
        send(res, 500, 'text/plain', `Resync failed: ${(err as Error).message}\n`);
      }
      return;
    case '/_mlb_signal/usr1':
      await source.reload();
      send(res, 200, 'text/plain', 'Reloaded the current route table\n');
      return;
    case '/haproxy':
      if (query.startsWith('stats')) {
        const viewed = await withView();
        const rows = statsRows(viewed);
        if (query.includes(';csv')) send(res, 200, 'text/csv; charset=utf-8', renderStatsCsv(rows));
        else send(res, 200, 'text/html; charset=utf-8', renderStatsHtml(rows, table.stateVersion, viewed.lb.workers));
        return;
      }
      break;
    case '/metrics':
      send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(await withView()));
      return;
    case '/_baton/status':
      send(res, 200, 'application/json', `${JSON.stringify(renderStatus(await withView()), null, 2)}\n`);
      return;
  }
  send(res, 404, 'text/plain', 'Not found\n');
}
