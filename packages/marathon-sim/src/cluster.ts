// The simulated cluster: apps, tasks, agents, port allocation, deployments and the events they produce.
// No I/O and no timers: the shell (simulator.ts) places and runs tasks through `ClusterHooks` and
// reports back with `stageTask`, `taskStatus` and `setHealth`.
import type { MarathonEvent } from '@baton/marathon';
import * as ev from './events.js';
import { newUuid, parentGroup, taskIdentity, type IdFormat } from './ids.js';
import {
  configChanged, healthChecksOf, mergeDefinition, networkModeOf, normalizeAppDefinition, portSpecsOf, setServicePorts,
  type Json, type ValidationError,
} from './normalize.js';

import type { Agent, ApiError, ClientContext, ClusterHooks, ClusterOptions, Deployment, DeploymentResult, HealthResult, LaunchRequest, Placement, Result, SimApp, SimTask } from './cluster-model.js';

export type * from './cluster-model.js';

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = (status: number, message: string, details?: ValidationError[]): Result<never> => ({
  ok: false,
  error: { status, body: details ? { message, details } : { message } },
});
export const appNotFound = (id: string): ApiError => ({ status: 404, body: { message: `App '${id}' does not exist` } });

const FAILURE_STATES = new Set(['TASK_FAILED', 'TASK_ERROR', 'TASK_FINISHED', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNKNOWN']);

export class Cluster {
  readonly apps = new Map<string, SimApp>();
  readonly agents: Agent[] = [];
  readonly idFormat: IdFormat;
  readonly frameworkId: string;
  readonly agentPrefix: string;
  /** Task id → task, across apps. */
  readonly taskIndex = new Map<string, SimTask>();
  readonly deployments = new Map<string, Deployment>();
  private readonly clock: () => number;
  private emitFn: (event: MarathonEvent) => void;
  private hooks: ClusterHooks;
  private readonly servicePortRange: [number, number];
  private readonly hostPortRange: [number, number];
  private readonly usedServicePorts = new Set<number>();
  private nextServicePort: number;
  private nextAgent = 0;
  private containerIpCounter = 0;
  private readonly agentsByHost = new Map<string, Agent>();
  private lastVersionMs = 0;

  constructor(options: ClusterOptions = {}) {
    this.idFormat = options.idFormat ?? '1.8';
    this.clock = options.clock ?? Date.now;
    this.emitFn = options.emit ?? (() => {});
    this.hooks = options.hooks ?? { launch: () => {}, stop: () => {} };
    this.servicePortRange = options.servicePortRange ?? [10000, 20000];
    this.hostPortRange = options.hostPortRange ?? [31000, 32000];
    this.nextServicePort = this.servicePortRange[0];
    const prefix = newUuid();
    this.agentPrefix = prefix;
    this.frameworkId = options.frameworkId ?? `${prefix}-0000`;
    const count = Math.max(1, options.agents ?? 3);
    for (let i = 0; i < count; i++) this.addAgent(virtualAgentHost(i));
  }

  setHooks(hooks: ClusterHooks): void {
    this.hooks = hooks;
  }

  setEmitter(emit: (event: MarathonEvent) => void): void {
    this.emitFn = emit;
  }

  now(): string {
    return new Date(this.clock()).toISOString();
  }

  /** A fresh, strictly increasing version timestamp. */
  private newVersion(): string {
    const ms = Math.max(this.clock(), this.lastVersionMs + 1);
    this.lastVersionMs = ms;
    return new Date(ms).toISOString();
  }

  private emit(event: MarathonEvent): void {
    this.emitFn(event);
  }

  // ---- agents and ports ----------------------------------------------------------------------

  addAgent(hostname: string): Agent {
    const agent: Agent = { id: `${this.agentPrefix}-S${this.agents.length}`, hostname, usedPorts: new Set(), nextPort: this.hostPortRange[0] };
    this.agents.push(agent);
    this.agentsByHost.set(hostname, agent);
    return agent;
  }

  /** The agent whose hostname is `host` (created on first use, e.g. for processes on 127.0.0.2). */
  agentForHost(host: string): Agent {
    return this.agentsByHost.get(host) ?? this.addAgent(host);
  }

  private allocateHostPort(agent: Agent): number | undefined {
    const [min, max] = this.hostPortRange;
    const size = max - min + 1;
    for (let i = 0; i < size; i++) {
      const port = agent.nextPort;
      agent.nextPort = port >= max ? min : port + 1;
      if (!agent.usedPorts.has(port)) {
        agent.usedPorts.add(port);
        return port;
      }
    }
    return undefined;
  }

  /** Places a virtual task: next agent round-robin with free host ports (adds agents when all are full). */
  virtualPlacement(app: SimApp): Placement {
    const wanted = app.ports.filter((p) => p.hostPort !== undefined);
    for (let attempt = 0; attempt <= this.agents.length; attempt++) {
      const agent = attempt === this.agents.length ? this.addAgent(virtualAgentHost(this.agents.length)) : this.agents[this.nextAgent++ % this.agents.length];
      if (agent.hostname.startsWith('127.0.0.')) continue; // process hosts are not for virtual tasks
      if (agent.usedPorts.size + wanted.length > this.hostPortRange[1] - this.hostPortRange[0] + 1) continue;
      const fixed = wanted.filter((p) => p.hostPort! > 0).map((p) => p.hostPort!);
      if (fixed.some((port) => agent.usedPorts.has(port))) continue;
      const ports: number[] = [];
      let full = false;
      for (const spec of wanted) {
        if (spec.hostPort! > 0) {
          agent.usedPorts.add(spec.hostPort!);
          ports.push(spec.hostPort!);
        } else {
          const port = this.allocateHostPort(agent);
          if (port === undefined) { full = true; break; }
          ports.push(port);
        }
      }
      if (full) {
        for (const port of ports) agent.usedPorts.delete(port);
        continue;
      }
      return { agent, host: agent.hostname, ports, ipAddresses: this.ipAddressesFor(app, agent.hostname) };
    }
    throw new Error('no agent can host the task'); // unreachable: a fresh agent always fits
  }

  private ipAddressesFor(app: SimApp, host: string): ev.IpAddress[] {
    if (app.mode === 'host') return [{ ipAddress: host, protocol: 'IPv4' }];
    const n = this.containerIpCounter++;
    const tail = `${Math.floor(n / 250) % 256}.${(n % 250) + 2}`;
    const ip = app.mode === 'container/bridge' ? `172.17.${tail}` : `9.0.${tail}`;
    return [{ ipAddress: ip, protocol: 'IPv4' }];
  }

  private assignServicePorts(def: Json, previous?: SimApp): void {
    const specs = portSpecsOf(def);
    const ports = specs.map((spec, i) => {
      if (spec.servicePort && spec.servicePort > 0) return spec.servicePort;
      const old = previous?.ports[i]?.servicePort;
      if (old) return old;
      return this.allocateServicePort();
    });
    for (const p of ports) this.usedServicePorts.add(p);
    setServicePorts(def, ports);
  }

  private allocateServicePort(): number {
    const [min, max] = this.servicePortRange;
    for (let i = 0; i <= max - min; i++) {
      const port = this.nextServicePort;
      this.nextServicePort = port >= max ? min : port + 1;
      if (!this.usedServicePorts.has(port)) return port;
    }
    throw new Error(`service port range ${min}-${max} exhausted`);
  }

  private releaseServicePorts(app: SimApp, keep?: Json): void {
    const kept = new Set(keep ? portSpecsOf(keep).map((p) => p.servicePort) : []);
    for (const p of app.ports) if (!kept.has(p.servicePort)) this.usedServicePorts.delete(p.servicePort);
  }

  // ---- apps ------------------------------------------------------------------------------------

  getApp(id: string): SimApp | undefined {
    return this.apps.get(id);
  }

  private buildApp(def: Json, version: string): SimApp {
    return {
      id: def.id as string,
      def,
      version,
      lastConfigChangeAt: version,
      lastScalingAt: version,
      mode: networkModeOf(def),
      ports: portSpecsOf(def),
      healthChecks: healthChecksOf(def),
      tasks: new Map(),
      pending: 0,
      relaunch: [],
      failures: 0,
      rev: 0,
    };
  }

  /** The app definition as Marathon returns it (no counts or tasks). */
  appDefinition(app: SimApp): Json {
    const { id, ...rest } = app.def;
    return {
      id,
      ...rest,
      version: app.version,
      versionInfo: { lastScalingAt: app.lastScalingAt, lastConfigChangeAt: app.lastConfigChangeAt },
    };
  }

  createApp(input: unknown, ctx: ClientContext = { clientIp: '127.0.0.1', uri: '/v2/apps' }): Result<SimApp> {
    const normalized = normalizeAppDefinition(input);
    if (!normalized.ok) return fail(422, 'Object is not valid', normalized.details);
    const def = normalized.def;
    const id = def.id as string;
    if (this.apps.has(id)) return fail(409, `An app with id [${id}] already exists.`);
    if (this.isGroup(id)) return fail(409, `A group with id [${id}] already exists.`);
    try {
      this.assignServicePorts(def);
    } catch (err) {
      return fail(422, (err as Error).message);
    }
    const version = this.newVersion();
    const app = this.buildApp(def, version);
    this.apps.set(id, app);
    const timestamp = this.now();
    this.emit(ev.groupChangeSuccessEvent({ groupId: parentGroup(id), version, timestamp }));
    this.emit(ev.apiPostEvent({ clientIp: ctx.clientIp, uri: ctx.uri, appDefinition: this.appDefinition(app), timestamp }));
    this.startDeployment(app, [['StartApplication'], ['ScaleApplication']]);
    this.reconcile(app);
    return ok(app);
  }

  private isGroup(id: string): boolean {
    const prefix = id + '/';
    for (const appId of this.apps.keys()) if (appId.startsWith(prefix)) return true;
    return false;
  }

  /**
   * PUT/PATCH: `partial` merges the given fields into the stored definition (Marathon's default for both),
   * otherwise the body replaces it. Creates the app when it does not exist (like PUT does).
   */
  updateApp(id: string, body: unknown, options: { partial?: boolean; ctx?: ClientContext } = {}): Result<DeploymentResult & { created: boolean }> {
    const ctx = options.ctx ?? { clientIp: '127.0.0.1', uri: `/v2/apps${id}` };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return fail(422, 'Object is not valid', [{ path: '/', errors: ['error.expected.jsobject'] }]);
    }
    const app = this.apps.get(id);
    if (!app) {
      const created = this.createApp({ ...(body as Json), id }, ctx);
      if (!created.ok) return created;
      return ok({ deploymentId: created.value.deployment?.id ?? newUuid(), version: created.value.version, created: true });
    }
    const patch = { ...(body as Json) };
    delete patch.id;
    const merged = options.partial === false ? { ...patch, id } : mergeDefinition(this.appDefinition(app), patch);
    delete merged.version;
    delete merged.versionInfo;
    const normalized = normalizeAppDefinition(merged);
    if (!normalized.ok) return fail(422, 'Object is not valid', normalized.details);
    const def = normalized.def;
    this.releaseServicePorts(app, def);
    try {
      this.assignServicePorts(def, app);
    } catch (err) {
      return fail(422, (err as Error).message);
    }
    const version = this.newVersion();
    const changed = configChanged(app.def, def);
    const scaled = app.def.instances !== def.instances;
    app.def = def;
    app.version = version;
    if (changed) {
      app.lastConfigChangeAt = version;
      app.failures = 0;
      app.relaunch = [];
    }
    if (scaled || !changed) app.lastScalingAt = version;
    app.mode = networkModeOf(def);
    app.ports = portSpecsOf(def);
    app.healthChecks = healthChecksOf(def);
    app.rev++;
    const timestamp = this.now();
    this.emit(ev.groupChangeSuccessEvent({ groupId: parentGroup(id), version, timestamp }));
    this.emit(ev.apiPostEvent({ clientIp: ctx.clientIp, uri: ctx.uri, appDefinition: this.appDefinition(app), timestamp }));
    const deployment = this.startDeployment(app, [[changed ? 'RestartApplication' : 'ScaleApplication']]);
    this.reconcile(app);
    return ok({ deploymentId: deployment.id, version, created: false });
  }

  /** `POST /v2/apps/{id}/restart`: a new config version with the same definition, so every task is replaced. */
  restartApp(id: string): Result<DeploymentResult> {
    const app = this.apps.get(id);
    if (!app) return { ok: false, error: appNotFound(id) };
    const version = this.newVersion();
    app.version = version;
    app.lastConfigChangeAt = version;
    app.failures = 0;
    app.relaunch = [];
    app.rev++;
    this.emit(ev.groupChangeSuccessEvent({ groupId: parentGroup(id), version, timestamp: this.now() }));
    const deployment = this.startDeployment(app, [['RestartApplication']]);
    this.reconcile(app);
    return ok({ deploymentId: deployment.id, version });
  }

  scaleApp(id: string, instances: number): Result<DeploymentResult & { created: boolean }> {
    if (!this.apps.has(id)) return { ok: false, error: appNotFound(id) };
    return this.updateApp(id, { instances });
  }

  deleteApp(id: string): Result<DeploymentResult> {
    const app = this.apps.get(id);
    if (!app) return { ok: false, error: appNotFound(id) };
    const version = this.newVersion();
    this.emit(ev.groupChangeSuccessEvent({ groupId: parentGroup(id), version, timestamp: this.now() }));
    const deployment = this.startDeployment(app, [['StopApplication']], version);
    app.def.instances = 0;
    for (const task of [...app.tasks.values()]) this.terminate(app, task, 'TASK_KILLED', 'Killed by the simulator: app deleted', false);
    this.apps.delete(id);
    this.releaseServicePorts(app);
    this.emit(ev.appTerminatedEvent({ appId: id, timestamp: this.now() }));
    this.finishDeployment(app, deployment);
    return ok({ deploymentId: deployment.id, version });
  }

  // ---- bulk load -------------------------------------------------------------------------------

  /**
   * Creates many apps with all their tasks already running (and healthy when they have health checks),
   * without deployments, timers or events. For benchmarks.
   */
  loadApps(defs: unknown[]): { loaded: number; errors: { id: unknown; error: ApiError }[] } {
    const errors: { id: unknown; error: ApiError }[] = [];
    let loaded = 0;
    const version = this.newVersion();
    const now = this.now();
    const nowSeconds = this.clock() / 1000;
    for (const input of defs) {
      const normalized = normalizeAppDefinition(input);
      const rawId = (input as Json | null)?.id;
      if (!normalized.ok) { errors.push({ id: rawId, error: { status: 422, body: { message: 'Object is not valid', details: normalized.details } } }); continue; }
      const def = normalized.def;
      if (this.apps.has(def.id as string)) { errors.push({ id: rawId, error: { status: 409, body: { message: `An app with id [${def.id}] already exists.` } } }); continue; }
      try {
        this.assignServicePorts(def);
      } catch (err) {
        errors.push({ id: rawId, error: { status: 422, body: { message: (err as Error).message } } });
        continue;
      }
      const app = this.buildApp(def, version);
      this.apps.set(app.id, app);
      const instances = def.instances as number;
      for (let i = 0; i < instances; i++) {
        const placement = this.virtualPlacement(app);
        const task = this.makeTask(app, { uuid: newUuid(), incarnation: 1, delayMs: 0 }, placement, 'TASK_RUNNING', now);
        task.startedAt = now;
        task.statuses.push({ state: 'TASK_RUNNING', timestamp: nowSeconds });
        task.health = app.healthChecks.map(() => ({ alive: true, consecutiveFailures: 0, firstSuccess: now, lastFailure: null, lastSuccess: now, lastFailureCause: null }));
      }
      loaded++;
    }
    return { loaded, errors };
  }

  // ---- tasks -----------------------------------------------------------------------------------

  private makeTask(app: SimApp, request: LaunchRequest, placement: Placement, state: string, stagedAt: string): SimTask {
    const { taskId, instanceId } = taskIdentity(app.id, request.uuid, request.incarnation, this.idFormat);
    const task: SimTask = {
      id: taskId,
      instanceId,
      uuid: request.uuid,
      incarnation: request.incarnation,
      appId: app.id,
      agent: placement.agent,
      host: placement.host,
      state,
      message: '',
      ports: placement.ports,
      servicePorts: app.ports.map((p) => p.servicePort),
      ipAddresses: placement.ipAddresses,
      stagedAt,
      version: app.version,
      configVersion: app.lastConfigChangeAt,
      health: app.healthChecks.map(() => null),
      statuses: [{ state: 'TASK_STAGING', timestamp: this.clock() / 1000 }],
    };
    app.tasks.set(task.id, task);
    this.taskIndex.set(task.id, task);
    app.rev++;
    return task;
  }

  /** The shell placed a requested launch: the task appears as TASK_STAGING. */
  stageTask(appId: string, request: LaunchRequest, placement: Placement): SimTask | undefined {
    const app = this.apps.get(appId);
    if (!app) return undefined;
    app.pending = Math.max(0, app.pending - 1);
    const task = this.makeTask(app, request, placement, 'TASK_STAGING', this.now());
    this.emitStatus(app, task);
    return task;
  }

  /** The shell could not place a requested launch (it will be asked again on the next reconcile). */
  launchFailed(appId: string): void {
    const app = this.apps.get(appId);
    if (app) app.pending = Math.max(0, app.pending - 1);
  }

  getTask(taskId: string): SimTask | undefined {
    return this.taskIndex.get(taskId);
  }

  tasksOf(appId?: string): SimTask[] {
    if (appId === undefined) return [...this.taskIndex.values()];
    const app = this.apps.get(appId);
    return app ? [...app.tasks.values()] : [];
  }

  /**
   * A status update from the shell (the task started, or its process ended). Terminal states remove the
   * task and, if the app still wants it, relaunch the instance (with backoff after a failure).
   */
  taskStatus(taskId: string, state: string, message = ''): void {
    const task = this.taskIndex.get(taskId);
    if (!task) return;
    const app = this.apps.get(task.appId);
    if (!app) return;
    if (ev.TERMINAL_STATES.has(state)) {
      this.terminate(app, task, state, message, true);
      this.reconcile(app);
      return;
    }
    if (task.state === state) return;
    task.state = state;
    task.message = message;
    task.statuses.push({ state, timestamp: this.clock() / 1000 });
    if (state === 'TASK_RUNNING' && !task.startedAt) task.startedAt = this.now();
    app.rev++;
    this.emitStatus(app, task);
    this.reconcile(app);
  }

  /**
   * Kills a task as `DELETE /v2/apps/{id}/tasks/{taskId}` or the control API does. With `scale` the app's
   * instances drop by one; otherwise the instance is replaced (unless `replace` is false, which also scales).
   */
  killTask(taskId: string, options: { state?: string; scale?: boolean; replace?: boolean; message?: string } = {}): Result<SimTask> {
    const task = this.taskIndex.get(taskId);
    if (!task) return fail(404, `Task '${taskId}' does not exist`);
    const app = this.apps.get(task.appId)!;
    const state = options.state ?? 'TASK_KILLED';
    if (!ev.TERMINAL_STATES.has(state)) return fail(422, `${state} is not a terminal task state`);
    const scale = options.scale === true || options.replace === false;
    if (scale) {
      const version = this.newVersion();
      app.def.instances = Math.max(0, (app.def.instances as number) - 1);
      app.version = version;
      app.lastScalingAt = version;
    }
    const relaunch = state !== 'TASK_KILLED' && !scale;
    this.terminate(app, task, state, options.message ?? (state === 'TASK_KILLED' ? '' : `Simulated ${state}`), relaunch);
    this.reconcile(app);
    return ok(task);
  }

  /** Health result of one check (default: all checks) of a task; emits health events when `healthy` changes. */
  setHealth(taskId: string, alive: boolean, options: { checkIndex?: number; cause?: string; countFailure?: boolean } = {}): boolean {
    const task = this.taskIndex.get(taskId);
    if (!task) return false;
    const app = this.apps.get(task.appId);
    if (!app) return false;
    const before = this.instanceHealthy(task);
    const now = this.now();
    const indexes = options.checkIndex === undefined ? task.health.map((_, i) => i) : [options.checkIndex];
    if (indexes.length === 0) {
      // An app without health checks still gets a result so tests can flip health of any task.
      task.health.push(null);
      indexes.push(0);
    }
    for (const i of indexes) {
      const prev = task.health[i];
      const result: HealthResult = prev ? { ...prev } : { alive: false, consecutiveFailures: 0, firstSuccess: null, lastFailure: null, lastSuccess: null, lastFailureCause: null };
      if (alive) {
        result.alive = true;
        result.consecutiveFailures = 0;
        result.lastSuccess = now;
        result.firstSuccess ??= now;
      } else {
        result.alive = false;
        result.consecutiveFailures = (options.countFailure ?? true) ? result.consecutiveFailures + 1 : result.consecutiveFailures;
        result.lastFailure = now;
        result.lastFailureCause = options.cause ?? 'Simulated failure';
      }
      task.health[i] = result;
    }
    app.rev++;
    const after = this.instanceHealthy(task);
    if (after !== before && after !== null) {
      this.emit(ev.instanceHealthChangedEvent({ instanceId: task.instanceId, runSpecId: app.id, healthy: after, runSpecVersion: task.version, timestamp: now }));
      this.emit(ev.healthStatusChangedEvent({ appId: app.id, instanceId: task.instanceId, version: task.version, alive: after, timestamp: now }));
      this.reconcile(app);
    }
    return true;
  }

  /** Marathon's instance health: null until every check reported, then whether all are alive. */
  instanceHealthy(task: SimTask): boolean | null {
    if (task.health.length === 0 || task.health.some((h) => h === null)) return null;
    return task.health.every((h) => h!.alive);
  }

  emitFailedHealthCheck(task: SimTask, checkIndex: number): void {
    const app = this.apps.get(task.appId);
    if (!app) return;
    this.emit(ev.failedHealthCheckEvent({ appId: app.id, healthCheck: app.healthChecks[checkIndex]?.raw ?? {}, instanceId: task.instanceId, timestamp: this.now() }));
  }

  /** A health check failed too often: Marathon kills the instance and starts a new one. */
  killUnhealthy(taskId: string, reason: string): void {
    const task = this.taskIndex.get(taskId);
    if (!task) return;
    this.emit(ev.unhealthyInstanceKillEvent({
      appId: task.appId, taskId: task.id, instanceId: task.instanceId, version: task.version, reason, host: task.host,
      slaveId: task.agent.id, timestamp: this.now(),
    }));
    this.killTask(taskId, { state: 'TASK_KILLED', message: reason });
  }

  private terminate(app: SimApp, task: SimTask, state: string, message: string, relaunch: boolean): void {
    task.state = state;
    task.message = message;
    task.statuses.push({ state, timestamp: this.clock() / 1000 });
    app.tasks.delete(task.id);
    this.taskIndex.delete(task.id);
    for (const port of task.ports) task.agent.usedPorts.delete(port);
    app.rev++;
    this.hooks.stop(task);
    this.emitStatus(app, task);
    if (state !== 'TASK_KILLED' && state !== 'TASK_FINISHED') {
      app.lastTaskFailure = {
        appId: app.id, host: task.host, message, state, taskId: task.id, timestamp: this.now(), version: task.version, slaveId: task.agent.id,
      };
    }
    if (relaunch && task.configVersion === app.lastConfigChangeAt) {
      if (FAILURE_STATES.has(state)) app.failures++;
      app.relaunch.push({ uuid: this.idFormat === '1.7' ? newUuid() : task.uuid, incarnation: task.incarnation + 1 });
    }
  }

  private emitStatus(app: SimApp, task: SimTask): void {
    const timestamp = this.now();
    this.emit(ev.statusUpdateEvent({
      slaveId: task.agent.id, taskId: task.id, taskStatus: task.state, message: task.message, appId: app.id, host: task.host,
      ipAddresses: task.ipAddresses, ports: task.ports, version: task.version, timestamp,
    }));
    this.emit(ev.instanceChangedEvent({
      instanceId: task.instanceId, condition: ev.conditionOf(task.state), runSpecId: app.id, agentId: task.agent.id,
      host: task.host, runSpecVersion: task.version, timestamp,
    }));
  }

  // ---- convergence and deployments -------------------------------------------------------------

  private isReady(app: SimApp, task: SimTask): boolean {
    if (task.state !== 'TASK_RUNNING') return false;
    return app.healthChecks.length === 0 || this.instanceHealthy(task) === true;
  }

  /** Re-runs convergence for an app (e.g. after the shell failed to place a task). */
  reconcileApp(appId: string): void {
    const app = this.apps.get(appId);
    if (app) this.reconcile(app);
  }

  /** Brings the app's tasks towards its definition: launch missing, replace old config, scale down. */
  private reconcile(app: SimApp): void {
    if (!this.apps.has(app.id)) return;
    const instances = app.def.instances as number;
    const all = [...app.tasks.values()];
    const current = all.filter((t) => t.configVersion === app.lastConfigChangeAt);
    const old = all.filter((t) => t.configVersion !== app.lastConfigChangeAt);

    // Scale down: youngest first, tasks not yet running before running ones.
    if (current.length > instances) {
      const victims = current
        .slice()
        .sort((a, b) => Number(this.isReady(app, a)) - Number(this.isReady(app, b)) || b.stagedAt.localeCompare(a.stagedAt))
        .slice(0, current.length - instances);
      for (const task of victims) {
        this.terminate(app, task, 'TASK_KILLED', '', false);
        current.splice(current.indexOf(task), 1);
      }
    }
    // Rolling replace: every ready new task retires one old task.
    const ready = current.filter((t) => this.isReady(app, t)).length;
    const oldToKill = Math.max(0, Math.min(old.length, ready + old.length - instances));
    const retire = old
      .slice()
      .sort((a, b) => Number(this.isReady(app, a)) - Number(this.isReady(app, b)) || a.stagedAt.localeCompare(b.stagedAt))
      .slice(0, ready >= instances ? old.length : oldToKill);
    for (const task of retire) this.terminate(app, task, 'TASK_KILLED', '', false);

    const missing = instances - current.length - app.pending;
    for (let i = 0; i < missing; i++) {
      const again = app.relaunch.shift();
      const request: LaunchRequest = again
        ? { ...again, delayMs: this.backoffMs(app) }
        : { uuid: newUuid(), incarnation: 1, delayMs: 0 };
      app.pending++;
      this.hooks.launch(app, request);
      if (!this.apps.has(app.id)) return;
    }
    if (app.deployment && this.converged(app)) this.finishDeployment(app, app.deployment);
  }

  private backoffMs(app: SimApp): number {
    if (app.failures === 0) return 0;
    const base = Number(app.def.backoffSeconds ?? 1);
    const factor = Number(app.def.backoffFactor ?? 1.15);
    const max = Number(app.def.maxLaunchDelaySeconds ?? 3600);
    return Math.min(base * Math.pow(factor, app.failures - 1), max) * 1000;
  }

  private converged(app: SimApp): boolean {
    const instances = app.def.instances as number;
    if (app.pending > 0 || app.tasks.size !== instances) return false;
    for (const task of app.tasks.values()) {
      if (task.configVersion !== app.lastConfigChangeAt || !this.isReady(app, task)) return false;
    }
    return true;
  }

  private startDeployment(app: SimApp, steps: string[][], version = app.version): Deployment {
    if (app.deployment) {
      const superseded = app.deployment;
      this.deployments.delete(superseded.id);
      this.emit(ev.deploymentFailedEvent({ id: superseded.id, plan: superseded.plan, timestamp: this.now(), reason: 'superseded by a newer deployment' }));
    }
    const plan: ev.Plan = { id: newUuid(), steps: steps.map((actions) => ({ actions: actions.map((action) => ({ action, app: app.id })) })), version };
    const deployment: Deployment = { id: plan.id, version, appId: app.id, plan, finalStep: steps.length - 1 };
    app.deployment = deployment;
    this.deployments.set(deployment.id, deployment);
    app.rev++;
    // Every step before the last completes at once (e.g. StartApplication); the last waits for convergence.
    for (let i = 0; i < steps.length; i++) {
      const timestamp = this.now();
      this.emit(ev.deploymentStepEvent('deployment_info', { plan, currentStep: plan.steps[i], timestamp }));
      if (i < deployment.finalStep) this.emit(ev.deploymentStepEvent('deployment_step_success', { plan, currentStep: plan.steps[i], timestamp }));
    }
    return deployment;
  }

  private finishDeployment(app: SimApp, deployment: Deployment): void {
    const timestamp = this.now();
    this.emit(ev.deploymentStepEvent('deployment_step_success', { plan: deployment.plan, currentStep: deployment.plan.steps[deployment.finalStep], timestamp }));
    this.emit(ev.deploymentSuccessEvent({ id: deployment.id, plan: deployment.plan, timestamp }));
    this.deployments.delete(deployment.id);
    if (app.deployment === deployment) app.deployment = undefined;
    app.rev++;
  }
}

/** Hostname of the n-th virtual agent: 127.0.1.1, 127.0.1.2, … 127.0.1.254, 127.0.2.1, … */
export function virtualAgentHost(n: number): string {
  return `127.0.${1 + Math.floor(n / 254)}.${(n % 254) + 1}`;
}
