// Shapes of what Marathon sends (raw) and of what baton keeps (normalised).
// Raw types name only the fields baton reads; every payload may carry more, which is kept and ignored.

export interface RawIpAddress {
  ipAddress: string;
  protocol?: string;
}

export interface RawHealthCheckResult {
  alive?: boolean;
  consecutiveFailures?: number;
  firstSuccess?: string | null;
  lastFailure?: string | null;
  lastSuccess?: string | null;
  lastFailureCause?: string | null;
  instanceId?: string;
  taskId?: string;
}

export interface RawTask {
  id: string;
  appId?: string;
  host?: string;
  slaveId?: string;
  state?: string;
  ports?: number[];
  servicePorts?: number[];
  ipAddresses?: RawIpAddress[] | null;
  stagedAt?: string;
  startedAt?: string;
  version?: string;
  healthCheckResults?: RawHealthCheckResult[];
  [key: string]: unknown;
}

export interface RawPortDefinition {
  port?: number;
  protocol?: string;
  name?: string;
  labels?: Record<string, string>;
}

export interface RawPortMapping {
  containerPort?: number;
  hostPort?: number;
  servicePort?: number;
  protocol?: string;
  name?: string;
  labels?: Record<string, string>;
  networkNames?: string[];
}

export interface RawHealthCheck {
  protocol?: string;
  path?: string;
  portIndex?: number;
  port?: number;
  gracePeriodSeconds?: number;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  maxConsecutiveFailures?: number;
  command?: { value?: string };
  [key: string]: unknown;
}

export interface RawApp {
  id: string;
  cmd?: string | null;
  env?: Record<string, unknown>;
  instances?: number;
  labels?: Record<string, string>;
  version?: string;
  /** Legacy (≤1.4) service ports. */
  ports?: number[];
  portDefinitions?: RawPortDefinition[];
  requirePorts?: boolean;
  networks?: { mode?: string; name?: string; labels?: Record<string, string> }[];
  /** Legacy (≤1.4) IP-per-task. */
  ipAddress?: {
    networkName?: string;
    discovery?: { ports?: { number?: number; name?: string; protocol?: string; labels?: Record<string, string> }[] };
  } | null;
  container?: {
    type?: string;
    docker?: { image?: string; network?: string; portMappings?: RawPortMapping[] | null; [key: string]: unknown } | null;
    portMappings?: RawPortMapping[] | null;
    [key: string]: unknown;
  } | null;
  healthChecks?: RawHealthCheck[];
  tasks?: RawTask[];
  tasksStaged?: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  deployments?: { id: string }[];
  [key: string]: unknown;
}

/** How an app's tasks are networked, in Marathon 1.5+ terms (legacy shapes are mapped onto these). */
export type NetworkMode = 'host' | 'container/bridge' | 'container';

/** One port of an app, index n = the `n` of `HAPROXY_{n}_*` labels and of `PORT{n}`. */
export interface AppPort {
  index: number;
  /** Service port (0 or missing when Marathon assigned none). */
  servicePort: number;
  /** Container port for bridge / container networks, else undefined. */
  containerPort?: number;
  /** Requested host port (0 = dynamic) for host and bridge networks, else undefined. */
  hostPort?: number;
  name?: string;
  /** 'tcp', 'udp' or 'udp,tcp' as Marathon writes it. */
  protocol: string;
  labels: Record<string, string>;
}

export interface AppHealthCheck {
  protocol: string;
  path?: string;
  portIndex?: number;
  port?: number;
  gracePeriodSeconds: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
}

export interface App {
  /** Absolute app id, e.g. `/prod/db/mysql`. */
  id: string;
  version?: string;
  cmd?: string;
  instances: number;
  labels: Record<string, string>;
  /** Plain string env values only (secret references are left out). */
  env: Record<string, string>;
  networkMode: NetworkMode;
  /** Network name for `container` mode (e.g. `dcos`). */
  networkName?: string;
  /** True for container networks that give each task its own IP (IP-per-task). */
  ipPerTask: boolean;
  ports: AppPort[];
  healthChecks: AppHealthCheck[];
  requirePorts: boolean;
}

export type TaskHealth = 'healthy' | 'unhealthy' | 'unknown';

export interface Task {
  id: string;
  appId: string;
  /** Agent hostname (or IP) the task runs on. */
  host: string;
  slaveId: string;
  /** Raw Mesos state, e.g. `TASK_RUNNING`. */
  state: string;
  /** Host ports. */
  ports: number[];
  servicePorts: number[];
  ipAddresses: { ipAddress: string; protocol: 'IPv4' | 'IPv6' }[];
  stagedAt?: string;
  startedAt?: string;
  version?: string;
  /**
   * `healthy` when any health check result is alive (marathon-lb's rule), `unhealthy` when there are
   * results and none is alive, `unknown` when Marathon reported no result (yet).
   */
  health: TaskHealth;
}

/** What one applied change touched. Servers patch the views of exactly these apps. */
export interface StateChange {
  /** State version after the change; strictly increasing. */
  version: number;
  /** App ids whose app definition or tasks changed (added, updated or removed). */
  appIds: string[];
  /** True for a full resync: servers may rebuild, but appIds still lists every app that differs. */
  full: boolean;
  /** Why: the event type, `resync`, `refetch` or `leader`. */
  reason: string;
}

/** A Marathon event as received on `/v2/events`: `eventType` plus the event's own fields. */
export interface MarathonEvent {
  eventType: string;
  timestamp?: string;
  [key: string]: unknown;
}
