// A Marathon app payload (`GET /v2/apps/{id}` → `app`, tasks embedded) → one Candidate per task at the
// chosen port. Pure, and written against the raw JSON on purpose: the normaliser in @baton/marathon
// comes with its package index (pino, undici), which a container entrypoint should not pay to load.
// Both app shapes are read: 1.5+ (`networks`, `portDefinitions`, `container.portMappings`) and ≤1.4
// (`ports`, `ipAddress`, `container.docker.{network,portMappings}`).

import type { Candidate } from './seeds.js';

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objects = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObject) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Which port of the app to use: by index (`PORT<n>`) or by the port's name. Default: index 0. */
export interface PortChoice {
  portIndex?: number;
  portName?: string;
}

export interface AppPortInfo {
  name?: string;
  /** Container port on container networks (the task's own IP), when there is no host port. */
  containerPort?: number;
  /** True when the port is reached on the task's own IP (container network, no host port). */
  onTaskIp: boolean;
}

export interface AppEndpoints {
  appId: string;
  ports: AppPortInfo[];
  hasHealthChecks: boolean;
  /** The index finally used (after resolving a port name), or undefined when the app has no ports. */
  portIndex?: number;
  candidates: Candidate[];
}

export class PortChoiceError extends Error {
  override name = 'PortChoiceError';
}

function networkMode(app: Obj): 'host' | 'container/bridge' | 'container' {
  const networks = objects(app.networks);
  if (networks.length > 0) {
    if (networks.some((n) => n.mode === 'container')) return 'container';
    if (networks.some((n) => n.mode === 'container/bridge')) return 'container/bridge';
    return 'host';
  }
  if (isObject(app.ipAddress)) return 'container';
  const container = isObject(app.container) ? app.container : undefined;
  const docker = container && isObject(container.docker) ? container.docker : undefined;
  const legacy = docker ? str(docker.network)?.toUpperCase() : undefined;
  return legacy === 'BRIDGE' ? 'container/bridge' : legacy === 'USER' ? 'container' : 'host';
}

/** The app's ports in `PORT<n>` order, with their names and how they are reached. */
export function appPorts(app: Obj): AppPortInfo[] {
  const mode = networkMode(app);
  const container = isObject(app.container) ? app.container : undefined;
  const docker = container && isObject(container.docker) ? container.docker : undefined;
  const mappings = Array.isArray(container?.portMappings) ? objects(container.portMappings) : objects(docker?.portMappings);
  if (mode !== 'host' && mappings.length > 0) {
    return mappings.map((m) => {
      const onTaskIp = mode === 'container' && num(m.hostPort) === undefined;
      return { name: str(m.name), containerPort: num(m.containerPort), onTaskIp };
    });
  }
  const discovery = isObject(app.ipAddress) && isObject(app.ipAddress.discovery) ? objects(app.ipAddress.discovery.ports) : [];
  if (discovery.length > 0) return discovery.map((p) => ({ name: str(p.name), containerPort: num(p.number), onTaskIp: true }));
  const definitions = objects(app.portDefinitions);
  if (definitions.length > 0) return definitions.map((d) => ({ name: str(d.name), onTaskIp: false }));
  const legacy = Array.isArray(app.ports) ? app.ports : [];
  return legacy.map(() => ({ onTaskIp: false }));
}

/** Resolves `--port-name` / `--port-index` against the app's ports. Throws PortChoiceError naming the problem. */
export function resolvePortIndex(appId: string, ports: AppPortInfo[], choice: PortChoice): number | undefined {
  if (choice.portName !== undefined) {
    const index = ports.findIndex((p) => p.name === choice.portName);
    if (index < 0) {
      const names = ports.map((p) => p.name).filter((n): n is string => n !== undefined);
      throw new PortChoiceError(
        `app ${appId} has no port named "${choice.portName}"` + (names.length ? ` (its ports: ${names.join(', ')})` : ' (its ports have no names)'),
      );
    }
    return index;
  }
  const index = choice.portIndex ?? 0;
  if (ports.length === 0) {
    if (choice.portIndex !== undefined && choice.portIndex > 0) throw new PortChoiceError(`app ${appId} has no ports (--port-index ${index})`);
    return undefined;
  }
  if (index >= ports.length) {
    throw new PortChoiceError(`app ${appId} has ${ports.length} port${ports.length === 1 ? '' : 's'}; --port-index ${index} is out of range`);
  }
  return index;
}

/** Healthy when any health check result is alive; tasks of apps without health checks count as healthy. */
export function taskHealthy(task: Obj, hasHealthChecks: boolean): boolean {
  if (!hasHealthChecks) return true;
  return objects(task.healthCheckResults).some((r) => r.alive === true);
}

/** A missing state means running once the task has started (pre-1.0 payloads carry no state). */
export function taskRunning(task: Obj): boolean {
  const state = str(task.state);
  return state === undefined ? str(task.startedAt) !== undefined : state === 'TASK_RUNNING';
}

/** Candidates for every task of the app at the chosen port. Tasks without a string id are skipped. */
export function appEndpoints(rawApp: unknown, choice: PortChoice = {}): AppEndpoints {
  const app = isObject(rawApp) ? rawApp : {};
  const appId = str(app.id) ?? '';
  const ports = appPorts(app);
  const hasHealthChecks = objects(app.healthChecks).length > 0;
  const portIndex = resolvePortIndex(appId, ports, choice);
  const port = portIndex === undefined ? undefined : ports[portIndex];
  const candidates: Candidate[] = [];
  for (const task of objects(app.tasks)) {
    const taskId = str(task.id);
    if (!taskId) continue;
    const ips = objects(task.ipAddresses).map((a) => str(a.ipAddress)).filter((a): a is string => !!a);
    let host = str(task.host) ?? '';
    let taskPort: number | undefined;
    if (port?.onTaskIp && ips.length > 0) {
      host = ips[0];
      taskPort = port.containerPort;
    } else if (portIndex !== undefined) {
      const hostPorts = Array.isArray(task.ports) ? task.ports : [];
      taskPort = num(hostPorts[portIndex]);
    }
    const candidate: Candidate = {
      taskId,
      host,
      running: taskRunning(task),
      healthy: taskHealthy(task, hasHealthChecks),
    };
    if (taskPort !== undefined) candidate.port = taskPort;
    const startedAt = str(task.startedAt);
    const stagedAt = str(task.stagedAt);
    if (startedAt !== undefined) candidate.startedAt = startedAt;
    if (stagedAt !== undefined) candidate.stagedAt = stagedAt;
    candidates.push(candidate);
  }
  const out: AppEndpoints = { appId, ports, hasHealthChecks, candidates };
  if (portIndex !== undefined) out.portIndex = portIndex;
  return out;
}
