// JSON views of the cluster as Marathon's REST API writes them (1.5+ canonical shapes). Pure.
import type { Cluster, SimApp, SimTask } from './cluster.js';
import type { Json } from './normalize.js';

export interface Embed {
  tasks: boolean;
  lastTaskFailure: boolean;
  readiness: boolean;
  taskStats: boolean;
}

/** Parses `embed` values: `apps.tasks`, `app.tasks`, `group.apps.tasks` and bare `tasks` all work. */
export function parseEmbed(values: string[]): Embed {
  const names = new Set(values.map((v) => v.replace(/^(group\.apps\.|apps\.|app\.)/, '')));
  return {
    tasks: names.has('tasks'),
    lastTaskFailure: names.has('lastTaskFailure'),
    readiness: names.has('readiness'),
    taskStats: names.has('taskStats'),
  };
}

export function healthCheckResults(cluster: Cluster, app: SimApp, task: SimTask): Json[] | undefined {
  if (app.healthChecks.length === 0 && task.health.length === 0) return undefined;
  const out: Json[] = [];
  for (const h of task.health) {
    if (!h) continue;
    out.push({
      alive: h.alive, consecutiveFailures: h.consecutiveFailures, firstSuccess: h.firstSuccess, lastFailure: h.lastFailure,
      lastSuccess: h.lastSuccess, lastFailureCause: h.lastFailureCause,
      instanceId: task.instanceId,
    });
  }
  return out;
}

/**
 * A task as Marathon writes it. `servicePorts` appears in `/v2/tasks` and `/v2/apps/{id}/tasks` but not in
 * tasks embedded in apps (as in real 1.5 payloads).
 */
export function taskJson(cluster: Cluster, app: SimApp, task: SimTask, withServicePorts: boolean): Json {
  const out: Json = { ipAddresses: task.ipAddresses, stagedAt: task.stagedAt, state: task.state, ports: task.ports };
  if (task.startedAt) out.startedAt = task.startedAt;
  out.version = task.version;
  out.id = task.id;
  out.appId = task.appId;
  out.slaveId = task.agent.id;
  out.host = task.host;
  if (withServicePorts) out.servicePorts = task.servicePorts;
  out.role = '*';
  const results = healthCheckResults(cluster, app, task);
  if (results) out.healthCheckResults = results;
  return out;
}

export function counts(cluster: Cluster, app: SimApp): { tasksStaged: number; tasksRunning: number; tasksHealthy: number; tasksUnhealthy: number } {
  let tasksStaged = 0, tasksRunning = 0, tasksHealthy = 0, tasksUnhealthy = 0;
  for (const task of app.tasks.values()) {
    if (task.state === 'TASK_STAGING' || task.state === 'TASK_STARTING') tasksStaged++;
    else if (task.state === 'TASK_RUNNING') tasksRunning++;
    const healthy = cluster.instanceHealthy(task);
    if (healthy === true) tasksHealthy++;
    else if (healthy === false) tasksUnhealthy++;
  }
  return { tasksStaged, tasksRunning, tasksHealthy, tasksUnhealthy };
}

export function appJson(cluster: Cluster, app: SimApp, embed: Embed): Json {
  const out: Json = { ...cluster.appDefinition(app), ...counts(cluster, app) };
  out.deployments = app.deployment ? [{ id: app.deployment.id }] : [];
  if (embed.readiness) out.readinessCheckResults = [];
  if (embed.tasks) out.tasks = [...app.tasks.values()].map((t) => taskJson(cluster, app, t, false));
  if (embed.lastTaskFailure && app.lastTaskFailure) out.lastTaskFailure = app.lastTaskFailure;
  return out;
}

/** Caches each app's serialised JSON per embed variant until the app changes. */
export class AppJsonCache {
  private readonly cache = new WeakMap<SimApp, { rev: number; json: Map<string, string> }>();

  get(cluster: Cluster, app: SimApp, embed: Embed): string {
    const key = `${+embed.tasks}${+embed.lastTaskFailure}${+embed.readiness}`;
    let entry = this.cache.get(app);
    if (!entry || entry.rev !== app.rev) {
      entry = { rev: app.rev, json: new Map() };
      this.cache.set(app, entry);
    }
    let json = entry.json.get(key);
    if (json === undefined) {
      json = JSON.stringify(appJson(cluster, app, embed));
      entry.json.set(key, json);
    }
    return json;
  }
}

/** Marathon's label selector subset: `key`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, comma = AND. */
export function labelSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms: ((labels: Record<string, string>) => boolean)[] = [];
  const parts = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) continue;
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^=!\s]+)\s*==?\s*(.*)$/))) {
      const [, k, v] = m;
      terms.push((l) => l[k] === v.trim());
    } else if ((m = part.match(/^([^=!\s]+)\s*!=\s*(.*)$/))) {
      const [, k, v] = m;
      terms.push((l) => l[k] !== v.trim());
    } else if ((m = part.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/))) {
      const [, k, op, list] = m;
      const values = new Set(list.split(',').map((s) => s.trim()));
      terms.push(op === 'in' ? (l) => k in l && values.has(l[k]) : (l) => !(k in l && values.has(l[k])));
    } else {
      terms.push((l) => part in l);
    }
  }
  return (labels) => terms.every((t) => t(labels));
}

export interface AppFilter {
  id?: string;
  cmd?: string;
  label?: string;
}

export function appMatches(app: SimApp, filter: AppFilter, selector?: (labels: Record<string, string>) => boolean): boolean {
  if (filter.id && !app.id.includes(filter.id)) return false;
  if (filter.cmd && !(typeof app.def.cmd === 'string' && app.def.cmd.includes(filter.cmd))) return false;
  if (selector && !selector(app.def.labels as Record<string, string>)) return false;
  return true;
}

/** `GET /v2/groups`: the group tree implied by app ids. */
export function groupsJson(cluster: Cluster, embedApps: boolean): Json {
  interface Node { id: string; apps: Json[]; groups: Map<string, Node> }
  const root: Node = { id: '/', apps: [], groups: new Map() };
  for (const app of cluster.apps.values()) {
    const segments = app.id.split('/').filter(Boolean);
    let node = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const id = '/' + segments.slice(0, i + 1).join('/');
      let child = node.groups.get(id);
      if (!child) node.groups.set(id, (child = { id, apps: [], groups: new Map() }));
      node = child;
    }
    node.apps.push(embedApps ? appJson(cluster, app, { tasks: false, lastTaskFailure: false, readiness: false, taskStats: false }) : cluster.appDefinition(app));
  }
  const toJson = (node: Node): Json => ({
    id: node.id,
    apps: node.apps,
    groups: [...node.groups.values()].map(toJson),
    pods: [],
    dependencies: [],
    version: cluster.now(),
  });
  return toJson(root);
}
