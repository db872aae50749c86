// The data plane's shell: the listeners (:80, :443, :9091, one per service port, admin), the current
// route table (swapped by reference, never by restarting a listener), upstream pools and counters.

import type { Server as HttpServer } from 'node:http';
import { createServer as createNetServer, Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { silentLogger, type FeedStatus, type Logger, type StateFileStatus } from '@baton/marathon';
import { createAdminServer, type AdminSource } from './admin.js';
import { checkBasicAuth } from './auth.js';
import { Balancer, PassiveHealth, type PassiveHealthOptions } from './balancer.js';
import { HealthChecker } from './health-checker.js';
import type { AccessLog } from './access-log.js';
import { parseBindOptions, type BindOptions } from './bind-options.js';
import { acceptProxyProtocol } from './proxy-accept.js';
import { createRequestHandler, DEFAULT_TIMEOUTS, type Frontend, type FrontendKind, type ProxyContext, type Timeouts } from './proxy.js';
import type { Backend, BasicAuth, RouteProblem, RouteTable } from './route-table.js';
import { Counters, LbStats } from './stats.js';
import { CertificateStore, loadCertificate } from './tls.js';
import { createTcpHandler, createUpgradeHandler } from './tunnel.js';
import { createHttp1Server, limitTlsHandshake, type Http1Listener, type Http1ServerOptions } from './http1-server.js';
import { httpParserStatus } from './native-http-parser.js';
import { createNodeHttpServer } from './node-http-front.js';
import { bindAlpn, createHttp2Front, DEFAULT_MAX_CONCURRENT_STREAMS, offersH2 } from './http2-server.js';
import { refuseConnect } from './request-guard.js';
import { Upstreams, type UpstreamClient } from './upstream.js';
import { emptyRouteTable, type ListenerInfo, type LoadBalancer } from './load-balancer.js';
import { closeListening, listen } from './listening.js';
import { FULL_PRUNE_MS, KeySet, liveSets, sameListeners, type BackendDelta } from './table-changes.js';
import { ProblemLog } from './problem-log.js';

export { emptyRouteTable, type ListenerInfo, type LoadBalancer } from './load-balancer.js';

export interface LoadBalancerOptions {
  /** Address every listener binds unless a backend names its own `_BIND_ADDR` (default 0.0.0.0). */
  bindAddress?: string;
  /** :80 (default 80; 0 = ephemeral). */
  httpPort?: number;
  /** :443 (default 443; 0 = ephemeral). */
  httpsPort?: number;
  /** X-Marathon-App-Id routing (default 9091; null = off). */
  appIdPort?: number | null;
  /** Admin and stats (default 9090; null = off). */
  adminPort?: number | null;
  /** marathon-lb's `--dont-bind-http-https`: no :80 / :443 listeners. */
  dontBindHttpHttps?: boolean;
  /** `--ssl-certs`: PEM files (certificate + key); the first is the default certificate on :443. */
  sslCerts?: string[];
  /** `--http2`: offer `h2` through ALPN on :443 (default false, as marathon-lb's template). */
  http2?: boolean;
  /** Streams open at once per HTTP/2 connection (default 100). */
  http2MaxConcurrentStreams?: number;
  /** Basic auth on the admin port, `user:pass`. */
  adminAuth?: string;
  timeouts?: Partial<Timeouts>;
  /** Largest request head in bytes (default 16384; larger → 431). */
  maxHeaderSize?: number;
  /** Most request headers (default 100; more → 400). */
  maxHeaders?: number;
  /**
   * Drop the client's X-Forwarded-Proto and send `http`/`https` (default false: as marathon-lb, the
   * client's header is passed through and `https` added on TLS).
   */
  overwriteForwardedProto?: boolean;
  passiveHealth?: PassiveHealthOptions;
  /** The table to serve first (default: an empty table). */
  initialTable?: RouteTable;
  /** Status of the Marathon feed, for the admin status, metrics and staleness. */
  feedStatus?: () => FeedStatus | undefined;
  /** `--state-file`'s writes and failures, for the admin status and metrics. */
  stateFileStatus?: () => StateFileStatus | undefined;
  /** `/_mlb_signal/hup`: a full resync from Marathon. */
  onResync?: () => Promise<void> | void;
  /** Text renderers for `/_haproxy_getconfig`, `getvhostmap`, `getappmap`. */
  renderers?: Partial<Pick<AdminSource, 'renderConfig' | 'renderVhostMap' | 'renderAppMap'>>;
  /** Basic-auth check for `_AUTH` (default: the crypt-hash check of auth.ts). */
  checkAuth?: (auth: BasicAuth, authorization: string | undefined) => boolean;
  logger?: Logger;
  /** Internal: the upstream HTTP client (default `http1`; `undici` to compare in benchmarks). */
  upstreamClient?: UpstreamClient;
  /** Active health checks from the apps' Marathon health checks (default on; false = off). */
  activeChecks?: boolean | { maxConcurrent?: number };
  /** One line per HTTP request and TCP connection (access-log.ts); none when undefined. */
  accessLog?: AccessLog;
  /** `--proxy-protocol`: :80, :443 and the app-id port take a PROXY protocol header (v1 or v2) on each connection. */
  proxyProtocol?: boolean;
  /**
   * Whether the table's route problems go to the log (default true). A worker of `--workers N` says
   * false: the primary logs them once (problem-log.ts); the worker logs its listeners' and certificates'.
   */
  logTableProblems?: boolean;
}

interface Listener {
  key: string;
  info: ListenerInfo;
  server: NetServer;
  frontend: Frontend;
  sockets: Set<Socket>;
  /** For service ports: the spec it was opened with, to tell whether a change needs a new listener. */
  spec?: string;
}

interface ServiceSpec {
  key: string;
  port: number;
  address: string;
  backend: Backend;
  spec: string;
  bind: BindOptions;
}

function bindProblem(want: ServiceSpec, err: Error): RouteProblem {
  return {
    appId: want.backend.appId,
    portIndex: want.backend.portIndex,
    kind: 'bind-failed',
    message: `cannot listen on ${want.address}:${want.port} for ${want.backend.name}: ${err.message}`,
  };
}

/** Shortest interval between retries of service-port binds that failed (on the next route change, or by a timer). */
const BIND_RETRY_MS = 5_000;

class LoadBalancerImpl implements LoadBalancer {
  readonly stats = new LbStats();
  readonly balancer: Balancer;
  readonly checks: HealthChecker | undefined;
  readonly accessLog: AccessLog | undefined;
  readonly addresses: LoadBalancer['addresses'];
  private current: RouteTable;
  /** The table the last deferred sync ran for. */
  private synced: RouteTable;
  private pendingSync: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly upstreams: Upstreams;
  private readonly ctx: ProxyContext;
  private readonly fixed: Listener[] = [];
  private readonly services = new Map<string, Listener>();
  private readonly certs = new CertificateStore();
  private httpsListener: Listener | undefined;
  private admin: { server: HttpServer; sockets: Set<Socket> } | undefined;
  private listenerProblems: RouteProblem[] = [];
  private certProblems: RouteProblem[] = [];
  private readonly problemLog: ProblemLog;
  private reportedListenerProblems: RouteProblem[] | undefined;
  private reportedCertProblems: RouteProblem[] | undefined;
  /** Server ids (with the number of backends holding each) and backend names of the synced table. */
  private live: { serverRefs: Map<string, number>; backendNames: Set<string> } | undefined;
  /** Backends replaced since the last sync (from route patches), or 'full' when a table was rebuilt. */
  private delta: BackendDelta | 'full' | undefined;
  private lastPrune = 0;
  private lastListenerSync = 0;
  /** Service ports that failed to bind, and the listener list that wanted them. */
  private failedBinds: { listeners: RouteTable['listeners']; specs: ServiceSpec[] } | undefined;
  private applying: Promise<void> = Promise.resolve();
  /** Brings the next bind retry when no Marathon change comes to do it. */
  private bindRetryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly timeouts: Timeouts;
  private readonly bindAddress: string;
  /** HTTP/1.1 on Node's internal parser (http1-server.ts), or on the fallback (node-http-front.ts). */
  private readonly nativeParser: boolean;

  constructor(private readonly options: LoadBalancerOptions) {
    this.logger = options.logger ?? silentLogger();
    this.problemLog = new ProblemLog(this.logger);
    this.bindAddress = options.bindAddress ?? '0.0.0.0';
    this.addresses = { bindAddress: this.bindAddress };
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.balancer = new Balancer(new PassiveHealth(options.passiveHealth));
    const parser = httpParserStatus();
    this.nativeParser = parser.mode === 'native';
    if (!this.nativeParser) {
      this.logger.warn({ reason: parser.reason }, "HTTP/1.1 runs on the fallback (Node's http server, undici upstreams): Node's internal parser is not in use");
    }
    this.upstreams = new Upstreams({ connectTimeoutMs: this.timeouts.connectMs, serverTimeoutMs: this.timeouts.serverMs, queueTimeoutMs: this.timeouts.queueMs, client: options.upstreamClient });
    this.current = options.initialTable ?? emptyRouteTable();
    this.synced = this.current;
    this.accessLog = options.accessLog;
    if (options.activeChecks !== false) {
      const maxConcurrent = typeof options.activeChecks === 'object' ? options.activeChecks.maxConcurrent : undefined;
      this.checks = new HealthChecker({ connectTimeoutMs: this.timeouts.connectMs, maxConcurrent, logger: this.logger.child({ module: 'health-check' }) });
      this.balancer.checkedDown = this.checks.down;
      this.checks.sync(this.current);
    }
    const checkAuth = options.checkAuth ?? defaultCheckAuth;
    this.ctx = {
      table: () => this.current,
      balancer: this.balancer,
      upstreams: this.upstreams,
      stats: this.stats,
      timeouts: this.timeouts,
      httpsPort: options.httpsPort ?? 443,
      maxHeaders: options.maxHeaders ?? 100,
      checkAuth,
      overwriteForwardedProto: options.overwriteForwardedProto ?? false,
      logger: this.logger,
      accessLog: options.accessLog,
    };
  }

  table(): RouteTable {
    return this.current;
  }

  async start(): Promise<void> {
    const o = this.options;
    this.loadCertificates(this.current);
    if (!o.dontBindHttpHttps) {
      const http = await this.openFixed('http', 'marathon_http_in', o.httpPort ?? 80, false);
      this.addresses.http = http.info.boundPort;
      const https = await this.openFixed('https', 'marathon_https_in', o.httpsPort ?? 443, true);
      this.addresses.https = https.info.boundPort;
      this.httpsListener = https;
      if (o.httpsPort === 0) this.ctx.httpsPort = https.info.boundPort!;
    }
    if (o.appIdPort !== null) {
      const appId = await this.openFixed('appid', 'marathon_http_appid_in', o.appIdPort ?? 9091, false);
      this.addresses.appId = appId.info.boundPort;
    }
    if (o.adminPort !== null) {
      const source: AdminSource = {
        table: () => this.current,
        lb: this,
        feedStatus: () => o.feedStatus?.(),
        stateFileStatus: () => o.stateFileStatus?.(),
        resync: async () => {
          if (o.onResync === undefined) throw new Error('no Marathon feed to resync');
          await o.onResync();
        },
        reload: () => this.apply(this.current),
        renderConfig: o.renderers?.renderConfig,
        renderVhostMap: o.renderers?.renderVhostMap,
        renderAppMap: o.renderers?.renderAppMap,
        adminAuth: o.adminAuth,
        logger: this.logger,
      };
      const server = createAdminServer(source);
      const sockets = new Set<Socket>();
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      });
      await listen(server, o.adminPort ?? 9090, this.bindAddress);
      this.admin = { server, sockets };
      this.addresses.admin = (server.address() as AddressInfo).port;
    }
    await this.syncServiceListeners(this.current);
    this.reportProblems();
    this.scheduleBindRetry();
  }

  apply(table: RouteTable): Promise<void> {
    if (this.closed) return Promise.resolve();
    const previous = this.current;
    this.current = table;
    this.noteBackendChanges(previous, table);
    // What requests see changes here, synchronously: the table, and the backend each service-port
    // listener serves (listeners keep serving; only that reference changes).
    if (this.services.size > 0 && !sameListeners(previous, table)) {
      const backendOf = this.serviceBackendIndex(table);
      for (const listener of this.services.values()) {
        const name = backendOf.get(`${listener.info.address}|${listener.info.port}`);
        if (name !== undefined) listener.frontend.backendName = name;
      }
    }
    return this.scheduleSync();
  }

  /** Collects what changed in the backends since the last sync: a patch's list, or "everything". */
  private noteBackendChanges(previous: RouteTable, table: RouteTable): void {
    const patch = table.patch;
    const pending = this.delta;
    if (pending === 'full') return;
    if (patch !== undefined && previous.serial !== undefined && patch.base === previous.serial) {
      const delta = pending ?? (this.delta = { left: [], entered: [] });
      for (const backend of patch.left) delta.left.push(backend);
      for (const backend of patch.entered) delta.entered.push(backend);
    } else if (table.backends !== previous.backends) this.delta = 'full';
  }

  /**
   * The rest of an apply (pools and counters of servers that left, certificates, opening/closing
   * service-port listeners, problem logs) is O(table) and not needed by the next request: it runs once
   * per turn of the event loop for all tables applied in that turn (a Marathon event burst).
   */
  private scheduleSync(): Promise<void> {
    if (this.pendingSync !== undefined) return this.pendingSync;
    const sync = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.pendingSync = undefined;
      if (this.closed) return undefined;
      const table = this.current;
      const previous = this.synced;
      this.synced = table;
      const delta = this.delta;
      this.delta = undefined;
      if (delta !== undefined || Date.now() - this.lastPrune >= FULL_PRUNE_MS) this.retainServers(table, delta);
      if (delta === 'full') this.checks?.sync(table);
      else if (delta !== undefined) this.checks?.syncChanged(table, delta);
      if (table.certificateFiles !== previous.certificateFiles) this.loadCertificates(table);
      // A route patch keeps the listeners array (and the certificate list, unless a certificate
      // changed): then no listener is to open or close, unless an earlier bind failed (retried here,
      // at most every BIND_RETRY_MS: a sync walks every listener, too much for every event).
      const retryBinds = this.listenerProblems.length > 0 && Date.now() - this.lastListenerSync >= BIND_RETRY_MS;
      const sameListenerList =
        previous.listeners !== undefined && table.listeners === previous.listeners && table.certificateFiles === previous.certificateFiles;
      const sameServicePorts = sameListenerList && !retryBinds;
      if (!sameServicePorts) this.lastListenerSync = Date.now();
      const run = sameServicePorts
        ? this.applying
        : this.applying.then(() => (this.closed ? undefined : sameListenerList ? this.retryFailedBinds(this.current) : this.syncServiceListeners(this.current)));
      this.applying = run.catch(() => undefined);
      const problemsChanged = table.problems !== previous.problems || this.listenerProblems !== this.reportedListenerProblems || this.certProblems !== this.reportedCertProblems;
      return run.then(() => {
        if (problemsChanged || !sameServicePorts) this.reportProblems();
        this.scheduleBindRetry();
      });
    });
    this.pendingSync = sync;
    return sync;
  }

  /**
   * A service port that failed to bind (taken by a process still shutting down, say) is tried again
   * BIND_RETRY_MS later even in a cluster where nothing changes, not only on the next Marathon event.
   */
  private scheduleBindRetry(): void {
    if (this.closed || this.bindRetryTimer !== undefined || this.listenerProblems.length === 0) return;
    this.bindRetryTimer = setTimeout(() => {
      this.bindRetryTimer = undefined;
      if (!this.closed) void this.scheduleSync();
    }, BIND_RETRY_MS);
    this.bindRetryTimer.unref();
  }

  /**
   * Drops pools, health, cursors and counters of servers and backends that left the table. The live
   * sets are kept up to date from the backends each route patch replaced (`table.patch`, collected by
   * `apply`), so a burst of patches costs O(backends they changed); a table built from scratch
   * recounts them. The prune walks run only when something left, or on the first burst
   * `FULL_PRUNE_MS` after the last prune (for counters kept while a request was in flight, and entries
   * created late by requests still using an older table).
   */
  private retainServers(table: RouteTable, delta: BackendDelta | 'full' | undefined): void {
    let gone = false;
    if (this.live === undefined || delta === 'full') {
      this.live = liveSets(table);
      gone = true;
    } else if (delta !== undefined) {
      const { serverRefs, backendNames } = this.live;
      // Entered first: a server in both an old and a new version of a backend never drops to zero.
      for (const backend of delta.entered) {
        backendNames.add(backend.name);
        for (const server of backend.servers) serverRefs.set(server.id, (serverRefs.get(server.id) ?? 0) + 1);
      }
      for (const backend of delta.left) {
        for (const server of backend.servers) {
          const refs = (serverRefs.get(server.id) ?? 1) - 1;
          if (refs > 0) serverRefs.set(server.id, refs);
          else {
            serverRefs.delete(server.id);
            gone = true;
          }
        }
      }
    }
    const now = Date.now();
    if (!gone && now - this.lastPrune < FULL_PRUNE_MS) return;
    this.lastPrune = now;
    const ids: ReadonlySet<string> = new KeySet(this.live.serverRefs);
    const names = this.live.backendNames;
    this.upstreams.retainOnly(ids);
    this.balancer.health.retainOnly(ids);
    this.balancer.retainBackends(names);
    this.stats.retain(names, ids);
  }

  private loadCertificates(table: RouteTable): void {
    const files = [...(this.options.sslCerts ?? []), ...table.certificateFiles];
    const { changed, problems } = this.certs.update(files);
    this.certProblems = problems.map((p) => ({ appId: '', kind: 'bad-certificate', message: p.message }));
    if (changed && this.httpsListener !== undefined) this.setDefaultCertificate();
  }

  private setDefaultCertificate(): void {
    const cert = this.certs.defaultCertificate;
    const server = this.httpsListener?.server as unknown as { setSecureContext(o: object): void } | undefined;
    if (cert !== undefined && server !== undefined) server.setSecureContext({ cert: cert.pem, key: cert.pem });
  }

  /** `address|port` → backend name of every service-port listener the table wants (first claimant wins). */
  private serviceBackendIndex(table: RouteTable): Map<string, string> {
    const index = new Map<string, string>();
    if (table.listeners !== undefined) {
      for (const l of table.listeners) {
        const key = `${this.resolveBindAddr(l.bindAddr)}|${l.port}`;
        if (!index.has(key)) index.set(key, l.backend);
      }
      return index;
    }
    // Tables without `listeners` name one backend per port, whatever the address.
    for (const listener of this.services.values()) {
      const backend = table.servicePorts.get(listener.info.port);
      if (backend !== undefined) index.set(`${listener.info.address}|${listener.info.port}`, backend);
    }
    return index;
  }

  private resolveBindAddr(bindAddr: string | undefined): string {
    return !bindAddr || bindAddr === '*' ? this.bindAddress : bindAddr;
  }

  private desiredServiceListeners(table: RouteTable): Map<string, ServiceSpec> {
    const wanted = new Map<string, ServiceSpec>();
    const entries: { port: number; bindAddr: string; backend: string }[] =
      table.listeners ?? [...table.servicePorts].map(([port, backend]) => ({ port, bindAddr: table.backends.get(backend)?.bindAddr ?? '*', backend }));
    for (const entry of entries) {
      const backend = table.backends.get(entry.backend);
      if (backend === undefined) continue;
      const address = this.resolveBindAddr(entry.bindAddr);
      const key = `${address}|${entry.port}`;
      if (wanted.has(key)) continue;
      const bind = parseBindOptions(backend.bindOptions);
      const spec = `${backend.mode}|${backend.sslCert ?? ''}|${bind.acceptProxy}|${bind.ssl}|${bind.crt ?? ''}|${bind.ciphers ?? ''}|${bind.minVersion ?? ''}|${bind.alpn?.join(',') ?? ''}`;
      wanted.set(key, { key, port: entry.port, address, backend, spec, bind });
    }
    return wanted;
  }

  private async syncServiceListeners(table: RouteTable): Promise<void> {
    const wanted = this.desiredServiceListeners(table);
    const problems: RouteProblem[] = [];
    const failed: ServiceSpec[] = [];
    for (const [key, listener] of this.services) {
      const want = wanted.get(key);
      if (want === undefined || want.spec !== listener.spec) {
        this.services.delete(key);
        this.closeListener(listener);
      }
    }
    const opening: Promise<void>[] = [];
    for (const want of wanted.values()) {
      if (this.services.has(want.key)) continue;
      opening.push(
        this.openService(want).then(
          (listener) => {
            if (this.closed) this.closeListener(listener);
            else this.services.set(want.key, listener);
          },
          (err: Error) => {
            problems.push(bindProblem(want, err));
            failed.push(want);
          },
        ),
      );
    }
    await Promise.all(opening);
    this.listenerProblems = problems;
    this.failedBinds = failed.length > 0 ? { listeners: table.listeners, specs: failed } : undefined;
  }

  /**
   * Tries again the service ports that failed to bind, when the listener list is the one they were
   * wanted by: O(failed binds), where a full sync walks every listener.
   */
  private async retryFailedBinds(table: RouteTable): Promise<void> {
    const failedBinds = this.failedBinds;
    if (failedBinds === undefined || failedBinds.listeners !== table.listeners) return this.syncServiceListeners(table);
    const problems: RouteProblem[] = [];
    const failed: ServiceSpec[] = [];
    await Promise.all(
      failedBinds.specs.map((stale) => {
        if (this.services.has(stale.key)) return undefined;
        const want = { ...stale, backend: table.backends.get(stale.backend.name) ?? stale.backend };
        return this.openService(want).then(
          (listener) => {
            if (this.closed) this.closeListener(listener);
            else this.services.set(want.key, listener);
          },
          (err: Error) => {
            problems.push(bindProblem(want, err));
            failed.push(want);
          },
        );
      }),
    );
    this.listenerProblems = problems;
    this.failedBinds = failed.length > 0 ? { listeners: table.listeners, specs: failed } : undefined;
  }

  private frontend(name: string, kind: FrontendKind, tls: boolean): Frontend {
    return { name, kind, port: 0, tls, counters: this.stats.frontend(name), closing: false };
  }

  private async openFixed(kind: FrontendKind, name: string, port: number, tls: boolean): Promise<Listener> {
    const frontend = this.frontend(name, kind, tls);
    const alpn = tls && this.options.http2 === true ? ['h2', 'http/1.1'] : undefined;
    const server = this.createHttpListener(frontend, tls ? { SNICallback: this.certs.sniCallback } : undefined, alpn);
    const acceptProxy = this.options.proxyProtocol === true;
    if (acceptProxy) this.acceptProxy(server, frontend, this.timeouts.httpRequestMs);
    const listener = this.track(server, frontend, { name, kind, address: this.bindAddress, port, mode: 'http', tls, acceptProxy, connections: 0 });
    if (tls) {
      this.httpsListener = listener;
      this.setDefaultCertificate();
    }
    await listen(server, port, this.bindAddress);
    listener.info.boundPort = (server.address() as AddressInfo).port;
    frontend.port = listener.info.boundPort;
    this.fixed.push(listener);
    return listener;
  }

  private async openService(want: ServiceSpec): Promise<Listener> {
    const { backend, bind } = want;
    const name = `${backend.name}`;
    const certFile = backend.sslCert || (bind.ssl ? bind.crt : undefined);
    if (bind.ssl && certFile === undefined) throw new Error(`ssl in HAPROXY_${backend.portIndex}_BIND_OPTIONS needs a certificate (crt FILE, or HAPROXY_${backend.portIndex}_SSL_CERT)`);
    const tls = certFile !== undefined;
    const frontend = this.frontend(`${name}`, 'service', tls);
    frontend.backendName = backend.name;
    let tlsOptions: TlsOptions | undefined;
    // HAProxy's `alpn` bind option: on a TLS bind, HTTP/2 when it lists `h2`.
    const alpn = tls && backend.mode === 'http' ? bindAlpn(backend.bindOptions)?.filter((p) => p === 'h2' || p === 'http/1.1') : undefined;
    if (tls) {
      const cert = loadCertificate(certFile);
      tlsOptions = { cert: cert.pem, key: cert.pem };
      if (bind.minVersion !== undefined) tlsOptions.minVersion = bind.minVersion;
      if (bind.ciphers !== undefined) tlsOptions.ciphers = bind.ciphers;
      // A bad cipher list or version: the port's problem, named, before anything listens.
      try {
        createSecureContext(tlsOptions);
      } catch (err) {
        throw new Error(`HAPROXY_${backend.portIndex}_BIND_OPTIONS: ${(err as Error).message}`);
      }
    }
    let server: NetServer;
    if (backend.mode === 'tcp') {
      const onConnection = createTcpHandler(this.ctx, frontend);
      if (tlsOptions) {
        const tlsServer = createTlsServer({ handshakeTimeout: this.timeouts.clientMs, ...tlsOptions, allowHalfOpen: true }, onConnection);
        limitTlsHandshake(tlsServer, this.timeouts.clientMs);
        server = tlsServer;
      } else server = createNetServer({ allowHalfOpen: true }, onConnection);
    } else {
      server = this.createHttpListener(frontend, tlsOptions, alpn !== undefined && alpn.length > 0 ? alpn : undefined);
    }
    if (bind.acceptProxy) this.acceptProxy(server, frontend, backend.mode === 'tcp' ? this.timeouts.clientMs : this.timeouts.httpRequestMs);
    const listener = this.track(server, frontend, {
      name,
      kind: 'service',
      address: want.address,
      port: want.port,
      mode: backend.mode,
      tls,
      acceptProxy: bind.acceptProxy,
      backend: backend.name,
      connections: 0,
    });
    listener.spec = want.spec;
    listener.key = want.key;
    await listen(server, want.port, want.address);
    listener.info.boundPort = (server.address() as AddressInfo).port;
    frontend.port = listener.info.boundPort;
    this.logger.info({ listener: name, address: want.address, port: listener.info.boundPort, mode: backend.mode, tls }, 'service port listening');
    return listener;
  }

  /** An HTTP(S) listener; with `alpn` offering `h2`, TLS connections that pick it are served HTTP/2. */
  private createHttpListener(frontend: Frontend, tlsOptions?: TlsOptions, alpn?: string[]): Http1Listener {
    const t = this.timeouts;
    const options: Http1ServerOptions = {
      maxHeaderSize: this.options.maxHeaderSize ?? 16_384,
      headTimeoutMs: t.httpRequestMs,
      keepAliveMs: 5_000,
      clientTimeoutMs: t.clientMs,
      bodyTimeoutMs: t.httpBodyMs,
      onClientError: (status) => {
        frontend.counters.ereq++;
        frontend.counters.countStatus(status);
      },
      onListenerError: (err) => this.logger.error({ err, listener: frontend.name }, 'request handler failed; connection closed'),
    };
    const onRequest = createRequestHandler(this.ctx, frontend);
    if (!this.nativeParser) {
      // The fallback front end (Node's http server) speaks HTTP/1.1 only.
      return createNodeHttpServer(options, { onRequest, onUpgrade: createUpgradeHandler(this.ctx, frontend), onConnect: refuseConnect }, tlsOptions);
    }
    if (tlsOptions === undefined || !offersH2(alpn)) {
      return createHttp1Server(options, { onRequest, onUpgrade: createUpgradeHandler(this.ctx, frontend), onConnect: refuseConnect }, tlsOptions);
    }
    const h2 = createHttp2Front(
      {
        maxConcurrentStreams: this.options.http2MaxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
        maxHeaderListSize: options.maxHeaderSize,
        // Admission answers 400 beyond `maxHeaders`; the HTTP/2 layer only stops what is far beyond.
        maxHeaderPairs: Math.max(128, 2 * this.ctx.maxHeaders + 8),
        keepAliveMs: options.keepAliveMs,
        clientTimeoutMs: t.clientMs,
        headTimeoutMs: t.httpRequestMs,
        bodyTimeoutMs: t.httpBodyMs,
        onListenerError: options.onListenerError,
      },
      onRequest,
    );
    const server = createHttp1Server(
      options,
      { onRequest, onUpgrade: createUpgradeHandler(this.ctx, frontend), onConnect: refuseConnect, onHttp2: h2.accept },
      { ...tlsOptions, ALPNProtocols: alpn },
    );
    const closeIdle = server.closeIdleConnections;
    server.closeIdleConnections = () => {
      closeIdle();
      h2.closeSessions();
    };
    return server;
  }

  /** PROXY header first on each connection of `server` (before its TLS/HTTP/TCP handling). */
  private acceptProxy(server: NetServer, frontend: Frontend, deadlineMs: number): void {
    acceptProxyProtocol(server, {
      deadlineMs,
      onRefused: (reason) => {
        frontend.counters.ereq++;
        this.stats.proxyHeaderRefused++;
        this.logger.debug({ listener: frontend.name, reason }, 'connection refused: PROXY header');
      },
    });
  }

  private track(server: NetServer, frontend: Frontend, info: ListenerInfo): Listener {
    const sockets = new Set<Socket>();
    const counters: Counters = frontend.counters;
    const listener: Listener = { key: `${info.address}|${info.port}`, info, server, frontend, sockets };
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      counters.scur++;
      counters.stot++;
      socket.once('close', () => {
        sockets.delete(socket);
        counters.scur--;
        counters.bin += socket.bytesRead;
        counters.bout += socket.bytesWritten;
      });
    });
    server.on('error', (err) => this.logger.error({ err, listener: info.name }, 'listener error'));
    return listener;
  }

  /** Stops accepting; established connections carry on (HTTP ones close after their current response). */
  private closeListener(listener: Listener): void {
    listener.frontend.closing = true;
    closeListening(listener.server);
    this.logger.info({ listener: listener.info.name, port: listener.info.boundPort }, 'listener closed (open connections continue)');
  }

  servicePort(port: number, bindAddr?: string): number | undefined {
    const address = this.resolveBindAddr(bindAddr);
    return this.services.get(`${address}|${port}`)?.info.boundPort;
  }

  listeners(): ListenerInfo[] {
    const all = [...this.fixed, ...this.services.values()];
    const out: ListenerInfo[] = all.map((l) => ({ ...l.info, backend: l.frontend.backendName, connections: l.sockets.size }));
    if (this.admin !== undefined) {
      out.push({ name: 'stats', kind: 'admin', address: this.bindAddress, port: this.options.adminPort ?? 9090, boundPort: this.addresses.admin, mode: 'http', tls: false, connections: this.admin.sockets.size });
    }
    return out;
  }

  problems(): RouteProblem[] {
    return [...this.current.problems, ...this.listenerProblems, ...this.certProblems];
  }

  private reportProblems(): void {
    this.reportedListenerProblems = this.listenerProblems;
    this.reportedCertProblems = this.certProblems;
    const own = [...this.listenerProblems, ...this.certProblems];
    this.problemLog.report(this.options.logTableProblems === false ? own : [...this.current.problems, ...own]);
  }

  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.bindRetryTimer);
    this.checks?.close();
    const all = [...this.fixed, ...this.services.values()];
    for (const l of all) {
      l.frontend.closing = true;
      closeListening(l.server);
      (l.server as Partial<Http1Listener>).closeIdleConnections?.();
    }
    if (this.admin !== undefined) {
      closeListening(this.admin.server);
      this.admin.server.closeIdleConnections();
    }
    const deadline = Date.now() + graceMs;
    const busy = (): boolean => all.some((l) => l.sockets.size > 0) || (this.admin?.sockets.size ?? 0) > 0;
    while (busy() && Date.now() < deadline) {
      for (const l of all) (l.server as Partial<Http1Listener>).closeIdleConnections?.();
      this.admin?.server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const l of all) for (const s of l.sockets) s.destroy();
    for (const s of this.admin?.sockets ?? []) s.destroy();
    await this.upstreams.close(Math.max(0, deadline - Date.now()));
  }
}

function defaultCheckAuth(auth: BasicAuth, authorization: string | undefined): boolean {
  return checkBasicAuth(auth, authorization);
}

/** Opens the listeners and serves `options.initialTable` (or nothing) until `apply` swaps a table in. */
export async function startLoadBalancer(options: LoadBalancerOptions = {}): Promise<LoadBalancer> {
  const lb = new LoadBalancerImpl(options);
  try {
    await lb.start();
  } catch (err) {
    await lb.close(0);
    throw err;
  }
  return lb;
}
