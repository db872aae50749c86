// ClusterState → RouteTable, marathon-lb's rules (reference/marathon-lb.md §1–3, §8). Pure.
//
// The table is assembled from one fragment per "unit" (an app, or the apps of one zdd deployment
// group). `RouteBuilder.update` recomputes only the fragments of the apps a StateChange names and then
// patches them into the last table when that cannot change anything global (the app keeps its backend
// names, ports and mode, and its vhost claims are its own); otherwise it reassembles the whole table.

import type { App, ClusterState, StateChange } from '@baton/marathon';
import {
  LruCache,
  ServicePortAssigner,
  backendName,
  healthCheckFor,
  serverCookie,
  serverName,
  servicePortsOf,
  taskEndpoint,
  taskSkipReason,
  type TaskFilterOptions,
} from './backends.js';
import { parseAppLabels, type AppLabels } from './labels.js';
import type { Backend, HttpRule, RouteProblem, RouteTable, Server, ServiceListener } from './route-table.js';
import { deploymentUnitId, mergeDeploymentGroup, type MergedTask } from './zdd.js';

export interface RouteOptions {
  /** marathon-lb's --group (repeatable); `*` = every app, including apps without a group. */
  groups: string[];
  /** --health-check: drop tasks of apps with health checks unless a result is alive. */
  healthCheck: boolean;
  /** --strict-mode: ports are served only with HAPROXY_{n}_ENABLED=true. */
  strictMode: boolean;
  /** --lru-cache-capacity: task health results remembered for when Marathon reports none. */
  lruCacheCapacity: number;
  /** --min/--max-serv-port-ip-per-task: range for IP-per-task apps without service ports. */
  minServPortIpPerTask: number;
  maxServPortIpPerTask: number;
  /** $FRAMEWORK_NAME: the app `/<frameworkName>` (the LB itself) is never routed. */
  frameworkName?: string;
  /** --ssl-certs, for reference in the table (certificate files named by apps are collected apart). */
  sslCerts?: string[];
  /** Ports this LB serves itself (HTTP, HTTPS, admin, app-id); a service port equal to one is a conflict. */
  reservedPorts?: number[];
}

export const DEFAULT_ROUTE_OPTIONS: Readonly<Omit<RouteOptions, 'groups'>> = Object.freeze({
  healthCheck: false,
  strictMode: false,
  lruCacheCapacity: 1000,
  minServPortIpPerTask: 10050,
  maxServPortIpPerTask: 10100,
  reservedPorts: [80, 443, 9090, 9091],
});

export type RouteOptionsInput = Partial<RouteOptions> & Pick<RouteOptions, 'groups'>;

/** What route building reads of the cluster: a `ClusterState`, or a worker's mirror of one (app-mirror.ts). */
export type AppSource = Pick<ClusterState, 'version' | 'apps' | 'getApp' | 'tasksOf'>;

/**
 * What a RouteBuilder remembers across builds (task health results, IP-per-task service ports), so
 * that a builder started later (a restarted worker) builds the same table from the same apps.
 */
export interface RouteMemory {
  health: [taskId: string, alive: boolean][];
  servicePorts: [key: string, port: number][];
}

/** One StateChange for several (to build once per burst): the apps of all, the last version. */
export function mergeChanges(changes: readonly StateChange[]): StateChange {
  if (changes.length === 1) return changes[0];
  const appIds = new Set<string>();
  const reasons = new Set<string>();
  let version = 0;
  let full = false;
  for (const change of changes) {
    for (const id of change.appIds) appIds.add(id);
    reasons.add(change.reason);
    version = Math.max(version, change.version);
    full ||= change.full;
  }
  return { version, appIds: [...appIds], full, reason: [...reasons].join(',') };
}

/** Builds a table from scratch (no memory of earlier builds; use RouteBuilder to keep one). */
export function buildRouteTable(state: AppSource, options: RouteOptionsInput): RouteTable {
  return new RouteBuilder(options).build(state);
}

interface Fragment {
  key: string;
  unitId: string;
  /** By port index. */
  backends: Backend[];
  problems: RouteProblem[];
}

interface UnitInput {
  key: string;
  unitId: string;
  base: App;
  labels: AppLabels;
  tasks: readonly MergedTask[];
  memberAppIds: string[];
  deploymentGroup?: string;
  problems: RouteProblem[];
}

const WILDCARD_ADDRESSES = new Set(['*', '', '0.0.0.0', '::', '[::]']);
const HTTP_CHECKS = new Set(['HTTP', 'HTTPS', 'MESOS_HTTP', 'MESOS_HTTPS']);

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface FragmentChange {
  before?: Fragment;
  after?: Fragment;
}

/** Order of vhost rule blocks: weight descending, then app id, bind port, port index. */
function compareBlocks(
  a: Pick<Backend, 'weight' | 'appId' | 'servicePort' | 'portIndex'>,
  b: Pick<Backend, 'weight' | 'appId' | 'servicePort' | 'portIndex'>,
): number {
  return b.weight - a.weight || compareStrings(a.appId, b.appId) || a.servicePort - b.servicePort || a.portIndex - b.portIndex;
}

/** Whether a backend has a server: marathon-lb leaves an app without one out of the config. */
function isLive(backend: Backend): boolean {
  return backend.servers.length > 0;
}

function hasRules(backend: Backend): boolean {
  return backend.mode === 'http' && backend.vhosts.length > 0 && isLive(backend);
}

/** The `host\npath` keys a backend's vhost rules want (path '' = the root). */
function claimKeys(backend: Backend): Set<string> {
  const keys = new Set<string>();
  if (!hasRules(backend)) return keys;
  const wanted = backend.paths.length > 0 ? backend.paths : [''];
  for (const host of backend.vhosts) for (const path of wanted) keys.add(`${host}\n${path}`);
  return keys;
}

/**
 * One backend's vhost rules, its vhosts in label order. A host+path already in `claims` with the same
 * weight is lost (a `vhost-conflict` problem); otherwise the first claimant is recorded there.
 */
function blockRules(backend: Backend, claims: Map<string, Backend>, problems: RouteProblem[]): HttpRule[] {
  const rules: HttpRule[] = [];
  const hosts = new Set<string>();
  for (const host of backend.vhosts) {
    if (hosts.has(host)) continue;
    hosts.add(host);
    const wanted = backend.paths.length > 0 ? backend.paths : [''];
    const kept: string[] = [];
    for (const path of wanted) {
      const key = `${host}\n${path}`;
      const holder = claims.get(key);
      if (holder && holder !== backend && holder.weight === backend.weight) {
        problems.push({
          appId: backend.appId,
          portIndex: backend.portIndex,
          label: `HAPROXY_${backend.portIndex}_VHOST`,
          kind: 'vhost-conflict',
          message: `vhost ${host}${path ? ` path ${path}` : ''} of ${backend.name} is also claimed by ${holder.appId} port ${holder.portIndex} with the same weight ${backend.weight}; ${holder.appId} wins (smallest app id, then port)`,
        });
        continue;
      }
      if (!holder) claims.set(key, backend);
      kept.push(path);
    }
    if (kept.length === 0) continue;
    rules.push({
      host,
      paths: backend.paths.length > 0 ? kept : [],
      caseInsensitivePath: backend.caseInsensitivePath,
      backend: backend.name,
      weight: backend.weight,
      appId: backend.appId,
      portIndex: backend.portIndex,
    });
  }
  return rules;
}

function indexRules(httpRules: HttpRule[]): Pick<RouteTable, 'hostIndex' | 'wildcardRules'> {
  const hostIndex = new Map<string, HttpRule[]>();
  const wildcardRules: HttpRule[] = [];
  for (const rule of httpRules) {
    if (rule.host.startsWith('*.')) {
      wildcardRules.push(rule);
      continue;
    }
    const list = hostIndex.get(rule.host);
    if (list) list.push(rule);
    else hostIndex.set(rule.host, [rule]);
  }
  return { hostIndex, wildcardRules };
}

/** The first index in `list` (sorted) for which `before` is false. */
function lowerBound<T>(list: readonly T[], before: (item: T) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid])) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

let serials = 0;
function nextSerial(): number {
  return ++serials;
}
function tableSerial(table: RouteTable): number {
  return table.serial ?? 0;
}

function certificateFilesOf(backends: Iterable<Backend>): string[] {
  const files = new Set<string>();
  for (const backend of backends) if (backend.sslCert !== undefined) files.add(backend.sslCert);
  return [...files].sort();
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two versions of a backend give the same vhost rules (name, app id and port index aside). */
function sameRuleInputs(a: Backend, b: Backend): boolean {
  return (
    a.weight === b.weight &&
    a.caseInsensitivePath === b.caseInsensitivePath &&
    sameStrings(a.vhosts, b.vhosts) &&
    sameStrings(a.paths, b.paths)
  );
}

function sameProblems(a: readonly RouteProblem[], b: readonly RouteProblem[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.appId !== y.appId || x.portIndex !== y.portIndex || x.label !== y.label || x.kind !== y.kind || x.message !== y.message || x.severity !== y.severity) {
      return false;
    }
  }
  return true;
}

function deploymentGroupOf(app: App): string | undefined {
  const group = app.labels.HAPROXY_DEPLOYMENT_GROUP?.trim();
  return group ? group : undefined;
}

/**
 * Keeps the route table of a ClusterState up to date. Remembers, across builds, task health results
 * (for --health-check) and IP-per-task service port assignments.
 */
export class RouteBuilder {
  readonly options: Readonly<RouteOptions>;
  private readonly lbGroups: Set<string>;
  private readonly allGroups: boolean;
  private readonly filter: TaskFilterOptions;
  private readonly assigner: ServicePortAssigner;
  private readonly reserved: Set<number>;
  /** app id → unit key (`app:<id>` or `zdd:/<group>`). */
  private readonly unitOfApp = new Map<string, string>();
  /** unit key → member app ids. */
  private readonly members = new Map<string, Set<string>>();
  private readonly fragments = new Map<string, Fragment>();
  private sortedKeys: string[] | undefined;
  private current: RouteTable | undefined;
  /** `host\npath` → how many http backends of the current table want it (conflict when > 1). */
  private claimCount = new Map<string, number>();

  constructor(options: RouteOptionsInput) {
    this.options = { ...DEFAULT_ROUTE_OPTIONS, ...options };
    this.lbGroups = new Set(this.options.groups);
    this.allGroups = this.lbGroups.has('*');
    this.filter = { healthCheck: this.options.healthCheck, healthCache: new LruCache(Math.max(0, this.options.lruCacheCapacity)) };
    this.assigner = new ServicePortAssigner(this.options.minServPortIpPerTask, this.options.maxServPortIpPerTask);
    this.reserved = new Set(this.options.reservedPorts ?? DEFAULT_ROUTE_OPTIONS.reservedPorts);
  }

  /** The last table built, if any. */
  get table(): RouteTable | undefined {
    return this.current;
  }

  memory(): RouteMemory {
    return { health: [...this.filter.healthCache.entries()], servicePorts: this.assigner.entries() };
  }

  /** Takes over another builder's memory (before the first build). */
  restoreMemory(memory: RouteMemory): void {
    for (const [taskId, alive] of memory.health) this.filter.healthCache.set(taskId, alive);
    this.assigner.restore(memory.servicePorts);
  }

  /** Recomputes every app. */
  build(state: AppSource): RouteTable {
    const ids = new Set(this.unitOfApp.keys());
    for (const app of state.apps()) ids.add(app.id);
    // Sorted, so that a build from scratch does not depend on the order Marathon listed the apps in.
    this.recompute(state, [...ids].sort(compareStrings));
    return this.assemble(state.version);
  }

  /** Recomputes the apps `change` names (everything on the first call) and returns the new table. */
  update(state: AppSource, change: StateChange): RouteTable {
    if (!this.current) return this.build(state);
    const changed = this.recompute(state, change.appIds);
    return this.patch(state.version, changed) ?? this.assemble(state.version);
  }

  private unitKeyOf(app: App | undefined): string | undefined {
    if (!app) return undefined;
    if (this.options.frameworkName !== undefined && app.id.slice(1) === this.options.frameworkName) return undefined;
    const group = deploymentGroupOf(app);
    return group !== undefined ? `zdd:${deploymentUnitId(group)}` : `app:${app.id}`;
  }

  /** Rebuilds the fragments of `appIds`' units; returns each dirty unit's fragment before and after. */
  private recompute(state: AppSource, appIds: Iterable<string>): FragmentChange[] {
    const dirty = new Set<string>();
    for (const appId of appIds) {
      const before = this.unitOfApp.get(appId);
      const after = this.unitKeyOf(state.getApp(appId));
      if (before !== undefined) dirty.add(before);
      if (after !== undefined) dirty.add(after);
      if (before === after) continue;
      if (before !== undefined) {
        const set = this.members.get(before);
        set?.delete(appId);
        if (set && set.size === 0) this.members.delete(before);
        this.unitOfApp.delete(appId);
      }
      if (after !== undefined) {
        let set = this.members.get(after);
        if (!set) this.members.set(after, (set = new Set()));
        set.add(appId);
        this.unitOfApp.set(appId, after);
      }
    }
    const changes: FragmentChange[] = [];
    for (const key of dirty) {
      const before = this.fragments.get(key);
      const input = this.unitInput(state, key);
      if (!input) {
        if (this.fragments.delete(key)) this.sortedKeys = undefined;
        this.assigner.release(key.slice(4));
        if (before) changes.push({ before });
        continue;
      }
      if (!before) this.sortedKeys = undefined;
      const after = this.buildFragment(input);
      this.fragments.set(key, after);
      changes.push({ before, after });
    }
    return changes;
  }

  private unitInput(state: AppSource, key: string): UnitInput | undefined {
    const memberIds = this.members.get(key);
    if (!memberIds || memberIds.size === 0) return undefined;
    const strict = { strictMode: this.options.strictMode };
    if (key.startsWith('app:')) {
      const app = state.getApp(key.slice(4));
      if (!app) return undefined;
      return {
        key,
        unitId: app.id,
        base: app,
        labels: parseAppLabels(app.id, app.labels, app.ports.length, strict),
        tasks: state.tasksOf(app.id).map((task) => ({ task, draining: false })),
        memberAppIds: [app.id],
        problems: [],
      };
    }
    const members = [...memberIds]
      .map((id) => state.getApp(id))
      .filter((app): app is App => app !== undefined)
      .map((app) => ({
        app,
        tasks: state.tasksOf(app.id),
        labels: parseAppLabels(app.id, app.labels, app.ports.length, strict),
      }));
    if (members.length === 0) return undefined;
    const group = deploymentGroupOf(members[0].app) ?? key.slice(5);
    const merged = mergeDeploymentGroup(
      group,
      members.map((m) => ({ app: m.app, tasks: m.tasks, deployment: m.labels.deployment })),
    );
    const base = members.find((m) => m.app.id === merged.base.id)!;
    return {
      key,
      unitId: merged.unitId,
      base: base.app,
      labels: base.labels,
      tasks: merged.tasks,
      memberAppIds: merged.memberAppIds,
      deploymentGroup: group,
      problems: merged.problems,
    };
  }

  private inGroups(groups: string[]): boolean {
    if (this.allGroups) return true;
    for (const group of groups) if (this.lbGroups.has(group)) return true;
    return false;
  }

  /**
   * Group names with blanks around them (`"internal, external"`): not trimmed, as in marathon-lb, so
   * such a port is not exposed on `external`. Reported (a warning) by every LB the port is exposed on
   * or that the trimmed name would have exposed it on.
   */
  private groupTypos(appId: string, labels: AppLabels, exposed: boolean[]): RouteProblem[] {
    const found: RouteProblem[] = [];
    let appLevelDone = false;
    for (const port of labels.ports) {
      const own = port.groups !== undefined;
      if (!port.enabled || (!own && appLevelDone)) continue;
      const groups = port.groups ?? labels.groups;
      const padded = groups.filter((group) => group !== group.trim() && group.trim() !== '');
      if (padded.length === 0) continue;
      if (!exposed[port.index] && !this.inGroups(groups.map((group) => group.trim()))) continue;
      if (!own) appLevelDone = true;
      const label = own ? `HAPROXY_${port.index}_GROUP` : 'HAPROXY_GROUP';
      const names = padded.map((group) => JSON.stringify(group)).join(', ');
      const meant = padded.map((group) => JSON.stringify(group.trim())).join(', ');
      const problem: RouteProblem = {
        appId,
        label,
        kind: 'group-blanks',
        severity: 'warning',
        message: `${label}=${JSON.stringify(groups.join(','))}: group names are split on commas and not trimmed (as in marathon-lb), so ${names} is not ${meant}; remove the blanks if the app is meant for ${meant}`,
      };
      if (own) problem.portIndex = port.index;
      found.push(problem);
    }
    return found;
  }

  private buildFragment(input: UnitInput): Fragment {
    const { base, labels, unitId } = input;
    const problems: RouteProblem[] = [];
    const backends: Backend[] = [];
    const exposed = labels.ports.map((port) => port.enabled && this.inGroups(port.groups ?? labels.groups));

    // Problems of ports this LB does not serve are another LB's business.
    for (const problem of labels.problems) {
      const index = problem.portIndex;
      const relevant =
        index !== undefined && index < exposed.length ? exposed[index] : exposed.some(Boolean) || this.inGroups(labels.groups);
      if (relevant) problems.push(problem);
    }
    problems.push(...this.groupTypos(unitId, labels, exposed));
    if (exposed.some(Boolean)) problems.push(...input.problems);
    if (!exposed.some(Boolean)) return { key: input.key, unitId, backends, problems };

    const servicePorts = servicePortsOf(base, unitId, base.networkMode === 'container' ? this.assigner : undefined);

    // Tasks that become servers, with where they answer.
    const served: { task: MergedTask; ip: string; ports: number[] }[] = [];
    for (const entry of input.tasks) {
      if (taskSkipReason(base, entry.task, this.filter) !== undefined) continue;
      const endpoint = taskEndpoint(base, entry.task);
      if (endpoint) served.push({ task: entry, ip: endpoint.ip, ports: endpoint.ports });
    }

    for (const port of labels.ports) {
      const index = port.index;
      if (!exposed[index] || port.badLabels.length > 0) continue;
      const bindPort = port.port ?? servicePorts[index] ?? 0;
      if (!(bindPort > 0)) {
        problems.push({
          appId: unitId,
          portIndex: index,
          kind: 'no-service-port',
          message:
            base.networkMode === 'container'
              ? `port ${index} has no service port and the range ${this.options.minServPortIpPerTask}-${this.options.maxServPortIpPerTask} is exhausted (or it has no container port)`
              : `port ${index} has no service port (set HAPROXY_${index}_PORT)`,
        });
        continue;
      }

      const ownCheck = healthCheckFor(base, index);
      let check = ownCheck;
      let borrowedIndex: number | undefined;
      if (!check && port.healthCheckPortIndex !== undefined) {
        check = healthCheckFor(base, port.healthCheckPortIndex);
        if (check && check.port === undefined) borrowedIndex = port.healthCheckPortIndex;
      }
      // marathon-lb probes the task port at HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX whatever the check says.
      if (ownCheck && port.healthCheckPortIndex !== undefined) borrowedIndex = port.healthCheckPortIndex;
      const httpByCheck = ownCheck ? ownCheck.protocol === 'HTTP' : check !== undefined && HTTP_CHECKS.has(check.protocol);
      const mode = port.mode ?? (port.vhosts.length > 0 || httpByCheck ? 'http' : 'tcp');
      const name = backendName(unitId, bindPort);

      const servers: Server[] = [];
      const seen = new Set<string>();
      for (const { task: entry, ip, ports } of served) {
        if (index >= ports.length) continue;
        const taskPort = ports[index];
        const address = `${ip}:${taskPort}`;
        if (seen.has(address)) continue;
        seen.add(address);
        const task = entry.task;
        const sname = serverName(task.host, ip, taskPort);
        const server: Server = {
          id: `${task.id}:${index}`,
          name: sname,
          taskId: task.id,
          appId: task.appId,
          host: ip,
          port: taskPort,
          draining: entry.draining,
          cookie: serverCookie(sname),
          agentHost: task.host,
        };
        if (borrowedIndex !== undefined && borrowedIndex < ports.length) server.checkPort = ports[borrowedIndex];
        servers.push(server);
      }
      servers.sort(
        (a, b) =>
          compareStrings(a.agentHost ?? '', b.agentHost ?? '') ||
          compareStrings(a.host, b.host) ||
          a.port - b.port ||
          compareStrings(a.id, b.id),
      );

      if (mode === 'tcp' && port.vhosts.length > 0) {
        problems.push({
          appId: unitId,
          portIndex: index,
          label: `HAPROXY_${index}_VHOST`,
          kind: 'vhost-ignored',
          message: `HAPROXY_${index}_VHOST is ignored: the port is in tcp mode (HAPROXY_${index}_MODE=tcp)`,
          severity: 'warning',
        });
      }

      const backend: Backend = {
        name,
        appId: unitId,
        portIndex: index,
        servicePort: bindPort,
        mode,
        balance: port.balance,
        sticky: port.sticky,
        servers,
        vhosts: port.vhosts,
        paths: port.paths,
        caseInsensitivePath: port.caseInsensitivePath,
        weight: port.weight,
        redirectToHttps: port.redirectToHttps,
        useHsts: port.useHsts,
        allowedNetworks: port.allowedNetworks,
        bindAddr: port.bindAddr,
        memberAppIds: input.memberAppIds,
        groups: port.groups ?? labels.groups,
      };
      if (port.auth) backend.auth = port.auth;
      if (port.proxyPassPath !== undefined) backend.proxyPassPath = port.proxyPassPath;
      if (port.revProxyPath !== undefined) backend.revProxyPath = port.revProxyPath;
      if (port.redirectRootTo !== undefined) backend.redirectRootTo = port.redirectRootTo;
      if (port.sslCert !== undefined) backend.sslCert = port.sslCert;
      if (port.bindOptions !== undefined) backend.bindOptions = port.bindOptions;
      if (input.deploymentGroup !== undefined) backend.deploymentGroup = input.deploymentGroup;
      if (check) {
        backend.healthCheck = {
          protocol: check.protocol,
          intervalSeconds: check.intervalSeconds,
          timeoutSeconds: check.timeoutSeconds,
          maxConsecutiveFailures: check.maxConsecutiveFailures,
        };
        if (check.path !== undefined) backend.healthCheck.path = check.path;
        if (check.port !== undefined) backend.healthCheck.port = check.port;
      }
      backends.push(backend);
    }
    return { key: input.key, unitId, backends, problems };
  }

  private orderedFragments(): Fragment[] {
    if (!this.sortedKeys) {
      this.sortedKeys = [...this.fragments.keys()].sort((a, b) => {
        const fa = this.fragments.get(a)!;
        const fb = this.fragments.get(b)!;
        return compareStrings(fa.unitId, fb.unitId) || compareStrings(a, b);
      });
    }
    return this.sortedKeys.map((key) => this.fragments.get(key)!);
  }

  /**
   * The new table from the last one, when the changed fragments cannot alter anything global: same
   * units, same problems, and each backend keeps its name, port index, bind port and address, app id,
   * mode and liveness (so name and listener conflicts, listeners, the :9091 index and the order of
   * backends are as before), and a backend whose vhost rules change claims no host+path another
   * backend wants. Returns undefined when a full assembly is needed; the result is what `assemble`
   * would build.
   *
   * O(changed backends + their hosts' rules): the last table's backends map, host index and rule
   * list are updated in place and shared by the new table (copying them cost O(cluster) per event).
   * The request path always reads the current table, so no request sees an earlier table change; the
   * new table's `patch` lists the backends that left and entered, for the data plane's bookkeeping.
   */
  private patch(stateVersion: number, changes: FragmentChange[]): RouteTable | undefined {
    const prev = this.current!;
    let certificatesChanged = false;
    const replaced: { old: Backend; now: Backend }[] = [];
    const ruleChanges: { old: Backend; now: Backend }[] = [];
    for (const { before, after } of changes) {
      if (!before || !after || before.unitId !== after.unitId) return undefined;
      if (!sameProblems(before.problems, after.problems)) return undefined;
      if (before.backends.length !== after.backends.length) return undefined;
      for (let i = 0; i < before.backends.length; i++) {
        const old = before.backends[i];
        const now = after.backends[i];
        if (
          old.name !== now.name ||
          old.portIndex !== now.portIndex ||
          old.servicePort !== now.servicePort ||
          old.bindAddr !== now.bindAddr ||
          old.appId !== now.appId ||
          old.mode !== now.mode ||
          isLive(old) !== isLive(now)
        ) {
          return undefined;
        }
        // A backend that lost its name to another app port loses it again (same name, same order).
        if (prev.backends.get(old.name) !== old) continue;
        replaced.push({ old, now });
        if (old.sslCert !== now.sslCert) certificatesChanged = true;
        if (!sameRuleInputs(old, now)) ruleChanges.push({ old, now });
      }
    }

    // Claims first: a conflict means a full assembly, before anything shared is touched.
    if (ruleChanges.length > 0) {
      const claims = this.claimCount;
      for (const { old } of ruleChanges) {
        if (!hasRules(old)) continue;
        const keys = claimKeys(old);
        for (const key of keys) if (claims.get(key) !== 1) return this.forgetClaims();
        for (const key of keys) claims.delete(key);
      }
      for (const { now } of ruleChanges) {
        if (!hasRules(now)) continue;
        const keys = claimKeys(now);
        for (const key of keys) if (claims.has(key)) return this.forgetClaims();
        for (const key of keys) claims.set(key, 1);
      }
    }

    const backends = prev.backends;
    for (const { now } of replaced) backends.set(now.name, now);
    let wildcardRules = prev.wildcardRules;
    if (ruleChanges.length > 0) {
      const httpRules = prev.httpRules;
      const hostIndex = prev.hostIndex;
      const blockKey = (rule: HttpRule) => ({ weight: rule.weight, appId: rule.appId!, servicePort: backends.get(rule.backend)!.servicePort, portIndex: rule.portIndex! });
      for (const { old } of ruleChanges) {
        if (!hasRules(old)) continue;
        // A block's rules are contiguous in `httpRules`, at its (weight, app id, bind port, port index).
        let at = lowerBound(httpRules, (rule) => compareBlocks(blockKey(rule), old) < 0);
        let count = 0;
        while (at + count < httpRules.length && httpRules[at + count].backend === old.name) count++;
        const removed = httpRules.splice(at, count);
        for (const rule of removed) {
          if (rule.host.startsWith('*.')) {
            wildcardRules = wildcardRules.filter((r) => r !== rule);
            continue;
          }
          const list = hostIndex.get(rule.host)?.filter((r) => r !== rule) ?? [];
          if (list.length === 0) hostIndex.delete(rule.host);
          else hostIndex.set(rule.host, list);
        }
      }
      for (const { now } of ruleChanges) {
        if (!hasRules(now)) continue;
        const rules = blockRules(now, new Map(), []);
        const at = lowerBound(httpRules, (rule) => compareBlocks(blockKey(rule), now) < 0);
        httpRules.splice(at, 0, ...rules);
        for (const rule of rules) {
          const before = (other: HttpRule) => compareBlocks(blockKey(other), now) < 0;
          if (rule.host.startsWith('*.')) {
            const list = wildcardRules.slice();
            list.splice(lowerBound(list, before), 0, rule);
            wildcardRules = list;
            continue;
          }
          const list = hostIndex.get(rule.host)?.slice() ?? [];
          list.splice(lowerBound(list, before), 0, rule);
          hostIndex.set(rule.host, list);
        }
      }
    }

    const table: RouteTable = {
      ...prev,
      stateVersion,
      wildcardRules,
      certificateFiles: certificatesChanged ? certificateFilesOf(backends.values()) : prev.certificateFiles,
      patch: { base: tableSerial(prev), left: replaced.map((r) => r.old), entered: replaced.map((r) => r.now) },
    };
    table.serial = nextSerial();
    this.current = table;
    return table;
  }

  /** The claim counts were partly updated by a patch that gave up: the full assembly recounts. */
  private forgetClaims(): undefined {
    this.claimCount = new Map();
    return undefined;
  }

  private assemble(stateVersion: number): RouteTable {
    const problems: RouteProblem[] = [];
    const backends = new Map<string, Backend>();
    const ordered: Backend[] = [];

    // 1. Backends, in (app id, port index) order: the first one wins a name.
    for (const fragment of this.orderedFragments()) {
      problems.push(...fragment.problems);
      for (const backend of fragment.backends) {
        const holder = backends.get(backend.name);
        if (holder) {
          problems.push({
            appId: backend.appId,
            portIndex: backend.portIndex,
            kind: 'port-conflict',
            message: `backend ${backend.name} (port ${backend.portIndex}) is already defined by ${holder.appId} port ${holder.portIndex}; ${holder.appId} wins (smallest app id, then port index)`,
          });
          continue;
        }
        backends.set(backend.name, backend);
        ordered.push(backend);
      }
    }

    // 2. Service-port listeners: the first claimant of a port (+ overlapping address) wins.
    const listeners: ServiceListener[] = [];
    const byPort = new Map<number, ServiceListener[]>();
    for (const backend of ordered) {
      if (!isLive(backend)) continue;
      const port = backend.servicePort;
      if (this.reserved.has(port)) {
        problems.push({
          appId: backend.appId,
          portIndex: backend.portIndex,
          kind: 'port-conflict',
          message: `service port ${port} of ${backend.name} is a port of the load balancer itself; no listener on it`,
        });
        continue;
      }
      const claimed = byPort.get(port);
      const clash = claimed?.find(
        (l) => l.bindAddr === backend.bindAddr || WILDCARD_ADDRESSES.has(l.bindAddr) || WILDCARD_ADDRESSES.has(backend.bindAddr),
      );
      if (clash) {
        const winner = backends.get(clash.backend)!;
        problems.push({
          appId: backend.appId,
          portIndex: backend.portIndex,
          kind: 'port-conflict',
          message: `port ${backend.bindAddr}:${port} of ${backend.name} is already bound by ${winner.appId} port ${winner.portIndex} (${clash.bindAddr}:${port}); ${winner.appId} wins (smallest app id, then port index)`,
        });
        continue;
      }
      const listener: ServiceListener = { port, bindAddr: backend.bindAddr, backend: backend.name };
      listeners.push(listener);
      if (claimed) claimed.push(listener);
      else byPort.set(port, [listener]);
    }
    listeners.sort((a, b) => a.port - b.port || compareStrings(a.bindAddr, b.bindAddr));
    const servicePorts = new Map<number, string>();
    for (const listener of listeners) if (!servicePorts.has(listener.port)) servicePorts.set(listener.port, listener.backend);

    // 3. Vhost rules: blocks per app port in (app id, port) order, stably sorted by weight descending.
    const blocks = ordered.filter(hasRules).sort(compareBlocks);
    const httpRules: HttpRule[] = [];
    const claims = new Map<string, Backend>();
    const claimCount = new Map<string, number>();
    for (const backend of blocks) {
      for (const rule of blockRules(backend, claims, problems)) httpRules.push(rule);
      for (const key of claimKeys(backend)) claimCount.set(key, (claimCount.get(key) ?? 0) + 1);
    }
    this.claimCount = claimCount;
    const { hostIndex, wildcardRules } = indexRules(httpRules);

    // 4. X-Marathon-App-Id (:9091): each app's first http port in (app id, port) order.
    const appIdIndex = new Map<string, string>();
    const byAppPort = ordered
      .filter((b) => b.mode === 'http')
      .sort((a, b) => compareStrings(a.appId, b.appId) || a.servicePort - b.servicePort || a.portIndex - b.portIndex);
    for (const backend of byAppPort) {
      const key = backend.appId.toLowerCase();
      if (!appIdIndex.has(key)) appIdIndex.set(key, backend.name);
    }

    const table: RouteTable = {
      stateVersion,
      backends,
      servicePorts,
      listeners,
      httpRules,
      hostIndex,
      wildcardRules,
      appIdIndex,
      certificateFiles: certificateFilesOf(ordered),
      problems,
      serial: nextSerial(),
    };
    this.current = table;
    return table;
  }
}
