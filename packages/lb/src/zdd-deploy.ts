// baton-zdd's decisions, as marathon-lb's zdd.py takes them: which colour and service port the new app
// gets, how far to scale it at each step, which old tasks baton-lb (or marathon-lb) has drained, and
// when the old app can go. Pure: apps are Marathon's JSON, listeners the rows of `/haproxy?stats;csv`.

import { normalizeApp, normalizeTask, type RawApp, type RawTask } from '@baton/marathon';
import { serverName, taskEndpoint } from './backends.js';

/** Marathon app JSON as zdd.py handles it (null fields removed). */
export type AppJson = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** zdd.py's exit statuses (zdd_exceptions.py): 1 is "not confirmed", 2 anything unexpected. */
export const EXIT = {
  notConfirmed: 1,
  unknown: 2,
  invalidArg: 3,
  missingField: 4,
  marathonLbEndpoint: 5,
  marathonEndpoint: 6,
  appCreate: 7,
  appDelete: 8,
  appScale: 9,
} as const;

export class ZddError extends Error {
  override name = 'ZddError';
  constructor(
    message: string,
    readonly exitStatus: number,
  ) {
    super(message);
  }
}

export interface DeployOptions {
  newInstances: number;
  initialInstances: number;
  linearIncrease: number;
  completeCur: boolean;
  completePrev: boolean;
}

/** marathon-lb's cleanup_json: drops null values, recursively. */
export function cleanupJson(value: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (Array.isArray(value)) return value.map(cleanupJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, cleanupJson(v)]));
  }
  return value;
}

export function validateApp(app: AppJson): void {
  if (typeof app.id !== 'string' || app.id === '') throw new ZddError("App doesn't contain a valid App ID (id)", EXIT.missingField);
  if (app.labels === null || typeof app.labels !== 'object') {
    throw new ZddError('No labels found. Please define the HAPROXY_DEPLOYMENT_GROUP label', EXIT.missingField);
  }
  for (const label of ['HAPROXY_DEPLOYMENT_GROUP', 'HAPROXY_DEPLOYMENT_ALT_PORT']) {
    if (typeof app.labels[label] !== 'string' || app.labels[label] === '') throw new ZddError(`Please define the ${label} label`, EXIT.missingField);
  }
  if (!/^\d+$/.test(app.labels.HAPROXY_DEPLOYMENT_ALT_PORT)) {
    throw new ZddError(`HAPROXY_DEPLOYMENT_ALT_PORT must be a port number, got ${JSON.stringify(app.labels.HAPROXY_DEPLOYMENT_ALT_PORT)}`, EXIT.missingField);
  }
}

export function deploymentGroup(app: AppJson): string | undefined {
  return app.labels?.HAPROXY_DEPLOYMENT_GROUP;
}

function intLabel(app: AppJson, name: string): number | undefined {
  const value = app.labels?.[name];
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(String(value))) throw new ZddError(`app ${app.id}: label ${name} is not an integer: ${JSON.stringify(value)}`, EXIT.invalidArg);
  return Number(value);
}

export function deploymentTarget(app: AppJson): number {
  return intLabel(app, 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES') ?? app.instances;
}

export function newInstanceCount(app: AppJson): number {
  return intLabel(app, 'HAPROXY_DEPLOYMENT_NEW_INSTANCES') ?? 0;
}

function portMappings(app: AppJson): AppJson[] {
  const container = app.container ?? {};
  const mappings = container.docker?.portMappings ?? container.portMappings ?? [];
  return Array.isArray(mappings) ? mappings : [];
}

/** The app's first service port: portMappings, then portDefinitions, then ports. */
export function servicePort(app: AppJson): number {
  const mapping = portMappings(app)[0];
  if (mapping?.servicePort) return Number(mapping.servicePort);
  // zdd.py reads `['portDefinitions'][0]` here (a string), so an app with only portDefinitions fails there.
  const definition = app.portDefinitions?.[0];
  if (definition?.port) return Number(definition.port);
  if (Array.isArray(app.ports) && app.ports.length > 0) return Number(app.ports[0]);
  throw new ZddError("App doesn't contain a service port (container.portMappings, portDefinitions or ports)", EXIT.missingField);
}

function setServicePort(app: AppJson, port: number): void {
  const mappings = portMappings(app);
  if (mappings.length > 0) mappings[0].servicePort = port;
  else if (Array.isArray(app.portDefinitions) && app.portDefinitions.length > 0) app.portDefinitions[0].port = port;
  else app.ports[0] = port;
}

function selectNextPort(app: AppJson): number {
  const alt = Number(app.labels.HAPROXY_DEPLOYMENT_ALT_PORT);
  // zdd.py looks at `ports`, which Marathon always returns beside portDefinitions.
  const current = Array.isArray(app.ports) && app.ports.length > 0 ? Number(app.ports[0]) : servicePortOrUndefined(app);
  return current === alt ? Number(app.labels.HAPROXY_0_PORT) : alt;
}

function servicePortOrUndefined(app: AppJson): number | undefined {
  try {
    return servicePort(app);
  } catch {
    return undefined;
  }
}

function selectNextColour(app: AppJson): 'blue' | 'green' {
  return app.labels?.HAPROXY_DEPLOYMENT_COLOUR === 'blue' ? 'green' : 'blue';
}

/** Oldest first by HAPROXY_DEPLOYMENT_STARTED_AT (compared as strings, as zdd.py does; missing = '0'). */
export function sortDeploys(apps: AppJson[]): AppJson[] {
  const at = (a: AppJson): string => a.labels?.HAPROXY_DEPLOYMENT_STARTED_AT ?? '0';
  return [...apps].sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : 0));
}

/** The newest and the one before it: `[new, old]`. */
export function lastTwoDeploys(apps: AppJson[]): [AppJson, AppJson] {
  const sorted = sortDeploys(apps);
  return [sorted[sorted.length - 1], sorted[sorted.length - 2]];
}

/** Python's `datetime.now().isoformat()`: local time, microseconds, no zone. */
export function localIsoTimestamp(date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:` +
    `${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}000`
  );
}

/**
 * The blue or green version of `app` (zdd.py's prepare_deploy): id `<id>-<colour>`, the other service
 * port, HAPROXY_0_PORT = the shared port, the deployment labels; `newInstances` comes back capped at
 * the current deployment's instances.
 */
export function prepareDeploy(options: DeployOptions, previous: AppJson[], input: AppJson, now: Date): { app: AppJson; newInstances: number } {
  const app = structuredClone(input);
  let newInstances = options.newInstances;
  let colour: 'blue' | 'green';
  let port: number;
  let target: number;
  if (previous.length > 0) {
    const last = sortDeploys(previous)[previous.length - 1];
    colour = selectNextColour(last);
    port = selectNextPort(last);
    target = last.instances;
    if (newInstances > target) newInstances = target;
    if (newInstances > 0) app.instances = Math.min(options.initialInstances, newInstances);
    else app.instances = Math.min(options.initialInstances, target);
    app.labels.HAPROXY_DEPLOYMENT_NEW_INSTANCES = String(newInstances);
  } else {
    colour = 'blue';
    port = servicePort(app);
    target = app.instances ?? 1;
    app.labels.HAPROXY_DEPLOYMENT_NEW_INSTANCES = '0';
  }
  app.labels.HAPROXY_APP_ID = app.id;
  app.id = `${app.id.startsWith('/') ? '' : '/'}${app.id}-${colour}`;
  app.labels.HAPROXY_0_PORT = String(servicePort(app));
  setServicePort(app, port);
  app.labels.HAPROXY_DEPLOYMENT_TARGET_INSTANCES = String(target);
  app.labels.HAPROXY_DEPLOYMENT_COLOUR = colour;
  app.labels.HAPROXY_DEPLOYMENT_STARTED_AT = localIsoTimestamp(now);
  return { app, newInstances };
}

// --- HAProxy stats --------------------------------------------------------------------------------

export type Listener = Record<string, string>;

/** Rows of HAProxy's `;csv` stats (header `# pxname,svname,…,`), several documents concatenated. */
export function parseHaproxyStats(csv: string): Listener[] {
  const rows: Listener[] = [];
  let columns: string[] | undefined;
  for (const line of csv.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      columns = line.replace(/^#\s*/, '').replace(/,\s*$/, '').split(',');
      continue;
    }
    if (!columns) throw new ZddError('stats CSV has no header line', EXIT.marathonLbEndpoint);
    const values = line.split(',');
    rows.push(Object.fromEntries(columns.map((column, i) => [column, values[i] ?? ''])));
  }
  return rows;
}

/** The HAProxy backend of a deployment group: `<group>_<HAPROXY_0_PORT>`. */
export function deploymentBackend(app: AppJson): string {
  return `${deploymentGroup(app)}_${app.labels.HAPROXY_0_PORT}`;
}

export function appListeners(app: AppJson, rows: Listener[]): Listener[] {
  const backend = deploymentBackend(app);
  return rows.filter((row) => row.pxname === backend && row.svname !== 'BACKEND' && row.svname !== 'FRONTEND');
}

function hasPendingRequests(listener: Listener): boolean {
  return Number(listener.qcur || 0) > 0 || Number(listener.scur || 0) > 0;
}

/**
 * The server name baton-lb and marathon-lb give a task's first port. zdd.py pairs every port's name
 * with the task list, which misaligns tasks with several ports; one name per task does not.
 */
export function taskServerName(app: AppJson, task: AppJson): string | undefined {
  const normalizedApp = normalizeApp(app as RawApp);
  const endpoint = taskEndpoint(normalizedApp, normalizeTask(task as RawTask, normalizedApp.id));
  if (!endpoint || endpoint.ports.length === 0) return undefined;
  return serverName(task.host ?? '', endpoint.ip, endpoint.ports[0]);
}

function tasksWhereEveryListener(app: AppJson, listeners: Listener[], haproxyCount: number, keep: (l: Listener) => boolean): string[] {
  const selected = listeners.filter(keep);
  const ids: string[] = [];
  for (const task of app.tasks ?? []) {
    const name = taskServerName(app, task);
    if (name !== undefined && selected.filter((l) => l.svname === name).length === haproxyCount) ids.push(task.id);
  }
  return ids;
}

/** Old tasks every load balancer shows in MAINT with nothing in flight. */
export function drainedTaskIds(app: AppJson, listeners: Listener[], haproxyCount: number): string[] {
  return tasksWhereEveryListener(app, listeners, haproxyCount, (l) => l.status === 'MAINT' && !hasPendingRequests(l));
}

/** Old tasks every load balancer shows in MAINT (used once --max-wait is over). */
export function drainingTaskIds(app: AppJson, listeners: Listener[], haproxyCount: number): string[] {
  return tasksWhereEveryListener(app, listeners, haproxyCount, (l) => l.status === 'MAINT');
}

/** What the step still waits for (zdd.py's find_tasks_to_kill checks), or undefined when it may go on. */
export function waitingFor(newApp: AppJson, oldApp: AppJson, listeners: Listener[], haproxyCount: number): string | undefined {
  const perLb = listeners.length / haproxyCount;
  if (perLb !== newApp.instances + oldApp.instances) {
    return `${perLb} servers per load balancer, expecting ${newApp.instances + oldApp.instances} (old ${oldApp.instances} + new ${newApp.instances})`;
  }
  const up = listeners.filter((l) => l.status === 'UP').length / haproxyCount;
  if (up < deploymentTarget(newApp)) return `${up} servers UP per load balancer, expecting ${deploymentTarget(newApp)}`;
  if (listeners.filter((l) => l.status === 'MAINT' && !hasPendingRequests(l)).length < 1) return 'a drained (MAINT, no session) server';
  return undefined;
}

export function isHybridDeployment(options: DeployOptions, app: AppJson): boolean {
  return newInstanceCount(app) !== 0 && !options.completeCur && !options.completePrev;
}

export function readyToDeleteOldApp(options: DeployOptions, newApp: AppJson, oldApp: AppJson, drainedIds: string[]): boolean {
  const newInstances = newInstanceCount(newApp);
  if (isHybridDeployment(options, newApp)) {
    return newApp.instances === newInstances && oldApp.instances === deploymentTarget(oldApp) - newInstances;
  }
  return newApp.instances === deploymentTarget(newApp) && drainedIds.length === oldApp.instances;
}

/**
 * The new app's next instance count (zdd.py's scale_new_app_instances): +50% (rounded down, at least
 * one) until it reaches the old app's count, then the target at once; or +N with --linear-increase;
 * capped at HAPROXY_DEPLOYMENT_NEW_INSTANCES in a hybrid deployment.
 */
export function nextScale(options: DeployOptions, newApp: AppJson, oldApp: AppJson): number {
  const linear = options.linearIncrease > 0;
  let instances = linear ? newApp.instances + options.linearIncrease : Math.floor(newApp.instances + (newApp.instances + 1) / 2);
  if (isHybridDeployment(options, newApp)) instances = Math.min(instances, newInstanceCount(newApp));
  else if (linear) instances = Math.min(instances, deploymentTarget(newApp));
  else if (instances >= oldApp.instances) instances = deploymentTarget(newApp);
  return instances;
}

/** Whether the new app still needs scaling up after this step. */
export function needsScaling(options: DeployOptions, newApp: AppJson): boolean {
  return isHybridDeployment(options, newApp) ? newApp.instances < newInstanceCount(newApp) : newApp.instances < deploymentTarget(newApp);
}
