// The library: akkaSeedNodes, serviceAddresses, kafkaBrokers. Each is one lookup, or a poll until
// `min` addresses are found when `waitMs` is given. ZooKeeper and DNS code is loaded only when used.

import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration, marathonAuth, marathonUrls, selfFromEnv, type Env } from './config.js';
import { appEndpoints, type PortChoice } from './endpoints.js';
import {
  AppNotFoundError,
  DiscoveryError,
  MarathonUnreachableError,
  NotEnoughError,
  SrvLookupError,
  UsageError,
  ZooKeeperError,
} from './errors.js';
import { canonicalAppId, fetchApp, type MarathonAuth } from './marathon-rest.js';
import {
  formatSeed,
  planSeeds,
  sortByStart,
  type AkkaProtocol,
  type Candidate,
  type SeedForm,
  type SelfIdentity,
  type SelfPosition,
} from './seeds.js';

export interface WaitOptions {
  /** Keep polling this long (ms) until `min` are found. Default 0: one attempt. */
  waitMs?: number;
  /** How many addresses must be found. Default 1. */
  min?: number;
  /** Delay between polls (ms). Default 1000 (capped by the time left). */
  intervalMs?: number;
  signal?: AbortSignal;
}

export interface MarathonOptions {
  /** Marathon base URLs, tried in order. Default: `MARATHON_URL` (comma-separated) from `env`. */
  marathon?: string | string[];
  /** Default: `DCOS_AUTH_TOKEN`, else `MARATHON_USER` + `MARATHON_PASSWORD` from `env`. */
  auth?: MarathonAuth;
  /** Per-request timeout (ms). Default 10 000. */
  timeoutMs?: number;
  /** Environment to read defaults and this node's identity from. Default `process.env`. */
  env?: Env;
}

export interface AppOptions extends MarathonOptions, WaitOptions, PortChoice {
  /** Marathon app id, e.g. `/meter`. */
  app: string;
  /** Leave out tasks failing their health checks (apps without health checks: every task counts). */
  healthyOnly?: boolean;
}

export interface AkkaSeedOptions extends AppOptions {
  /** This node. Default: from `env` (`MESOS_TASK_ID`, else `HOST` + port); `null` = not a task of the app. */
  self?: SelfIdentity | null;
  /** Default `uri` when `system` is given, else `host:port`. */
  form?: SeedForm;
  /** Actor system name, for the `uri` form. */
  system?: string;
  /** Default `akka.tcp`. */
  protocol?: AkkaProtocol;
}

export interface AkkaSeeds {
  /** Seed nodes in order, formatted; the first is the oldest running task. */
  seeds: string[];
  /** True when this node is first: it joins itself and founds the cluster if no one else is up. */
  founder: boolean;
  position: SelfPosition;
  /** The listed tasks, in order. */
  tasks: Candidate[];
}

export interface ServiceOptions extends AppOptions {
  /** `host:port` (default) or `hosts`. */
  form?: 'host:port' | 'hosts';
}

export interface ServiceAddresses {
  /** Every running task (healthy ones with `healthyOnly`), oldest first. */
  addresses: string[];
  /** The oldest listed task: the one `<VAR>_HOST` / `<VAR>_PORT` name. */
  host?: string;
  port?: number;
  tasks: Candidate[];
}

export interface KafkaOptions extends MarathonOptions, WaitOptions, PortChoice {
  /** `zk://host:2181,host2:2181/chroot`: brokers registered under `<chroot>/brokers/ids`. */
  zk?: string;
  /** A Marathon app running the brokers (each task's port at `portIndex`/`portName`). */
  app?: string;
  healthyOnly?: boolean;
  /** A DNS SRV name, e.g. `_broker._tcp.kafka.mesos`. */
  srv?: string;
  /** DNS server for `srv`: `ip` or `ip:port`. Default: the system's. */
  dnsServer?: string;
  /** With `zk`: the listener to take each broker's address from (default PLAINTEXT, else the first). */
  listener?: string;
}

const RETRYABLE: Function[] = [AppNotFoundError, MarathonUnreachableError, ZooKeeperError, SrvLookupError];

interface Attempt<T> {
  value: T;
  found: string[];
  /** Added to the "not enough" message. */
  note?: string;
}

async function poll<T>(what: string, wait: WaitOptions, attempt: () => Promise<Attempt<T>>): Promise<T> {
  const min = wait.min ?? 1;
  const waitMs = Math.max(0, wait.waitMs ?? 0);
  const interval = Math.max(10, wait.intervalMs ?? 1000);
  const deadline = Date.now() + waitMs;
  let last: Attempt<T> | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await attempt();
      lastError = undefined;
      if (last.found.length >= min) return last.value;
    } catch (err) {
      if (!RETRYABLE.some((type) => err instanceof type)) throw err;
      lastError = err;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await sleep(Math.min(interval, remaining), undefined, { signal: wait.signal });
  }
  const waited = waitMs > 0 ? ` after waiting ${formatDuration(waitMs)}` : '';
  if (lastError !== undefined) {
    if (waited && lastError instanceof Error) lastError.message += ` (still${waited})`;
    throw lastError;
  }
  const found = last?.found ?? [];
  const list = found.length > 0 ? found.join(',') : 'none';
  throw new NotEnoughError(
    `found ${found.length} of at least ${min} ${what}${waited}: ${list}${last?.note ? ` (${last.note})` : ''}`,
    found,
  );
}

function access(options: MarathonOptions) {
  const env = options.env ?? process.env;
  const urls = marathonUrls(
    options.marathon === undefined ? [] : Array.isArray(options.marathon) ? options.marathon : [options.marathon],
    env,
  );
  if (urls.length === 0) throw new UsageError('no Marathon URL: use --marathon URL or set MARATHON_URL');
  return { urls, auth: options.auth ?? marathonAuth({}, env), timeoutMs: options.timeoutMs };
}

function seedForm(options: AkkaSeedOptions): SeedForm {
  return options.form ?? (options.system ? 'uri' : 'host:port');
}

function checkFormat(tasks: Candidate[], form: SeedForm | 'host:port' | 'hosts', appId: string): void {
  if (form === 'hosts') return;
  const missing = tasks.find((t) => t.port === undefined);
  if (missing) throw new DiscoveryError(`app ${appId} has no port for task ${missing.taskId}; use --form hosts or another port`);
}

function formatOne(candidate: Candidate, form: SeedForm, options: AkkaSeedOptions): string {
  return formatSeed(candidate, form, { system: options.system, protocol: options.protocol });
}

/**
 * Akka seed nodes of an app, in the order that cannot split the cluster (see seeds.ts): the oldest
 * running task first, then by start time; this node is first only when it is the oldest.
 */
export async function akkaSeedNodes(options: AkkaSeedOptions): Promise<AkkaSeeds> {
  const marathon = access(options);
  const appId = canonicalAppId(options.app);
  const form = seedForm(options);
  if (form === 'uri' && !options.system) throw new UsageError('--form uri needs --system NAME');
  const self =
    options.self === null ? undefined : (options.self ?? selfFromEnv(options.env ?? process.env, options));
  return poll(`running tasks of ${appId}`, options, async () => {
    const app = await fetchApp({ ...marathon, signal: options.signal }, appId);
    const endpoints = appEndpoints(app, options);
    const plan = planSeeds(endpoints.candidates, { self, healthyOnly: options.healthyOnly });
    checkFormat(plan.seeds, form, appId);
    const seeds = plan.seeds.map((c) => formatOne(c, form, options));
    const note =
      plan.position === 'absent'
        ? `this task${self?.taskId ? ` ${self.taskId}` : ''} is not among them yet`
        : undefined;
    return {
      value: { seeds, founder: plan.founder, position: plan.position, tasks: plan.seeds },
      found: seeds,
      note,
    };
  });
}

/**
 * Addresses of an app's running tasks, oldest first (healthy ones only with `healthyOnly`). `host` and
 * `port` are those of the oldest listed task, so every caller picks the same one.
 */
export async function serviceAddresses(options: ServiceOptions): Promise<ServiceAddresses> {
  const marathon = access(options);
  const appId = canonicalAppId(options.app);
  const form = options.form ?? 'host:port';
  return poll(`running tasks of ${appId}`, options, async () => {
    const app = await fetchApp({ ...marathon, signal: options.signal }, appId);
    const running = sortByStart(appEndpoints(app, options).candidates);
    const tasks = options.healthyOnly ? running.filter((t) => t.healthy) : running;
    checkFormat(tasks, form, appId);
    const addresses = tasks.map((t) => formatSeed(t, form));
    const value: ServiceAddresses = { addresses, tasks };
    if (tasks.length > 0) {
      value.host = tasks[0].host;
      if (tasks[0].port !== undefined) value.port = tasks[0].port;
    }
    return { value, found: addresses };
  });
}

/** Kafka brokers as `host:port`, from exactly one of `zk`, `app` or `srv`. */
export async function kafkaBrokers(options: KafkaOptions): Promise<string[]> {
  const sources = [options.zk, options.app, options.srv].filter((s) => s !== undefined).length;
  if (sources !== 1) throw new UsageError('give exactly one of --zk, --app or --srv');
  if (options.listener !== undefined && options.zk === undefined) throw new UsageError('--listener only applies with --zk');
  if (options.zk !== undefined) {
    const zkUrl = options.zk;
    const { readKafkaBrokerList } = await import('./zk.js');
    return poll(`Kafka brokers in ${zkUrl}`, options, async () => {
      const { brokers, note } = await readKafkaBrokerList(zkUrl, { timeoutMs: options.timeoutMs, listener: options.listener });
      return { value: brokers, found: brokers, note };
    });
  }
  if (options.srv !== undefined) {
    const name = options.srv;
    const { lookupSrv } = await import('./srv.js');
    return poll(`Kafka brokers at SRV ${name}`, options, async () => {
      const brokers = await lookupSrv({ name, dnsServer: options.dnsServer, timeoutMs: options.timeoutMs });
      return { value: brokers, found: brokers };
    });
  }
  const result = await serviceAddresses({ ...options, app: options.app as string, form: 'host:port' });
  return result.addresses;
}
