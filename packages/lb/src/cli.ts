// baton-lb: marathon-lb's flags, one process: Marathon feed → ClusterState → RouteBuilder → data plane.

import { existsSync, readFileSync } from 'node:fs';
import {
  ClusterState,
  DcosLogin,
  MarathonClient,
  MarathonFeed,
  StateFileWriter,
  createLogger,
  loadStateFile,
  parseDcosCredentials,
  redactCredentials,
  redactUrl,
  splitUrlCredentials,
  statusWithStateFile,
  type Logger,
  type MarathonFeedOptions,
  type StateChange,
  type StateFileLoad,
} from '@baton/marathon';
import { isZkUrl, marathonUrlResolver, parseZkUrl } from '@baton/zookeeper';
import { renderAppMap, renderConfig, renderVhostMap } from './admin-text.js';
import { RouteBuilder, mergeChanges } from './routes.js';
import { startLoadBalancer, type LoadBalancer } from './server.js';
import type { Timeouts } from './proxy.js';
import { jsonAccessLog, parseSyslogTarget, syslogAccessLog, type AccessLog, type SyslogTarget } from './access-log.js';

export const USAGE = `Usage: baton-lb --group NAME [options]

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

Other:
      --state-file PATH            Save the last good Marathon state there and, at start, serve its
                                   routes (reported stale) until Marathon answers
      --log-level LEVEL            trace, debug, info (default), warn, error, fatal, silent
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
  help: boolean;
  /** marathon-lb flags given that mean nothing here, each with why; logged as warnings at start. */
  ignored: string[];
}

export class CliError extends Error {}

type Kind = 'bool' | 'string' | 'list' | 'int' | 'repeat' | 'duration';
const FLAGS: Record<string, { key: keyof CliOptions | keyof Timeouts | 'sse' | 'credentialFile' | 'syslogSocket' | 'noActiveChecks'; kind: Kind }> = {
  '--marathon': { key: 'marathon', kind: 'repeat' },
  '-m': { key: 'marathon', kind: 'repeat' },
  '--group': { key: 'groups', kind: 'repeat' },
  '--health-check': { key: 'healthCheck', kind: 'bool' },
  '-H': { key: 'healthCheck', kind: 'bool' },
  '--strict-mode': { key: 'strictMode', kind: 'bool' },
  '--sse': { key: 'sse', kind: 'bool' },
  '-s': { key: 'sse', kind: 'bool' },
  '--ssl-certs': { key: 'sslCerts', kind: 'list' },
  '--dont-bind-http-https': { key: 'dontBindHttpHttps', kind: 'bool' },
  '--auth-credentials': { key: 'authCredentials', kind: 'string' },
  '--dcos-token': { key: 'dcosToken', kind: 'string' },
  '--dcos-auth-credentials': { key: 'dcosAuthCredentials', kind: 'string' },
  '--marathon-auth-credential-file': { key: 'credentialFile', kind: 'string' },
  '--marathon-ca-cert': { key: 'marathonCaCert', kind: 'string' },
  '--min-serv-port-ip-per-task': { key: 'minServPortIpPerTask', kind: 'int' },
  '--max-serv-port-ip-per-task': { key: 'maxServPortIpPerTask', kind: 'int' },
  '--lru-cache-capacity': { key: 'lruCacheCapacity', kind: 'int' },
  '--log-level': { key: 'logLevel', kind: 'string' },
  '--http-port': { key: 'httpPort', kind: 'int' },
  '--https-port': { key: 'httpsPort', kind: 'int' },
  '--app-id-port': { key: 'appIdPort', kind: 'int' },
  '--admin-port': { key: 'adminPort', kind: 'int' },
  '--bind-address': { key: 'bindAddress', kind: 'string' },
  '--admin-auth': { key: 'adminAuth', kind: 'string' },
  '--state-file': { key: 'stateFile', kind: 'string' },
  '--timeout-connect': { key: 'connectMs', kind: 'duration' },
  '--timeout-client': { key: 'clientMs', kind: 'duration' },
  '--timeout-server': { key: 'serverMs', kind: 'duration' },
  '--timeout-tunnel': { key: 'tunnelMs', kind: 'duration' },
  '--timeout-http-request': { key: 'httpRequestMs', kind: 'duration' },
  '--timeout-http-body': { key: 'httpBodyMs', kind: 'duration' },
  '--timeout-queue': { key: 'queueMs', kind: 'duration' },
  '--shutdown-grace': { key: 'shutdownGraceMs', kind: 'duration' },
  '--access-log': { key: 'accessLog', kind: 'string' },
  '--syslog-socket': { key: 'syslogSocket', kind: 'string' },
  '--log-format': { key: 'logFormat', kind: 'string' },
  '--no-active-checks': { key: 'noActiveChecks', kind: 'bool' },
  '--max-concurrent-checks': { key: 'maxConcurrentChecks', kind: 'int' },
  '--overwrite-forwarded-proto': { key: 'overwriteForwardedProto', kind: 'bool' },
  '--proxy-protocol': { key: 'proxyProtocol', kind: 'bool' },
  '--http2': { key: 'http2', kind: 'bool' },
  '--help': { key: 'help', kind: 'bool' },
  '-h': { key: 'help', kind: 'bool' },
};

/** marathon-lb's flags that only steer HAProxy or its reloads: accepted and ignored, with the reason. */
const MARATHON_LB_NO_OPS: Record<string, { takesValue: boolean; why: string }> = {
  '--haproxy-config': { takesValue: true, why: 'there is no HAProxy config file: routes live in memory' },
  '--command': { takesValue: true, why: 'there is no reload command: routes change in place' },
  '-c': { takesValue: true, why: 'there is no reload command: routes change in place' },
  '--max-reload-retries': { takesValue: true, why: 'nothing is reloaded' },
  '--reload-interval': { takesValue: true, why: 'nothing is reloaded' },
  '--skip-validation': { takesValue: false, why: 'there is no HAProxy config to validate' },
  '--skip-config-cleanup': { takesValue: false, why: 'there is no HAProxy config to clean up' },
  '--dry': { takesValue: false, why: 'there is no config file to print instead of writing' },
  '-d': { takesValue: false, why: 'there is no config file to print instead of writing' },
  '--archive-versions': { takesValue: true, why: 'there are no config file versions' },
  '--haproxy-map': { takesValue: false, why: 'vhosts are always looked up in a map' },
  '--group-https-by-vhost': { takesValue: false, why: ':443 always picks the certificate by SNI and routes by Host' },
  '--max-backoff': { takesValue: true, why: 'reconnects use baton\'s jittered backoff (30 s cap)' },
  '--longhelp': { takesValue: false, why: 'see --help' },
};

const LOG_LEVELS: Record<string, string> = { warning: 'warn', critical: 'fatal' };
const DURATION_UNITS: Record<string, number> = { '': 1, us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** HAProxy's time format: a number with an optional unit (us, ms, s, m, h, d; none = ms). */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? '']);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
const VALID_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Parses the command line; throws CliError naming the flag at fault. */
export function parseArgs(argv: string[]): CliOptions {
  const out: CliOptions = {
    marathon: [],
    groups: [],
    healthCheck: false,
    strictMode: false,
    dontBindHttpHttps: false,
    minServPortIpPerTask: 10050,
    maxServPortIpPerTask: 10100,
    lruCacheCapacity: 1000,
    httpPort: 80,
    httpsPort: 443,
    appIdPort: 9091,
    adminPort: 9090,
    bindAddress: '0.0.0.0',
    timeouts: {},
    shutdownGraceMs: 10_000,
    accessLog: 'json',
    syslog: { kind: 'off' },
    activeChecks: true,
    maxConcurrentChecks: 500,
    overwriteForwardedProto: false,
    proxyProtocol: false,
    http2: false,
    help: false,
    ignored: [],
  };
  let credentialFile: string | undefined;
  let accessLog: string | undefined;
  let syslogSocket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (i === 0 && (arg === 'sse' || arg === 'poll')) {
      out.ignored.push(`${arg}: events are always streamed`);
      continue;
    }
    const noOp = MARATHON_LB_NO_OPS[name];
    if (noOp !== undefined) {
      if (noOp.takesValue && eq === -1) {
        if (i + 1 >= argv.length) throw new CliError(`${name} needs a value`);
        i++;
      }
      out.ignored.push(`${name}: ${noOp.why}`);
      continue;
    }
    const flag = FLAGS[name];
    if (flag === undefined) throw new CliError(arg.startsWith('-') ? `unknown flag ${name}` : `unexpected argument ${arg}`);
    if (flag.kind === 'bool') {
      if (eq !== -1) throw new CliError(`${name} takes no value`);
      if (flag.key === 'noActiveChecks') out.activeChecks = false;
      else if (flag.key !== 'sse') (out as unknown as Record<string, unknown>)[flag.key] = true;
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new CliError(`${name} needs a value`);
      value = argv[++i];
    }
    const target = out as unknown as Record<string, unknown>;
    switch (flag.kind) {
      case 'repeat':
        (target[flag.key] as string[]).push(...value.split(',').map((v) => v.trim()).filter(Boolean));
        break;
      case 'list':
        target[flag.key] = value.split(',').map((v) => v.trim()).filter(Boolean);
        break;
      case 'int': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CliError(`${name}: not a non-negative integer: ${value}`);
        if (name.endsWith('-port') && n > 65535) throw new CliError(`${name}: port out of range: ${value}`);
        target[flag.key] = n;
        break;
      }
      case 'duration': {
        const ms = parseDuration(value);
        if (ms === undefined) throw new CliError(`${name}: not a duration like 500ms, 5s or 1m: ${value}`);
        if (flag.key === 'shutdownGraceMs') out.shutdownGraceMs = ms;
        else {
          if (ms <= 0) throw new CliError(`${name}: must be more than 0: ${value}`);
          out.timeouts[flag.key as keyof Timeouts] = ms;
        }
        break;
      }
      default:
        if (flag.key === 'credentialFile') credentialFile = value;
        else if (flag.key === 'accessLog') accessLog = value;
        else if (flag.key === 'syslogSocket') syslogSocket = value;
        else target[flag.key] = value;
    }
  }
  if (out.help) return out;
  if (out.groups.length === 0) throw new CliError('--group is required (e.g. --group external; * = every app)');
  if (out.marathon.length === 0) out.marathon = ['http://master.mesos:8080'];
  for (const url of out.marathon) {
    if (!/^(https?|zk):\/\/[^/]/.test(url)) throw new CliError(`--marathon: not an http(s) or zk:// URL: ${redactUrl(url)}`);
    if (isZkUrl(url)) {
      try {
        parseZkUrl(url);
      } catch (err) {
        throw new CliError(`--marathon: ${(err as Error).message}`);
      }
    }
  }
  if (credentialFile !== undefined && out.authCredentials === undefined) {
    try {
      out.authCredentials = readFileSync(credentialFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`--marathon-auth-credential-file: ${(err as Error).message}`);
    }
  }
  for (const [flag, value] of [['--auth-credentials', out.authCredentials], ['--admin-auth', out.adminAuth]] as const) {
    if (value !== undefined && !value.includes(':')) throw new CliError(`${flag}: expected USER:PASS`);
  }
  if ([out.authCredentials, out.dcosToken, out.dcosAuthCredentials].filter((v) => v !== undefined).length > 1) {
    throw new CliError('--auth-credentials, --dcos-token and --dcos-auth-credentials: give one kind of Marathon credentials');
  }
  if (out.minServPortIpPerTask > out.maxServPortIpPerTask) throw new CliError('--min-serv-port-ip-per-task is above --max-serv-port-ip-per-task');
  if (out.logLevel !== undefined) {
    const level = out.logLevel.toLowerCase();
    out.logLevel = LOG_LEVELS[level] ?? level;
    if (!VALID_LEVELS.has(out.logLevel)) throw new CliError(`--log-level: unknown level ${level}`);
  }
  if (syslogSocket !== undefined) {
    try {
      out.syslog = parseSyslogTarget(syslogSocket);
    } catch (err) {
      throw new CliError(`--syslog-socket: ${(err as Error).message}`);
    }
  }
  if (out.syslog.kind !== 'off') accessLog ??= 'syslog';
  accessLog ??= process.env.BATON_LB_ACCESS_LOG || 'json';
  if (accessLog === 'json' || accessLog === 'syslog' || accessLog === 'off') out.accessLog = accessLog;
  else throw new CliError(`--access-log: expected json, syslog or off, not ${accessLog}`);
  if (out.accessLog === 'syslog' && out.syslog.kind === 'off') throw new CliError('--access-log syslog needs --syslog-socket PATH or udp://HOST:PORT');
  if (out.maxConcurrentChecks < 1) throw new CliError('--max-concurrent-checks: must be at least 1');
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

/** Starts feed, route builder and data plane for parsed options. */
export async function run(opts: CliOptions, logger: Logger, runOptions: RunOptions = {}): Promise<RunningLb> {
  let auth: { username: string; password: string } | { token: string } | undefined;
  const token = opts.dcosToken ?? process.env.DCOS_AUTH_TOKEN;
  if (token !== undefined && token !== '' && opts.authCredentials === undefined) auth = { token };
  else if (opts.authCredentials !== undefined) {
    const colon = opts.authCredentials.indexOf(':');
    auth = { username: opts.authCredentials.slice(0, colon), password: opts.authCredentials.slice(colon + 1) };
  }
  // `http://user:pass@marathon:8080`: Basic auth unless a flag gave credentials; taken out of the URL,
  // so that nothing showing a URL (status, logs, errors) can show them.
  const { urls: marathonUrls, auth: urlAuth } = splitUrlCredentials(opts.marathon);
  auth ??= urlAuth;
  const ca = opts.marathonCaCert === undefined ? undefined : readFileSync(opts.marathonCaCert, 'utf8');
  const marathonLogger = logger.child({ module: 'marathon' });
  // marathon-lb's order: user:pass (or a token here) first, then the service account.
  const dcosCredentials = auth === undefined ? (opts.dcosAuthCredentials ?? process.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL) : undefined;
  const login = dcosCredentials ? new DcosLogin({ account: parseDcosCredentials(dcosCredentials), ca }) : undefined;
  const client = new MarathonClient({
    urls: marathonUrls,
    // zk://host:2181/marathon: the leader is read from ZooKeeper and followed when it changes.
    resolveUrls: opts.marathon.some(isZkUrl) ? marathonUrlResolver({ logger: marathonLogger }) : undefined,
    auth,
    login,
    ca,
    logger: marathonLogger,
  });
  const state = new ClusterState({ logger });
  const builder = new RouteBuilder({
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
  });
  const feed = new MarathonFeed(state, { ...runOptions.feed, client, logger: logger.child({ module: 'marathon-feed' }) });
  let stateFile: StateFileLoad | undefined;
  if (opts.stateFile !== undefined) {
    stateFile = await loadStateFile(opts.stateFile, state);
    if (stateFile.status === 'loaded') {
      logger.warn(
        { path: stateFile.path, apps: stateFile.apps, tasks: stateFile.tasks, savedAt: new Date(stateFile.savedAt).toISOString() },
        `serving the routes saved in ${stateFile.path} (stale) until Marathon answers`,
      );
    } else if (stateFile.status === 'invalid') {
      logger.error({ path: stateFile.path }, `${stateFile.error}; starting without it`);
    } else {
      logger.info({ path: stateFile.path }, `no state file at ${stateFile.path} yet; it is written after the first sync`);
    }
  }
  const feedStatus = statusWithStateFile(feed, stateFile);
  const accessLog = createAccessLog(opts);
  let writer: StateFileWriter | undefined;
  const lb = await startLoadBalancer({
    bindAddress: opts.bindAddress,
    httpPort: opts.httpPort,
    httpsPort: opts.httpsPort,
    appIdPort: opts.appIdPort,
    adminPort: opts.adminPort,
    dontBindHttpHttps: opts.dontBindHttpHttps,
    sslCerts: opts.sslCerts,
    adminAuth: opts.adminAuth,
    timeouts: opts.timeouts,
    overwriteForwardedProto: opts.overwriteForwardedProto,
    proxyProtocol: opts.proxyProtocol,
    http2: opts.http2,
    initialTable: builder.build(state),
    feedStatus,
    stateFileStatus: () => writer?.status(),
    onResync: () => feed.resyncNow(),
    renderers: { renderConfig, renderVhostMap, renderAppMap },
    logger,
    accessLog,
    activeChecks: opts.activeChecks && { maxConcurrent: opts.maxConcurrentChecks },
  });
  // One build per event-loop turn for all the changes of that turn (an event and the status updates
  // read with it); setImmediate runs right after this turn's I/O, so a lone change is not delayed.
  let pending: StateChange[] = [];
  const unsubscribeState = state.subscribe((change) => {
    if (pending.length === 0) setImmediate(buildPending);
    pending.push(change);
  });
  function buildPending(): void {
    const changes = pending;
    pending = [];
    if (changes.length > 0) void lb.apply(builder.update(state, mergeChanges(changes)));
  }
  const unsubscribe = (): void => {
    unsubscribeState();
    pending = [];
  };
  writer =
    opts.stateFile === undefined
      ? undefined
      : new StateFileWriter(state, { path: opts.stateFile, status: feedStatus, logger: logger.child({ module: 'state-file' }) }).start();
  feed.start();
  return {
    lb,
    feed,
    state,
    stateFile,
    async stop(graceMs = opts.shutdownGraceMs) {
      unsubscribe();
      await feed.stop();
      await writer?.stop();
      await lb.close(graceMs);
      await accessLog?.close();
      await client.close();
    },
  };
}

function createAccessLog(opts: CliOptions): AccessLog | undefined {
  if (opts.accessLog === 'off') return undefined;
  if (opts.accessLog === 'json' || opts.syslog.kind === 'off') return jsonAccessLog();
  return syslogAccessLog({ target: opts.syslog, logFormat: opts.logFormat });
}

export async function main(argv: string[]): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`baton-lb: ${redactCredentials((err as Error).message)}\nTry 'baton-lb --help'.\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = createLogger('lb', opts.logLevel);
  for (const warning of opts.ignored) logger.warn(`marathon-lb flag ignored: ${warning}`);
  if (opts.accessLog === 'syslog' && opts.syslog.kind === 'unix' && !existsSync(opts.syslog.path)) {
    logger.warn({ path: opts.syslog.path }, `--syslog-socket ${opts.syslog.path} does not exist (yet): access-log lines are dropped until a syslog daemon listens there`);
  }
  let running: RunningLb;
  try {
    running = await run(opts, logger);
  } catch (err) {
    const message = redactCredentials((err as Error).message);
    logger.fatal({ err: message }, 'cannot start');
    process.stderr.write(`baton-lb: cannot start: ${message}\n`);
    logger.flush();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  const a = running.lb.addresses;
  const parts = [`http=${a.http ?? '-'}`, `https=${a.https ?? '-'}`, `app-id=${a.appId ?? '-'}`, `admin=${a.admin ?? '-'}`];
  process.stdout.write(`baton-lb listening on ${a.bindAddress}: ${parts.join(' ')}\n`);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    void running.stop(opts.shutdownGraceMs).finally(() => {
      logger.flush(() => process.exit(0));
      setTimeout(() => process.exit(0), 500).unref();
    });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
