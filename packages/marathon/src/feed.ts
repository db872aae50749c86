// Keeps a ClusterState in sync with Marathon: event stream first, then a full resync; every event
// applied, refetching what events only invalidate; reconnect with backoff; last known good on failure.
import { EventEmitter } from 'node:events';
import { createBackoff, type Backoff } from './backoff.js';
import { MarathonResponseError, type MarathonClient } from './client.js';
import { AppListScanner } from './normalize.js';
import { MarathonEventStream, leaderHostPort } from './event-stream.js';
import { AppGroupIndex } from './group-index.js';
import { silentLogger, type Logger } from './log.js';
import type { ClusterState } from './state.js';
import type { MarathonEvent } from './types.js';

export interface MarathonFeedOptions {
  client: MarathonClient;
  /** `event_type` filters for the stream; absent = all events. */
  eventTypes?: string[];
  /** Full resync period while connected, in ms (default 300 000). */
  resyncIntervalMs?: number;
  /** A stream silent this long is dead and gets reconnected, in ms (default 30 000). */
  heartbeatTimeoutMs?: number;
  /** Characters one SSE line or event may take (default 16 MiB); a longer one reconnects and resyncs. */
  maxEventLength?: number;
  /** Delay between reconnect rounds and between failed-resync retries (defaults 500 ms, capped at 30 000 ms). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * How long after a `group_change_success` its group is checked, in ms (default 1000). Every change
   * of the group within that time is covered by the one check, and a group is never checked twice
   * at once.
   */
  groupCheckDelayMs?: number;
  logger?: Logger;
}

export interface FeedStatus {
  /** The event stream is open. */
  connected: boolean;
  /** The configured Marathon URL the stream went through. */
  url?: string;
  /** The Marathon leader (`host:port`). */
  leader?: string;
  /** The state may be behind Marathon: stream down, last resync failed, or a refetch pending retry. */
  stale: boolean;
  /** Seconds since the state was last known in sync (0 when not stale). */
  staleSeconds: number;
  /** Epoch ms of the last successful full resync. */
  lastSyncAt?: number;
  /** Epoch ms of the last event received. */
  lastEventAt?: number;
  lastError?: string;
  eventsApplied: number;
  /** Successful full resyncs. */
  resyncs: number;
  /** Successful connections after the first. */
  reconnects: number;
}

export interface FeedEvents {
  status: [status: FeedStatus];
  /** A recoverable problem (failed resync, refetch, malformed event); emitted only if someone listens. */
  error: [error: Error];
}

/** Characters of a group listing read per turn of the event loop. */
const GROUP_SCAN_SLICE = 128 * 1024;

/** Events buffered during one resync beyond this are dropped and the resync is repeated instead. */
const MAX_BUFFERED_EVENTS = 50_000;

export class MarathonFeed extends EventEmitter<FeedEvents> {
  private readonly client: MarathonClient;
  private readonly logger: Logger;
  private readonly eventTypes?: string[];
  private readonly resyncIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly maxEventLength?: number;
  private readonly groupCheckDelayMs: number;
  private readonly reconnectBackoff: Backoff;
  private readonly retryBackoff: Backoff;
  private readonly lifetime = new AbortController();

  private started = false;
  private stopped = false;
  private loop?: Promise<void>;
  private stopping?: Promise<void>;
  private wake?: () => void;

  private stream?: MarathonEventStream;
  private connected = false;
  private inSync = false;
  private url?: string;
  private staleSince?: number;
  private lastSyncAt?: number;
  private lastEventAt?: number;
  private lastError?: string;
  private eventsApplied = 0;
  private resyncs = 0;
  private connects = 0;

  private periodicTimer?: NodeJS.Timeout;
  private resyncRetryTimer?: NodeJS.Timeout;
  private refetchRetryTimer?: NodeJS.Timeout;
  private resyncInFlight?: Promise<boolean>;
  private resyncAgain = false;
  /** Set while a resync runs: events wait here and are applied after it. */
  private buffer?: MarathonEvent[];
  private readonly refetches = new Map<string, { again: boolean; done: Promise<void> }>();
  private readonly failedRefetches = new Map<string, () => Promise<void>>();
  /** Group checks waiting for their delay, by group id. */
  private readonly groupCheckTimers = new Map<string, NodeJS.Timeout>();
  /** The state's apps by group, for group checks (a walk of every app per check was O(cluster)). */
  private readonly groups: AppGroupIndex;

  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    private readonly state: ClusterState,
    options: MarathonFeedOptions,
  ) {
    super();
    this.client = options.client;
    this.groups = new AppGroupIndex(state);
    this.logger = options.logger ?? silentLogger();
    this.eventTypes = options.eventTypes;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 300_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 30_000;
    this.maxEventLength = options.maxEventLength;
    this.groupCheckDelayMs = options.groupCheckDelayMs ?? 1000;
    this.reconnectBackoff = createBackoff(options.backoff);
    this.retryBackoff = createBackoff(options.backoff);
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined); // a feed stopped before its first sync is not an unhandled rejection
  }

  /** Starts the connect → stream → resync loop. Never throws; problems show in status() and logs. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.staleSince = Date.now();
    this.loop = this.run().catch((err) => {
      // Not expected: every step handles its own errors. Logged rather than left unhandled.
      this.logger.error({ err }, 'marathon feed loop failed');
    });
  }

  /** Resolves after the first successful full sync; rejects if the feed is stopped before. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Closes the stream, timers and pending requests. The state keeps what it had. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    this.lifetime.abort();
    this.rejectReady(new Error('marathon feed stopped before the first sync'));
    clearInterval(this.periodicTimer);
    clearTimeout(this.resyncRetryTimer);
    clearTimeout(this.refetchRetryTimer);
    for (const timer of this.groupCheckTimers.values()) clearTimeout(timer);
    this.groupCheckTimers.clear();
    this.wake?.();
    this.stream?.close();
    this.stopping = (async () => {
      await this.loop;
      await this.resyncInFlight?.catch(() => undefined);
      await Promise.allSettled([...this.refetches.values()].map((r) => r.done));
      this.groups.close();
      this.connected = false;
      this.updateStaleness();
      this.emit('status', this.status());
    })();
    return this.stopping;
  }

  /**
   * A full resync now (marathon-lb's `/_mlb_signal/hup`). One runs at a time: a call while one runs
   * joins it, and makes it run once more afterwards (it may have read Marathon before the change
   * that prompted the call), so any number of concurrent calls cost at most two fetches. Rejects
   * with the reason when the resync failed.
   */
  async resyncNow(): Promise<void> {
    if (this.stopped) throw new Error('marathon feed stopped');
    if (!(await this.resync('requested'))) throw new Error(this.lastError ?? 'resync failed');
  }

  status(): FeedStatus {
    const stale = this.isStale();
    return {
      connected: this.connected,
      url: this.url,
      leader: this.state.leader,
      stale,
      staleSeconds: stale && this.staleSince !== undefined ? Math.floor((Date.now() - this.staleSince) / 1000) : 0,
      lastSyncAt: this.lastSyncAt,
      lastEventAt: this.lastEventAt,
      lastError: this.lastError,
      eventsApplied: this.eventsApplied,
      resyncs: this.resyncs,
      reconnects: Math.max(0, this.connects - 1),
    };
  }

  // ------------------------------------------------------------------------------- connection loop

  private async run(): Promise<void> {
    while (!this.stopped) {
      const connection = await this.connect();
      if (this.stopped) break;
      if (!connection) {
        await this.sleep(this.reconnectBackoff.next());
        continue;
      }
      this.onConnected(connection.stream, connection.url);
      const reason = await connection.closed;
      this.onDisconnected(reason);
      if (this.stopped) break;
      await this.sleep(this.reconnectBackoff.next());
    }
  }

  /** Tries each URL once, starting with the client's current one. */
  private async connect(): Promise<{ stream: MarathonEventStream; closed: Promise<string>; url: string } | undefined> {
    try {
      await this.client.resolve(); // URLs from a resolver (zk://…): known and current
      await this.client.ensureLogin(); // a DC/OS token, when configured, for the stream's headers
    } catch (err) {
      this.lastError = (err as Error).message;
      if (!this.stopped) {
        this.logger.warn({ reason: this.lastError }, 'cannot connect to Marathon');
        this.emit('status', this.status());
      }
      return undefined;
    }
    const urls = this.client.urls;
    const first = Math.max(0, urls.indexOf(this.client.currentUrl));
    for (let n = 0; n < urls.length && !this.stopped; n++) {
      const url = urls[(first + n) % urls.length];
      const headers = this.client.requestHeaders();
      const stream = new MarathonEventStream({
        url,
        headers,
        dispatcher: this.client.dispatcher,
        eventTypes: this.eventTypes,
        timeoutMs: this.client.timeoutMs,
        heartbeatTimeoutMs: this.heartbeatTimeoutMs,
        maxMessageLength: this.maxEventLength,
        signal: this.lifetime.signal,
        logger: this.logger,
      });
      this.stream = stream;
      stream.on('event', (event) => this.onEvent(stream, event));
      stream.on('invalid', (error) => {
        this.logger.warn({ url, error }, 'malformed event skipped');
        this.reportError(new Error(`malformed event from ${url}: ${error}`));
      });
      const closed = new Promise<string>((resolve) => stream.once('close', resolve));
      try {
        await stream.open();
        this.client.preferUrl(url);
        return { stream, closed, url };
      } catch (err) {
        if ((err as { status?: number }).status === 401) this.client.loginRejected(headers.authorization);
        const reason = (err as { reason?: string }).reason ?? (err as Error).message;
        this.lastError = `event stream ${url}: ${reason}`;
        if (!this.stopped) this.logger.warn({ url, reason }, 'event stream connect failed');
      }
    }
    this.stream = undefined;
    if (!this.stopped) this.emit('status', this.status());
    return undefined;
  }

  private onConnected(stream: MarathonEventStream, url: string): void {
    this.connected = true;
    this.inSync = false;
    this.url = url;
    this.connects++;
    this.logger.info({ url, connectedTo: stream.connectedUrl, leader: stream.leader }, 'event stream connected');
    void this.updateLeader(stream);
    clearInterval(this.periodicTimer);
    this.periodicTimer = setInterval(() => void this.resync('periodic'), this.resyncIntervalMs);
    this.emit('status', this.status());
    // Marathon's stream has no replay: whatever happened while disconnected is only in a full resync.
    void this.resync('connect');
  }

  private onDisconnected(reason: string): void {
    this.connected = false;
    this.inSync = false;
    this.stream = undefined;
    clearInterval(this.periodicTimer);
    this.periodicTimer = undefined;
    if (this.stopped) return;
    this.lastError = `event stream ${this.url}: ${reason}`;
    this.logger.warn({ url: this.url, reason }, 'event stream lost; reconnecting');
    this.updateStaleness();
    this.emit('status', this.status());
  }

  private async updateLeader(stream: MarathonEventStream): Promise<void> {
    let leader = stream.leader;
    if (!stream.leaderConfirmed) {
      // No X-Marathon-Leader header and no redirect: the URL may be a standby that proxies.
      try {
        leader = (await this.client.getLeader({ signal: this.lifetime.signal })) ?? leader;
      } catch (err) {
        this.logger.debug({ err: (err as Error).message }, 'GET /v2/leader failed; using the stream URL');
      }
    }
    if (stream !== this.stream || this.stopped) return;
    this.state.setLeader(leader === undefined ? undefined : leaderHostPort(leader));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  // ---------------------------------------------------------------------------------------- events

  private onEvent(stream: MarathonEventStream, event: MarathonEvent): void {
    if (stream !== this.stream || this.stopped) return;
    this.lastEventAt = Date.now();
    if (this.buffer) {
      if (this.buffer.length < MAX_BUFFERED_EVENTS) this.buffer.push(event);
      else this.resyncAgain = true;
      return;
    }
    this.apply(event);
  }

  private apply(event: MarathonEvent): void {
    const result = this.state.applyEvent(event);
    if (result.error) {
      this.logger.warn({ eventType: event.eventType, error: result.error }, 'event not applied');
      this.reportError(new Error(`event not applied: ${result.error}`));
      return;
    }
    this.eventsApplied++;
    for (const appId of result.refetch) this.refetch(`app ${appId}`, () => this.refetchApp(appId));
    for (const groupId of result.refetchGroups) this.requestGroupCheck(groupId);
  }

  private async refetchApp(appId: string): Promise<void> {
    const app = await this.client.getApp(appId, { signal: this.lifetime.signal });
    if (!this.stopped) this.state.replaceApp(appId, app);
  }

  /**
   * `group_change_success` names a group, not the apps that changed in it, and Marathon sends it for
   * the parent group of every app change. The apps that change are already named by the deployment
   * events and `api_post_event` that come with it, so the group check is only a safety net, and it
   * must not cost a refetch of the whole group (with every task) per change: it waits
   * `groupCheckDelayMs` (one check covers every change of the group meanwhile), then runs like a
   * refetch (one at a time per group, once more if asked again while running).
   */
  private requestGroupCheck(groupId: string): void {
    if (this.stopped || this.groupCheckTimers.has(groupId)) return;
    const timer = setTimeout(() => {
      this.groupCheckTimers.delete(groupId);
      if (!this.stopped) this.refetch(`group ${groupId}`, () => this.checkGroup(groupId));
    }, this.groupCheckDelayMs);
    timer.unref?.();
    this.groupCheckTimers.set(groupId, timer);
  }

  /**
   * Lists the group's apps without tasks and compares ids and versions with the state: apps that are
   * new or whose version differs are refetched with their tasks, one by one; apps the state has in
   * the group that Marathon no longer lists are refetched too (a 404 removes them). Refetching instead
   * of removing directly keeps a listing read just before an app was created from dropping it.
   */
  private async checkGroup(groupId: string): Promise<void> {
    const prefix = groupId.endsWith('/') ? groupId : `${groupId}/`;
    const inGroup = (id: string) => id === groupId || id.startsWith(prefix);
    const { url, text } = await this.client.getAppsText({ id: groupId, embedTasks: false, signal: this.lifetime.signal });
    if (this.stopped) return;
    // A big group's listing is megabytes: read it a slice at a time, letting events in between.
    const listed = new Map<string, string | undefined>();
    const scanner = new AppListScanner(text);
    for (;;) {
      let malformed: string | undefined;
      const more = scanner.scan(GROUP_SCAN_SLICE, (appText) => {
        let app: { id?: unknown; version?: unknown };
        try {
          app = JSON.parse(appText) as { id?: unknown; version?: unknown };
        } catch (err) {
          malformed ??= `apps response is not valid JSON (${(err as Error).message})`;
          return;
        }
        // Marathon's id filter is a substring match
        if (typeof app.id === 'string' && inGroup(app.id)) listed.set(app.id, typeof app.version === 'string' ? app.version : undefined);
      });
      const error = malformed ?? scanner.error;
      if (error !== undefined) throw new MarathonResponseError(`${url}: ${error}`, url);
      if (!more) break;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.stopped) return;
    }
    const stale: string[] = [];
    for (const [id, version] of listed) {
      const known = this.state.getApp(id);
      if (!known || known.version !== version) stale.push(id);
    }
    for (const id of this.groups.appsUnder(groupId)) if (!listed.has(id)) stale.push(id);
    if (stale.length > 0) this.logger.debug({ groupId, apps: stale.length }, 'group check: refetching apps that differ');
    for (const appId of stale) this.refetch(`app ${appId}`, () => this.refetchApp(appId));
  }

  /**
   * Runs `fetch` for `key` unless one is already running; a request during a running one makes it run
   * once more afterwards (the first may have read Marathon before the change), never more.
   */
  private refetch(key: string, fetch: () => Promise<void>): void {
    const running = this.refetches.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const entry = { again: false, done: Promise.resolve() };
    this.refetches.set(key, entry);
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await this.refetchOnce(key, fetch);
        } while (entry.again && !this.stopped);
      } finally {
        this.refetches.delete(key);
      }
    })();
  }

  private async refetchOnce(key: string, fetch: () => Promise<void>): Promise<void> {
    try {
      await fetch();
      if (this.failedRefetches.delete(key)) this.updateStaleness();
    } catch (err) {
      if (this.stopped) return;
      const message = `refetch of ${key} failed: ${(err as Error).message}`;
      this.logger.warn({ key, err: (err as Error).message }, 'refetch failed; state kept, will retry');
      this.lastError = message;
      this.failedRefetches.set(key, fetch);
      this.updateStaleness();
      this.reportError(new Error(message));
      this.emit('status', this.status());
      if (!this.refetchRetryTimer) {
        this.refetchRetryTimer = setTimeout(() => {
          this.refetchRetryTimer = undefined;
          const failed = [...this.failedRefetches];
          for (const [retryKey, retry] of failed) this.refetch(retryKey, retry);
        }, this.retryBackoff.next());
      }
    }
  }

  // ---------------------------------------------------------------------------------------- resync

  /** Full resync; concurrent calls share one run, and a call during a run makes it run once more. */
  private resync(reason: string): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (this.resyncInFlight) {
      this.resyncAgain = true;
      return this.resyncInFlight;
    }
    const run = async () => {
      let ok = false;
      try {
        do {
          this.resyncAgain = false;
          ok = await this.resyncOnce(reason);
        } while (this.resyncAgain && !this.stopped && this.connected);
      } finally {
        this.resyncInFlight = undefined;
      }
      return ok;
    };
    this.resyncInFlight = run();
    return this.resyncInFlight;
  }

  private async resyncOnce(reason: string): Promise<boolean> {
    this.buffer ??= [];
    const connection = this.connects;
    let ok = false;
    try {
      const { url, text } = await this.client.getAppsText({ embedTasks: true, signal: this.lifetime.signal });
      if (this.stopped) return false;
      // Applied a few milliseconds at a time: a resync of 100k tasks must not stall DNS answers or routes.
      const { appsChanged, error } = await this.state.replaceAllFromJsonSliced(text, { signal: this.lifetime.signal });
      if (this.stopped) return false;
      if (error !== undefined) throw new MarathonResponseError(`${url}: ${error}`, url);
      ok = true;
      this.resyncs++;
      this.lastSyncAt = Date.now();
      // In sync only if the stream that is up now was up before the fetch began.
      this.inSync = this.connected && connection === this.connects;
      this.failedRefetches.clear();
      clearTimeout(this.resyncRetryTimer);
      this.resyncRetryTimer = undefined;
      this.retryBackoff.reset();
      if (this.connected) this.reconnectBackoff.reset();
      this.logger.info({ reason, apps: this.state.appCount, changed: appsChanged }, 'marathon resync done');
      this.resolveReady();
    } catch (err) {
      if (this.stopped) return false;
      this.inSync = false;
      const message = `resync failed: ${(err as Error).message}`;
      this.lastError = message;
      this.logger.warn({ reason, err: (err as Error).message }, 'resync failed; state kept, will retry');
      this.reportError(new Error(message));
      if (!this.resyncRetryTimer) {
        this.resyncRetryTimer = setTimeout(() => {
          this.resyncRetryTimer = undefined;
          // When the stream is down, the reconnect resyncs anyway.
          if (this.connected) void this.resync('retry');
        }, this.retryBackoff.next());
      }
    } finally {
      const buffered = this.buffer ?? [];
      this.buffer = undefined;
      if (!this.stopped) for (const event of buffered) this.apply(event);
    }
    this.updateStaleness();
    this.emit('status', this.status());
    return ok;
  }

  // --------------------------------------------------------------------------------------- helpers

  private isStale(): boolean {
    return !this.connected || !this.inSync || this.failedRefetches.size > 0;
  }

  private updateStaleness(): void {
    if (this.isStale()) this.staleSince ??= Date.now();
    else this.staleSince = undefined;
  }

  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
