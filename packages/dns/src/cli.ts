// baton-dns: a Mesos-DNS-compatible resolver fed by Marathon's event stream (and, optionally, by
// the Mesos master state), with Mesos-DNS's config.json.
import cluster from 'node:cluster';
import {
  UsageError,
  createLogger,
  onStopSignal,
  parseDcosCredentials,
  parseFlags,
  parseLogLevel,
  redactCredentials,
  reportUsageError,
  startMarathonSource,
  stateFileMetricsText,
  type ClusterState,
  type FlagSpec,
  type Logger,
  type MarathonFeedOptions,
  type StateFileLoad,
  type StateFileStatus,
} from '@baton/marathon';
import { ZkSession, marathonUrlResolver, parseZkUrl, watchMesosMasters, type MesosMasters } from '@baton/zookeeper';
import { loadDnsConfig, type DnsConfig } from './config.js';
import { RecordStore, publishNameserver, type SourceStatus } from './record-store.js';
import { listenerAddresses } from './listener-addresses.js';
import { MarathonRecordSource } from './marathon-source.js';
import { MesosMasterSource, type LeaderSource } from './master-source.js';
import { createHttpApi } from './http-api.js';
import { DnsMetrics } from './metrics.js';
import { startDnsServer, type DnsServer } from './server.js';
import { startWorkerPool, type WorkerPool } from './worker-pool.js';
import { runDnsWorker } from './dns-worker.js';

export const USAGE = `Usage: baton-dns [options]

A Mesos-DNS-compatible DNS server whose records follow Marathon's event stream within milliseconds.
Reads Mesos-DNS's config.json unchanged; the flags below override it.

Options:
  --config <file>        Mesos-DNS config.json (default: none, Mesos-DNS defaults); -config works too
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
  --workers <n>          processes answering DNS on the shared UDP and TCP sockets, each from its own
                         copy of the records (config "workers", default 1); the cache, forwarding and
                         rate limits apply per worker
  --state-file <path>    save the last good Marathon state there and, at start, serve from it
                         (reported stale) until Marathon answers
  --log-level <level>    trace | debug | info | warn | error | fatal | silent (default info; logs go to
                         stderr)
  --version              print the version (also -version)
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

export { UsageError };

/** Mesos-DNS's own flags (-config, -version) are Go flags: their single-dash forms are accepted too. */
const SPEC: FlagSpec = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', singleDash: true },
  config: { type: 'string', singleDash: true },
  marathon: { type: 'string', multiple: true },
  port: { type: 'string' },
  listener: { type: 'string' },
  'http-port': { type: 'string' },
  'healthy-only': { type: 'boolean' },
  'state-file': { type: 'string' },
  'dcos-auth-credentials': { type: 'string' },
  'cache-size': { type: 'string' },
  'forward-max-pending': { type: 'string' },
  workers: { type: 'string' },
  'http-auth': { type: 'string' },
  'log-level': { type: 'string' },
};

function port(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag} needs a port number 0-65535, got ${value}`);
  return Number(value);
}

function positive(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} needs a positive integer, got ${value}`);
  return Number(value);
}

export function parseArgs(argv: string[]): CliOptions {
  const v = parseFlags(SPEC, argv).values as Record<string, string | undefined> & { marathon?: string[] };
  const out: CliOptions = {
    overrides: {},
    logLevel: process.env.BATON_LOG_LEVEL ?? 'info',
    help: v.help === (true as unknown),
    version: v.version === (true as unknown),
  };
  if (v.config !== undefined) out.configFile = v.config;
  for (const url of v.marathon ?? []) {
    if (!/^(https?|zk):\/\/[^/]/.test(url)) throw new UsageError(`--marathon needs an http(s) or zk:// URL, got ${url}`);
  }
  if (v.marathon !== undefined) out.overrides.marathon = v.marathon;
  if (v.port !== undefined) out.overrides.port = port('--port', v.port);
  if (v.listener !== undefined) out.overrides.listener = v.listener;
  if (v['http-port'] !== undefined) out.overrides.httpPort = port('--http-port', v['http-port']);
  if (v['healthy-only'] !== undefined) out.overrides.healthyOnly = true;
  if (v['state-file'] !== undefined) out.stateFile = v['state-file'];
  if (v['dcos-auth-credentials'] !== undefined) out.dcosAuthCredentials = v['dcos-auth-credentials'];
  if (v['cache-size'] !== undefined) out.overrides.cacheSize = positive('--cache-size', v['cache-size']);
  if (v['forward-max-pending'] !== undefined) out.overrides.forwardMaxPending = positive('--forward-max-pending', v['forward-max-pending']);
  if (v.workers !== undefined) out.overrides.workers = positive('--workers', v.workers);
  if (v['http-auth'] !== undefined) {
    if (v['http-auth'].indexOf(':') < 1) throw new UsageError('--http-auth needs user:password');
    out.overrides.httpAuth = v['http-auth'];
  }
  if (v['log-level'] !== undefined) out.logLevel = parseLogLevel(v['log-level']);
  return out;
}

export interface BatonDns {
  config: DnsConfig;
  store: RecordStore;
  /** The DNS server's metrics (with `workers` > 1: this process answers no query, see `workers`). */
  metrics: DnsMetrics;
  dns?: DnsServer;
  /** With `workers` > 1: the worker processes answering DNS. */
  workers?: WorkerPool;
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
  /** DC/OS service account JSON for Marathon (`--dcos-auth-credentials`): used when a Marathon URL has no credentials. */
  dcosCredentials?: string;
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
    let workers: WorkerPool | undefined;
    let stateFileStatus: () => StateFileStatus | undefined = () => undefined;
    const addresses: string[] = [];

    if (config.httpOn) {
      const http = createHttpApi({
        config,
        view: store,
        version: VERSION,
        health: () => statuses.map((s) => s()),
        stateFile: () => stateFileStatus(),
        metricsText: () => {
          const stateFileText = stateFileMetricsText('baton_dns', stateFileStatus());
          return workers ? workers.metricsText().then((text) => text + stateFileText) : metrics.render() + stateFileText;
        },
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
      const marathon = await startMarathonSource(
        {
          urls: config.marathon,
          dcosCredentials: options.dcosCredentials,
          zkResolver: (marathonLogger) => marathonUrlResolver({ logger: marathonLogger, sessionTimeoutMs: options.zkSessionTimeoutMs }),
          stateFile: options.stateFile,
          feed: options.feed,
        },
        logger,
      );
      const { state, feed, feedStatus } = marathon;
      marathonState = state;
      stateFile = marathon.stateFile;
      const source = new MarathonRecordSource(state, store, { config, feed: { status: feedStatus }, logger });
      source.start();
      stateFileStatus = () => marathon.stateFileStatus();
      marathon.start();
      statuses.push(() => source.status());
      closers.push(async () => {
        source.stop();
        await marathon.stop();
      });
      const marathonUrls = marathon.urls;
      if (stateFile?.status === 'loaded') {
        logger.info({ marathon: marathonUrls }, 'serving the saved state until the first Marathon sync');
      } else {
        logger.info({ marathon: marathonUrls }, 'waiting for the first Marathon sync');
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
    if (config.dnsOn && config.workers > 1) {
      const pool = await startWorkerPool({ config, store, workers: config.workers, logger: logger.child({ module: 'dns-workers' }), logLevel: logger.level });
      workers = pool;
      closers.push(() => pool.close());
      addresses.unshift(`dns udp+tcp ${hostPort(pool.address, pool.port)}`);
      logger.info({ workers: config.workers }, 'DNS answered by worker processes');
    } else if (config.dnsOn) {
      dns = await startDnsServer({ config, view: store, logger: logger.child({ module: 'dns-server' }), metrics });
      closers.push(() => dns!.close());
      addresses.unshift(`dns udp+tcp ${hostPort(dns.address, dns.udpPort)}`);
    }
    return { config, store, metrics, dns, workers, state: marathonState, stateFile, addresses, close };
  } catch (err) {
    await close();
    throw err;
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
  if (cluster.isWorker) {
    runDnsWorker();
    return;
  }
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    reportUsageError('baton-dns', err, redactCredentials);
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
  const dcosCredentials = options.dcosAuthCredentials ?? process.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL;
  if (dcosCredentials) {
    try {
      parseDcosCredentials(dcosCredentials);
    } catch (err) {
      process.stderr.write(`baton-dns: --dcos-auth-credentials: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
  }
  const logger = createLogger('baton-dns', options.logLevel);
  for (const warning of parsed.warnings ?? []) logger.warn(redactCredentials(warning));

  let running: BatonDns | undefined;
  // A signal during start-up stops at once (nothing is served yet).
  onStopSignal('baton-dns', logger, async () => running?.close());

  try {
    running = await startBatonDns(parsed.config, logger, { stateFile: options.stateFile, dcosCredentials: dcosCredentials || undefined });
  } catch (err) {
    process.stderr.write(`baton-dns: cannot start: ${redactCredentials((err as Error).message)}\n`);
    process.exit(1);
  }
  process.stdout.write(`baton-dns listening on ${running.addresses.join(', ') || '(nothing: dnson and httpon are off)'}\n`);
}
