import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonSimulator } from '../src/index.js';
import { http, openEvents, waitFor } from './helpers.js';

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/health') { res.end('ok'); return; }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(process.env));
});
server.listen(Number(process.env.PORT0), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('--exec: real processes', () => {
  let sim: MarathonSimulator;
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'baton-sim-test-'));
    script = join(dir, 'server.cjs');
    writeFileSync(script, SERVER);
    sim = new MarathonSimulator({ exec: true, killGraceMs: 2000 });
    await sim.start();
  });
  afterAll(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs cmd with Marathon\'s environment, health-checks it, and kills it on delete', async () => {
    const stream = await openEvents(`${sim.url}/v2/events`);
    try {
      await sim.createApp({
        id: '/demo/echo',
        cmd: `exec ${process.execPath} ${script}`,
        instances: 1,
        labels: { 'owner.team': 'core', X: 'y' },
        env: { EXTRA: 'from-app' },
        portDefinitions: [{ port: 0, name: 'http' }, { port: 0, name: 'admin' }],
        healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, intervalSeconds: 0.1, timeoutSeconds: 1, gracePeriodSeconds: 10, maxConsecutiveFailures: 3 }],
      });
      const [task] = await sim.waitForRunning('/demo/echo', 1, 20_000);
      expect(task.host).toBe('127.0.0.1');
      await waitFor(() => sim.cluster.instanceHealthy(task) === true, 20_000, 'healthy via HTTP check');

      const env = (await http('GET', `http://127.0.0.1:${task.ports[0]}/env`)).json();
      expect(env.HOST).toBe('127.0.0.1');
      expect(env.PORT0).toBe(String(task.ports[0]));
      expect(env.PORT1).toBe(String(task.ports[1]));
      expect(env.PORT).toBe(env.PORT0);
      expect(env.PORTS).toBe(`${task.ports[0]},${task.ports[1]}`);
      expect(env.PORT_HTTP).toBe(env.PORT0);
      expect(env.PORT_ADMIN).toBe(env.PORT1);
      expect(env.MARATHON_APP_ID).toBe('/demo/echo');
      expect(env.MARATHON_APP_VERSION).toBe(task.version);
      expect(env.MESOS_TASK_ID).toBe(task.id);
      expect(env.MARATHON_APP_LABELS.split(' ').sort()).toEqual(['OWNER_TEAM', 'X']);
      expect(env.MARATHON_APP_LABEL_OWNER_TEAM).toBe('core');
      expect(env.MARATHON_APP_LABEL_X).toBe('y');
      expect(env.MARATHON_APP_RESOURCE_MEM).toBe('128');
      expect(env.EXTRA).toBe('from-app');

      const app = (await http('GET', `${sim.url}/v2/apps/demo/echo`)).json().app;
      expect(app.tasksHealthy).toBe(1);
      expect(app.tasks[0].healthCheckResults[0]).toMatchObject({ alive: true, instanceId: task.instanceId });
      await waitFor(() => stream.events().some((e) => e.event === 'health_status_changed_event' && e.data.alive === true), 10_000, 'health event');

      const pid = sim.processIds().get(task.id)!;
      expect(alive(pid)).toBe(true);
      await sim.deleteApp('/demo/echo');
      await waitFor(() => !alive(pid), 10_000, 'process gone after delete');
    } finally {
      stream.close();
    }
  });

  it('reports a process exit as TASK_FAILED and relaunches it', async () => {
    await sim.createApp({ id: '/crash', cmd: 'sleep 0.2; exit 3', backoffSeconds: 0.05 });
    const [first] = await sim.waitForRunning('/crash', 1, 20_000);
    const failed = await waitFor(
      () => sim.events.find((e) => e.eventType === 'status_update_event' && e.taskId === first.id && e.taskStatus === 'TASK_FAILED'),
      20_000,
      'TASK_FAILED',
    );
    expect(failed.message).toBe('Command exited with status 3');
    const [second] = await waitFor(() => {
      const running = sim.tasks('/crash').filter((t) => t.state === 'TASK_RUNNING' && t.id !== first.id);
      return running.length === 1 ? running : undefined;
    }, 20_000, 'relaunch');
    expect(second.instanceId).toBe(first.instanceId);
    await sim.deleteApp('/crash');
  });

  it('leaves nothing the command started behind when the task process dies', async () => {
    const pidFile = join(dir, 'child.pid');
    await sim.createApp({ id: '/forks', cmd: `sleep 300 & echo $! > ${pidFile}; wait`, instances: 1 });
    const [task] = await sim.waitForRunning('/forks', 1, 20_000);
    await waitFor(() => { try { return Number(readFileSync(pidFile, 'utf8')) > 0; } catch { return false; } }, 10_000, 'the child pid');
    const childPid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(childPid)).toBe(true);
    // The shell that ran the command is killed; its background child must not outlive the task.
    process.kill(sim.processIds().get(task.id)!, 'SIGKILL');
    await waitFor(() => !alive(childPid), 10_000, 'the orphaned child to be killed');
    await sim.deleteApp('/forks');
  });

  it('puts a task on the loopback host named by BATON_SIM_HOST', async () => {
    await sim.createApp({ id: '/on-two', cmd: `exec ${process.execPath} ${script}`, env: { BATON_SIM_HOST: '127.0.0.2' } });
    const [task] = await sim.waitForRunning('/on-two', 1, 20_000);
    expect(task.host).toBe('127.0.0.2');
    expect(task.ipAddresses).toEqual([{ ipAddress: '127.0.0.2', protocol: 'IPv4' }]);
    const env = await waitFor(async () => {
      try {
        return (await http('GET', `http://127.0.0.2:${task.ports[0]}/env`)).json();
      } catch {
        return undefined;
      }
    }, 20_000, 'server on 127.0.0.2');
    expect(env.HOST).toBe('127.0.0.2');
    const state = sim.masterState() as any;
    expect(state.slaves.some((s: any) => s.id === task.agent.id && s.pid === 'slave(1)@127.0.0.2:5051')).toBe(true);
    await sim.deleteApp('/on-two');
  });
});
