// Watch-based readers (Mesos masters, Marathon leader, Kafka brokers) and their one-shot variants.
import type { Logger } from '@baton/marathon';
import { quietLogger } from './quiet-logger.js';
import { kafkaBrokerIdsPath, kafkaBrokersFromNodes, type KafkaBrokerOptions, type KafkaBrokers } from './kafka.js';
import { curatorLatchSequence, legacyMemberSequence, marathonLeaderFromNodes, type MarathonLeader } from './marathon-leader.js';
import { mesosMasterSequence, mesosMastersFromNodes, type MesosMasters } from './mesos.js';
import { readChildNodes, watchChildNodes } from './nodes.js';
import type { ZkNode } from './parse-result.js';
import { ZkError, ZkSession } from './session.js';
import { joinZkPath, parseZkUrl } from './url.js';

/** A running watch: its latest value, a way to await the first one, and `close()`. */
export interface ZkWatchHandle<T> {
  /** The latest value, undefined until the first read completed. */
  current(): T | undefined;
  /** Resolves with the first value (at once if there is one); rejects with a ZkError after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<T>;
  /** Stops watching. The session stays open. */
  close(): void;
}

export interface WatchOptions {
  logger?: Logger;
}

class ValueWatch<T> implements ZkWatchHandle<T> {
  private value?: T;
  private fingerprint?: string;
  private readonly waiters = new Set<(value: T) => void>();
  stop: () => void = () => undefined;

  constructor(
    private readonly session: ZkSession,
    private readonly what: string,
    private readonly onChange: (value: T) => void,
    private readonly logger: Logger,
  ) {}

  /** Records a new value and reports it when it differs from the last one. */
  update(value: T): void {
    const fingerprint = JSON.stringify(value);
    if (fingerprint === this.fingerprint) return;
    this.fingerprint = fingerprint;
    this.value = value;
    for (const resolve of this.waiters) resolve(value);
    this.waiters.clear();
    try {
      this.onChange(value);
    } catch (err) {
      this.logger.error({ watch: this.what, err: (err as Error).message }, 'zookeeper watch callback threw');
    }
  }

  current(): T | undefined {
    return this.value;
  }

  ready(timeoutMs = this.session.operationTimeoutMs): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        const why = this.session.connected ? 'no answer' : `not connected to ZooKeeper at ${this.session.connectString}`;
        reject(new ZkError(`${this.what}: no value within ${timeoutMs} ms (${why})`, 'TIMEOUT'));
      }, timeoutMs);
      const done = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.add(done);
    });
  }

  close(): void {
    this.stop();
  }
}

// ------------------------------------------------------------------------------------------- Mesos

const isMesosMasterNode = (name: string) => mesosMasterSequence(name) !== undefined;

/**
 * Watches the Mesos masters registered under `path` (Mesos' `--zk` path, e.g. `/mesos`) and calls
 * `onChange` with `{ leader, masters }` (`ip:port` strings, leader first) now and on every change.
 */
export function watchMesosMasters(
  session: ZkSession,
  path: string,
  onChange: (masters: MesosMasters) => void = () => undefined,
  options: WatchOptions = {},
): ZkWatchHandle<MesosMasters> {
  const logger = options.logger ?? quietLogger();
  const watch = new ValueWatch<MesosMasters>(session, `Mesos masters at ${path}`, onChange, logger);
  watch.stop = watchChildNodes(session, path, (nodes) => watch.update(logMesos(mesosMastersFromNodes(nodes ?? []), logger)), {
    filter: isMesosMasterNode,
    logger,
  });
  return watch;
}

/** One read of the Mesos masters under `path`. */
export async function fetchMesosMasters(session: ZkSession, path: string): Promise<MesosMasters> {
  return mesosMastersFromNodes((await readChildNodes(session, path, isMesosMasterNode)) ?? []);
}

function logMesos(masters: MesosMasters, logger: Logger): MesosMasters {
  for (const error of masters.errors) logger.warn(error, 'unreadable Mesos master registration');
  return masters;
}

// ---------------------------------------------------------------------------------------- Marathon

const isCuratorNode = (name: string) => curatorLatchSequence(name) !== undefined;
const isLegacyNode = (name: string) => legacyMemberSequence(name) !== undefined;

/**
 * Watches the Marathon leader under `path` (Marathon's `--zk` path, e.g. `/marathon`): the Curator
 * latch at `<path>/leader-curator`, else the ≤1.3 layout at `<path>/leader`.
 */
export function watchMarathonLeader(
  session: ZkSession,
  path: string,
  onChange: (leader: MarathonLeader) => void = () => undefined,
  options: WatchOptions = {},
): ZkWatchHandle<MarathonLeader> {
  const logger = options.logger ?? quietLogger();
  const watch = new ValueWatch<MarathonLeader>(session, `Marathon leader at ${path}`, onChange, logger);
  let curator: ZkNode[] | undefined | null = null; // null: not read yet
  let legacy: ZkNode[] | undefined | null = null;
  const update = () => {
    if (curator === null || legacy === null) return;
    const leader = marathonLeaderFromNodes(curator, legacy);
    for (const error of leader.errors) logger.warn(error, 'unreadable Marathon leader registration');
    watch.update(leader);
  };
  const stopCurator = watchChildNodes(session, joinZkPath(path, 'leader-curator'), (nodes) => ((curator = nodes), update()), {
    filter: isCuratorNode,
    logger,
  });
  const stopLegacy = watchChildNodes(session, joinZkPath(path, 'leader'), (nodes) => ((legacy = nodes), update()), {
    filter: isLegacyNode,
    logger,
  });
  watch.stop = () => {
    stopCurator();
    stopLegacy();
  };
  return watch;
}

/** One read of the Marathon leader under `path`. */
export async function fetchMarathonLeader(session: ZkSession, path: string): Promise<MarathonLeader> {
  const [curator, legacy] = await Promise.all([
    readChildNodes(session, joinZkPath(path, 'leader-curator'), isCuratorNode),
    readChildNodes(session, joinZkPath(path, 'leader'), isLegacyNode),
  ]);
  return marathonLeaderFromNodes(curator, legacy);
}

// ------------------------------------------------------------------------------------------- Kafka

export interface KafkaWatchOptions extends WatchOptions, KafkaBrokerOptions {}

/**
 * Watches the Kafka brokers registered under `<chroot>/brokers/ids` (chroot `''` or e.g.
 * `/dcos-service-kafka`): brokers joining, leaving and re-registering.
 */
export function watchKafkaBrokers(
  session: ZkSession,
  chroot: string,
  onChange: (brokers: KafkaBrokers) => void = () => undefined,
  options: KafkaWatchOptions = {},
): ZkWatchHandle<KafkaBrokers> {
  const logger = options.logger ?? quietLogger();
  const path = kafkaBrokerIdsPath(chroot);
  const watch = new ValueWatch<KafkaBrokers>(session, `Kafka brokers at ${path}`, onChange, logger);
  watch.stop = watchChildNodes(
    session,
    path,
    (nodes) => {
      const brokers = kafkaBrokersFromNodes(nodes, options);
      for (const error of brokers.errors) logger.warn(error, 'unusable Kafka broker registration');
      watch.update(brokers);
    },
    { watchData: true, logger },
  );
  return watch;
}

/** One read of the Kafka brokers under `<chroot>/brokers/ids`. */
export async function fetchKafkaBrokers(session: ZkSession, chroot: string, options: KafkaBrokerOptions = {}): Promise<KafkaBrokers> {
  return kafkaBrokersFromNodes(await readChildNodes(session, kafkaBrokerIdsPath(chroot)), options);
}

// --------------------------------------------------------------------------------- one-shot by URL

export interface ReadOptions {
  /** Overall time for connecting and reading (default 10 000 ms). */
  timeoutMs?: number;
  logger?: Logger;
}

/** Connects to a `zk://` URL, runs `read(session, chroot)` and closes the session. */
export async function withZkSession<T>(url: string, options: ReadOptions, read: (session: ZkSession, chroot: string) => Promise<T>): Promise<T> {
  const { connectString, chroot } = parseZkUrl(url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const session = await ZkSession.connect(connectString, {
    connectTimeoutMs: timeoutMs,
    operationTimeoutMs: timeoutMs,
    logger: options.logger,
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ZkError(`reading ${url}: timed out after ${timeoutMs} ms`, 'TIMEOUT')),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([read(session, chroot), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await session.close();
  }
}

/** Mesos masters from `zk://host:2181/mesos` (the path defaults to `/mesos`). */
export function readMesosMasters(url: string, options: ReadOptions = {}): Promise<MesosMasters> {
  return withZkSession(url, options, (session, chroot) => fetchMesosMasters(session, chroot || '/mesos'));
}

/** The Marathon leader from `zk://host:2181/marathon` (the path defaults to `/marathon`). */
export function readMarathonLeader(url: string, options: ReadOptions = {}): Promise<MarathonLeader> {
  return withZkSession(url, options, (session, chroot) => fetchMarathonLeader(session, chroot || '/marathon'));
}

/** Kafka brokers from `zk://host:2181/dcos-service-kafka` (the URL path is Kafka's chroot; none = `/`). */
export function readKafkaBrokers(url: string, options: ReadOptions & KafkaBrokerOptions = {}): Promise<KafkaBrokers> {
  return withZkSession(url, options, (session, chroot) => fetchKafkaBrokers(session, chroot, options));
}
