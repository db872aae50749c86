// A ZooKeeper session that survives expiry, on node-zookeeper-client.
//
// node-zookeeper-client re-sends its watches after a reconnect within the session timeout, but during a
// partition it only ever reports DISCONNECTED: SESSION_EXPIRED arrives only once a server is reachable
// again, and after expiry the client object is dead. So the session keeps its own timer: disconnected
// for longer than the negotiated session timeout means expired — the client is replaced by a new one
// (new session) and every watch is registered again and re-read.
import { EventEmitter } from 'node:events';
import zookeeper, { type Client, type State } from 'node-zookeeper-client';
import type { Logger } from '@baton/marathon';
import { quietLogger } from './quiet-logger.js';

export interface ZkSessionOptions {
  /** `host1:2181,host2:2181` (see `parseZkUrl`); paths given to the session are absolute. */
  connectString: string;
  /** Requested session timeout in ms (default 10 000); the server bounds it to 2–20 × its tickTime. */
  sessionTimeoutMs?: number;
  /** Upper bound of the random delay between connection rounds over all servers (default 500 ms). */
  spinDelayMs?: number;
  /** Time allowed for one request (`getData`, `getChildren`, …), including waiting for a connection (default 15 000 ms). */
  operationTimeoutMs?: number;
  logger?: Logger;
}

export type ZkSessionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'persistent_sequential' | 'ephemeral_sequential';

/** A failed ZooKeeper operation. `code` is ZooKeeper's name (`NO_NODE`, `CONNECTION_LOSS`, …) or `TIMEOUT`/`CLOSED`. */
export class ZkError extends Error {
  override name = 'ZkError';
  constructor(
    message: string,
    readonly code: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Errors after which the same request may succeed once the session is connected again. */
export function isConnectionError(err: unknown): boolean {
  const code = err instanceof ZkError ? err.code : undefined;
  return code === 'CONNECTION_LOSS' || code === 'SESSION_EXPIRED' || code === 'TIMEOUT' || code === 'OPERATION_TIMEOUT';
}

type Unwatch = () => void;

interface WatchEntry {
  kind: 'data' | 'children';
  path: string;
  active: boolean;
  /** Fingerprint of the last value delivered (undefined: nothing delivered yet). */
  last?: string;
  listener: (value: never) => void;
  /** One function per watch, so the client's watcher registry de-duplicates re-registrations. */
  watcher: () => void;
}

const CREATE_MODES: Record<ZkCreateMode, number> = {
  persistent: zookeeper.CreateMode.PERSISTENT,
  ephemeral: zookeeper.CreateMode.EPHEMERAL,
  persistent_sequential: zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
  ephemeral_sequential: zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
};

/**
 * Events:
 * - `connected` `{ sessionId, newSession }` — (re)connected; `newSession` after expiry or at first connect
 * - `disconnected` — connection lost; the session may still be alive
 * - `stale` `(reason)` — watched data may be out of date (disconnected, expired)
 * - `expired` `(reason)` — the session is considered lost; a new one is being created
 * - `recovered` — connected again and every watch re-read: watched data is current again
 * - `error` `(ZkError)` — a watch could not be read for another reason (only emitted when listened to)
 * - `closed`
 */
export class ZkSession extends EventEmitter {
  readonly connectString: string;
  readonly operationTimeoutMs: number;
  private readonly requestedTimeoutMs: number;
  private readonly spinDelayMs: number;
  private readonly logger: Logger;
  private client?: Client;
  private generation = 0;
  private sessionState: ZkSessionState = 'idle';
  private isStale = false;
  private expiryTimer?: NodeJS.Timeout;
  private negotiatedTimeoutMs?: number;
  private lastSessionId?: string;
  private readonly watches = new Set<WatchEntry>();

  /** Creates, starts and waits for a connected session; rejects (and closes it) after `connectTimeoutMs`. */
  static async connect(
    connectString: string,
    options: Omit<ZkSessionOptions, 'connectString'> & { connectTimeoutMs?: number } = {},
  ): Promise<ZkSession> {
    const session = new ZkSession({ ...options, connectString });
    session.start();
    try {
      await session.ready(options.connectTimeoutMs);
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  constructor(options: ZkSessionOptions) {
    super();
    if (typeof options.connectString !== 'string' || options.connectString.trim() === '' || options.connectString.includes('://')) {
      throw new TypeError(`ZkSession needs a connect string like "host:2181,host2:2181" (use parseZkUrl for zk:// URLs), got ${JSON.stringify(options.connectString)}`);
    }
    this.connectString = options.connectString;
    this.requestedTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.spinDelayMs = options.spinDelayMs ?? 500;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 15_000;
    this.logger = options.logger ?? quietLogger();
    for (const [name, value] of Object.entries({ sessionTimeoutMs: this.requestedTimeoutMs, operationTimeoutMs: this.operationTimeoutMs })) {
      if (!(value > 0)) throw new RangeError(`${name} must be positive, got ${value}`);
    }
  }

  /** Starts connecting (and keeps retrying for as long as the session is open). */
  start(): this {
    if (this.sessionState !== 'idle') return this;
    this.sessionState = 'connecting';
    this.openClient();
    return this;
  }

  get state(): ZkSessionState {
    return this.sessionState;
  }

  get connected(): boolean {
    return this.sessionState === 'connected';
  }

  /** True from a disconnect or expiry until every watch has been re-read on a live session. */
  get stale(): boolean {
    return this.isStale;
  }

  /** The negotiated session timeout (the requested one before the first connect). */
  get sessionTimeoutMs(): number {
    return this.negotiatedTimeoutMs ?? this.requestedTimeoutMs;
  }

  /** Current session id in hex, once connected. */
  get sessionId(): string | undefined {
    return this.lastSessionId;
  }

  /** Resolves once connected; rejects with a ZkError (`TIMEOUT`) after `timeoutMs` (the session keeps trying). */
  ready(timeoutMs = this.operationTimeoutMs): Promise<void> {
    if (this.sessionState === 'connected') return Promise.resolve();
    if (this.sessionState === 'closed') return Promise.reject(new ZkError('ZooKeeper session closed', 'CLOSED'));
    if (this.sessionState === 'idle') this.start();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('connected', onConnected);
        this.off('closed', onClosed);
      };
      const onConnected = () => {
        cleanup();
        resolve();
      };
      const onClosed = () => {
        cleanup();
        reject(new ZkError('ZooKeeper session closed', 'CLOSED'));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new ZkError(`could not connect to ZooKeeper at ${this.connectString} within ${timeoutMs} ms`, 'TIMEOUT'));
      }, timeoutMs);
      this.on('connected', onConnected);
      this.on('closed', onClosed);
    });
  }

  /** Closes the session (its ephemeral nodes go away) and every watch. Idempotent. */
  async close(): Promise<void> {
    if (this.sessionState === 'closed') return;
    this.sessionState = 'closed';
    clearTimeout(this.expiryTimer);
    for (const entry of this.watches) entry.active = false;
    this.watches.clear();
    const client = this.client;
    this.client = undefined;
    this.generation++;
    this.emit('closed');
    if (client) await shutDownClient(client);
  }

  // ------------------------------------------------------------------------------------ operations

  /** The node's data, or undefined when it does not exist. */
  async getData(path: string): Promise<Buffer | undefined> {
    return this.call<Buffer | undefined>(`getData ${path}`, path, (client, done) =>
      client.getData(path, (error, data) => (isNoNode(error) ? done(null, undefined) : done(error, data ?? Buffer.alloc(0)))),
    );
  }

  /** The node's children (sorted), or undefined when it does not exist. */
  async getChildren(path: string): Promise<string[] | undefined> {
    return this.call<string[] | undefined>(`getChildren ${path}`, path, (client, done) =>
      client.getChildren(path, (error, children) => (isNoNode(error) ? done(null, undefined) : done(error, [...(children ?? [])].sort()))),
    );
  }

  async exists(path: string): Promise<boolean> {
    return this.call<boolean>(`exists ${path}`, path, (client, done) => client.exists(path, (error, stat) => done(error, Boolean(stat))));
  }

  /** Creates a node and returns its path (with the sequence suffix for sequential modes). Ephemeral nodes belong to the current session. */
  async create(path: string, data: Buffer | string = Buffer.alloc(0), mode: ZkCreateMode = 'persistent'): Promise<string> {
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.call<string>(`create ${path}`, path, (client, done) => client.create(path, buffer, CREATE_MODES[mode], done));
  }

  /** Creates the node and any missing parents (persistent). */
  async mkdirp(path: string): Promise<void> {
    await this.call<string>(`mkdirp ${path}`, path, (client, done) => client.mkdirp(path, done));
  }

  async setData(path: string, data: Buffer | string): Promise<void> {
    const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.call(`setData ${path}`, path, (client, done) => client.setData(path, buffer, -1, (error) => done(error, undefined)));
  }

  /** Deletes the node; false when it did not exist. */
  async remove(path: string): Promise<boolean> {
    return this.call<boolean>(`remove ${path}`, path, (client, done) =>
      client.remove(path, -1, (error) => (isNoNode(error) ? done(null, false) : done(error, true))),
    );
  }

  // ---------------------------------------------------------------------------------------- watches

  /**
   * Calls `listener` with the node's data now and after every change: `undefined` while the node does
   * not exist (it is watched until it appears) or after it vanishes. Re-armed automatically, also on a
   * new session after expiry. Returns a function that stops the watch.
   */
  watchData(path: string, listener: (data: Buffer | undefined) => void): Unwatch {
    return this.addWatch('data', path, listener);
  }

  /** Like `watchData` for the node's children (sorted names; `undefined` while the node does not exist). */
  watchChildren(path: string, listener: (children: string[] | undefined) => void): Unwatch {
    return this.addWatch('children', path, listener);
  }

  private addWatch<T>(kind: WatchEntry['kind'], path: string, listener: (value: T) => void): Unwatch {
    if (this.sessionState === 'closed') throw new ZkError(`cannot watch ${path}: session closed`, 'CLOSED', path);
    if (!path.startsWith('/')) throw new ZkError(`ZooKeeper paths are absolute, got ${JSON.stringify(path)}`, 'BAD_ARGUMENTS', path);
    const entry: WatchEntry = {
      kind,
      path,
      active: true,
      listener: listener as (value: never) => void,
      watcher: () => void this.refresh(entry),
    };
    this.watches.add(entry);
    if (this.sessionState === 'idle') this.start();
    // Before the first connect, the connect handler reads every watch.
    if (this.sessionState === 'connected') void this.refresh(entry);
    return () => {
      entry.active = false;
      this.watches.delete(entry);
    };
  }

  /** Reads the watched node again with a watch set; delivers the value if it changed. False on failure. */
  private async refresh(entry: WatchEntry): Promise<boolean> {
    const client = this.client;
    const generation = this.generation;
    const current = () => entry.active && generation === this.generation;
    if (!client || !current()) return true;
    try {
      let value = await readWatched(client, entry.kind, entry.path, entry.watcher);
      if (!current()) return true;
      if (value === undefined) {
        // Not there: watch for its creation. If it appeared meanwhile, read it again.
        if (await existsWatched(client, entry.path, entry.watcher)) return this.refresh(entry);
        value = undefined;
      }
      if (!current()) return true;
      this.deliver(entry, value);
      return true;
    } catch (err) {
      if (!current()) return true;
      const error = toZkError(err, `watch ${entry.kind} ${entry.path}`, entry.path);
      if (isConnectionError(error)) {
        this.logger.debug({ path: entry.path, code: error.code }, 'zookeeper watch read failed; retried on reconnect');
      } else {
        this.logger.warn({ path: entry.path, err: error.message }, 'zookeeper watch read failed');
        if (this.listenerCount('error') > 0) this.emit('error', error);
        // Not a connection problem (e.g. NO_AUTH): try again later rather than spin.
        setTimeout(() => void (current() && this.connected && this.refresh(entry)), Math.max(1_000, this.sessionTimeoutMs)).unref();
      }
      return false;
    }
  }

  private deliver(entry: WatchEntry, value: Buffer | string[] | undefined): void {
    const fingerprint = value === undefined ? '\0absent' : Buffer.isBuffer(value) ? `d:${value.toString('base64')}` : `c:${value.join('/')}`;
    if (fingerprint === entry.last) return;
    entry.last = fingerprint;
    try {
      entry.listener(value as never);
    } catch (err) {
      this.logger.error({ path: entry.path, err: (err as Error).message }, 'zookeeper watch listener threw');
    }
  }

  // ----------------------------------------------------------------------------- client lifecycle

  private openClient(): void {
    const generation = ++this.generation;
    const client = zookeeper.createClient(this.connectString, {
      sessionTimeout: this.requestedTimeoutMs,
      spinDelay: this.spinDelayMs,
      retries: 0,
    });
    this.client = client;
    guardHandshake(client, handshakeDeadlineMs(this.requestedTimeoutMs));
    client.on('state', (state: State) => {
      if (generation === this.generation && this.sessionState !== 'closed') this.onClientState(client, state);
    });
    client.connect();
  }

  private onClientState(client: Client, state: State): void {
    switch (state) {
      case zookeeper.State.SYNC_CONNECTED:
      case zookeeper.State.CONNECTED_READ_ONLY: {
        clearTimeout(this.expiryTimer);
        this.expiryTimer = undefined;
        this.negotiatedTimeoutMs = client.getSessionTimeout();
        const sessionId = client.getSessionId().toString('hex');
        const newSession = sessionId !== this.lastSessionId;
        this.lastSessionId = sessionId;
        this.sessionState = 'connected';
        this.logger.info({ connectString: this.connectString, sessionId, sessionTimeoutMs: this.negotiatedTimeoutMs, newSession }, 'zookeeper connected');
        this.emit('connected', { sessionId, newSession });
        void this.refreshAll();
        return;
      }
      case zookeeper.State.DISCONNECTED: {
        if (this.sessionState !== 'connected') return;
        this.sessionState = 'disconnected';
        const timeoutMs = this.sessionTimeoutMs;
        this.logger.warn({ connectString: this.connectString, sessionTimeoutMs: timeoutMs }, 'zookeeper disconnected');
        this.emit('disconnected');
        this.markStale('disconnected from ZooKeeper');
        clearTimeout(this.expiryTimer);
        this.expiryTimer = setTimeout(() => this.expire(`disconnected for longer than the session timeout (${timeoutMs} ms)`), timeoutMs);
        return;
      }
      case zookeeper.State.EXPIRED:
        this.expire('ZooKeeper reported the session expired');
        return;
      case zookeeper.State.AUTH_FAILED: {
        const error = new ZkError(`ZooKeeper at ${this.connectString} rejected the credentials`, 'AUTH_FAILED');
        this.logger.error({ connectString: this.connectString }, error.message);
        if (this.listenerCount('error') > 0) this.emit('error', error);
        return;
      }
      default:
        return;
    }
  }

  /** Replaces the dead (or presumed dead) client by a new one: a new session, every watch registered again. */
  private expire(reason: string): void {
    if (this.sessionState === 'closed') return;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.logger.warn({ connectString: this.connectString, reason }, 'zookeeper session expired; creating a new session');
    this.sessionState = 'connecting';
    this.markStale(reason);
    this.emit('expired', reason);
    const old = this.client;
    this.openClient();
    if (old) void shutDownClient(old);
  }

  private markStale(reason: string): void {
    if (this.isStale) return;
    this.isStale = true;
    this.emit('stale', reason);
  }

  private async refreshAll(): Promise<void> {
    const generation = this.generation;
    const results = await Promise.all([...this.watches].map((entry) => this.refresh(entry)));
    if (generation !== this.generation || this.sessionState !== 'connected') return;
    if (this.isStale && results.every(Boolean)) {
      this.isStale = false;
      this.logger.info({ connectString: this.connectString, watches: this.watches.size }, 'zookeeper watches current again');
      this.emit('recovered');
    }
  }

  /** Runs one request on the current client with the operation timeout. */
  private call<T>(what: string, path: string, run: (client: Client, done: (error: unknown, value: T) => void) => void): Promise<T> {
    if (this.sessionState === 'closed') return Promise.reject(new ZkError(`${what}: session closed`, 'CLOSED', path));
    if (this.sessionState === 'idle') this.start();
    const client = this.client!;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = this.connected ? 'no answer' : `not connected to ZooKeeper at ${this.connectString}`;
        reject(new ZkError(`${what}: timed out after ${this.operationTimeoutMs} ms (${why})`, 'TIMEOUT', path));
      }, this.operationTimeoutMs);
      try {
        run(client, (error, value) => {
          clearTimeout(timer);
          if (error) reject(toZkError(error, what, path));
          else resolve(value);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(toZkError(err, what, path));
      }
    });
  }
}

function readWatched(client: Client, kind: WatchEntry['kind'], path: string, watcher: () => void): Promise<Buffer | string[] | undefined> {
  return new Promise((resolve, reject) => {
    if (kind === 'data') {
      client.getData(path, watcher, (error, data) => (isNoNode(error) ? resolve(undefined) : error ? reject(error) : resolve(data ?? Buffer.alloc(0))));
    } else {
      client.getChildren(path, watcher, (error, children) =>
        isNoNode(error) ? resolve(undefined) : error ? reject(error) : resolve([...(children ?? [])].sort()),
      );
    }
  });
}

function existsWatched(client: Client, path: string, watcher: () => void): Promise<boolean> {
  return new Promise((resolve, reject) => client.exists(path, watcher, (error, stat) => (error ? reject(error) : resolve(Boolean(stat)))));
}

function isNoNode(error: unknown): boolean {
  return errorName(error) === 'NO_NODE';
}

function errorName(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { getName?: () => string; name?: string };
  return typeof e.getName === 'function' ? e.getName() : e.name;
}

export function toZkError(error: unknown, what: string, path?: string): ZkError {
  if (error instanceof ZkError) return error;
  const name = errorName(error);
  const code = name && /^[A-Z_]+$/.test(name) ? name : 'ERROR';
  const message = code === 'ERROR' ? ((error as Error)?.message ?? String(error)) : code;
  return new ZkError(`${what}: ${message}`, code, path, { cause: error });
}

const CLOSED_STATE = -2; // ConnectionManager STATES.CLOSED
const CONNECTED_STATES = new Set([2, 3]); // ConnectionManager STATES.CONNECTED, CONNECTED_READ_ONLY

/** Shortest wait for a server's answer to the session handshake. */
const HANDSHAKE_MIN_MS = 2_000;

/**
 * How long one handshake may wait for the server's answer: a third of the session timeout (at least
 * 2 s), so that after a handshake sent to a server that was still starting, the next try still
 * reaches it before the server expires the session. A ZooKeeper restarted within the session
 * timeout then keeps the session.
 */
function handshakeDeadlineMs(sessionTimeoutMs: number): number {
  return Math.max(HANDSHAKE_MIN_MS, Math.floor(sessionTimeoutMs / 3));
}

/**
 * node-zookeeper-client stops its connect timer once the TCP connection is up and then waits for the
 * server's answer to its ConnectRequest without a deadline: a server that accepts connections but
 * does not answer yet (a ZooKeeper still starting) would hold the client forever. This gives every
 * handshake `timeoutMs`, after which the socket is dropped and the library tries again, keeping
 * its session id (a session that is still alive is resumed).
 */
function guardHandshake(client: Client, timeoutMs: number): void {
  const manager = (client as unknown as { connectionManager?: ConnectionManagerInternals }).connectionManager;
  if (!manager) return;
  const onSocketConnected = manager.onSocketConnected;
  manager.onSocketConnected = function (this: ConnectionManagerInternals) {
    onSocketConnected.call(this);
    const socket = this.socket;
    const timer = setTimeout(() => {
      if (manager.socket === socket && !CONNECTED_STATES.has(manager.state)) socket?.destroy();
    }, timeoutMs);
    timer.unref();
  };
}

/**
 * Closes a node-zookeeper-client client for good and resolves once its socket is gone (at most ~1 s).
 * The library would otherwise keep reconnecting a client closed while disconnected (a connect
 * attempt may already be scheduled) and misread the server's answer in that state.
 */
function shutDownClient(client: Client): Promise<void> {
  const manager = (client as unknown as { connectionManager?: ConnectionManagerInternals }).connectionManager;
  const connected = client.getState() === zookeeper.State.SYNC_CONNECTED || client.getState() === zookeeper.State.CONNECTED_READ_ONLY;
  if (manager) {
    manager.connect = () => undefined;
    if (!connected) {
      manager.onSocketConnected = function (this: ConnectionManagerInternals) {
        this.socket?.destroy();
      };
      manager.onSocketData = () => undefined;
    }
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(finish, 1_000);
    function finish(): void {
      clearTimeout(timer);
      manager?.removeListener('state', onState);
      manager?.socket?.destroy();
      resolve();
    }
    function onState(state: number): void {
      if (state === CLOSED_STATE) finish();
    }
    manager?.on('state', onState);
    try {
      // Connected: sends closeSession (the server removes our ephemeral nodes and drops the socket).
      client.close();
    } catch {
      // Not connected and no socket yet: nothing to send.
    }
    if (!connected) manager?.socket?.destroy();
    if (!manager || manager.state === CLOSED_STATE) finish();
  });
}

interface ConnectionManagerInternals {
  state: number;
  socket?: { destroy(): void };
  connect: () => void;
  onSocketConnected: () => void;
  onSocketData: (data: Buffer) => void;
  on(event: 'state', listener: (state: number) => void): void;
  removeListener(event: 'state', listener: (state: number) => void): void;
}
