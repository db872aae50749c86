// Runs each task's `cmd` as a real local process (`/bin/sh -c cmd`) with Marathon's task environment,
// free host ports on the task's loopback host, and Marathon-style health checks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@baton/marathon';
import type { Cluster, LaunchRequest, SimApp, SimTask } from './cluster.js';
import { hostOverride, taskEnvironment } from './env.js';
import { TaskHealthChecks } from './health.js';

/** Asks the OS for a free TCP port on `host` (bind to 0, read, close). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Running {
  task: SimTask;
  child?: ChildProcess;
  checks?: TaskHealthChecks;
  sandbox: string;
  stopping: boolean;
  exited: Promise<void>;
}

export interface ProcessRunnerOptions {
  cluster: Cluster;
  logger: Logger;
  defaultHost: string;
  startDelayMs: number;
  /** Grace between SIGTERM and SIGKILL when a task is killed. */
  killGraceMs?: number;
  keepSandboxes?: boolean;
}

export class ProcessRunner {
  private readonly running = new Map<string, Running>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly baseDir: string;

  constructor(private readonly options: ProcessRunnerOptions) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'baton-sim-'));
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
  }

  launch(app: SimApp, request: LaunchRequest): void {
    this.later(request.delayMs, () => void this.place(app.id, request));
  }

  private async place(appId: string, request: LaunchRequest): Promise<void> {
    const { cluster, logger } = this.options;
    const app = cluster.getApp(appId);
    if (!app) return;
    const host = hostOverride(app) ?? this.options.defaultHost;
    let ports: number[];
    try {
      ports = [];
      for (const spec of app.ports) {
        if (spec.hostPort === undefined) continue;
        ports.push(spec.hostPort > 0 ? spec.hostPort : await freePort(host));
      }
    } catch (err) {
      logger.warn({ app: appId, host, err: (err as Error).message }, 'cannot pick host ports; will retry');
      cluster.launchFailed(appId);
      this.later(1000, () => cluster.reconcileApp(appId));
      return;
    }
    if (this.closed) return;
    const current = cluster.getApp(appId);
    if (!current) return;
    const agent = cluster.agentForHost(host);
    for (const port of ports) agent.usedPorts.add(port);
    const task = cluster.stageTask(appId, request, { agent, host, ports, ipAddresses: [{ ipAddress: host, protocol: 'IPv4' }] });
    if (!task) return;
    this.later(this.options.startDelayMs, () => this.spawnTask(current, task));
  }

  private spawnTask(app: SimApp, task: SimTask): void {
    const { cluster, logger } = this.options;
    if (cluster.getTask(task.id) !== task) return; // killed while staging
    const sandbox = mkdtempSync(join(this.baseDir, `${task.id}-`));
    const env = { ...process.env, ...taskEnvironment(app, task), MESOS_SANDBOX: sandbox };
    const cmd = typeof app.def.cmd === 'string' && app.def.cmd !== '' ? app.def.cmd : 'sleep 2147483647';
    const out = openSync(join(sandbox, 'stdout'), 'a');
    const err = openSync(join(sandbox, 'stderr'), 'a');
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', cmd], { cwd: sandbox, env, stdio: ['ignore', out, err], detached: true });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    let resolveExit!: () => void;
    const entry: Running = { task, child, sandbox, stopping: false, exited: new Promise((r) => (resolveExit = r)) };
    this.running.set(task.id, entry);
    child.once('spawn', () => {
      logger.debug({ task: task.id, pid: child.pid, sandbox }, 'task process started');
      if (cluster.getTask(task.id) !== task) return;
      cluster.taskStatus(task.id, 'TASK_RUNNING');
      if (app.healthChecks.length > 0 && cluster.getTask(task.id) === task) {
        entry.checks = new TaskHealthChecks(cluster, app, task, sandbox);
        entry.checks.start();
      }
    });
    child.once('error', (error) => {
      logger.warn({ task: task.id, err: error.message }, 'task process failed to start');
    });
    child.once('close', (code, signal) => {
      entry.checks?.stop();
      // As Mesos destroys a task's container when the task ends: nothing the command started outlives it.
      this.signal(entry, 'SIGKILL');
      this.running.delete(task.id);
      resolveExit();
      if (!this.options.keepSandboxes) rmSync(sandbox, { recursive: true, force: true });
      if (entry.stopping || this.closed || cluster.getTask(task.id) !== task) return;
      const message = signal ? `Command terminated with signal ${signal}` : `Command exited with status ${code}`;
      logger.info({ task: task.id, code, signal }, 'task process exited');
      cluster.taskStatus(task.id, code === 0 ? 'TASK_FINISHED' : 'TASK_FAILED', message);
    });
  }

  /** The cluster killed the task: SIGTERM its process group, SIGKILL after a grace period. */
  stop(task: SimTask): void {
    const entry = this.running.get(task.id);
    if (!entry) return;
    entry.stopping = true;
    entry.checks?.stop();
    this.signal(entry, 'SIGTERM');
    const grace = this.options.killGraceMs ?? 3000;
    const timer = setTimeout(() => this.signal(entry, 'SIGKILL'), grace);
    timer.unref();
    void entry.exited.then(() => clearTimeout(timer));
  }

  private signal(entry: Running, signal: NodeJS.Signals): void {
    const pid = entry.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try { entry.child?.kill(signal); } catch { /* already gone */ }
    }
  }

  /** PIDs of running task processes, by task id. */
  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, entry] of this.running) if (entry.child?.pid) out.set(id, entry.child.pid);
    return out;
  }

  /** Kills every process and waits for them to exit. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const entries = [...this.running.values()];
    for (const entry of entries) {
      entry.stopping = true;
      entry.checks?.stop();
      this.signal(entry, 'SIGTERM');
    }
    const killer = setTimeout(() => entries.forEach((e) => this.signal(e, 'SIGKILL')), this.options.killGraceMs ?? 3000);
    await Promise.all(entries.map((e) => e.exited));
    clearTimeout(killer);
    if (!this.options.keepSandboxes) rmSync(this.baseDir, { recursive: true, force: true });
  }
}
