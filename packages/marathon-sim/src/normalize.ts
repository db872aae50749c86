// App definitions: accept what Marathon accepts (1.5+ and legacy shapes) and produce Marathon's 1.5+
// canonical output shape. Pure functions; service ports are assigned later by the cluster.
import { appIdError, canonicalAppId } from './ids.js';

export type Json = Record<string, unknown>;
export type NetworkMode = 'host' | 'container/bridge' | 'container';

export interface ValidationError {
  path: string;
  errors: string[];
}

export type NormalizeResult = { ok: true; def: Json } | { ok: false; details: ValidationError[] };

/** One port of an app as the cluster uses it (index n = PORTn). */
export interface PortSpec {
  index: number;
  servicePort: number;
  /** undefined = no host port (container networks), 0 = dynamic, else fixed. */
  hostPort?: number;
  containerPort?: number;
  name?: string;
  protocol: string;
  labels: Record<string, string>;
}

export interface HealthCheckSpec {
  protocol: string;
  path: string;
  portIndex?: number;
  port?: number;
  command?: string;
  gracePeriodSeconds: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
  delaySeconds: number;
  raw: Json;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** Deep-merges a PATCH/PUT partial update into a stored definition (objects merge, everything else replaces). */
export function mergeDefinition(base: Json, patch: Json): Json {
  const out: Json = clone(base);
  // Like Marathon's partial update, each top-level field given replaces the stored one wholesale.
  for (const [key, value] of Object.entries(patch)) out[key] = clone(value);
  // A patch that switches to legacy fields drops the canonical ones it replaces.
  if ('ports' in patch && !('portDefinitions' in patch)) delete out.portDefinitions;
  if ('ipAddress' in patch && !('networks' in patch)) delete out.networks;
  if (isObject(patch.container) && isObject(patch.container.docker) && 'network' in patch.container.docker && !('networks' in patch)) {
    delete out.networks;
  }
  return out;
}

function normalizeLabels(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(value)) for (const [k, v] of Object.entries(value)) out[k] = String(v);
  return out;
}

function normalizePortMapping(raw: unknown, mode: NetworkMode): Json {
  const pm = isObject(raw) ? clone(raw) : {};
  const out: Json = { containerPort: typeof pm.containerPort === 'number' ? pm.containerPort : 0 };
  if (typeof pm.hostPort === 'number') out.hostPort = pm.hostPort;
  else if (mode === 'container/bridge') out.hostPort = 0;
  out.labels = normalizeLabels(pm.labels);
  if (typeof pm.name === 'string') out.name = pm.name;
  out.protocol = typeof pm.protocol === 'string' ? pm.protocol : 'tcp';
  out.servicePort = typeof pm.servicePort === 'number' ? pm.servicePort : 0;
  if (Array.isArray(pm.networkNames)) out.networkNames = pm.networkNames;
  for (const [k, v] of Object.entries(pm)) if (!(k in out)) out[k] = v;
  return out;
}

function normalizePortDefinition(raw: unknown): Json {
  const pd = isObject(raw) ? clone(raw) : {};
  const out: Json = { port: typeof pd.port === 'number' ? pd.port : 0, protocol: typeof pd.protocol === 'string' ? pd.protocol : 'tcp' };
  if (typeof pd.name === 'string') out.name = pd.name;
  out.labels = normalizeLabels(pd.labels);
  return out;
}

function normalizeHealthCheck(raw: unknown): Json {
  const hc = isObject(raw) ? clone(raw) : {};
  const protocol = typeof hc.protocol === 'string' ? hc.protocol.toUpperCase() : 'HTTP';
  const out: Json = {
    gracePeriodSeconds: typeof hc.gracePeriodSeconds === 'number' ? hc.gracePeriodSeconds : 300,
    intervalSeconds: typeof hc.intervalSeconds === 'number' ? hc.intervalSeconds : 60,
    maxConsecutiveFailures: typeof hc.maxConsecutiveFailures === 'number' ? hc.maxConsecutiveFailures : 3,
    protocol,
    timeoutSeconds: typeof hc.timeoutSeconds === 'number' ? hc.timeoutSeconds : 20,
    delaySeconds: typeof hc.delaySeconds === 'number' ? hc.delaySeconds : 15,
  };
  if (protocol.includes('HTTP')) {
    out.path = typeof hc.path === 'string' ? hc.path : '/';
    out.ignoreHttp1xx = hc.ignoreHttp1xx === true;
  }
  if (protocol !== 'COMMAND') {
    if (typeof hc.port === 'number') out.port = hc.port;
    else out.portIndex = typeof hc.portIndex === 'number' ? hc.portIndex : 0;
  }
  if (hc.command !== undefined) out.command = hc.command;
  for (const [k, v] of Object.entries(hc)) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * Turns an app definition as POSTed (any accepted shape) into Marathon's 1.5+ canonical shape, without
 * `version`/`versionInfo` (the cluster stamps those). Unknown fields are kept.
 */
export function normalizeAppDefinition(input: unknown): NormalizeResult {
  if (!isObject(input)) return { ok: false, details: [{ path: '/', errors: ['error.expected.jsobject'] }] };
  const details: ValidationError[] = [];
  const src = clone(input);
  if (typeof src.id !== 'string' || src.id.trim() === '') {
    details.push({ path: '/id', errors: ['error.path.missing'] });
    return { ok: false, details };
  }
  const id = canonicalAppId(src.id);
  const idError = appIdError(id);
  if (idError) details.push({ path: '/id', errors: [idError] });
  const instances = src.instances === undefined ? 1 : src.instances;
  if (typeof instances !== 'number' || !Number.isInteger(instances) || instances < 0) {
    details.push({ path: '/instances', errors: ['error.min: got ' + String(instances) + ', expected 0 or more'] });
  }
  for (const key of ['cpus', 'mem', 'disk', 'gpus']) {
    if (src[key] !== undefined && (typeof src[key] !== 'number' || (src[key] as number) < 0)) {
      details.push({ path: `/${key}`, errors: ['error.expected.jsnumber'] });
    }
  }

  // Networking: legacy ipAddress and container.docker.network map onto `networks`.
  let container = isObject(src.container) ? src.container : undefined;
  const docker = container && isObject(container.docker) ? container.docker : undefined;
  let networks: Json[] | undefined = Array.isArray(src.networks) ? (src.networks as Json[]).map((n) => (isObject(n) ? n : {})) : undefined;
  let portMappingsIn: unknown[] | undefined = container && Array.isArray(container.portMappings) ? container.portMappings : undefined;
  if (docker) {
    const legacyNetwork = typeof docker.network === 'string' ? docker.network.toUpperCase() : undefined;
    if (!networks && legacyNetwork === 'BRIDGE') networks = [{ mode: 'container/bridge' }];
    if (!networks && legacyNetwork === 'HOST') networks = [{ mode: 'host' }];
    if (!networks && legacyNetwork === 'USER') {
      const name = isObject(src.ipAddress) && typeof src.ipAddress.networkName === 'string' ? src.ipAddress.networkName : undefined;
      networks = [name ? { mode: 'container', name } : { mode: 'container' }];
    }
    if (!portMappingsIn && Array.isArray(docker.portMappings)) portMappingsIn = docker.portMappings;
    delete docker.network;
    delete docker.portMappings;
  }
  if (isObject(src.ipAddress)) {
    if (!networks) {
      const name = typeof src.ipAddress.networkName === 'string' ? src.ipAddress.networkName : undefined;
      networks = [name ? { mode: 'container', name } : { mode: 'container' }];
    }
    const discoveryPorts = isObject(src.ipAddress.discovery) && Array.isArray(src.ipAddress.discovery.ports) ? src.ipAddress.discovery.ports : [];
    if (!portMappingsIn && discoveryPorts.length > 0) {
      portMappingsIn = discoveryPorts.map((p) => {
        const port = isObject(p) ? p : {};
        return { containerPort: port.number, name: port.name, protocol: port.protocol, labels: port.labels };
      });
    }
  }
  networks = networks && networks.length > 0 ? networks : [{ mode: 'host' }];
  const mode = networks[0].mode;
  if (mode !== 'host' && mode !== 'container/bridge' && mode !== 'container') {
    details.push({ path: '/networks(0)/mode', errors: ['error.unknown.enum.literal'] });
  }
  const netMode = (mode === 'container/bridge' || mode === 'container' ? mode : 'host') as NetworkMode;
  networks = networks.map((n) => {
    const out: Json = { mode: n.mode ?? 'host' };
    if (typeof n.name === 'string') out.name = n.name;
    if (n.mode === 'container') out.labels = normalizeLabels(n.labels);
    return out;
  });

  if (container || netMode !== 'host') {
    container = container ?? {};
    const out: Json = { type: typeof container.type === 'string' ? container.type : docker ? 'DOCKER' : 'MESOS' };
    if (docker) {
      out.docker = { forcePullImage: false, image: '', parameters: [], privileged: false, ...docker };
    }
    out.volumes = Array.isArray(container.volumes) ? container.volumes : [];
    if (netMode !== 'host' || portMappingsIn) {
      out.portMappings = (portMappingsIn ?? []).map((pm) => normalizePortMapping(pm, netMode));
    }
    for (const [k, v] of Object.entries(container)) if (!(k in out) && k !== 'portMappings') out[k] = v;
    container = out;
  }

  let portDefinitions: Json[] | undefined;
  if (netMode === 'host') {
    if (Array.isArray(src.portDefinitions)) portDefinitions = src.portDefinitions.map(normalizePortDefinition);
    else if (Array.isArray(src.ports)) portDefinitions = (src.ports as unknown[]).map((p) => normalizePortDefinition({ port: p }));
    else portDefinitions = [{ port: 0, protocol: 'tcp', name: 'default', labels: {} }];
    if (container && Array.isArray(container.portMappings) && container.portMappings.length === 0) delete container.portMappings;
  }

  const def: Json = {
    id,
    backoffFactor: 1.15,
    backoffSeconds: 1,
    constraints: [],
    cpus: 1,
    dependencies: [],
    disk: 0,
    env: {},
    executor: '',
    fetch: [],
    gpus: 0,
    healthChecks: [],
    instances: 1,
    labels: {},
    maxLaunchDelaySeconds: 3600,
    mem: 128,
    readinessChecks: [],
    requirePorts: false,
    secrets: {},
    upgradeStrategy: { maximumOverCapacity: 1, minimumHealthCapacity: 1 },
    killSelection: 'YOUNGEST_FIRST',
    unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
  };
  const legacyOrComputed = new Set(['id', 'ports', 'ipAddress', 'uris', 'container', 'networks', 'portDefinitions', 'version', 'versionInfo', 'tasks', 'deployments', 'tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'lastTaskFailure', 'readinessCheckResults', 'taskStats']);
  for (const [k, v] of Object.entries(src)) if (!legacyOrComputed.has(k) && v !== null && v !== undefined) def[k] = v;
  if (Array.isArray(src.uris) && (!Array.isArray(src.fetch) || src.fetch.length === 0)) {
    def.fetch = (src.uris as unknown[]).map((uri) => ({ uri, extract: true, executable: false, cache: false }));
  }
  def.labels = normalizeLabels(def.labels);
  def.healthChecks = Array.isArray(def.healthChecks) ? def.healthChecks.map(normalizeHealthCheck) : [];
  if (container) def.container = container;
  def.networks = networks;
  if (portDefinitions) def.portDefinitions = portDefinitions;
  if (src.cmd === null) delete def.cmd;
  if (details.length > 0) return { ok: false, details };
  return { ok: true, def };
}

export function networkModeOf(def: Json): NetworkMode {
  const networks = Array.isArray(def.networks) ? def.networks : [];
  const mode = isObject(networks[0]) ? networks[0].mode : 'host';
  return mode === 'container/bridge' || mode === 'container' ? mode : 'host';
}

export function networkNameOf(def: Json): string | undefined {
  const networks = Array.isArray(def.networks) ? def.networks : [];
  return isObject(networks[0]) && typeof networks[0].name === 'string' ? networks[0].name : undefined;
}

/** The app's ports in order, as host/container/service ports (service ports as currently in `def`). */
export function portSpecsOf(def: Json): PortSpec[] {
  const mode = networkModeOf(def);
  if (mode === 'host') {
    const defs = Array.isArray(def.portDefinitions) ? (def.portDefinitions as Json[]) : [];
    return defs.map((pd, index) => ({
      index,
      servicePort: pd.port as number,
      hostPort: def.requirePorts === true ? (pd.port as number) : 0,
      name: pd.name as string | undefined,
      protocol: pd.protocol as string,
      labels: pd.labels as Record<string, string>,
    }));
  }
  const container = isObject(def.container) ? def.container : {};
  const mappings = Array.isArray(container.portMappings) ? (container.portMappings as Json[]) : [];
  return mappings.map((pm, index) => ({
    index,
    servicePort: pm.servicePort as number,
    hostPort: typeof pm.hostPort === 'number' ? pm.hostPort : undefined,
    containerPort: pm.containerPort as number,
    name: pm.name as string | undefined,
    protocol: pm.protocol as string,
    labels: pm.labels as Record<string, string>,
  }));
}

/** Writes service ports back into the definition (portDefinitions[].port or portMappings[].servicePort). */
export function setServicePorts(def: Json, servicePorts: number[]): void {
  if (networkModeOf(def) === 'host') {
    const defs = (def.portDefinitions as Json[] | undefined) ?? [];
    defs.forEach((pd, i) => (pd.port = servicePorts[i]));
  } else {
    const container = isObject(def.container) ? def.container : {};
    const mappings = (container.portMappings as Json[] | undefined) ?? [];
    mappings.forEach((pm, i) => (pm.servicePort = servicePorts[i]));
  }
}

export function healthChecksOf(def: Json): HealthCheckSpec[] {
  const checks = Array.isArray(def.healthChecks) ? (def.healthChecks as Json[]) : [];
  return checks.map((hc) => ({
    protocol: String(hc.protocol ?? 'HTTP'),
    path: typeof hc.path === 'string' ? hc.path : '/',
    portIndex: typeof hc.portIndex === 'number' ? hc.portIndex : undefined,
    port: typeof hc.port === 'number' ? hc.port : undefined,
    command: isObject(hc.command) && typeof hc.command.value === 'string' ? hc.command.value : typeof hc.command === 'string' ? hc.command : undefined,
    gracePeriodSeconds: Number(hc.gracePeriodSeconds ?? 300),
    intervalSeconds: Number(hc.intervalSeconds ?? 60),
    timeoutSeconds: Number(hc.timeoutSeconds ?? 20),
    maxConsecutiveFailures: Number(hc.maxConsecutiveFailures ?? 3),
    delaySeconds: Number(hc.delaySeconds ?? 15),
    raw: hc,
  }));
}

/** True when two definitions differ in anything but `instances` (a change that needs new tasks). */
export function configChanged(a: Json, b: Json): boolean {
  const strip = (d: Json) => {
    const { instances: _i, version: _v, versionInfo: _vi, ...rest } = d;
    return JSON.stringify(rest);
  };
  return strip(a) !== strip(b);
}
