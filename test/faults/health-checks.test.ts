// Active health checks of the real baton-lb bin (no --health-check), against real backend processes
// run by the simulator: a backend whose /health flips stops getting traffic and comes back after
// `rise` passed checks; a TCP check against a closed port (HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX)
// keeps its server out while Marathon's own check of the traffic port says the task is healthy.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, getText, http, metric, startBin, type Bin } from './fault-helpers.js';

// PORT0: answers its task id; /health answers 200 or 500 as /set-health?ok=1|0 last said.
// PORT1 (when the app has one) is never listened on: a closed port.
const BACKEND = `
const http = require('node:http');
const id = process.env.MESOS_TASK_ID;
let healthy = true;
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/health') { res.statusCode = healthy ? 200 : 500; return res.end(healthy ? 'ok' : 'sick'); }
  if (url.pathname === '/set-health') { healthy = url.searchParams.get('ok') === '1'; return res.end('set'); }
  res.end(id);
}).listen(Number(process.env.PORT0), process.env.HOST || '127.0.0.1');
`;

interface ServerStatus {
  taskId: string;
  name: string;
  host: string;
  port: number;
  state: string;
  check?: { kind: string; status: string; last?: string; code?: number; failures: number; downs: number };
}

let dir: string;
let sim: MarathonSimulator;
let bin: Bin;
let url: string;
let admin: string;

async function servers(appId: string): Promise<ServerStatus[]> {
  const status = await getJson<{ backends: { appId: string; servers: ServerStatus[] }[] }>(`${admin}/_baton/status`);
  return status.body.backends.find((b) => b.appId === appId)?.servers ?? [];
}

/** Who answered each of `n` requests for `host`. */
async function answers(host: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await http(`${url}/`, { headers: { host } });
    out.push(r.status === 200 ? r.body : String(r.status));
  }
  return out;
}

beforeAll(async () => {
  ensureBuilt('lb');
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-health-checks-'));
  const script = join(dir, 'backend.cjs');
  writeFileSync(script, BACKEND);
  sim = new MarathonSimulator({ heartbeatMs: 200, exec: true, logger: silentLogger() });
  await sim.start();
  await sim.createApp({
    id: '/flip',
    cmd: `${process.execPath} ${script}`,
    instances: 2,
    portDefinitions: [{ port: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'flip.test' },
    // maxConsecutiveFailures 0: Marathon never kills the task (fall = 1 for the load balancer).
    healthChecks: [{ protocol: 'HTTP', portIndex: 0, path: '/health', intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 0, gracePeriodSeconds: 0 }],
  });
  await sim.createApp({
    id: '/closed',
    cmd: `${process.execPath} ${script}`,
    instances: 1,
    portDefinitions: [{ port: 0 }, { port: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'closed.test', HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX: '1' },
    healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2, gracePeriodSeconds: 0 }],
  });
  await sim.waitForRunning('/flip', 2);
  await sim.waitForRunning('/closed', 1);
  bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', 
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'info',
  ]);
  const [, httpPort, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
  url = `http://127.0.0.1:${httpPort}`;
  admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => {
    const flip = await servers('/flip');
    return flip.length === 2 && flip.every((s) => s.state === 'UP');
  }, 30_000, 50);
}, 90_000);

afterAll(async () => {
  bin?.kill();
  await bin?.exited;
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('active health checks (the real bin, without --health-check)', () => {
  it('a backend whose /health fails stops getting traffic within a few intervals, and comes back after rise (2) passes', async () => {
    await waitFor(async () => (await servers('/flip')).every((s) => s.check?.last === 'L7OK'), 5_000, 50);
    const [sick, well] = await servers('/flip');
    expect(new Set(await answers('flip.test', 6))).toEqual(new Set([sick.taskId, well.taskId]));

    await http(`http://${sick.host}:${sick.port}/set-health?ok=0`);
    const failedAt = Date.now();
    await waitFor(async () => (await servers('/flip')).find((s) => s.taskId === sick.taskId)?.state === 'DOWN', 10_000, 50);
    expect(Date.now() - failedAt).toBeLessThan(5_000); // interval 1 s ± 5%, fall 1: one or two intervals
    const down = (await servers('/flip')).find((s) => s.taskId === sick.taskId)!;
    expect(down.check).toMatchObject({ kind: 'http', status: 'DOWN', last: 'L7STS', code: 500 });
    expect(down.check!.downs).toBe(1);
    expect(await answers('flip.test', 10)).toEqual(Array(10).fill(well.taskId));

    // As HAProxy shows it: the stats CSV status/check columns, and the metrics.
    const csv = await getText(`${admin}/haproxy?stats;csv`);
    const header = csv.split('\n')[0].slice(2).split(',');
    const row = csv.split('\n').find((l) => l.includes(`,${sick.name},`))!.split(',');
    expect(row[header.indexOf('status')]).toBe('DOWN');
    expect(row[header.indexOf('check_status')]).toBe('L7STS');
    expect(row[header.indexOf('check_code')]).toBe('500');
    expect(Number(row[header.indexOf('chkdown')])).toBe(1);
    const metrics = await getText(`${admin}/metrics`);
    expect(metrics).toMatch(/baton_lb_backend_servers\{backend="flip_\d+",state="down"\} 1/);
    expect(metric(metrics, 'baton_lb_health_checked_servers', '{state="down"}')).toBeGreaterThanOrEqual(1); // and /closed's
    // Marathon was not asked: the task is still running, the same task.
    expect(sim.processIds().has(sick.taskId)).toBe(true);

    await http(`http://${sick.host}:${sick.port}/set-health?ok=1`);
    const healedAt = Date.now();
    const seen = new Set<string>();
    await waitFor(async () => {
      const s = (await servers('/flip')).find((x) => x.taskId === sick.taskId)!;
      seen.add(s.check!.status);
      return s.state === 'UP';
    }, 10_000, 20);
    // rise 2: one pass shows "DOWN 1/2" (going up), the second brings it UP.
    expect(seen.has('DOWN 1/2')).toBe(true);
    expect(Date.now() - healedAt).toBeGreaterThan(800);
    expect(new Set(await answers('flip.test', 6))).toEqual(new Set([sick.taskId, well.taskId]));
  }, 40_000);

  it('a TCP check against a closed port (HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX=1) keeps the server out while Marathon says healthy', async () => {
    await waitFor(async () => (await servers('/closed'))[0]?.state === 'DOWN', 10_000, 50);
    const [server] = await servers('/closed');
    expect(server.check).toMatchObject({ kind: 'tcp', status: 'DOWN', last: 'L4CON' });
    expect((await http(`${url}/`, { headers: { host: 'closed.test' } })).status).toBe(503);
    // Marathon's own check (TCP on port index 0, which listens) passes: the task is healthy there.
    const app = await getJson<{ app: { tasks: { id: string; healthCheckResults?: { alive: boolean }[] }[] } }>(`${sim.url}/v2/apps/closed?embed=apps.tasks`);
    expect(app.body.app.tasks[0].healthCheckResults?.[0]?.alive).toBe(true);
    // The traffic port itself answers: only the check port is closed.
    expect((await http(`http://${server.host}:${server.port}/`)).body).toBe(server.taskId);
  }, 20_000);
});
