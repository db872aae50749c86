// The Mesos master as a record source, like Mesos-DNS (reference mesos-dns.md §9): poll
// `/master/state` every `refreshSeconds` (leader first, then the other masters; re-fetch from the
// leader the state names when it is another host), publish every framework's tasks and the master,
// agent and framework records. A failed poll keeps the last good records and marks the source stale.
import { Resolver, lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basicAuthorization, silentLogger, type Logger } from '@baton/marathon';
import type { DnsConfig } from './config.js';
import type { RecordStore, SourceStatus } from './record-store.js';
import {
  MARATHON_FRAMEWORK,
  canonicalIp,
  pidHostPort,
  splitHostPort,
  type RecordOptions,
} from './records.js';
import { hostnamesToResolve, mesosStateRecords } from './mesos-records.js';

/** Where the masters are, as a leader detector (e.g. ZooKeeper `/mesos/json.info_*`) sees them. */
export interface MasterDetection {
  /** The leading master, `host:port`. */
  leader?: string;
  /** Every known master, `host:port` (the leader included or not). */
  masters: string[];
}

/**
 * The hook for leader detection: without one, the configured `masters` are used as given and the
 * first is tried first (Mesos-DNS without `zk`).
 */
export interface LeaderSource {
  /** The current detection, or undefined while none is known. */
  current(): MasterDetection | undefined;
  /** Optional: called on every change; the source then polls at once (Mesos-DNS reloads on a ZooKeeper change). */
  subscribe?(listener: () => void): () => void;
}

export type MasterSourceConfig = Pick<
  DnsConfig,
  | 'domain' | 'enforceRfc952' | 'ipSources' | 'ptrOn' | 'masters' | 'refreshSeconds' | 'stateTimeoutSeconds'
  | 'mesosHttpsOn' | 'caCertFile' | 'certFile' | 'keyFile' | 'mesosAuthentication' | 'mesosCredentials'
  | 'hostnameResolvers' | 'timeoutSeconds'
>;

/** Host names resolved at once while reading one master state. */
const RESOLVE_CONCURRENCY = 16;

/**
 * How agent and framework host names are resolved: through the DNS servers of `hostnameResolvers`
 * when set (A and AAAA), else the system resolver (getaddrinfo: /etc/hosts, then DNS). Each lookup
 * gives up after `timeoutSeconds`.
 */
export function hostResolver(config: Pick<DnsConfig, 'hostnameResolvers' | 'timeoutSeconds'>): (host: string) => Promise<string[]> {
  const timeoutMs = config.timeoutSeconds * 1000;
  const withTimeout = <T>(work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };
  if (config.hostnameResolvers.length === 0) {
    return async (host) => (await withTimeout(lookup(host, { all: true }))).map((a) => a.address);
  }
  const resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeoutMs / 2)), tries: 2 });
  resolver.setServers(config.hostnameResolvers);
  return async (host) => {
    const [v4, v6] = await withTimeout(Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]));
    const ips = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (ips.length === 0) throw new Error(`${host} did not resolve`);
    return ips;
  };
}

export interface MasterSourceOptions {
  config: MasterSourceConfig;
  /** The Marathon feed is on: the `marathon` framework's tasks are skipped (its name records are kept). */
  marathonFeedOn?: boolean;
  leaderSource?: LeaderSource;
  /** Resolves agent and framework host names that are not IP literals (default: `hostResolver(config)`). */
  resolveHost?: (host: string) => Promise<string[]>;
  logger?: Logger;
}

export class MesosMasterSource {
  private readonly config: MasterSourceConfig;
  private readonly recordOptions: RecordOptions;
  private readonly logger: Logger;
  private readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly published = new Set<string>();
  private resolveHost?: (host: string) => Promise<string[]>;
  private timer?: NodeJS.Timeout;
  private running = false;
  private polling?: Promise<boolean>;
  private pollAgain = false;
  private unsubscribeLeader?: () => void;
  private readyWaiters: (() => void)[] = [];
  private lastSuccessAt?: number;
  private failingSince?: number;
  private lastError?: string;
  private lastMaster?: string;
  private polls = 0;
  private failures = 0;

  constructor(
    private readonly store: RecordStore,
    private readonly opts: MasterSourceOptions,
  ) {
    this.config = opts.config;
    this.recordOptions = {
      domain: opts.config.domain,
      enforceRfc952: opts.config.enforceRfc952,
      ipSources: opts.config.ipSources,
      ptrOn: opts.config.ptrOn,
    };
    this.logger = opts.logger ?? silentLogger();
    if (this.config.mesosHttpsOn) {
      const read = (path: string): Buffer | undefined => (path === '' ? undefined : readFileSync(path));
      this.tls = { ca: read(this.config.caCertFile), cert: read(this.config.certFile), key: read(this.config.keyFile) };
    }
    if (this.config.mesosAuthentication === 'iam') {
      this.logger.warn('mesosAuthentication "iam" is not supported; requests to the masters carry no credentials');
    }
  }

  /** Polls now, then every `refreshSeconds`. Never throws; problems show in status() and logs. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeLeader = this.opts.leaderSource?.subscribe?.(() => {
      void this.refresh();
    });
    void this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribeLeader?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** Resolves after the first successful poll. */
  ready(): Promise<void> {
    if (this.lastSuccessAt !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Polls the masters once (joining a poll in flight); true when the records were refreshed. */
  refresh(): Promise<boolean> {
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = this.pollOnce().finally(() => {
      this.polling = undefined;
      if (this.pollAgain && this.running) {
        this.pollAgain = false;
        void this.refresh();
      }
    });
    return this.polling;
  }

  status(): SourceStatus & { master?: string; polls: number; failures: number } {
    const stale = this.failingSince !== undefined;
    const status: SourceStatus & { master?: string; polls: number; failures: number } = {
      name: 'mesos',
      ready: this.lastSuccessAt !== undefined,
      stale,
      staleSeconds: stale ? Math.floor((Date.now() - this.failingSince!) / 1000) : 0,
      polls: this.polls,
      failures: this.failures,
    };
    if (this.lastSuccessAt !== undefined) status.lastUpdateAt = this.lastSuccessAt;
    if (this.lastError !== undefined) status.lastError = this.lastError;
    if (this.lastMaster !== undefined) status.master = this.lastMaster;
    return status;
  }

  private async loop(): Promise<void> {
    if (!this.running) return;
    await this.refresh();
    if (!this.running) return;
    this.timer = setTimeout(() => void this.loop(), this.config.refreshSeconds * 1000);
  }

  /** The masters to try, in order, and the masters list for the `master`/`masterN` records. */
  private candidates(): { order: string[]; masters: string[] } {
    const detection = this.opts.leaderSource?.current();
    const masters = detection ? [...detection.masters] : [...this.config.masters];
    const order = [...new Set([...(detection?.leader ? [detection.leader] : []), ...masters])];
    if (detection?.leader && !masters.includes(detection.leader)) masters.unshift(detection.leader);
    return { order, masters };
  }

  private async pollOnce(): Promise<boolean> {
    this.polls++;
    const { order, masters } = this.candidates();
    const errors: string[] = [];
    let state: unknown;
    let from: string | undefined;
    for (const master of order) {
      try {
        state = await this.fetchState(master);
        from = master;
        const leader = pidHostPort((state as { leader?: unknown })?.leader);
        const contacted = splitHostPort(master).host;
        if (leader && canonicalIp(leader.host)?.ip !== (canonicalIp(contacted)?.ip ?? contacted)) {
          const leaderAddress = `${leader.host.includes(':') ? `[${leader.host}]` : leader.host}:${leader.port}`;
          try {
            state = await this.fetchState(leaderAddress);
            from = leaderAddress;
          } catch (err) {
            this.logger.warn({ master, leader: leaderAddress, err: (err as Error).message }, 'the leader named by a master did not answer; using that master\'s state');
          }
        }
        break;
      } catch (err) {
        errors.push(`${master}: ${(err as Error).message}`);
      }
    }
    if (from === undefined) {
      return this.failed(order.length === 0 ? 'no Mesos master known (configure "masters" or "zk")' : `every master failed: ${errors.join('; ')}`);
    }
    let resolved: Map<string, string[]>;
    try {
      resolved = await this.resolveHostnames(state);
    } catch {
      resolved = new Map();
    }
    const { owners, error } = mesosStateRecords(state, {
      ...this.recordOptions,
      masters,
      skipTasksOf: this.opts.marathonFeedOn ? [MARATHON_FRAMEWORK] : [],
      resolved,
    });
    if (error) return this.failed(`${from}: ${error}`);
    this.store.batch(() => {
      for (const [key, owner] of owners) {
        try {
          this.store.replaceOwner(key, owner);
        } catch (err) {
          this.logger.error({ err, owner: key }, 'could not publish records; the previous ones are kept');
        }
        this.published.add(key);
      }
      for (const key of [...this.published]) {
        if (owners.has(key)) continue;
        this.store.removeOwner(key);
        this.published.delete(key);
      }
    });
    this.lastMaster = from;
    this.lastSuccessAt = Date.now();
    this.failingSince = undefined;
    this.lastError = undefined;
    for (const resolve of this.readyWaiters.splice(0)) resolve();
    return true;
  }

  private failed(message: string): false {
    this.failures++;
    this.failingSince ??= Date.now();
    this.lastError = message;
    this.logger.warn({ error: message }, 'Mesos master state fetch failed; keeping the last records');
    return false;
  }

  private async resolveHostnames(state: unknown): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    this.resolveHost ??= this.opts.resolveHost ?? hostResolver(this.config);
    const resolve = this.resolveHost;
    const queue = hostnamesToResolve(state);
    const worker = async (): Promise<void> => {
      for (let host = queue.pop(); host !== undefined; host = queue.pop()) {
        try {
          out.set(host, await resolve(host));
        } catch (err) {
          // an unresolvable host gets no record (Mesos-DNS drops the whole state then)
          this.logger.debug({ host, err: (err as Error).message }, 'could not resolve a host name of the master state');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESOLVE_CONCURRENCY, queue.length) }, worker));
    return out;
  }

  /** GET `/master/state` from `master` (`host:port`), following one redirect. */
  private async fetchState(master: string): Promise<unknown> {
    const scheme = this.config.mesosHttpsOn ? 'https' : 'http';
    let url = new URL(`${scheme}://${master}/master/state`);
    for (let hop = 0; hop < 3; hop++) {
      const response = await this.get(url);
      if (response.status >= 300 && response.status < 400 && response.location) {
        url = new URL(response.location, url);
        if (!url.pathname.startsWith('/master/state')) url.pathname = '/master/state';
        continue;
      }
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      try {
        return JSON.parse(response.body);
      } catch (err) {
        throw new Error(`invalid JSON (${(err as Error).message})`);
      }
    }
    throw new Error('too many redirects');
  }

  private get(url: URL): Promise<{ status: number; location?: string; body: string }> {
    const timeoutMs = this.config.stateTimeoutSeconds * 1000;
    const headers: Record<string, string> = { 'User-Agent': 'baton-dns', Accept: 'application/json', Connection: 'close' };
    if (this.config.mesosAuthentication === 'basic') {
      const { principal, secret } = this.config.mesosCredentials;
      headers.Authorization = basicAuthorization(principal, secret);
    }
    return new Promise((resolve, reject) => {
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = request(url, { method: 'GET', headers, agent: false, ...(url.protocol === 'https:' ? this.tls : {}) }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          const location = res.headers.location;
          resolve({ status: res.statusCode ?? 0, location, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message));
      });
      req.end();
    });
  }
}
