// The simulated cluster's data: agents, apps, tasks, deployments, and what the cluster's API takes and
// returns (cluster.ts holds the behaviour).
import type { MarathonEvent } from '@baton/marathon';
import type * as ev from './events.js';
import type { IdFormat } from './ids.js';
import type { HealthCheckSpec, Json, NetworkMode, PortSpec } from './normalize.js';

export interface Agent {
  id: string;
  hostname: string;
  /** Ports in use on this agent. */
  usedPorts: Set<number>;
  nextPort: number;
}

export interface HealthResult {
  alive: boolean;
  consecutiveFailures: number;
  firstSuccess: string | null;
  lastFailure: string | null;
  lastSuccess: string | null;
  lastFailureCause: string | null;
}

export interface SimTask {
  id: string;
  instanceId: string;
  uuid: string;
  incarnation: number;
  appId: string;
  agent: Agent;
  host: string;
  state: string;
  message: string;
  ports: number[];
  servicePorts: number[];
  ipAddresses: ev.IpAddress[];
  stagedAt: string;
  startedAt?: string;
  /** App version at launch (shown as `version`). */
  version: string;
  /** `versionInfo.lastConfigChangeAt` at launch; tasks of an older config are replaced. */
  configVersion: string;
  /** One result per health check, null until that check reported. */
  health: (HealthResult | null)[];
  /** Mesos status history (state, epoch seconds) for the master state view. */
  statuses: { state: string; timestamp: number }[];
}

export interface Deployment {
  id: string;
  version: string;
  appId: string;
  plan: ev.Plan;
  /** Index of the step that completes when the app converges. */
  finalStep: number;
}

export interface SimApp {
  id: string;
  /** Canonical definition (no version, versionInfo, counts, tasks). */
  def: Json;
  version: string;
  lastConfigChangeAt: string;
  lastScalingAt: string;
  mode: NetworkMode;
  ports: PortSpec[];
  healthChecks: HealthCheckSpec[];
  tasks: Map<string, SimTask>;
  /** Launches asked of the shell and not yet staged. */
  pending: number;
  /** Instances to relaunch under their old id (next incarnation). */
  relaunch: { uuid: string; incarnation: number }[];
  failures: number;
  lastTaskFailure?: Json;
  deployment?: Deployment;
  /** Bumped on every change of the app or its tasks (cache key for rendering). */
  rev: number;
}

export interface LaunchRequest {
  uuid: string;
  incarnation: number;
  /** Backoff before the launch, for relaunches after a failure. */
  delayMs: number;
}

export interface Placement {
  agent: Agent;
  host: string;
  ports: number[];
  ipAddresses: ev.IpAddress[];
}

export interface ClusterHooks {
  /** An instance needs a task: place it (now or later) and call `stageTask`, or `launchFailed`. */
  launch(app: SimApp, request: LaunchRequest): void;
  /** A task was killed or replaced by the cluster: stop whatever runs it. */
  stop(task: SimTask): void;
}

export interface ClusterOptions {
  idFormat?: IdFormat;
  agents?: number;
  clock?: () => number;
  emit?: (event: MarathonEvent) => void;
  hooks?: ClusterHooks;
  servicePortRange?: [number, number];
  hostPortRange?: [number, number];
  frameworkId?: string;
}

export type ApiError = { status: number; body: Json };
export type Result<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export interface DeploymentResult {
  deploymentId: string;
  version: string;
}

export interface ClientContext {
  clientIp: string;
  uri: string;
}
