// Marathon payloads → baton's normalised App and Task. Pure; never throws on bad input.
//
// Apps come in two shapes: the 1.5+ one (`networks`, `portDefinitions`, `container.portMappings`) and
// the legacy ≤1.4 one (`ports`, `ipAddress`, `container.docker.network` + `container.docker.portMappings`).
// Both map onto the same App. Fields of the wrong type are treated as missing.

import { appIdFromTaskId } from './ids.js';
import type {
  App,
  AppHealthCheck,
  AppPort,
  NetworkMode,
  RawApp,
  RawTask,
  Task,
  TaskHealth,
} from './types.js';

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function objects(value: unknown): Obj[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

// Arrays are built at their exact size: an array grown by push() from empty reserves 17 slots, which
// across 100k tasks' ports and addresses costs tens of megabytes.
function numbers(value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0) return [];
  if (value.every(isFiniteNumber)) return value.slice();
  return value.filter(isFiniteNumber);
}

function isFiniteNumber(item: unknown): item is number {
  return typeof item === 'number' && Number.isFinite(item);
}

/** Only string values survive (labels are strings; env secret references `{secret}` are left out). */
function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- apps

/** Marathon's health check defaults (`HealthCheck.scala`). */
export const HEALTH_CHECK_DEFAULTS = {
  gracePeriodSeconds: 300,
  intervalSeconds: 60,
  timeoutSeconds: 20,
  maxConsecutiveFailures: 3,
} as const;

function networkOf(raw: Obj): { mode: NetworkMode; name?: string } {
  const networks = objects(raw.networks);
  if (networks.length > 0) {
    const container = networks.find((n) => n.mode === 'container');
    if (container) return { mode: 'container', name: str(container.name) };
    if (networks.some((n) => n.mode === 'container/bridge')) return { mode: 'container/bridge' };
    return { mode: 'host' };
  }
  // Legacy: `ipAddress` set means IP-per-task; otherwise the Docker network decides.
  if (isObject(raw.ipAddress)) return { mode: 'container', name: str(raw.ipAddress.networkName) };
  const container = isObject(raw.container) ? raw.container : undefined;
  const docker = container && isObject(container.docker) ? container.docker : undefined;
  switch (docker && str(docker.network)?.toUpperCase()) {
    case 'BRIDGE':
      return { mode: 'container/bridge' };
    case 'USER':
      return { mode: 'container' };
    default:
      return { mode: 'host' };
  }
}

function portFrom(
  index: number,
  raw: Obj,
  servicePort: unknown,
  extra: { containerPort?: number; hostPort?: number },
): AppPort {
  const port: AppPort = {
    index,
    servicePort: num(servicePort) ?? 0,
    protocol: str(raw.protocol) ?? 'tcp',
    labels: stringRecord(raw.labels),
  };
  if (extra.containerPort !== undefined) port.containerPort = extra.containerPort;
  if (extra.hostPort !== undefined) port.hostPort = extra.hostPort;
  const name = str(raw.name);
  if (name !== undefined) port.name = name;
  return port;
}

function portsOf(raw: Obj, mode: NetworkMode): AppPort[] {
  const container = isObject(raw.container) ? raw.container : undefined;
  const docker = container && isObject(container.docker) ? container.docker : undefined;
  const mappings = Array.isArray(container?.portMappings)
    ? objects(container.portMappings)
    : objects(docker?.portMappings);

  if (mode !== 'host' && mappings.length > 0) {
    return mappings.map((m, i) =>
      portFrom(i, m, m.servicePort, {
        containerPort: num(m.containerPort) ?? 0,
        // Bridge mappings always get a host port (0 = dynamic); container-network ones only if asked.
        hostPort: num(m.hostPort) ?? (mode === 'container/bridge' ? 0 : undefined),
      }),
    );
  }
  const discovery =
    isObject(raw.ipAddress) && isObject(raw.ipAddress.discovery) ? objects(raw.ipAddress.discovery.ports) : [];
  if (discovery.length > 0) {
    return discovery.map((p, i) => portFrom(i, p, 0, { containerPort: num(p.number) ?? 0 }));
  }
  const requirePorts = raw.requirePorts === true;
  const definitions = objects(raw.portDefinitions);
  if (definitions.length > 0) {
    return definitions.map((d, i) =>
      portFrom(i, d, d.port, { hostPort: requirePorts ? (num(d.port) ?? 0) : 0 }),
    );
  }
  return numbers(raw.ports).map((p, i) => portFrom(i, {}, p, { hostPort: requirePorts ? p : 0 }));
}

function healthChecksOf(raw: Obj): AppHealthCheck[] {
  return objects(raw.healthChecks).map((h) => {
    const check: AppHealthCheck = {
      protocol: str(h.protocol) ?? 'HTTP',
      gracePeriodSeconds: num(h.gracePeriodSeconds) ?? HEALTH_CHECK_DEFAULTS.gracePeriodSeconds,
      intervalSeconds: num(h.intervalSeconds) ?? HEALTH_CHECK_DEFAULTS.intervalSeconds,
      timeoutSeconds: num(h.timeoutSeconds) ?? HEALTH_CHECK_DEFAULTS.timeoutSeconds,
      maxConsecutiveFailures: num(h.maxConsecutiveFailures) ?? HEALTH_CHECK_DEFAULTS.maxConsecutiveFailures,
    };
    const path = str(h.path);
    if (path !== undefined) check.path = path;
    const port = num(h.port);
    const portIndex = num(h.portIndex);
    if (port !== undefined) check.port = port;
    if (portIndex !== undefined) check.portIndex = portIndex;
    // Marathon's default when neither is given: the first port (not for COMMAND checks).
    if (port === undefined && portIndex === undefined && check.protocol !== 'COMMAND') check.portIndex = 0;
    return check;
  });
}

function appFrom(raw: Obj, id: string): App {
  const network = networkOf(raw);
  const instances = num(raw.instances);
  const app: App = {
    id,
    instances: instances !== undefined && instances >= 0 ? instances : 1,
    labels: stringRecord(raw.labels),
    env: stringRecord(raw.env),
    networkMode: network.mode,
    ipPerTask: network.mode === 'container',
    ports: portsOf(raw, network.mode),
    healthChecks: healthChecksOf(raw),
    requirePorts: raw.requirePorts === true,
  };
  const version = str(raw.version);
  if (version !== undefined) app.version = version;
  const cmd = str(raw.cmd);
  if (cmd !== undefined) app.cmd = cmd;
  if (network.name !== undefined) app.networkName = network.name;
  return app;
}

/**
 * Normalises one app (either shape). Use `tryNormalizeApp` for untrusted input: this one assumes a
 * string `id` and otherwise gives an app with id `''`.
 */
export function normalizeApp(raw: RawApp): App {
  const obj: Obj = isObject(raw) ? raw : {};
  return appFrom(obj, str(obj.id) ?? '');
}

export interface NormalizedApp {
  app?: App;
  /**
   * The app's tasks, or undefined when the payload carried no `tasks` array (not embedded): the caller
   * then keeps the tasks it knows. Tasks lacking `servicePorts` get the app's service ports.
   */
  tasks?: Task[];
  /** Why the app could not be used at all. */
  error?: string;
  /** Tasks that were skipped, each with the reason. */
  taskErrors?: string[];
}

/**
 * Returns one shared copy of equal strings. Hosts, agent ids, versions and states repeat across
 * thousands of tasks; sharing them keeps a 100k-task state small. Forgets everything past `limit`.
 */
export type Intern = (value: string) => string;

export function createInterner(limit = 100_000): Intern {
  let pool = new Map<string, string>();
  return (value) => {
    const known = pool.get(value);
    if (known !== undefined) return known;
    if (pool.size >= limit) pool = new Map();
    pool.set(value, value);
    return value;
  };
}

const same: Intern = (value) => value;

/**
 * Normalises an app and its embedded tasks from untrusted JSON. Errors are values, never thrown.
 * `intern` (see createInterner) shares repeated task strings.
 */
export function tryNormalizeApp(raw: unknown, intern: Intern = same): NormalizedApp {
  if (!isObject(raw)) return { error: `app is not an object (got ${describe(raw)})` };
  const id = raw.id;
  if (typeof id !== 'string' || id === '') return { error: 'app has no string id' };
  let app: App;
  try {
    app = appFrom(raw, id);
  } catch (err) {
    // Defensive only: getters or proxies in hand-built input could throw.
    return { error: `app ${id}: ${(err as Error).message}` };
  }
  if (!Array.isArray(raw.tasks)) return { app };
  const servicePorts = app.ports.map((p) => p.servicePort);
  const tasks: Task[] = [];
  const taskErrors: string[] = [];
  for (const rawTask of raw.tasks) {
    const result = tryNormalizeTask(rawTask, id, intern);
    if (result.task) {
      if (!Array.isArray((rawTask as RawTask).servicePorts)) result.task.servicePorts = servicePorts;
      tasks.push(result.task);
    } else {
      taskErrors.push(`app ${id}: ${result.error}`);
    }
  }
  return taskErrors.length > 0 ? { app, tasks, taskErrors } : { app, tasks };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

// --------------------------------------------------------------------------------------------- tasks

/** `healthy` if any result is alive, `unhealthy` if there are results and none is, else `unknown`. */
export function healthFromResults(results: unknown): TaskHealth {
  if (!Array.isArray(results)) return 'unknown';
  let seen = false;
  for (const result of results) {
    if (!isObject(result)) continue;
    if (result.alive === true) return 'healthy';
    seen = true;
  }
  return seen ? 'unhealthy' : 'unknown';
}

/** Marathon's `{ipAddress, protocol}` list; protocol defaults from the address's shape. */
export function normalizeIpAddresses(value: unknown): Task['ipAddresses'] {
  if (!Array.isArray(value) || value.length === 0) return [];
  const valid = value.every((entry) => isObject(entry) && typeof entry.ipAddress === 'string');
  return (valid ? value : value.filter((entry) => isObject(entry) && typeof entry.ipAddress === 'string')).map(
    (entry: { ipAddress: string; protocol?: unknown }) => {
      const address = entry.ipAddress;
      const protocol =
        entry.protocol === 'IPv6' ? 'IPv6' : entry.protocol === 'IPv4' ? 'IPv4' : address.includes(':') ? 'IPv6' : 'IPv4';
      return { ipAddress: address, protocol };
    },
  );
}

/**
 * Normalises one task. `appId` (the app the task was embedded in) wins over the task's own `appId`,
 * which wins over the id derived from the task id. A missing `state` means `TASK_RUNNING` when the task
 * has started, else `TASK_STAGING` (pre-1.0 payloads carry no state).
 */
export function normalizeTask(raw: RawTask, appId?: string, intern: Intern = same): Task {
  const obj: Obj = isObject(raw) ? raw : {};
  const id = str(obj.id) ?? '';
  const startedAt = str(obj.startedAt);
  const state = str(obj.state);
  const version = str(obj.version);
  // Every task has the same fields in the same order (one hidden class); absent ones are undefined.
  return {
    id,
    appId: appId ?? str(obj.appId) ?? appIdFromTaskId(id) ?? '',
    host: intern(str(obj.host) ?? ''),
    slaveId: intern(str(obj.slaveId) ?? ''),
    state: state !== undefined ? intern(state) : startedAt !== undefined ? 'TASK_RUNNING' : 'TASK_STAGING',
    ports: numbers(obj.ports),
    servicePorts: numbers(obj.servicePorts),
    ipAddresses: normalizeIpAddresses(obj.ipAddresses),
    stagedAt: str(obj.stagedAt),
    startedAt,
    version: version !== undefined ? intern(version) : undefined,
    health: healthFromResults(obj.healthCheckResults),
  };
}

/** Normalises a task from untrusted JSON. */
export function tryNormalizeTask(raw: unknown, appId?: string, intern: Intern = same): { task?: Task; error?: string } {
  if (!isObject(raw)) return { error: `task is not an object (got ${describe(raw)})` };
  if (typeof raw.id !== 'string' || raw.id === '') return { error: 'task has no string id' };
  const task = normalizeTask(raw as RawTask, appId, intern);
  if (task.appId === '') return { error: `task ${raw.id} has no app id` };
  return { task };
}

// ------------------------------------------------------------------------------- response text

const QUOTE = 34; // "
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
    i++;
  }
  return i;
}

/** Index just past the string that starts at `i` (a quote), or -1 when it is not terminated. */
function skipString(text: string, i: number): number {
  let j = i + 1;
  for (;;) {
    j = text.indexOf('"', j);
    if (j < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return j + 1;
    j++;
  }
}

/** Index just past the JSON value that starts at `i` (not validated: JSON.parse does that), or -1. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
    while (i < text.length) {
      const d = text.charCodeAt(i);
      if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 32 || d === 10 || d === 13 || d === 9) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (d === QUOTE) {
      i = skipString(text, i);
      if (i < 0) return -1;
      continue;
    }
    if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
    else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** The element texts of the JSON array starting at `i`. */
function arraySlices(text: string, i: number): string[] | undefined {
  const slices: string[] = [];
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return slices;
  for (;;) {
    const end = skipValue(text, i);
    if (end < 0 || end === i) return undefined;
    slices.push(text.slice(i, end));
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACKET) return slices;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
}

/**
 * Splits the text of a `GET /v2/apps` response (`{"apps":[…]}`, or a bare array) into the JSON text of
 * each app, without parsing it. Parsing app by app keeps only one app's raw object graph alive at a
 * time, so a 100k-task resync costs the payload text plus the state, not a parsed copy of everything.
 * Each slice still has to go through JSON.parse, which validates it.
 */
export function splitAppsJson(text: string): { slices?: string[]; error?: string } {
  if (typeof text !== 'string') return { error: 'apps response is not text' };
  let i = skipSpace(text, 0);
  const first = text.charCodeAt(i);
  if (first === OPEN_BRACKET) {
    const slices = arraySlices(text, i);
    return slices ? { slices } : { error: 'apps response is not valid JSON' };
  }
  if (first !== OPEN_BRACE) return { error: 'apps response is not a JSON object' };
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) === QUOTE) {
    const keyEnd = skipString(text, i);
    if (keyEnd < 0) break;
    const key = text.slice(i + 1, keyEnd - 1);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) break;
    i = skipSpace(text, i + 1);
    if (key === 'apps') {
      if (text.charCodeAt(i) !== OPEN_BRACKET) return { error: 'apps response has no "apps" array' };
      const slices = arraySlices(text, i);
      return slices ? { slices } : { error: 'apps response is not valid JSON' };
    }
    const end = skipValue(text, i);
    if (end < 0) break;
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== COMMA) return { error: 'apps response has no "apps" array' };
    i = skipSpace(text, i + 1);
  }
  return { error: 'apps response is not valid JSON' };
}

// ------------------------------------------------------------------------------ incremental scan

/**
 * Reads `{"apps":[{…},…]}` a slice at a time and hands over the JSON text of each app (not parsed:
 * JSON.parse of it validates it), so a listing of many megabytes is read a few milliseconds at a
 * time. Malformed text sets `error`.
 */
export class AppListScanner {
  error?: string;
  private pos = 0;
  private depth = 0;
  /** Depth of the `apps` array's elements (2), once its `[` was read. */
  private appsDepth = -1;
  private appStart = -1;
  private lastKeyStart = -1;
  private lastKeyEnd = -1;
  private lastStringEnd = -1;
  private done = false;

  constructor(private readonly text: string) {}

  /** Scans about `chars` more characters; returns whether there is more to scan. */
  scan(chars: number, onApp: (appText: string) => void): boolean {
    const text = this.text;
    const end = Math.min(text.length, this.pos + chars);
    let i = this.pos;
    while (i < end && this.error === undefined) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        const start = i;
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) {
            this.error = 'apps response is not valid JSON (unterminated string)';
            break;
          }
          let slashes = 0;
          while (text.charCodeAt(q - 1 - slashes) === BACKSLASH) slashes++;
          i = q + 1;
          if (slashes % 2 === 0) break;
        }
        if (this.depth === 1) {
          this.lastKeyStart = start;
          this.lastStringEnd = i;
        }
        continue;
      }
      if (c === COLON && this.depth === 1 && this.lastStringEnd >= 0) {
        this.lastKeyEnd = this.lastStringEnd;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (c === OPEN_BRACKET && this.depth === 1 && this.appsDepth < 0 && this.lastKeyEnd > 0 &&
          text.slice(this.lastKeyStart, this.lastKeyEnd) === '"apps"') {
          this.appsDepth = 2;
        } else if (c === OPEN_BRACE && this.depth === this.appsDepth) {
          this.appStart = i;
        }
        this.depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth < 0) this.error = 'apps response is not valid JSON (unbalanced brackets)';
        else if (c === CLOSE_BRACE && this.depth === this.appsDepth && this.appStart >= 0) {
          onApp(text.slice(this.appStart, i + 1));
          this.appStart = -1;
        } else if (c === CLOSE_BRACKET && this.depth === 1 && this.appsDepth > 0) {
          this.done = true;
        }
      }
      i++;
    }
    this.pos = i;
    if (this.error !== undefined) return false;
    if (i < text.length) return true;
    if (!this.done) this.error = this.appsDepth > 0 ? 'apps response is truncated' : 'apps response has no "apps" array';
    return false;
  }
}
