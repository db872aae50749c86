// baton-dns: a Mesos-DNS-compatible resolver fed by Marathon's event stream (and, optionally, by
// the Mesos master state), with Mesos-DNS's config.json.
import { ClusterState, MarathonClient, MarathonFeed, createLogger, type Logger } from '@baton/marathon';
import { loadDnsConfig, type DnsConfig } from './config.js';
import { RecordStore, publishNameserver, type SourceStatus } from './record-store.js';
import { MarathonRecordSource } from './marathon-source.js';
import { MesosMasterSource } from './master-source.js';
import { createHttpApi } from './http-api.js';
import { DnsMetrics } from './metrics.js';
import { startDnsServer, type DnsServer } from './server.js';

export const USAGE = `Usage: baton-dns [options]

A Mesos-DNS-compatible DNS server whose records follow Marathon's event stream within milliseconds.
Reads Mesos-DNS's config.json unchanged; the flags below override it.

Options:
  --config <file>        Mesos-DNS config.json (default: none, Mesos-DNS defaults)
  --marathon <url>       Marathon URL; repeat for several (also the config key "marathon")
  --port <n>             DNS port, UDP and TCP (config "port", default 53)
  --listener <ip>        DNS listen address (config "listener", default 0.0.0.0)
  --http-port <n>        HTTP API port (config "httpport", default 8123)
  --healthy-only         publish only healthy tasks of apps with health checks
  --log-level <level>    trace | debug | info | warn | error | silent (default info; logs go to stderr)
  --version              print the version
  -h, --help             show this help
`;

export const VERSION = '0.1.0';

export interface CliOptions {
  configFile?: string;
  overrides: Partial<DnsConfig>;
  logLevel: string;
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {}

function port(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag} needs a port number 0-65535, got ${value}`);
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
        if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--marathon needs an http(s) URL, got ${url}`);
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
      case '--log-level':
        out.logLevel = value();
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
  /** Human-readable listening addresses, e.g. `dns udp+tcp 127.0.0.1:53`. */
  addresses: string[];
  close(): Promise<void>;
}

/** With the Marathon feed on, how long the first Mesos master poll may hold up the DNS server. */
const MASTER_READY_WAIT_MS = 10_000;

/**
 * Starts the HTTP API and the sources, waits for the first full sync (as Mesos-DNS waits for its
 * first reload, so a restart never answers NXDOMAIN for names that exist), then the DNS server.
 */
export async function startBatonDns(config: DnsConfig, logger: Logger): Promise<BatonDns> {
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
    publishNameserver(store, config);
    const metrics = new DnsMetrics();
    const statuses: (() => SourceStatus)[] = [];
    const addresses: string[] = [];

    if (config.httpOn) {
      const http = createHttpApi({
        config,
        view: store,
        version: VERSION,
        health: () => statuses.map((s) => s()),
        metricsText: () => metrics.render(),
        logger: logger.child({ component: 'http-api' }),
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
    if (config.marathon.length > 0) {
      const state = new ClusterState({ logger: logger.child({ component: 'marathon' }) });
      const client = new MarathonClient({ urls: config.marathon, logger: logger.child({ component: 'marathon' }) });
      const feed = new MarathonFeed(state, { client, logger: logger.child({ component: 'marathon-feed' }) });
      const source = new MarathonRecordSource(state, store, { config, feed, logger });
      source.start();
      feed.start();
      statuses.push(() => source.status());
      closers.push(async () => {
        source.stop();
        await feed.stop();
        await client.close();
      });
      logger.info({ marathon: config.marathon }, 'waiting for the first Marathon sync');
      waits.push(feed.ready());
    }
    if (config.masters.length > 0 || config.zk !== '') {
      if (config.zk !== '') {
        logger.warn({ zk: config.zk }, 'ZooKeeper master detection is not wired in yet: polling the "masters" list only');
      }
      const masters = new MesosMasterSource(store, {
        config,
        marathonFeedOn: config.marathon.length > 0,
        logger: logger.child({ component: 'mesos-master' }),
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
      dns = await startDnsServer({ config, view: store, logger: logger.child({ component: 'dns-server' }), metrics });
      closers.push(() => dns!.close());
      addresses.unshift(`dns udp+tcp ${hostPort(dns.address, dns.udpPort)}`);
    }
    return { config, store, metrics, dns, addresses, close };
  } catch (err) {
    await close();
    throw err;
  }
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
    process.stderr.write(`baton-dns: invalid configuration: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger('baton-dns', options.logLevel);
  for (const warning of parsed.warnings ?? []) logger.warn(warning);

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
        process.stderr.write(`baton-dns: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    running = await startBatonDns(parsed.config, logger);
  } catch (err) {
    process.stderr.write(`baton-dns: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (stopping) {
    await running.close();
    return;
  }
  process.stdout.write(`baton-dns listening on ${running.addresses.join(', ') || '(nothing: dnson and httpon are off)'}\n`);
}
