// baton-dns: a Mesos-DNS-compatible resolver fed by Marathon's event stream (and, optionally, by
// the Mesos master state), with Mesos-DNS's config.json.
import {
  ClusterState,
  MarathonClient,
  MarathonFeed,
  DcosLogin,
  parseDcosCredentials,
  StateFileWriter,
  createLogger,
  loadStateFile,
  redactCredentials,
  redactUrl,
  splitUrlCredentials,
  stateFileMetricsText,
  statusWithStateFile,
  type Logger,
  type MarathonFeedOptions,
  type StateFileLoad,
} from '@baton/marathon';
import { ZkSession, isZkUrl, marathonUrlResolver, parseZkUrl, watchMesosMasters, type MesosMasters } from '@baton/zookeeper';
import { loadDnsConfig, type DnsConfig } from './config.js';
import { RecordStore, publishNameserver, type SourceStatus } from './record-store.js';
import { listenerAddresses } from './listener-addresses.js';
import { MarathonRecordSource } from './marathon-source.js';
import { MesosMasterSource, type LeaderSource } from './master-source.js';
import { createHttpApi } from './http-api.js';
import { DnsMetrics } from './metrics.js';
import { startDnsServer, type DnsServer } from './server.js';

export const USAGE = `Usage: baton-dns [options]

A Mesos-DNS-compatible DNS server whose records follow Marathon's event stream within milliseconds.
Reads Mesos-DNS's config.json unchanged; the flags below override it.

Options:
  --config <file>        Mesos-DNS config.json (default: none, Mesos-DNS defaults)
  --marathon <url>       Marathon URL (http(s), or zk://host:port/marathon to follow the leader in
                         ZooKeeper); repeat for several (also the config key "marathon")
  --port <n>             DNS port, UDP and TCP (config "port", default 53)
  --listener <ip>        DNS listen address (config "listener", default 0.0.0.0)
  --http-port <n>        HTTP API port (config "httpport", default 8123)
  --healthy-only         publish only healthy tasks of apps with health checks
  --http-auth <u:p>      require HTTP Basic auth on the HTTP API, except /health (config "httpAuth")
  --dcos-auth-credentials <json>
                         DC/OS service account {"uid":…,"private_key":…,"login_endpoint":…} to log in to
                         Marathon with (also env DCOS_SERVICE_ACCOUNT_CREDENTIAL); the token is renewed
                         before it expires
  --cache-size <n>       answers kept pre-encoded, least recently used evicted beyond it (config
                         "cacheSize", default 100000)
  --forward-max-pending <n>
                         forwarded queries that may wait for upstreams at once; more are answered
                         SERVFAIL at once (config "forwardMaxPending", default 1024)
  --state-file <path>    save the last good Marathon state there and, at start, serve from it
                         (reported stale) until Marathon answers
  --log-level <level>    trace | debug | info | warn | error | silent (default info; logs go to stderr)
  --version              print the version
  -h, --help             show this help
`;

export const VERSION = '0.1.0';

export interface CliOptions {
  configFile?: string;
  overrides: Partial<DnsConfig>;
  stateFile?: string;
  dcosAuthCredentials?: string;
  logLevel: string;
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {}

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function port(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag} needs a port number 0-65535, got ${value}`);
  return Number(value);
}

function positive(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} needs a positive integer, got ${value}`);
  return Number(value);
}

export function parseArgs(argv: string[]): CliOptions {
  const out: CliOptions = { overrides: {}, logLevel: process.env.BATON_LOG_LEVEL ?? 'info', help: false, version: false };
  const marathon: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('-') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        out.help = true;
        break;
      case '--version':
      case '-version': // Mesos-DNS's Go-style flag
        out.version = true;
        break;
      case '--config':
      case '-config':
        out.configFile = value();
        break;
      case '--marathon': {
        const url = value();
        if (!/^(https?|zk):\/\/[^/]/.test(url)) throw new UsageError(`--marathon needs an http(s) or zk:// URL, got ${url}`);
        marathon.push(url);
        break;
      }
      case '--port':
        out.overrides.port = port(arg, value());
        break;
      case '--listener':
        out.overrides.listener = value();
        break;
      case '--http-port':
        out.overrides.httpPort = port(arg, value());
        break;
      case '--healthy-only':
        out.overrides.healthyOnly = true;
        break;
      case '--state-file':
        out.stateFile = value();
        break;
      case '--dcos-auth-credentials':
        out.dcosAuthCredentials = value();
        break;
      case '--cache-size':
        out.overrides.cacheSize = positive(arg, value());
        break;
      case '--forward-max-pending':
        out.overrides.forwardMaxPending = positive(arg, value());
        break;
      case '--http-auth': {
        const auth = value();
        if (auth.indexOf(':') < 1) throw new UsageError('--http-auth needs user:password');
        out.overrides.httpAuth = auth;
        break;
      }
      case '--log-level':
        out.logLevel = value();
        if (!LOG_LEVELS.has(out.logLevel)) throw new UsageError(`--log-level must be one of ${[...LOG_LEVELS].join(', ')}, got ${out.logLevel}`);
        break;
      default:
        throw new UsageError(`unknown flag: ${argv[i]}`);
    }
  }
  if (marathon.length > 0) out.overrides.marathon = marathon;
  return out;
}

export interface BatonDns {
  config: DnsConfig;
  store: RecordStore;
  metrics: DnsMetrics;
  dns?: DnsServer;
  /** The Marathon state (when the Marathon source is on). */
  state?: ClusterState;
  /** What `--state-file` gave at start. */
  stateFile?: StateFileLoad;
  /** Human-readable listening addresses, e.g. `dns udp+tcp 127.0.0.1:53`. */
  addresses: string[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** `--state-file`: load the last good Marathon state from there at start, and keep it saved. */
  stateFile?: string;
  /** Feed settings (tests shorten the heartbeat timeout and the backoff). */
  feed?: Partial<Omit<MarathonFeedOptions, 'client' | 'logger'>>;
  /** DC/OS service-account login for Marathon (`--dcos-auth-credentials`). */
  dcosLogin?: DcosLogin;
  /** ZooKeeper session timeout for `zk` master detection and zk:// Marathon URLs (default 10 000 ms). */
  zkSessionTimeoutMs?: number;
}

/** With the Marathon feed on, how long the first Mesos master poll may hold up the DNS server. */
const MASTER_READY_WAIT_MS = 10_000;

/**
 * Starts the HTTP API and the sources, waits for the first full sync (as Mesos-DNS waits for its
 * first reload, so a restart never answers NXDOMAIN for names that exist), then the DNS server.
 */
export async function startBatonDns(config: DnsConfig, logger: Logger, options: StartOptions = {}): Promise<BatonDns> {
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const close = async () => {
    while (closers.length) {
      try {
        await closers.pop()!();
      } catch (err) {
        logger.warn({ err }, 'error while stopping');
      }
    }
  };
  try {
    const store = new RecordStore({ domain: config.domain });
    publishNameserver(store, config.soaMname, listenerAddresses(config.listener));
    const metrics = new DnsMetrics();
    const statuses: (() => SourceStatus)[] = [];
    let stateFileWriter: StateFileWriter | undefined;
    const addresses: string[] = [];

    if (config.httpOn) {
      const http = createHttpApi({
        config,
        view: store,
        version: VERSION,
        health: () => statuses.map((s) => s()),
        stateFile: () => stateFileWriter?.status(),
        metricsText: () => metrics.render() + stateFileMetricsText('baton_dns', stateFileWriter?.status()),
        logger: logger.child({ module: 'http-api' }),
      });
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.httpPort, config.httpListener, () => {
          http.off('error', reject);
          resolve();
        });
      });
      closers.push(() => new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }));
      const bound = http.address();
      const port = bound && typeof bound === 'object' ? bound.port : config.httpPort;
      addresses.push(`http ${hostPort(config.httpListener, port)}`);
    }

    const waits: Promise<unknown>[] = [];
    let marathonState: ClusterState | undefined;
    let stateFile: StateFileLoad | undefined;
    if (config.marathon.length > 0) {
      const marathonLogger = logger.child({ module: 'marathon' });
      const state = new ClusterState({ logger: marathonLogger });
      marathonState = state;
      // `http://user:pass@marathon:8080`: the credentials become Basic auth and leave the URL, so that
      // nothing showing a URL (status, logs, errors) can show them.
      const { urls: marathonUrls, auth: marathonAuth } = splitUrlCredentials(config.marathon);
      const client = new MarathonClient({
        urls: marathonUrls,
        auth: marathonAuth,
        login: options.dcosLogin,
        resolveUrls: config.marathon.some(isZkUrl)
          ? marathonUrlResolver({ logger: marathonLogger, sessionTimeoutMs: options.zkSessionTimeoutMs })
          : undefined,
        logger: marathonLogger,
      });
      const feed = new MarathonFeed(state, { ...options.feed, client, logger: logger.child({ module: 'marathon-feed' }) });
      if (options.stateFile !== undefined) {
        stateFile = await loadStateFile(options.stateFile, state);
        logStateFileLoad(stateFile, logger);
      }
      const feedStatus = statusWithStateFile(feed, stateFile);
      const source = new MarathonRecordSource(state, store, { config, feed: { status: feedStatus }, logger });
      source.start();
      const writer =
        options.stateFile === undefined
          ? undefined
          : new StateFileWriter(state, { path: options.stateFile, status: feedStatus, logger: logger.child({ module: 'state-file' }) }).start();
      stateFileWriter = writer;
      feed.start();
      statuses.push(() => source.status());
      closers.push(async () => {
        source.stop();
        await feed.stop();
        await writer?.stop();
        await client.close();
      });
      if (stateFile?.status === 'loaded') {
        logger.info({ marathon: marathonUrls.map(redactUrl) }, 'serving the saved state until the first Marathon sync');
      } else {
        logger.info({ marathon: marathonUrls.map(redactUrl) }, 'waiting for the first Marathon sync');
        waits.push(feed.ready());
      }
    }
    if (config.masters.length > 0 || config.zk !== '') {
      let leaderSource: LeaderSource | undefined;
      if (config.zk !== '') {
        const zk = watchMesosMastersInZk(config.zk, options.zkSessionTimeoutMs, logger.child({ module: 'zookeeper' }));
        leaderSource = zk.leaderSource;
        statuses.push(zk.status);
        closers.push(zk.close);
        await zk.ready(config.zkDetectionTimeout * 1000);
      }
      const masters = new MesosMasterSource(store, {
        config,
        marathonFeedOn: config.marathon.length > 0,
        leaderSource,
        logger: logger.child({ module: 'mesos-master' }),
      });
      masters.start();
      statuses.push(() => masters.status());
      closers.push(() => masters.stop());
      const ready = masters.ready();
      waits.push(
        config.marathon.length > 0
          ? Promise.race([ready, new Promise((resolve) => setTimeout(resolve, MASTER_READY_WAIT_MS).unref())])
          : ready,
      );
    }
    await Promise.all(waits);

    let dns: DnsServer | undefined;
    if (config.dnsOn) {
      dns = await startDnsServer({ config, view: store, logger: logger.child({ module: 'dns-server' }), metrics });
      closers.push(() => dns!.close());
      addresses.unshift(`dns udp+tcp ${hostPort(dns.address, dns.udpPort)}`);
    }
    return { config, store, metrics, dns, state: marathonState, stateFile, addresses, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function logStateFileLoad(load: StateFileLoad, logger: Logger): void {
  if (load.status === 'loaded') {
    logger.warn(
      { path: load.path, apps: load.apps, tasks: load.tasks, savedAt: new Date(load.savedAt).toISOString() },
      `serving the state saved in ${load.path} (stale) until Marathon answers`,
    );
  } else if (load.status === 'invalid') {
    logger.error({ path: load.path }, `${load.error}; starting without it`);
  } else {
    logger.info({ path: load.path }, `no state file at ${load.path} yet; it is written after the first sync`);
  }
}

/**
 * Mesos master detection through ZooKeeper (Mesos-DNS's `zk`): a session that survives expiry and a
 * watch on `<path>/json.info_*`; every change makes the master source poll at once. While ZooKeeper is
 * unreachable the last detection is kept (and reported stale).
 */
function watchMesosMastersInZk(url: string, sessionTimeoutMs: number | undefined, logger: Logger) {
  const { connectString, chroot } = parseZkUrl(url);
  const session = new ZkSession({ connectString, sessionTimeoutMs: sessionTimeoutMs ?? 10_000, logger }).start();
  const listeners = new Set<() => void>();
  let staleSince: number | undefined;
  let lastError: string | undefined;
  session.on('stale', (reason) => {
    staleSince ??= Date.now();
    lastError = `ZooKeeper ${connectString}: ${String(reason)}`;
    logger.warn({ reason }, 'ZooKeeper unreachable: keeping the last detected Mesos masters');
  });
  session.on('recovered', () => {
    staleSince = undefined;
    logger.info('ZooKeeper reachable again');
  });
  const watch = watchMesosMasters(session, chroot || '/mesos', (found: MesosMasters) => {
    logger.info({ leader: found.leader, masters: found.masters }, 'Mesos masters detected in ZooKeeper');
    for (const listener of listeners) listener();
  }, { logger });
  const leaderSource: LeaderSource = {
    current() {
      const found = watch.current();
      // Nothing registered (yet): fall back to the configured "masters".
      return found && (found.leader !== undefined || found.masters.length > 0) ? { leader: found.leader, masters: found.masters } : undefined;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    leaderSource,
    async ready(timeoutMs: number): Promise<void> {
      try {
        await watch.ready(timeoutMs);
      } catch (err) {
        logger.warn({ zk: url, err: (err as Error).message }, 'no Mesos master detected in ZooKeeper yet; using the configured masters meanwhile');
      }
    },
    status(): SourceStatus {
      const stale = staleSince !== undefined;
      const status: SourceStatus = {
        name: 'zookeeper',
        ready: watch.current() !== undefined,
        stale,
        staleSeconds: stale ? Math.floor((Date.now() - staleSince!) / 1000) : 0,
      };
      if (lastError !== undefined && stale) status.lastError = lastError;
      return status;
    },
    async close(): Promise<void> {
      watch.close();
      await session.close();
    },
  };
}

function hostPort(host: string, p: number): string {
  return host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
}

export async function main(argv: string[]): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`baton-dns: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (options.version) {
    process.stdout.write(`baton-dns ${VERSION}\n`);
    return;
  }
  const parsed = loadDnsConfig(options.configFile, options.overrides);
  if (!parsed.config) {
    process.stderr.write(`baton-dns: invalid configuration: ${redactCredentials(parsed.error ?? '')}\n`);
    process.exitCode = 2;
    return;
  }
  let dcosLogin: DcosLogin | undefined;
  const dcosCredentials = options.dcosAuthCredentials ?? process.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL;
  if (dcosCredentials) {
    try {
      dcosLogin = new DcosLogin({ account: parseDcosCredentials(dcosCredentials) });
    } catch (err) {
      process.stderr.write(`baton-dns: --dcos-auth-credentials: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
  }
  const logger = createLogger('baton-dns', options.logLevel);
  for (const warning of parsed.warnings ?? []) logger.warn(redactCredentials(warning));

  let running: BatonDns | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const done = running ? running.close() : Promise.resolve();
    done.then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`baton-dns: error while stopping: ${redactCredentials((err as Error).message)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    running = await startBatonDns(parsed.config, logger, { stateFile: options.stateFile, dcosLogin });
  } catch (err) {
    process.stderr.write(`baton-dns: cannot start: ${redactCredentials((err as Error).message)}\n`);
    process.exit(1);
  }
  if (stopping) {
    await running.close();
    return;
  }
  process.stdout.write(`baton-dns listening on ${running.addresses.join(', ') || '(nothing: dnson and httpon are off)'}\n`);
}
