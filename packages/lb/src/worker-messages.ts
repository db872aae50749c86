// What the primary and the workers of `baton-lb --workers N` tell each other over the cluster's IPC
// channel (JSON), and the sum of the workers' reports that the
// admin port shows. Pure.

import type { AppsUpdate } from './app-mirror.js';
import type { AdminLbView, WorkerStatus } from './admin.js';
import type { ListenerInfo, LoadBalancer } from './load-balancer.js';
import type { RouteProblem, RouteTable } from './route-table.js';
import type { RouteMemory } from './routes.js';
import { problemKey } from './problem-log.js';
import { statsData, sumStats, type LbStatsData } from './stats.js';

export type ToWorker =
  /** The first table: every app, the route builder's memory, the servers active checks found DOWN. */
  | { t: 'init'; snapshot: AppsUpdate; memory: RouteMemory; down: string[] }
  /** The apps one burst of changes named. */
  | { t: 'apps'; update: AppsUpdate }
  /** An active check's verdict. */
  | { t: 'health'; id: string; up: boolean }
  /** `/_mlb_signal/usr1`: re-apply the current table. */
  | { t: 'reload' }
  /** The admin port wants this worker's figures. */
  | { t: 'report'; seq: number }
  /** Finish in-flight requests within `graceMs`, then exit. */
  | { t: 'stop'; graceMs: number };

export type FromWorker =
  /** Listening for the primary's messages: send `init`. */
  | { t: 'hello' }
  /** The data plane listens, on these ports. */
  | { t: 'listening'; addresses: LoadBalancer['addresses'] }
  /** The data plane could not start (the primary's start fails with this message). */
  | { t: 'failed'; message: string }
  | { t: 'report'; seq: number; report: WorkerReport }
  /** Access-log lines (whole lines) for the primary to write to stdout. */
  | { t: 'log'; text: string; lines: number };

/** One worker's share of the admin pages. */
export interface WorkerReport {
  pid: number;
  tableVersion: number;
  listeners: ListenerInfo[];
  problems: RouteProblem[];
  stats: LbStatsData;
  /** Servers this worker's passive health holds down. */
  down: [id: string, details: { failures: number; retryAt: number; lastError: string }][];
  /** Requests or connections open per server. */
  active: [id: string, count: number][];
  accessLogDropped?: number;
}

/** A worker's report of its data plane: O(servers of its table). */
export function workerReport(lb: LoadBalancer): WorkerReport {
  const table = lb.table();
  const down: WorkerReport['down'] = [];
  const active: WorkerReport['active'] = [];
  const seen = new Set<string>();
  for (const backend of table.backends.values()) {
    for (const server of backend.servers) {
      if (seen.has(server.id)) continue;
      seen.add(server.id);
      const details = lb.balancer.health.details(server.id);
      if (details !== undefined) down.push([server.id, { ...details }]);
      const n = lb.balancer.activeOn(server.id);
      if (n > 0) active.push([server.id, n]);
    }
  }
  return {
    pid: process.pid,
    tableVersion: table.stateVersion,
    listeners: lb.listeners(),
    problems: lb.problems(),
    stats: statsData(lb.stats),
    down,
    active,
    accessLogDropped: lb.accessLog?.dropped,
  };
}

export interface SumInputs {
  table: RouteTable;
  reports: WorkerReport[];
  workers: WorkerStatus[];
  checks?: AdminLbView['checks'];
  /** The primary's own listeners (the admin port). */
  ownListeners: ListenerInfo[];
  /** Lines the primary dropped writing the workers' access logs, when there is an access log. */
  relayDropped?: number;
  /**
   * Counters of workers that are not in `reports`: the last report of one that did not answer in
   * time, and those of workers that died (sessions closed), so that no total goes back.
   */
  earlierStats?: LbStatsData[];
}

/** The admin pages' view of every worker: counters and connections summed, problems once each. */
export function sumReports(inputs: SumInputs): AdminLbView {
  const { reports } = inputs;
  const listeners = new Map<string, ListenerInfo>();
  for (const report of reports) {
    for (const l of report.listeners) {
      const key = `${l.kind}|${l.address}|${l.port}|${l.name}`;
      const known = listeners.get(key);
      if (known === undefined) listeners.set(key, { ...l });
      else known.connections += l.connections;
    }
  }
  const problems = new Map<string, RouteProblem>();
  for (const p of inputs.table.problems) problems.set(problemKey(p), p);
  for (const report of reports) for (const p of report.problems) problems.set(problemKey(p), p);
  const down = new Map<string, { failures: number; retryAt: number; lastError: string }>();
  const active = new Map<string, number>();
  for (const report of reports) {
    for (const [id, details] of report.down) {
      const known = down.get(id);
      if (known === undefined || details.failures > known.failures) down.set(id, details);
    }
    for (const [id, n] of report.active) active.set(id, (active.get(id) ?? 0) + n);
  }
  const dropped = reports.some((r) => r.accessLogDropped !== undefined) || inputs.relayDropped !== undefined;
  const accessLogDropped = reports.reduce((n, r) => n + (r.accessLogDropped ?? 0), inputs.relayDropped ?? 0);
  return {
    listeners: () => [...listeners.values(), ...inputs.ownListeners],
    problems: () => [...problems.values()],
    stats: sumStats([...reports.map((r) => r.stats), ...(inputs.earlierStats ?? [])]),
    balancer: { health: { details: (id) => down.get(id) }, activeOn: (id) => active.get(id) ?? 0 },
    checks: inputs.checks,
    ...(dropped ? { accessLog: { dropped: accessLogDropped } } : {}),
    workers: inputs.workers,
  };
}
