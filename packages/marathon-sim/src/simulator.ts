// MarathonSimulator: the cluster core plus its shell — HTTP faces, event streams, virtual or real tasks,
// leader switching, faults and the control API.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MarathonEvent } from '@baton/marathon';
import { silentLogger, type Logger } from '@baton/marathon';
import { Cluster, type ApiError, type DeploymentResult, type LaunchRequest, type SimApp, type SimTask } from './cluster.js';
import { DcosLoginEmulator, type DcosLoginOptions } from './dcos-login.js';
import { ProcessRunner } from './exec.js';
import { handleRequest } from './http.js';
import { SimulatorError, type AuthOptions, type Fault, type SimulatorApi, type SimulatorOptions } from './simulator-api.js';
import { newUuid, type IdFormat } from './ids.js';
import { mesosState, type ExtraFramework } from './mesos-state.js';
import type { Json } from './normalize.js';
import { AppJsonCache } from './render.js';
import { EventStreams } from './streams.js';

interface Face {
  index: number;
  server: Server;
  url: string;
  hostPort: string;
}

const EXEC_HOST = '127.0.0.1';

export { SimulatorError, type AuthOptions, type Fault, type SimulatorOptions, type VirtualHealth } from './simulator-api.js';

export class MarathonSimulator implements SimulatorApi {
  readonly cluster: Cluster;
  readonly streams: EventStreams;
  readonly logger: Logger;
  readonly options: Required<Omit<SimulatorOptions, 'auth' | 'logger' | 'leader' | 'dcosLogin'>> & { auth?: AuthOptions };
  readonly dcosLogin?: DcosLoginEmulator;
  readonly jsonCache = new AppJsonCache();
  readonly masterId = newUuid();
  readonly startTime = Date.now() / 1000;
  private readonly faces: Face[] = [];
  private leaderIndex: number | null;
  private fault: Fault = {};
  private readonly runner?: ProcessRunner;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly taskTimers = new Map<string, NodeJS.Timeout>();
  private readonly extraFrameworks: ExtraFramework[] = [];
  private started = false;
  private stopped = false;

  constructor(options: SimulatorOptions = {}) {
    this.logger = options.logger ?? silentLogger();
    this.options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      faces: Math.max(1, options.faces ?? 1),
      exec: options.exec ?? false,
      auth: options.auth,
      heartbeatMs: options.heartbeatMs ?? 10_000,
      taskStartDelayMs: options.taskStartDelayMs ?? 20,
      virtualHealth: options.virtualHealth ?? 'healthy',
      idFormat: options.idFormat ?? '1.8',
      agents: options.agents ?? 3,
      maxOutstandingMessages: options.maxOutstandingMessages ?? 1024,
      killGraceMs: options.killGraceMs ?? 3000,
      shuffleEvents: options.shuffleEvents ?? false,
    };
    this.leaderIndex = options.leader === undefined ? 0 : options.leader;
    if (options.dcosLogin) this.dcosLogin = new DcosLoginEmulator(options.dcosLogin);
    this.streams = new EventStreams({
      heartbeatMs: this.options.heartbeatMs,
      maxOutstanding: this.options.maxOutstandingMessages,
      shuffle: this.options.shuffleEvents,
      logger: this.logger,
      now: () => new Date().toISOString(),
    });
    this.cluster = new Cluster({ idFormat: this.options.idFormat, agents: this.options.agents, emit: (e) => this.streams.publish(e) });
    if (this.options.exec) {
      this.runner = new ProcessRunner({
        cluster: this.cluster, logger: this.logger, defaultHost: EXEC_HOST, startDelayMs: this.options.taskStartDelayMs, killGraceMs: this.options.killGraceMs,
      });
      const runner = this.runner;
      this.cluster.setHooks({ launch: (app, req) => runner.launch(app, req), stop: (task) => runner.stop(task) });
    } else {
      this.cluster.setHooks({ launch: (app, req) => this.launchVirtual(app, req), stop: (task) => this.stopVirtual(task) });
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (let i = 0; i < this.options.faces; i++) {
      const server = createServer((req, res) => handleRequest(this, i, req, res));
      server.keepAliveTimeout = 5000;
      const port = this.options.port === 0 ? 0 : this.options.port + i;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const hostPart = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
      const hostPort = `${hostPart}:${address.port}`;
      this.faces.push({ index: i, server, url: `http://${hostPort}`, hostPort });
    }
    this.logger.info({ urls: this.urls, leader: this.leaderIndex }, 'simulator listening');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const t of this.taskTimers.values()) clearTimeout(t);
    this.taskTimers.clear();
    this.streams.close();
    await this.runner?.close();
    await Promise.all(
      this.faces.map(
        (face) =>
          new Promise<void>((resolve) => {
            face.server.close(() => resolve());
            face.server.closeAllConnections();
          }),
      ),
    );
  }

  /**
   * Takes face `index` off the network, as when that Marathon process dies: its listener closes and
   * every connection to it (event streams included) is cut. `startFace` brings it back on the same port.
   */
  async stopFace(index: number): Promise<void> {
    const face = this.faces[index];
    if (!face) throw new SimulatorError(422, `no face ${index}`);
    if (!face.server.listening) return;
    await new Promise<void>((resolve) => {
      face.server.close(() => resolve());
      face.server.closeAllConnections();
    });
  }

  /** Starts a face stopped by `stopFace` again, on the same address and port. */
  async startFace(index: number): Promise<void> {
    const face = this.faces[index];
    if (!face) throw new SimulatorError(422, `no face ${index}`);
    if (face.server.listening || this.stopped) return;
    const port = Number(new URL(face.url).port);
    const server = createServer((req, res) => handleRequest(this, index, req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    face.server = server;
  }

  /** URL of the leader face (the first face when there is no leader). */
  get url(): string {
    return this.faces[this.leaderIndex ?? 0]?.url ?? '';
  }

  /** URLs of every face, in face order. */
  get urls(): string[] {
    return this.faces.map((f) => f.url);
  }

  get leader(): number | null {
    return this.leaderIndex;
  }

  faceUrl(index: number): string {
    return this.faces[index]?.url ?? '';
  }

  /** `host:port` of the leader, as /v2/leader and X-Marathon-Leader tell it. */
  leaderHostPort(): string | undefined {
    return this.leaderIndex === null ? undefined : this.faces[this.leaderIndex]?.hostPort;
  }

  faceHostPort(index: number): string {
    return this.faces[index]?.hostPort ?? '';
  }

  // ---- apps ------------------------------------------------------------------------------------

  async createApp(def: unknown): Promise<Json> {
    return this.renderOrThrow(this.cluster.createApp(def));
  }

  async updateApp(id: string, patch: unknown, options: { partial?: boolean } = {}): Promise<DeploymentResult> {
    return unwrap(this.cluster.updateApp(canonical(id), patch, options));
  }

  async scaleApp(id: string, instances: number): Promise<DeploymentResult> {
    return unwrap(this.cluster.scaleApp(canonical(id), instances));
  }

  async deleteApp(id: string): Promise<DeploymentResult> {
    return unwrap(this.cluster.deleteApp(canonical(id)));
  }

  /** Bulk-creates apps with running tasks, without deployments, events or timers (benchmarks). */
  loadApps(defs: unknown[]): { loaded: number; errors: { id: unknown; error: ApiError }[] } {
    if (this.options.exec) {
      const errors: { id: unknown; error: ApiError }[] = [];
      let loaded = 0;
      for (const def of defs) {
        const result = this.cluster.createApp(def);
        if (result.ok) loaded++;
        else errors.push({ id: (def as Json | null)?.id, error: result.error });
      }
      return { loaded, errors };
    }
    return this.cluster.loadApps(defs);
  }

  app(id: string): SimApp | undefined {
    return this.cluster.getApp(canonical(id));
  }

  /** Tasks of one app, or of every app. */
  tasks(appId?: string): SimTask[] {
    return this.cluster.tasksOf(appId === undefined ? undefined : canonical(appId));
  }

  killTask(taskId: string, options: { state?: string; replace?: boolean; scale?: boolean } = {}): SimTask {
    return unwrap(this.cluster.killTask(taskId, options));
  }

  setTaskHealth(taskId: string, healthy: boolean): void {
    if (!this.cluster.setHealth(taskId, healthy, { cause: healthy ? undefined : 'Set unhealthy through the simulator control API' })) {
      throw new SimulatorError(404, `Task '${taskId}' does not exist`);
    }
  }

  /** Resolves when the app has `n` (default: its instances) running tasks of its current config. */
  async waitForRunning(appId: string, n?: number, timeoutMs = 15_000): Promise<SimTask[]> {
    const id = canonical(appId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const app = this.cluster.getApp(id);
      if (app) {
        const want = n ?? (app.def.instances as number);
        const running = [...app.tasks.values()].filter((t) => t.state === 'TASK_RUNNING' && t.configVersion === app.lastConfigChangeAt);
        if (running.length >= want && (n !== undefined || app.tasks.size === want)) return running;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n ?? 'all'} running tasks of ${id}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Every event published so far (the last few thousand). */
  get events(): MarathonEvent[] {
    return this.streams.recent;
  }

  /** In-process event subscription. */
  onEvent(listener: (event: MarathonEvent) => void): () => void {
    return this.streams.subscribe(listener);
  }

  /** PIDs of exec'd task processes by task id (empty without exec). */
  processIds(): Map<string, number> {
    return this.runner?.pids() ?? new Map();
  }

  // ---- streams, leader, faults -----------------------------------------------------------------

  stallStreams(): void {
    this.streams.stall();
  }

  resumeStreams(): void {
    this.streams.resume();
  }

  /** Deliver events of one tick in random order (true) or in Marathon's usual order (false). */
  shuffleEvents(shuffle: boolean): void {
    this.streams.setShuffle(shuffle);
  }

  dropStreams(): void {
    this.streams.closeAll();
  }

  /** Makes face `index` the leader (null: no leader). Closes every open event stream. */
  setLeader(index: number | null): void {
    if (index !== null && (!Number.isInteger(index) || index < 0 || index >= this.options.faces)) {
      throw new SimulatorError(422, `face must be null or an integer from 0 to ${this.options.faces - 1}`);
    }
    this.leaderIndex = index;
    this.streams.closeAll();
    this.logger.info({ leader: index }, 'leader switched');
  }

  setFault(fault: Fault): void {
    this.fault = { ...fault };
  }

  get currentFault(): Fault {
    return this.fault;
  }

  // ---- Mesos master state ----------------------------------------------------------------------

  /** Adds a non-Marathon framework to /master/state (e.g. a Kafka framework for resolver tests). */
  addFramework(framework: ExtraFramework): string {
    for (const task of framework.tasks ?? []) if (task.host) this.cluster.agentForHost(task.host);
    const copy = { ...framework, id: framework.id ?? `${this.cluster.agentPrefix}-${String(this.extraFrameworks.length + 1).padStart(4, '0')}` };
    this.extraFrameworks.push(copy);
    return copy.id;
  }

  removeFramework(id: string): boolean {
    const at = this.extraFrameworks.findIndex((f) => f.id === id);
    if (at >= 0) this.extraFrameworks.splice(at, 1);
    return at >= 0;
  }

  masterState(): Json {
    const leaderHostPort = this.leaderHostPort();
    const port = leaderHostPort ? Number(leaderHostPort.slice(leaderHostPort.lastIndexOf(':') + 1)) : 8080;
    return mesosState(this.cluster, {
      host: this.options.host,
      masterPort: 5050,
      marathonPort: port,
      webuiUrl: leaderHostPort ? `http://${leaderHostPort}` : '',
      masterId: this.masterId,
      cluster: 'baton-sim',
      startTime: this.startTime,
      extraFrameworks: this.extraFrameworks,
    });
  }

  // ---- virtual tasks ---------------------------------------------------------------------------

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private launchVirtual(app: SimApp, request: LaunchRequest): void {
    const appId = app.id;
    const place = () => {
      const current = this.cluster.getApp(appId);
      if (!current) return;
      const task = this.cluster.stageTask(appId, request, this.cluster.virtualPlacement(current));
      if (!task) return;
      const timer = this.later(this.options.taskStartDelayMs, () => {
        this.taskTimers.delete(task.id);
        this.runVirtual(task);
      });
      this.taskTimers.set(task.id, timer);
    };
    if (request.delayMs > 0) this.later(request.delayMs, place);
    else place();
  }

  private runVirtual(task: SimTask): void {
    if (this.cluster.getTask(task.id) !== task) return;
    this.cluster.taskStatus(task.id, 'TASK_RUNNING');
    const app = this.cluster.getApp(task.appId);
    if (!app || app.healthChecks.length === 0 || this.cluster.getTask(task.id) !== task) return;
    if (this.options.virtualHealth === 'healthy') this.cluster.setHealth(task.id, true);
    else if (this.options.virtualHealth === 'unhealthy') this.cluster.setHealth(task.id, false, { cause: 'Simulated unhealthy', countFailure: false });
  }

  private stopVirtual(task: SimTask): void {
    const timer = this.taskTimers.get(task.id);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(timer);
      this.taskTimers.delete(task.id);
    }
  }

  private renderOrThrow(result: ReturnType<Cluster['createApp']>): Json {
    const app = unwrap(result);
    return this.cluster.appDefinition(app);
  }
}


function unwrap<T>(result: { ok: true; value: T } | { ok: false; error: ApiError }): T {
  if (result.ok) return result.value;
  throw new SimulatorError(result.error.status, String(result.error.body.message), result.error.body);
}

function canonical(id: string): string {
  return '/' + id.split('/').filter(Boolean).join('/');
}
