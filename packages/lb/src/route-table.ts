// The route table: what `routes(state, options)` builds from the cluster and the data plane serves.
// A change in Marathon gives a new table and the servers swap the reference. A route patch (one app's
// change) updates the last table's maps in place and shares them, so only the current table is
// meant to be read; `patch` says what it replaced.

export type ProxyMode = 'http' | 'tcp';
export type Balance = 'roundrobin' | 'leastconn' | 'source';

/** One task port behind a backend (an HAProxy `server` line in marathon-lb). */
export interface Server {
  /** Stable id across rebuilds: `<taskId>:<portIndex>`; passive health and stickiness key on it. */
  id: string;
  /** marathon-lb's server name: `host_ip_port`, non-`[A-Za-z0-9-]` → `_`. */
  name: string;
  taskId: string;
  appId: string;
  /** Address to connect to (IP or hostname as Marathon reports it). */
  host: string;
  port: number;
  /** marathon-lb's zdd drain: a draining server keeps its open connections but gets no new ones. */
  draining: boolean;
  /** `cookie` value for `_STICKY` (sha1(name) first 10 hex chars, as marathon-lb). */
  cookie: string;
  /** Agent hostname the task runs on (Marathon's `task.host`). */
  agentHost?: string;
  /** Port for active health checks when it is not `port` (HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX). */
  checkPort?: number;
}

export interface BasicAuth {
  realm: string;
  user: string;
  /** crypt(3) hash as given in the label (`$1$`, `$5$`, `$6$`, `$2y$`, or a plain DES crypt). */
  passwordHash: string;
}

/** One app service port: a marathon-lb backend plus the per-port options that shape its traffic. */
export interface Backend {
  /** marathon-lb's backend name, `appId[1:]` with `/`→`_` plus `_<servicePort>`, e.g. `grp_api_10001`. */
  name: string;
  appId: string;
  portIndex: number;
  /** Port the frontend binds (HAPROXY_{n}_PORT, else the service port). */
  servicePort: number;
  mode: ProxyMode;
  balance: Balance;
  sticky: boolean;
  servers: Server[];
  /** Vhosts from HAPROXY_{n}_VHOST, lower-cased; `*.example.com` wildcards allowed. */
  vhosts: string[];
  /** path_beg prefixes from HAPROXY_{n}_PATH (flags like `-i` interpreted: caseInsensitivePath). */
  paths: string[];
  caseInsensitivePath: boolean;
  weight: number;
  redirectToHttps: boolean;
  useHsts: boolean;
  auth?: BasicAuth;
  proxyPassPath?: string;
  revProxyPath?: string;
  /** HAPROXY_{n}_HTTP_BACKEND_REDIR: 301 from `/` to this path. */
  redirectRootTo?: string;
  /** CIDRs from HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL; empty = everyone. */
  allowedNetworks: string[];
  /** TLS certificate file for the service-port listener (HAPROXY_{n}_SSL_CERT). */
  sslCert?: string;
  bindAddr: string;
  bindOptions?: string;
  /** The app's first health check for this port, for active checks the data plane may run. */
  healthCheck?: { protocol: string; path?: string; intervalSeconds: number; timeoutSeconds: number; maxConsecutiveFailures: number; port?: number };
  deploymentGroup?: string;
  /** The Marathon apps whose tasks are in this backend (two during a zdd deployment, else one). */
  memberAppIds?: string[];
  /** Groups that expose this port (HAPROXY_{n}_GROUP, else HAPROXY_GROUP). */
  groups?: string[];
}

/** One service-port listener (HAProxy `frontend` with `bind {bindAddr}:{port}`). */
export interface ServiceListener {
  port: number;
  /** `*` = every address. */
  bindAddr: string;
  backend: string;
}

/** One vhost (+ optional path) rule on :80/:443, in marathon-lb's evaluation order. */
export interface HttpRule {
  /** Lower-cased host, or `*.suffix` wildcard. */
  host: string;
  /** Empty = any path. */
  paths: string[];
  caseInsensitivePath: boolean;
  backend: string;
  weight: number;
  appId?: string;
  portIndex?: number;
}

/** Something the builder could not use; it affects only the app port it names. */
export interface RouteProblem {
  appId: string;
  portIndex?: number;
  /** The label at fault, when there is one. */
  label?: string;
  /** `bad-label`, `port-conflict`, `vhost-conflict`, `no-service-port`, ... */
  kind: string;
  message: string;
  /** `error`: the app port (or the rule/listener named) is not served; `warning`: served, but look. Default error. */
  severity?: 'error' | 'warning';
}

export interface RouteTable {
  /** ClusterState version this table was built from. */
  stateVersion: number;
  /** Backends by name. */
  backends: Map<string, Backend>;
  /** Service-port listeners: bind port → backend name (after conflict resolution, one winner per port+addr). */
  servicePorts: Map<number, string>;
  /** Every service-port listener with its bind address, ordered by port then address. */
  listeners?: ServiceListener[];
  /** Rules for :80 and :443 in evaluation order (first match wins). */
  httpRules: HttpRule[];
  /** Precomputed exact-host index: host → rules for that host, in evaluation order (no regex per request). */
  hostIndex: Map<string, HttpRule[]>;
  /** Wildcard rules (`*.suffix`) in evaluation order, consulted after exact hosts. */
  wildcardRules: HttpRule[];
  /** X-Marathon-App-Id routing on :9091: lower-cased app id → backend name (http-mode apps, first port). */
  appIdIndex: Map<string, string>;
  /** Certificate files named by apps (HAPROXY_{n}_SSL_CERT), for SNI on :443. */
  certificateFiles: string[];
  problems: RouteProblem[];
  /** Identifies a table built by a RouteBuilder (unique in the process). */
  serial?: number;
  /**
   * Set when this table was patched from the table with serial `base`, whose backends map, host index
   * and rule list it updated in place and shares: the backends that left (replaced or removed) and
   * the ones that entered. Without it (a full build) the table's maps are its own.
   */
  patch?: { base: number; left: readonly Backend[]; entered: readonly Backend[] };
}
