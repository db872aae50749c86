/**
 * Test harness: a real ZooKeeper 3.8 server (Debian package `zookeeper`) on 127.0.0.1.
 *
 *   // from a package's test folder, three levels below the repository root:
 *   import { startZooKeeper, zooKeeperAvailable, zooKeeperMissingReason, writeKafkaBroker }
 *     from '<root>/test/helpers/zookeeper-server.js';
 *
 *   describe.skipIf(!zooKeeperAvailable())(`with ZooKeeper ${zooKeeperMissingReason()}`, () => {
 *     let zk: ZooKeeperServer;
 *     beforeAll(async () => { zk = await startZooKeeper(); });
 *     afterAll(async () => { await zk?.stop(); });
 *     ...
 *   });
 *
 * - `startZooKeeper()` starts a standalone server with a temporary data dir on a free port
 *   (`clientPortAddress=127.0.0.1`, `tickTime=500` so the minimum session timeout is 1 s,
 *   admin server off, all four-letter words allowed) and resolves once it answers `ruok` → `imok`.
 *   `zk.connectString` is `127.0.0.1:<port>`; `zk.url('/chroot')` gives `zk://127.0.0.1:<port>/chroot`.
 *   `stop()` stops it (data kept), `start()` restarts it on the same port and data dir (sessions that
 *   have not expired survive), `destroy()` stops it and deletes the data dir.
 *   The JVM is also killed when the test process exits.
 * - `writeKafkaBroker(connectString, chroot, id, { host, port, ... })` registers a broker AS KAFKA DOES:
 *   from its own session, an EPHEMERAL `<chroot>/brokers/ids/<id>` holding the v4 (default) or v5 JSON
 *   (`{"listener_security_protocol_map":…,"endpoints":["PLAINTEXT://host:port"],"jmx_port":-1,
 *   "host":…,"timestamp":"<ms>","port":…,"version":4}`), parents created persistent. It resolves to a
 *   handle; `await broker.stop()` closes the broker's session, so the node vanishes as when a broker dies.
 *   `chroot` is `''` or `/` for none, e.g. `/dcos-service-kafka`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ZOOKEEPER_HOME = '/usr/share/zookeeper';
const JAVA_LIBS = '/usr/share/java';
const STARTUP_TIMEOUT_MS = 60_000;

export interface ZooKeeperServer {
  /** `127.0.0.1:<port>` */
  readonly connectString: string;
  readonly port: number;
  readonly dataDir: string;
  /** `zk://127.0.0.1:<port><chroot>` */
  url(chroot?: string): string;
  /** Stops the server (SIGTERM, then SIGKILL); the data dir is kept for `start()`. */
  stop(): Promise<void>;
  /** (Re)starts the server on the same port and data dir; resolves when it answers `ruok`. */
  start(): Promise<void>;
  /** Stops the server and removes its data dir. */
  destroy(): Promise<void>;
  /** Server log (stdout+stderr of the JVM), for failure messages. */
  log(): string;
}

let cachedMissingReason: string | undefined;

/** Why a real ZooKeeper cannot be started here, or `''` when it can. */
export function zooKeeperMissingReason(): string {
  if (cachedMissingReason !== undefined) return cachedMissingReason;
  let reason = '';
  if (!existsSync(join(JAVA_LIBS, 'zookeeper.jar')) || !existsSync(ZOOKEEPER_HOME)) {
    reason = `(skipped: ZooKeeper not installed — apt-get install zookeeper; ${JAVA_LIBS}/zookeeper.jar missing)`;
  } else if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) {
    reason = '(skipped: no working `java` on PATH — apt-get install zookeeper default-jre-headless)';
  }
  cachedMissingReason = reason;
  return reason;
}

/** True when `java` and the Debian ZooKeeper package are present. */
export function zooKeeperAvailable(): boolean {
  return zooKeeperMissingReason() === '';
}

function classPath(): string {
  // A narrow class path starts faster than `/usr/share/java/*` and has exactly one SLF4J binding (nop).
  const jars = [
    'zookeeper.jar',
    'zookeeper-jute.jar',
    'slf4j-api.jar',
    'slf4j-nop.jar',
    'netty-handler.jar',
    'netty-common.jar',
    'netty-buffer.jar',
    'netty-transport.jar',
    'netty-transport-native-epoll.jar',
    'netty-transport-native-unix-common.jar',
    'netty-codec.jar',
    'netty-resolver.jar',
    'metrics-core.jar',
    'commons-cli.jar',
    'commons-io.jar',
    'snappy-java.jar',
    'jackson-databind.jar',
    'jackson-core.jar',
    'jackson-annotations.jar',
  ].map((jar) => join(JAVA_LIBS, jar));
  if (jars.slice(0, 4).every((jar) => existsSync(jar))) return jars.filter((jar) => existsSync(jar)).join(':');
  return `${JAVA_LIBS}/*:${ZOOKEEPER_HOME}/*`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter word and returns the reply ('' on any error). */
export function fourLetterWord(port: number, word: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = () => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => (reply += chunk.toString('utf8')));
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', () => {
      reply = '';
      done();
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export async function startZooKeeper(): Promise<ZooKeeperServer> {
  const reason = zooKeeperMissingReason();
  if (reason) throw new Error(`cannot start ZooKeeper ${reason}`);
  installExitHook();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-zk-'));
  const configPath = join(dataDir, 'zoo.cfg');
  const logPath = join(dataDir, 'server.log');
  writeFileSync(
    configPath,
    [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${join(dataDir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'standaloneEnabled=true',
      'reconfigEnabled=false',
      'minSessionTimeout=1000',
      'maxSessionTimeout=60000',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
      if (proc) running.delete(proc);
      return;
    }
    await new Promise<void>((resolve) => {
      const killTimer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      proc.once('exit', () => {
        clearTimeout(killTimer);
        running.delete(proc);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  };

  const start = async (): Promise<void> => {
    if (child) return;
    const logFd = openSync(logPath, 'a');
    const proc = spawn(
      'java',
      [
        '-Xms32m',
        '-Xmx128m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        '-Xshare:auto',
        '-Dzookeeper.jmx.log4j.disable=true',
        '-Dzookeeper.admin.enableServer=false',
        '-cp',
        classPath(),
        'org.apache.zookeeper.server.quorum.QuorumPeerMain',
        configPath,
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    child = proc;
    running.add(proc);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      running.delete(proc);
    });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (exited) {
        child = undefined;
        throw new Error(`ZooKeeper exited during start-up (exit ${proc.exitCode}); log:\n${readLog()}`);
      }
      if ((await fourLetterWord(port, 'ruok', 1_000)) === 'imok') {
        // `imok` only means the process is up; `srvr` answers once the server is serving.
        if ((await fourLetterWord(port, 'srvr', 1_000)).includes('Mode:')) return;
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`ZooKeeper did not answer on 127.0.0.1:${port} within ${STARTUP_TIMEOUT_MS} ms; log:\n${readLog()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const readLog = (): string => {
    try {
      return readFileSync(logPath, 'utf8').slice(-4_000);
    } catch {
      return '';
    }
  };

  await start();
  return {
    connectString: `127.0.0.1:${port}`,
    port,
    dataDir,
    url: (chroot = '') => `zk://127.0.0.1:${port}${chroot}`,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    log: readLog,
  };
}

// ---------------------------------------------------------------------------------------------------
// Kafka broker registrations, written as a Kafka broker (ZooKeeper mode) writes them.

// node-zookeeper-client is a dependency of @baton/zookeeper, not of the workspace root.
const requireFromZkPackage = createRequire(new URL('../../packages/zookeeper/package.json', import.meta.url));

interface RawZkClient {
  connect(): void;
  close(): void;
  once(event: 'connected', cb: () => void): void;
  mkdirp(path: string, cb: (error: Error | null) => void): void;
  create(path: string, data: Buffer, mode: number, cb: (error: Error | null) => void): void;
  setData(path: string, data: Buffer, version: number, cb: (error: Error | null) => void): void;
  remove(path: string, version: number, cb: (error: Error | null) => void): void;
  getSessionId(): Buffer;
}
interface RawZkModule {
  createClient(connectString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): RawZkClient;
  CreateMode: { PERSISTENT: number; EPHEMERAL: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL_SEQUENTIAL: number };
}
export function rawZooKeeperModule(): RawZkModule {
  return requireFromZkPackage('node-zookeeper-client') as RawZkModule;
}

export interface KafkaBrokerSpec {
  host: string;
  port: number;
  /** Registration version: 4 (Kafka 0.10–2.6, default) or 5 (2.7+); 2 for ≤0.9 (no listener map). */
  version?: 2 | 4 | 5;
  /** Listeners as `NAME://host:port`; default `PLAINTEXT://<host>:<port>`. */
  endpoints?: string[];
  /** Listener name → security protocol; default each listener name → itself (or PLAINTEXT). */
  securityProtocols?: Record<string, string>;
  rack?: string;
  jmxPort?: number;
}

/** The registration JSON exactly as Kafka's `BrokerIdZNode.encode` produces it. */
export function kafkaBrokerRegistration(spec: KafkaBrokerSpec, timestamp = Date.now()): string {
  const version = spec.version ?? 4;
  const endpoints = spec.endpoints ?? [`PLAINTEXT://${spec.host}:${spec.port}`];
  const record: Record<string, unknown> = {};
  if (version >= 4) {
    const map: Record<string, string> = {};
    for (const endpoint of endpoints) {
      const name = endpoint.slice(0, endpoint.indexOf('://'));
      const protocols = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];
      map[name] = spec.securityProtocols?.[name] ?? (protocols.includes(name) ? name : 'PLAINTEXT');
    }
    record.listener_security_protocol_map = map;
  }
  record.endpoints = endpoints;
  if (spec.rack !== undefined) record.rack = spec.rack;
  record.jmx_port = spec.jmxPort ?? -1;
  // host/port are those of the first PLAINTEXT listener, else null/-1.
  const plaintext = endpoints.find((endpoint) => endpoint.startsWith('PLAINTEXT://'));
  record.host = plaintext ? spec.host : null;
  record.timestamp = String(timestamp);
  record.port = plaintext ? spec.port : -1;
  record.version = version;
  if (version >= 5) record.features = {};
  return JSON.stringify(record);
}

export interface KafkaBrokerHandle {
  readonly path: string;
  /** Rewrites the registration (same session), e.g. after a listener change. */
  update(spec: KafkaBrokerSpec): Promise<void>;
  /** Closes the broker's session: ZooKeeper deletes the ephemeral node, as when a broker dies. */
  stop(): Promise<void>;
}

function callback<T = void>(fn: (cb: (error: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value as T))));
}

/** Registers broker `id` under `<chroot>/brokers/ids/` from its own ZooKeeper session. */
export async function writeKafkaBroker(
  connectString: string,
  chroot: string,
  id: number,
  spec: KafkaBrokerSpec,
): Promise<KafkaBrokerHandle> {
  const zookeeper = rawZooKeeperModule();
  const client = zookeeper.createClient(connectString, { sessionTimeout: 4_000, spinDelay: 100, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`writeKafkaBroker: could not connect to ${connectString}`));
    }, 15_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  const base = chroot === '/' ? '' : chroot.replace(/\/+$/, '');
  const idsPath = `${base}/brokers/ids`;
  const path = `${idsPath}/${id}`;
  try {
    await callback((cb) => client.mkdirp(idsPath, cb));
    await callback((cb) => client.create(path, Buffer.from(kafkaBrokerRegistration(spec)), zookeeper.CreateMode.EPHEMERAL, cb));
  } catch (error) {
    client.close();
    throw error;
  }
  let stopped = false;
  return {
    path,
    update: (next) =>
      withDeadline(`update ${path}`, callback((cb) => client.setData(path, Buffer.from(kafkaBrokerRegistration(next)), -1, cb))),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // Delete explicitly too, so the node is gone when stop() resolves (closing alone is asynchronous).
      // After a server restart the client may never call back (its session is being re-established
      // or has expired), so the delete has a deadline and then goes through a fresh session.
      const removed = await withDeadline(`remove ${path}`, callback((cb) => client.remove(path, -1, cb))).then(
        () => true,
        () => false,
      );
      client.close();
      if (!removed) await removeWithFreshSession(connectString, path);
    },
  };
}

const BROKER_OPERATION_DEADLINE_MS = 5_000;

function withDeadline<T>(what: string, operation: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`writeKafkaBroker: ${what} got no answer within ${BROKER_OPERATION_DEADLINE_MS} ms`)), BROKER_OPERATION_DEADLINE_MS);
  });
  return Promise.race([operation, deadline]).finally(() => clearTimeout(timer));
}

async function removeWithFreshSession(connectString: string, path: string): Promise<void> {
  const client = rawZooKeeperModule().createClient(connectString, { sessionTimeout: 4_000, spinDelay: 100, retries: 0 });
  try {
    await withDeadline(`connect to ${connectString}`, new Promise<void>((resolve) => {
      client.once('connected', resolve);
      client.connect();
    }));
    await withDeadline(`remove ${path}`, callback((cb) => client.remove(path, -1, cb))).catch((error: unknown) => {
      if ((error as { name?: string }).name !== 'NO_NODE') throw error;
    });
  } finally {
    client.close();
  }
}

