// baton-lb: marathon-lb's flags, one process: Marathon feed → ClusterState → RouteBuilder → data plane.

import { existsSync, readFileSync } from 'node:fs';
import { ClusterState, MarathonClient, MarathonFeed, createLogger, type Logger } from '@baton/marathon';
import { renderAppMap, renderConfig, renderVhostMap } from './admin-text.js';
import { RouteBuilder } from './routes.js';
import { startLoadBalancer, type LoadBalancer } from './server.js';

export const USAGE = `Usage: baton-lb --group NAME [options]

marathon-lb-compatible HTTP/TCP/TLS load balancer that follows Marathon's event stream and
updates its routes in place (no reloads).

Marathon:
  -m, --marathon URL               Marathon URL (repeatable; default http://master.mesos:8080)
      --auth-credentials USER:PASS Basic auth to Marathon
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

Other:
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
  help: boolean;
}

export class CliError extends Error {}

type Kind = 'bool' | 'string' | 'list' | 'int' | 'repeat';
const FLAGS: Record<string, { key: keyof CliOptions | 'sse' | 'credentialFile'; kind: Kind }> = {
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
  '--help': { key: 'help', kind: 'bool' },
  '-h': { key: 'help', kind: 'bool' },
};

const LOG_LEVELS: Record<string, string> = { warning: 'warn', critical: 'fatal' };
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
    help: false,
  };
  let credentialFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const flag = FLAGS[name];
    if (flag === undefined) throw new CliError(arg.startsWith('-') ? `unknown flag ${name}` : `unexpected argument ${arg}`);
    if (flag.kind === 'bool') {
      if (eq !== -1) throw new CliError(`${name} takes no value`);
      if (flag.key !== 'sse') (out as unknown as Record<string, unknown>)[flag.key] = true;
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
      default:
        if (flag.key === 'credentialFile') credentialFile = value;
        else target[flag.key] = value;
    }
  }
  if (out.help) return out;
  if (out.groups.length === 0) throw new CliError('--group is required (e.g. --group external; * = every app)');
  if (out.marathon.length === 0) out.marathon = ['http://master.mesos:8080'];
  for (const url of out.marathon) {
    if (!/^https?:\/\/[^/]/.test(url)) throw new CliError(`--marathon: not an http(s) URL: ${url}`);
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
  if (out.minServPortIpPerTask > out.maxServPortIpPerTask) throw new CliError('--min-serv-port-ip-per-task is above --max-serv-port-ip-per-task');
  if (out.logLevel !== undefined) {
    const level = out.logLevel.toLowerCase();
    out.logLevel = LOG_LEVELS[level] ?? level;
    if (!VALID_LEVELS.has(out.logLevel)) throw new CliError(`--log-level: unknown level ${level}`);
  }
  if (out.sslCerts === undefined && existsSync('/etc/ssl/cert.pem')) out.sslCerts = ['/etc/ssl/cert.pem'];
  return out;
}

export interface RunningLb {
  lb: LoadBalancer;
  feed: MarathonFeed;
  state: ClusterState;
  stop(graceMs?: number): Promise<void>;
}

/** Starts feed, route builder and data plane for parsed options. */
export async function run(opts: CliOptions, logger: Logger): Promise<RunningLb> {
  let auth: { username: string; password: string } | undefined;
  if (opts.authCredentials !== undefined) {
    const colon = opts.authCredentials.indexOf(':');
    auth = { username: opts.authCredentials.slice(0, colon), password: opts.authCredentials.slice(colon + 1) };
  }
  const ca = opts.marathonCaCert === undefined ? undefined : readFileSync(opts.marathonCaCert, 'utf8');
  const client = new MarathonClient({ urls: opts.marathon, auth, ca, logger: logger.child({ component: 'marathon' }) });
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
  const feed = new MarathonFeed(state, { client, logger: logger.child({ component: 'marathon-feed' }) });
  const lb = await startLoadBalancer({
    bindAddress: opts.bindAddress,
    httpPort: opts.httpPort,
    httpsPort: opts.httpsPort,
    appIdPort: opts.appIdPort,
    adminPort: opts.adminPort,
    dontBindHttpHttps: opts.dontBindHttpHttps,
    sslCerts: opts.sslCerts,
    adminAuth: opts.adminAuth,
    initialTable: builder.build(state),
    feedStatus: () => feed.status(),
    onResync: async () => {
      const apps = await client.getApps({ embedTasks: true });
      state.replaceAll(apps);
    },
    renderers: { renderConfig, renderVhostMap, renderAppMap },
    logger,
  });
  const unsubscribe = state.subscribe((change) => {
    const table = builder.update(state, change);
    void lb.apply(table);
  });
  feed.start();
  return {
    lb,
    feed,
    state,
    async stop(graceMs = 10_000) {
      unsubscribe();
      await feed.stop();
      await lb.close(graceMs);
      await client.close();
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`baton-lb: ${(err as Error).message}\nTry 'baton-lb --help'.\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = createLogger('lb', opts.logLevel);
  let running: RunningLb;
  try {
    running = await run(opts, logger);
  } catch (err) {
    logger.fatal({ err }, 'cannot start');
    process.stderr.write(`baton-lb: cannot start: ${(err as Error).message}\n`);
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
    void running.stop(10_000).finally(() => {
      logger.flush(() => process.exit(0));
      setTimeout(() => process.exit(0), 500).unref();
    });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
