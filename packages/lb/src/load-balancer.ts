// What the data plane offers its callers (the CLI, the admin port, tests): the running load balancer's
// interface and its listeners' description.

import type { AccessLog } from './access-log.js';
import type { Balancer } from './balancer.js';
import type { HealthChecker } from './health-checker.js';
import type { FrontendKind } from './proxy.js';
import type { RouteProblem, RouteTable } from './route-table.js';
import type { LbStats } from './stats.js';

export interface ListenerInfo {
  name: string;
  kind: FrontendKind | 'admin';
  address: string;
  /** Port asked for. */
  port: number;
  /** Port bound (differs from `port` when 0 was asked). */
  boundPort?: number;
  mode: 'http' | 'tcp';
  tls: boolean;
  /** Connections start with a PROXY protocol header (`accept-proxy`, `--proxy-protocol`). */
  acceptProxy?: boolean;
  backend?: string;
  connections: number;
}

export interface LoadBalancer {
  /** The table being served. */
  table(): RouteTable;
  /** Swaps in a new table at once; resolves when service-port listeners have been opened/closed. */
  apply(table: RouteTable): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`, default 10 s), closes everything. */
  close(graceMs?: number): Promise<void>;
  /** Bound ports of the fixed listeners. */
  readonly addresses: { bindAddress: string; http?: number; https?: number; appId?: number; admin?: number };
  /** Bound port of a service port's listener (undefined when it is not open). */
  servicePort(port: number, bindAddr?: string): number | undefined;
  listeners(): ListenerInfo[];
  /** Route-table problems plus the data plane's own (bind failures, unreadable certificates). */
  problems(): RouteProblem[];
  readonly stats: LbStats;
  readonly balancer: Balancer;
  /** Active health checks (undefined when turned off). */
  readonly checks?: HealthChecker;
  /** The access log (undefined when off). */
  readonly accessLog?: AccessLog;
}

export function emptyRouteTable(): RouteTable {
  return {
    stateVersion: 0,
    backends: new Map(),
    servicePorts: new Map(),
    listeners: [],
    httpRules: [],
    hostIndex: new Map(),
    wildcardRules: [],
    appIdIndex: new Map(),
    certificateFiles: [],
    problems: [],
  };
}
