// baton-zdd (marathon-lb's zdd.py) end to end: baton-sim --exec runs the app as real backend processes,
// baton-lb routes its vhost, and a blue/green deployment runs while a client loop keeps sending
// requests: every request must succeed, the traffic moves from the blue tasks to the green ones, and
// the blue app is deleted. baton-lb shows the draining servers as MAINT in /haproxy?stats;csv, which
// is what baton-zdd waits for.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, repoDir, requestLoop, startBin, writeBackendScript, type Bin } from './fault-helpers.js';

let dir: string;
let sim: Bin;
let lb: Bin;
let marathon: string;
let admin: string;
let front: string;
let appFile: string;
let ports: number[];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function zdd(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoDir, 'packages/lb/bin/baton-zdd.js'), '-m', marathon, '-l', admin, '-j', appFile, ...args],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, BATON_LOG_LEVEL: 'info' } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

function writeApp(version: string) {
  writeFileSync(
    appFile,
    JSON.stringify({
      id: '/web',
      cmd: `VERSION=${version} ${process.execPath} ${join(dir, 'backend.cjs')}`,
      instances: 3,
      portDefinitions: [{ port: ports[0] }],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 10, maxConsecutiveFailures: 3 }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.test', HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: String(ports[1]) },
    }),
  );
}

async function apps(): Promise<string[]> {
  return (await getJson<{ apps: { id: string }[] }>(`${marathon}/v2/apps`)).body.apps.map((a) => a.id).sort();
}

beforeAll(async () => {
  ensureBuilt('lb', 'marathon-sim');
  dir = mkdtempSync(join(tmpdir(), 'baton-zdd-'));
  writeBackendScript(dir);
  appFile = join(dir, 'web.json');
  ports = [await freePort(), await freePort()];
  sim = startBin('marathon-sim', 'baton-sim', ['--port', '0', '--exec', '--heartbeat-ms', '500', '--log-level', 'warn']);
  marathon = (await sim.line(/listening on (http:\/\/\S+)/))[1];
  lb = startBin('lb', 'baton-lb', [
    '--marathon', marathon, '--group', 'external', '--health-check', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'warn',
  ]);
  const [, httpPort, adminPort] = await lb.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
  front = `http://127.0.0.1:${httpPort}`;
  admin = `http://127.0.0.1:${adminPort}`;
}, 60_000);

afterAll(async () => {
  for (const bin of [lb, sim]) {
    if (!bin) continue;
    bin.kill('SIGTERM');
    await bin.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('baton-zdd', () => {
  it('--dry-run prints the blue app and creates nothing; a bad app JSON exits 4 naming the label', async () => {
    writeApp('blue');
    const dry = await zdd('--dry-run');
    expect(dry.code).toBe(0);
    const app = JSON.parse(dry.stdout);
    expect(app.id).toBe('/web-blue');
    expect(app.labels).toMatchObject({ HAPROXY_DEPLOYMENT_COLOUR: 'blue', HAPROXY_0_PORT: String(ports[0]), HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3', HAPROXY_APP_ID: '/web' });
    expect(await apps()).toEqual([]);
    writeFileSync(appFile, JSON.stringify({ id: '/web', labels: { HAPROXY_DEPLOYMENT_GROUP: 'web' } }));
    const bad = await zdd('--force');
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('HAPROXY_DEPLOYMENT_ALT_PORT');
  }, 30_000);

  it('deploys blue, then green under continuous load with no failed request, draining through MAINT', async () => {
    writeApp('blue');
    const first = await zdd('--force');
    expect(first.code, first.stderr).toBe(0);
    expect(await apps()).toEqual(['/web-blue']);
    const backend = `web_${ports[0]}`;
    const upServers = async () =>
      (await http(`${admin}/haproxy?stats;csv`)).body.split('\n').filter((l) => l.startsWith(`${backend},`) && !l.startsWith(`${backend},BACKEND`) && l.includes(',UP,')).length;
    await waitFor(async () => (await upServers()) === 3, 30_000, 100);

    const loop = requestLoop(`${front}/`, { concurrency: 4, host: 'web.test' });
    const sawMaint: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const csv = (await http(`${admin}/haproxy?stats;csv`).catch(() => ({ body: '' }))).body;
        for (const line of csv.split('\n')) if (line.startsWith(`${backend},`) && line.split(',')[17] === 'MAINT') sawMaint.push(line.split(',')[1]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      writeApp('green');
      const second = await zdd('--force', '--step-delay', '1', '--max-wait', '60');
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/Scaling new app up to 3 instances/);
      expect(second.stderr).toMatch(/About to delete old app \/web-blue/);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      watching = false;
      await watcher;
      await loop.stop();
    }
    const results = loop.results;
    const failures = loop.failures();
    expect(failures.slice(0, 5)).toEqual([]);
    expect(results.length).toBeGreaterThan(100);
    expect(results.some((r) => r.body?.includes('web-blue'))).toBe(true);
    expect(results.some((r) => r.body?.includes('web-green'))).toBe(true);
    expect(results.slice(-20).every((r) => r.body?.includes('web-green'))).toBe(true);
    expect(sawMaint.length).toBeGreaterThan(0);
    expect(await apps()).toEqual(['/web-green']);
    process.stdout.write(`baton-zdd blue/green: ${results.length} requests, ${failures.length} failed\n`);
  }, 150_000);

  it('a new app Marathon never finishes deploying (never healthy) stops baton-zdd after --max-wait, old app untouched', async () => {
    writeApp('broken');
    const app = JSON.parse(readFileSync(appFile, 'utf8'));
    writeFileSync(appFile, JSON.stringify({ ...app, cmd: 'sleep 1000' })); // never answers its health check
    const started = Date.now();
    const r = await zdd('--force', '--step-delay', '1', '--max-wait', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/web-blue is still being deployed by Marathon after 3 s (--max-wait)');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await apps()).toEqual(['/web-blue', '/web-green']);
    expect((await http(`${front}/`, { headers: { host: 'web.test' } })).body).toContain('web-green');
  }, 60_000);
});
