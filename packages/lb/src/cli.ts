// baton-lb: marathon-lb's flags; Marathon feed → ClusterState → RouteBuilder → data plane, in one
// process (--workers 1) or a primary and N workers (primary.ts, worker.ts).

import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import {
  UsageError,
  createLogger,
  onStopSignal,
  parseDuration,
  parseFlags,
  parseLogLevel,
  redactCredentials,
  redactUrl,
  reportUsageError,
  startMarathonSource,
  type ClusterState,
  type FlagSpec,
  type Logger,
  type MarathonAuth,
  type MarathonFeed,
  type MarathonFeedOptions,
  type MarathonSourceOptions,
  type StateFileLoad,
} from '@baton/marathon';
import { isZkUrl, marathonUrlResolver, parseZkUrl } from '@baton/zookeeper';
import { renderAppMap, renderConfig, renderVhostMap } from './admin-text.js';
import { RouteBuilder, type RouteOptionsInput } from './routes.js';
import { onChangeBursts } from './change-bursts.js';
import { startLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from './server.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from './proxy.js';
import { jsonAccessLog, parseSyslogTarget, syslogAccessLog, type AccessLog, type ChunkSink, type SyslogTarget } from './access-log.js';
import { runPrimary, type RunningPrimary } from './primary.js';
import { runWorker } from './worker.js';
import { defaultWorkers } from './cpu-limit.js';

/** The --help text (it names this machine's default worker count, read when asked for). */
export const usage = (): string => `Usage: baton-lb --group NAME [options]

marathon-lb-compatible HTTP/TCP/TLS load balancer that follows Marathon's event stream and
updates its routes in place (no reloads).

Marathon:
  -m, --marathon URL               Marathon URL, or zk://host:2181/marathon to follow the leader in
                                   ZooKeeper (repeatable; default http://master.mesos:8080)
      --auth-credentials USER:PASS Basic auth to Marathon
      --dcos-token TOKEN           DC/OS ACS token for Marathon (Authorization: token=...; also env DCOS_AUTH_TOKEN)
      --dcos-auth-credentials JSON DC/OS service account ({"uid":…,"private_key":…,"login_endpoint":…}; also
                                   env DCOS_SERVICE_ACCOUNT_CREDENTIAL): logs in, renews the token before expiry
      --marathon-auth-credential-file FILE
                                   File holding USER:PASS for Marathon
      --marathon-ca-cert FILE      CA certificate to trust for https Marathon URLs
  -s, --sse                        Accepted for compatibility (events are always streamed)

Routing:
      --group NAME                 HAPROXY_GROUP to expose (repeatable, required; * = all apps)
  -H, --health-check               Route only to tasks whose Marathon health checks pass
      --strict-mode                Expose a port only with HAPROXY_{n}_ENABLED=true
      --lru-cache-capacity N       Task health results kept across a Marathon failover (default 1000)
      --min-serv-port-ip-per-task N   Service port range for IP-per-task apps (default 10050)
      --max-serv-port-ip-per-task N   (default 10100)
      --ssl-certs A.pem,B.pem      Certificates (cert + key in one PEM) for :443; the first is the default
                                   (default /etc/ssl/cert.pem when it exists)

Listeners:
      --bind-address ADDR          Address to bind (default 0.0.0.0)
      --http-port N                HTTP vhost port (default 80)
      --https-port N               HTTPS vhost port (default 443)
      --app-id-port N              X-Marathon-App-Id port (default 9091)
      --admin-port N               Admin/stats port (default 9090)
      --admin-auth USER:PASS       Basic auth on the admin port (not on /_haproxy_health_check)
      --dont-bind-http-https       Do not bind the HTTP and HTTPS ports
      --proxy-protocol             HTTP, HTTPS and app-id ports take a PROXY protocol header (v1 or v2)
                                   on each connection, as HAProxy's accept-proxy (behind a cloud LB);
                                   the client address then comes from it
      --http2                      Offer HTTP/2 (ALPN h2) on the HTTPS port, as HAProxy's
                                   "alpn h2,http/1.1"; TLS service ports follow their
                                   HAPROXY_{n}_BIND_OPTIONS (default off, as marathon-lb)
      --overwrite-forwarded-proto  Set X-Forwarded-Proto (http/https) instead of passing the client's
                                   through (marathon-lb passes it through and adds https on TLS); use
                                   when clients outside trusted networks reach the plain HTTP port

Timeouts (HAProxy's, as marathon-lb sets them; 500ms, 5s, 1m, or a bare number of ms):
      --timeout-connect D          Connecting to a server (default 3s)
      --timeout-client D           Client inactivity (default 30s)
      --timeout-server D           Server response headers and body silence; then 504 (default 30s)
      --timeout-tunnel D           Idle WebSocket / TCP tunnels (default 1h)
      --timeout-http-request D     Receiving a complete request head, and a body of up to 16 KiB before
                                   it takes a server slot (default 15s)
      --timeout-http-body D        Receiving a whole request body; a trickle does not extend it (default 5m)
      --timeout-queue D            A request waiting for a connection to its server; then 503 (default 30s)
      --shutdown-grace D           On SIGTERM, how long in-flight requests may finish (default 10s)

marathon-lb flags with no meaning here (no HAProxy process, config file or reload) are accepted
with a warning, so an existing command line keeps working: --haproxy-config, --command/-c,
--max-reload-retries, --reload-interval, --skip-validation, --skip-config-cleanup, --dry/-d,
--archive-versions, --haproxy-map, --group-https-by-vhost,
--max-backoff, --longhelp, and a leading 'sse' or 'poll' word (marathon-lb's image).

Health checks (HAProxy's, from each app's first Marathon health check of a port; no --health-check needed):
      --no-active-checks           Do not check servers (Marathon's task health still applies with -H)
      --max-concurrent-checks N    Most checks running at once (default 500)

Access logs (one line per HTTP request and TCP connection, HAProxy's httplog/tcplog fields):
      --access-log MODE            json (pino JSON lines on stdout), syslog, or off (default: syslog when
                                   --syslog-socket names a socket, else $BATON_LB_ACCESS_LOG or json)
      --syslog-socket PATH         Send them as syslog lines (RFC 3164, facility local0) to a Unix datagram
                                   socket (e.g. /dev/log) or udp://HOST:PORT; /dev/null = none (default)
      --log-format FORMAT          marathon-lb's Python logging format for those syslog lines, e.g.
                                   '%(asctime)-15s %(name)s: %(message)s' (default: HAProxy's header)

Processes:
      --workers N                  Data-plane processes sharing the listeners (default: one per core it
                                   may use, its container's CPU limit counted: ${defaultWorkers()} here). One
                                   primary keeps the Marathon feed, the route table, the state file, the
                                   active checks and the admin port, and restarts a worker that dies;
                                   1 = everything in one process

Other:
      --state-file PATH            Save the last good Marathon state there and, at start, serve its
                                   routes (reported stale) until Marathon answers
      --log-level LEVEL            trace, debug, info (default), warn, error, fatal, silent (or marathon-lb's
                                   DEBUG, INFO, WARNING, ERROR, CRITICAL)
  -h, --help                       This help
`;

export interface CliOptions {
  marathon: string[];
  groups: string[];
  healthCheck: boolean;
  strictMode: boolean;
  sslCerts?: string[];
  dontBindHttpHttps: boolean;
  authCredentials?: string;
  dcosToken?: string;
  dcosAuthCredentials?: string;
  marathonCaCert?: string;
  minServPortIpPerTask: number;
  maxServPortIpPerTask: number;
  lruCacheCapacity: number;
  logLevel?: string;
  httpPort: number;
  httpsPort: number;
  appIdPort: number;
  adminPort: number;
  bindAddress: string;
  adminAuth?: string;
  stateFile?: string;
  timeouts: Partial<Timeouts>;
  shutdownGraceMs: number;
  /** Where access-log lines go. */
  accessLog: 'json' | 'syslog' | 'off';
  syslog: SyslogTarget;
  logFormat?: string;
  activeChecks: boolean;
  maxConcurrentChecks: number;
  /** --overwrite-forwarded-proto: set X-Forwarded-Proto instead of passing the client's through. */
  overwriteForwardedProto: boolean;
  /** --proxy-protocol: :80, :443 and the app-id port take a PROXY protocol header. */
  proxyProtocol: boolean;
  /** --http2: offer h2 through ALPN on the HTTPS port. */
  http2: boolean;
  /** --workers: data-plane processes (1 = one process for everything). */
  workers: number;
  help: boolean;
  /** marathon-lb flags given that mean nothing here, each with why; logged as warnings at start. */
  ignored: string[];
}

/** A bad command line (exit status 2); the message names the flag. */
export { UsageError as CliError };

const NO_RELOADS = 'there is no reload command: routes change in place';
const NO_CONFIG_PRINT = 'there is no config file to print instead of writing';

/**
 * marathon-lb's flags. Those that only steer HAProxy or its reloads are accepted and ignored, with
 * the reason (logged as a warning at start), so that an existing command line keeps working.
 */
const SPEC: FlagSpec = {
  marathon: { type: 'string', short: 'm', multiple: true },
  group: { type: 'string', multiple: true },
  'health-check': { type: 'boolean', short: 'H' },
  'strict-mode': { type: 'boolean' },
  // Events are always streamed; marathon-lb's --sse chose that over polling.
  sse: { type: 'boolean', short: 's' },
  'ssl-certs': { type: 'string' },
  'dont-bind-http-https': { type: 'boolean' },
  'auth-credentials': { type: 'string' },
  'dcos-token': { type: 'string' },
  'dcos-auth-credentials': { type: 'string' },
  'marathon-auth-credential-file': { type: 'string' },
  'marathon-ca-cert': { type: 'string' },
  'min-serv-port-ip-per-task': { type: 'string' },
  'max-serv-port-ip-per-task': { type: 'string' },
  'lru-cache-capacity': { type: 'string' },
  'log-level': { type: 'string' },
  'http-port': { type: 'string' },
  'https-port': { type: 'string' },
  'app-id-port': { type: 'string' },
  'admin-port': { type: 'string' },
  'bind-address': { type: 'string' },
  'admin-auth': { type: 'string' },
  'state-file': { type: 'string' },
  'timeout-connect': { type: 'string' },
  'timeout-client': { type: 'string' },
  'timeout-server': { type: 'string' },
  'timeout-tunnel': { type: 'string' },
  'timeout-http-request': { type: 'string' },
  'timeout-http-body': { type: 'string' },
  'timeout-queue': { type: 'string' },
  'shutdown-grace': { type: 'string' },
  'access-log': { type: 'string' },
  'syslog-socket': { type: 'string' },
  'log-format': { type: 'string' },
  'no-active-checks': { type: 'boolean' },
  'max-concurrent-checks': { type: 'string' },
  'overwrite-forwarded-proto': { type: 'boolean' },
  'proxy-protocol': { type: 'boolean' },
  http2: { type: 'boolean' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'haproxy-config': { type: 'string', ignored: 'there is no HAProxy config file: routes live in memory' },
  command: { type: 'string', short: 'c', ignored: NO_RELOADS },
  'max-reload-retries': { type: 'string', ignored: 'nothing is reloaded' },
  'reload-interval': { type: 'string', ignored: 'nothing is reloaded' },
  'skip-validation': { type: 'boolean', ignored: 'there is no HAProxy config to validate' },
  'skip-config-cleanup': { type: 'boolean', ignored: 'there is no HAProxy config to clean up' },
  dry: { type: 'boolean', short: 'd', ignored: NO_CONFIG_PRINT },
  'archive-versions': { type: 'string', ignored: 'there are no config file versions' },
  'haproxy-map': { type: 'boolean', ignored: 'vhosts are always looked up in a map' },
  'group-https-by-vhost': { type: 'boolean', ignored: ':443 always picks the certificate by SNI and routes by Host' },
  'max-backoff': { type: 'string', ignored: "reconnects use baton's jittered backoff (30 s cap)" },
  longhelp: { type: 'boolean', ignored: 'see --help' },
};

/** HAProxy's timeouts: a bare number counts milliseconds, as in HAProxy's config. */
const TIMEOUT_FLAGS: Record<string, keyof Timeouts> = {
  'timeout-connect': 'connectMs',
  'timeout-client': 'clientMs',
  'timeout-server': 'serverMs',
  'timeout-tunnel': 'tunnelMs',
  'timeout-http-request': 'httpRequestMs',
  'timeout-http-body': 'httpBodyMs',
  'timeout-queue': 'queueMs',
};

function durationMs(flag: string, value: string): number {
  const ms = parseDuration(value, 'ms');
  if (ms === undefined) throw new UsageError(`--${flag}: not a duration like 500ms, 5s or 1m: ${value}`);
  return ms;
}

function integer(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`--${flag}: not a non-negative integer: ${value}`);
  if (flag.endsWith('-port') && n > 65535) throw new UsageError(`--${flag}: port out of range: ${value}`);
  return n;
}

const MAX_WORKERS = 1024;

const commaList = (values: string[]): string[] => values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

/** Parses the command line; throws CliError naming the flag at fault. */
export function parseArgs(argv: string[]): CliOptions {
  const ignored: string[] = [];
  // marathon-lb's image takes a leading `sse` or `poll` word.
  if (argv[0] === 'sse' || argv[0] === 'poll') {
    ignored.push(`${argv[0]}: events are always streamed`);
    argv = argv.slice(1);
  }
  const parsed = parseFlags(SPEC, argv);
  ignored.push(...parsed.ignored);
  const v = parsed.values as Record<string, string | undefined> & { marathon?: string[]; group?: string[] };
  const flag = (name: string): boolean => v[name] === (true as unknown);
  const int = (name: string, fallback: number): number => (v[name] === undefined ? fallback : integer(name, v[name]!));
  const out: CliOptions = {
    marathon: commaList(v.marathon ?? []),
    groups: commaList(v.group ?? []),
    healthCheck: flag('health-check'),
    strictMode: flag('strict-mode'),
    dontBindHttpHttps: flag('dont-bind-http-https'),
    minServPortIpPerTask: int('min-serv-port-ip-per-task', 10050),
    maxServPortIpPerTask: int('max-serv-port-ip-per-task', 10100),
    lruCacheCapacity: int('lru-cache-capacity', 1000),
    httpPort: int('http-port', 80),
    httpsPort: int('https-port', 443),
    appIdPort: int('app-id-port', 9091),
    adminPort: int('admin-port', 9090),
    bindAddress: v['bind-address'] ?? '0.0.0.0',
    timeouts: {},
    shutdownGraceMs: v['shutdown-grace'] === undefined ? 10_000 : durationMs('shutdown-grace', v['shutdown-grace']),
    accessLog: 'json',
    syslog: { kind: 'off' },
    activeChecks: !flag('no-active-checks'),
    maxConcurrentChecks: int('max-concurrent-checks', 500),
    overwriteForwardedProto: flag('overwrite-forwarded-proto'),
    proxyProtocol: flag('proxy-protocol'),
    http2: flag('http2'),
    workers: v.workers === undefined ? defaultWorkers() : integer('workers', v.workers),
    help: flag('help'),
    ignored,
  };
  if (v['ssl-certs'] !== undefined) out.sslCerts = commaList([v['ssl-certs']]);
  for (const [name, key] of [
    ['auth-credentials', 'authCredentials'],
    ['dcos-token', 'dcosToken'],
    ['dcos-auth-credentials', 'dcosAuthCredentials'],
    ['marathon-ca-cert', 'marathonCaCert'],
    ['admin-auth', 'adminAuth'],
    ['state-file', 'stateFile'],
    ['log-format', 'logFormat'],
  ] as const) {
    if (v[name] !== undefined) out[key] = v[name];
  }
  for (const [name, key] of Object.entries(TIMEOUT_FLAGS)) {
    if (v[name] === undefined) continue;
    const ms = durationMs(name, v[name]!);
    if (ms <= 0) throw new UsageError(`--${name}: must be more than 0: ${v[name]}`);
    out.timeouts[key] = ms;
  }
  if (out.help) return out;
  if (out.groups.length === 0) throw new UsageError('--group is required (e.g. --group external; * = every app)');
  if (out.marathon.length === 0) out.marathon = ['http://master.mesos:8080'];
  for (const url of out.marathon) {
    if (!/^(https?|zk):\/\/[^/]/.test(url)) throw new UsageError(`--marathon: not an http(s) or zk:// URL: ${redactUrl(url)}`);
    if (isZkUrl(url)) {
      try {
        parseZkUrl(url);
      } catch (err) {
        throw new UsageError(`--marathon: ${(err as Error).message}`);
      }
    }
  }
  const credentialFile = v['marathon-auth-credential-file'];
  if (credentialFile !== undefined && out.authCredentials === undefined) {
    try {
      out.authCredentials = readFileSync(credentialFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--marathon-auth-credential-file: ${(err as Error).message}`);
    }
  }
  for (const [name, value] of [['--auth-credentials', out.authCredentials], ['--admin-auth', out.adminAuth]] as const) {
    if (value !== undefined && !value.includes(':')) throw new UsageError(`${name}: expected USER:PASS`);
  }
  if ([out.authCredentials, out.dcosToken, out.dcosAuthCredentials].filter((x) => x !== undefined).length > 1) {
    throw new UsageError('--auth-credentials, --dcos-token and --dcos-auth-credentials: give one kind of Marathon credentials');
  }
  if (out.minServPortIpPerTask > out.maxServPortIpPerTask) throw new UsageError('--min-serv-port-ip-per-task is above --max-serv-port-ip-per-task');
  if (v['log-level'] !== undefined) out.logLevel = parseLogLevel(v['log-level']);
  const syslogSocket = v['syslog-socket'];
  if (syslogSocket !== undefined) {
    try {
      out.syslog = parseSyslogTarget(syslogSocket);
    } catch (err) {
      throw new UsageError(`--syslog-socket: ${(err as Error).message}`);
    }
  }
  let accessLog = v['access-log'];
  if (out.syslog.kind !== 'off') accessLog ??= 'syslog';
  accessLog ??= process.env.BATON_LB_ACCESS_LOG || 'json';
  if (accessLog === 'json' || accessLog === 'syslog' || accessLog === 'off') out.accessLog = accessLog;
  else throw new UsageError(`--access-log: expected json, syslog or off, not ${accessLog}`);
  if (out.accessLog === 'syslog' && out.syslog.kind === 'off') throw new UsageError('--access-log syslog needs --syslog-socket PATH or udp://HOST:PORT');
  if (out.maxConcurrentChecks < 1) throw new UsageError('--max-concurrent-checks: must be at least 1');
  if (out.workers < 1 || out.workers > MAX_WORKERS) throw new UsageError(`--workers: must be 1 to ${MAX_WORKERS}: ${out.workers}`);
  if (out.sslCerts === undefined && existsSync('/etc/ssl/cert.pem')) out.sslCerts = ['/etc/ssl/cert.pem'];
  return out;
}

export interface RunningLb {
  lb: LoadBalancer;
  feed: MarathonFeed;
  state: ClusterState;
  /** What `--state-file` gave at start. */
  stateFile?: StateFileLoad;
  stop(graceMs?: number): Promise<void>;
}

export interface RunOptions {
  /** Feed settings (tests shorten the heartbeat timeout and the backoff). */
  feed?: Partial<Omit<MarathonFeedOptions, 'client' | 'logger'>>;
}

function sourceOptions(opts: CliOptions, runOptions: RunOptions): MarathonSourceOptions {
  let auth: MarathonAuth | undefined;
  const token = opts.dcosToken ?? process.env.DCOS_AUTH_TOKEN;
  if (token !== undefined && token !== '' && opts.authCredentials === undefined) auth = { token };
  else if (opts.authCredentials !== undefined) {
    const colon = opts.authCredentials.indexOf(':');
    auth = { username: opts.authCredentials.slice(0, colon), password: opts.authCredentials.slice(colon + 1) };
  }
  return {
    urls: opts.marathon,
    auth,
    dcosCredentials: opts.dcosAuthCredentials ?? process.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL,
    ca: opts.marathonCaCert === undefined ? undefined : readFileSync(opts.marathonCaCert, 'utf8'),
    // zk://host:2181/marathon: the leader is read from ZooKeeper and followed when it changes.
    zkResolver: (marathonLogger) => marathonUrlResolver({ logger: marathonLogger }),
    stateFile: opts.stateFile,
    served: 'routes',
    feed: runOptions.feed,
  };
}

function routeOptions(opts: CliOptions): RouteOptionsInput {
  return {
    groups: opts.groups,
    healthCheck: opts.healthCheck,
    strictMode: opts.strictMode,
    lruCacheCapacity: opts.lruCacheCapacity,
    minServPortIpPerTask: opts.minServPortIpPerTask,
    maxServPortIpPerTask: opts.maxServPortIpPerTask,
    frameworkName: process.env.FRAMEWORK_NAME,
    sslCerts: opts.sslCerts,
    reservedPorts: [
      ...(opts.dontBindHttpHttps ? [] : [opts.httpPort, opts.httpsPort]),
      opts.appIdPort,
      opts.adminPort,
    ].filter((p) => p > 0),
  };
}

/** The data plane's settings from the flags (one process's, or each worker's). */
function dataPlaneOptions(opts: CliOptions): LoadBalancerOptions {
  return {
    bindAddress: opts.bindAddress,
    httpPort: opts.httpPort,
    httpsPort: opts.httpsPort,
    appIdPort: opts.appIdPort,
    dontBindHttpHttps: opts.dontBindHttpHttps,
    sslCerts: opts.sslCerts,
    timeouts: opts.timeouts,
    overwriteForwardedProto: opts.overwriteForwardedProto,
    proxyProtocol: opts.proxyProtocol,
    http2: opts.http2,
  };
}

/** Starts feed, route builder and data plane for parsed options, in this process (--workers 1). */
export async function run(opts: CliOptions, logger: Logger, runOptions: RunOptions = {}): Promise<RunningLb> {
  const source = await startMarathonSource(sourceOptions(opts, runOptions), logger);
  const { state, feed, stateFile, feedStatus } = source;
  const builder = new RouteBuilder(routeOptions(opts));
  const accessLog = createAccessLog(opts);
  let lb: LoadBalancer;
  try {
    lb = await startLoadBalancer({
      ...dataPlaneOptions(opts),
      adminPort: opts.adminPort,
      adminAuth: opts.adminAuth,
      initialTable: builder.build(state),
      feedStatus,
      stateFileStatus: () => source.stateFileStatus(),
      onResync: () => feed.resyncNow(),
      renderers: { renderConfig, renderVhostMap, renderAppMap },
      logger,
      accessLog,
      activeChecks: opts.activeChecks && { maxConcurrent: opts.maxConcurrentChecks },
    });
  } catch (err) {
    await source.stop();
    await accessLog?.close();
    throw err;
  }
  const unsubscribe = onChangeBursts(state, (change) => void lb.apply(builder.update(state, change)));
  source.start();
  return {
    lb,
    feed,
    state,
    stateFile,
    async stop(graceMs = opts.shutdownGraceMs) {
      unsubscribe();
      await source.stop();
      await lb.close(graceMs);
      await accessLog?.close();
    },
  };
}

/** `toPrimary`: where a worker's JSON lines go (the primary writes them); `pid`: the one the lines name. */
function createAccessLog(opts: CliOptions, toPrimary?: ChunkSink, pid = process.pid): AccessLog | undefined {
  if (opts.accessLog === 'off') return undefined;
  if (opts.accessLog === 'json' || opts.syslog.kind === 'off') return jsonAccessLog(toPrimary ?? 1, { pid });
  return syslogAccessLog({ target: opts.syslog, logFormat: opts.logFormat, pid });
}

/** The primary of --workers N. */
function startPrimary(opts: CliOptions, logger: Logger): Promise<RunningPrimary> {
  return runPrimary(
    {
      workers: opts.workers,
      source: sourceOptions(opts, {}),
      routes: routeOptions(opts),
      bindAddress: opts.bindAddress,
      adminPort: opts.adminPort,
      adminAuth: opts.adminAuth,
      connectTimeoutMs: opts.timeouts.connectMs ?? DEFAULT_TIMEOUTS.connectMs,
      activeChecks: opts.activeChecks && { maxConcurrent: opts.maxConcurrentChecks },
      renderers: { renderConfig, renderVhostMap, renderAppMap },
      relayAccessLog: opts.accessLog === 'json',
    },
    logger,
  );
}

/** A worker of --workers N (this process was forked by the primary, with the same command line). */
function startWorker(opts: CliOptions): void {
  const logger = createLogger('lb', opts.logLevel).child({ worker: Number(process.env.BATON_LB_WORKER) });
  runWorker(
    {
      routes: routeOptions(opts),
      lb: dataPlaneOptions(opts),
      // Access-log lines name the load balancer's pid (the primary's), as HAProxy's one process does.
      accessLog: (toPrimary) => createAccessLog(opts, toPrimary, process.ppid),
      shutdownGraceMs: opts.shutdownGraceMs,
    },
    logger,
  );
}

export async function main(argv: string[]): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    reportUsageError('baton-lb', err, redactCredentials);
    return;
  }
  if (opts.help) {
    process.stdout.write(usage());
    return;
  }
  if (cluster.isWorker) {
    startWorker(opts);
    return;
  }
  const logger = createLogger('lb', opts.logLevel);
  for (const warning of opts.ignored) logger.warn(`marathon-lb flag ignored: ${warning}`);
  if (opts.accessLog === 'syslog' && opts.syslog.kind === 'unix' && !existsSync(opts.syslog.path)) {
    logger.warn({ path: opts.syslog.path }, `--syslog-socket ${opts.syslog.path} does not exist (yet): access-log lines are dropped until a syslog daemon listens there`);
  }
  let running: { addresses: LoadBalancer['addresses']; stop(graceMs: number): Promise<void> };
  try {
    if (opts.workers > 1) running = await startPrimary(opts, logger);
    else {
      const single = await run(opts, logger);
      running = { addresses: single.lb.addresses, stop: (graceMs) => single.stop(graceMs) };
    }
  } catch (err) {
    const message = redactCredentials((err as Error).message);
    logger.fatal({ err: message }, 'cannot start');
    process.stderr.write(`baton-lb: cannot start: ${message}\n`);
    logger.flush();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  const a = running.addresses;
  const parts = [`http=${a.http ?? '-'}`, `https=${a.https ?? '-'}`, `app-id=${a.appId ?? '-'}`, `admin=${a.admin ?? '-'}`];
  process.stdout.write(`baton-lb listening on ${a.bindAddress}: ${parts.join(' ')}\n`);
  onStopSignal('baton-lb', logger, () => running.stop(opts.shutdownGraceMs), 'shutting down: finishing in-flight requests');
}
