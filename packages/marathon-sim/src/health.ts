// Marathon-style health checks (HTTP, HTTPS, TCP, COMMAND; MESOS_* variants alike) against exec'd tasks.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import type { Cluster, SimApp, SimTask } from './cluster.js';
import type { HealthCheckSpec } from './normalize.js';
import { portValues, taskEnvironment } from './env.js';

export type ProbeResult = { ok: true } | { ok: false; cause: string };

export function probeHttp(secure: boolean, host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = secure ? httpsRequest : httpRequest;
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      // Marathon: 2xx and 3xx are healthy.
      resolve(status >= 200 && status < 400 ? { ok: true } : { ok: false, cause: `HTTP ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, cause: err.message }));
    req.end();
  });
}

export function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, cause: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, cause: err.message });
    });
  });
}

export function probeCommand(command: string, env: Record<string, string>, cwd: string | undefined, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, cwd, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); resolve({ ok: false, cause: err.message }); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? { ok: true } : { ok: false, cause: signal ? `killed by ${signal}` : `exit status ${code}` });
    });
  });
}

/** Runs every health check of one task until stopped, reporting results to the cluster. */
export class TaskHealthChecks {
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAtMs = Date.now();

  constructor(private readonly cluster: Cluster, private readonly app: SimApp, private readonly task: SimTask, private readonly cwd?: string) {}

  start(): void {
    this.app.healthChecks.forEach((check, index) => this.schedule(check, index, 0));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(check: HealthCheckSpec, index: number, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.runOnce(check, index).then(() => this.schedule(check, index, Math.max(10, check.intervalSeconds * 1000)));
    }, delayMs);
    this.timers.add(timer);
  }

  private probe(check: HealthCheckSpec): Promise<ProbeResult> {
    const timeoutMs = Math.max(10, check.timeoutSeconds * 1000);
    const protocol = check.protocol.replace(/^MESOS_/, '');
    if (protocol === 'COMMAND') {
      if (!check.command) return Promise.resolve({ ok: false, cause: 'COMMAND health check without command' });
      return probeCommand(check.command, taskEnvironment(this.app, this.task), this.cwd, timeoutMs);
    }
    const port = check.port ?? portValues(this.app, this.task)[check.portIndex ?? 0];
    if (!port) return Promise.resolve({ ok: false, cause: `no port at index ${check.portIndex ?? 0}` });
    if (protocol === 'TCP') return probeTcp(this.task.host, port, timeoutMs);
    return probeHttp(protocol === 'HTTPS', this.task.host, port, check.path, timeoutMs);
  }

  private async runOnce(check: HealthCheckSpec, index: number): Promise<void> {
    const result = await this.probe(check);
    if (this.stopped || this.cluster.getTask(this.task.id) !== this.task) return;
    if (result.ok) {
      this.cluster.setHealth(this.task.id, true, { checkIndex: index });
      return;
    }
    const previous = this.task.health[index];
    const inGrace = Date.now() - this.startedAtMs < check.gracePeriodSeconds * 1000 && !previous?.firstSuccess;
    if (inGrace) return; // Marathon ignores failures during the grace period until the first success.
    this.cluster.setHealth(this.task.id, false, { checkIndex: index, cause: result.cause });
    this.cluster.emitFailedHealthCheck(this.task, index);
    const failures = this.task.health[index]?.consecutiveFailures ?? 0;
    if (check.maxConsecutiveFailures > 0 && failures >= check.maxConsecutiveFailures) {
      this.stop();
      this.cluster.killUnhealthy(this.task.id, `${check.protocol} health check failed ${failures} times: ${result.cause}`);
    }
  }
}
