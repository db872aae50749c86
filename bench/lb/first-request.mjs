// Task listening → its first routed request, as a user scaling up sees it. The simulator (baton-sim
// --exec) runs each task as a real process (`sleep`) on 127.0.0.1 and reports it TASK_RUNNING at
// once; this process plays the task's start-up: after a random 50–400 ms it listens on the task's port
// (so baton-lb, which routes the task as soon as Marathon reports it, first meets a refused
// connection), and it timestamps the first request the task gets. Meanwhile clients send requests to
// the app's vhost through baton-lb (the real bin) without pause and count any that fail.
//   node bench/lb/first-request.mjs [--samples 300] [--batch 10] [--clients 4] [--lb-bin path/to/baton-lb.js]
// Each round scales the app from 2 to 2+batch tasks and back. Prints one JSON line: { samples, p50,
// p99, max, requests, failed, failures } (ms; failed = client requests not answered 200; failures by
// phase — `up`: scaling up, `down`: scaling down — and status, 0 = no response).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const SAMPLES = arg('samples', 300);
const BATCH = arg('batch', 10);
const CLIENTS = arg('clients', 4);
const BASE = 2;
const binAt = process.argv.indexOf('--lb-bin');
const LB_BIN = binAt === -1 ? join(root, 'packages/lb/bin/baton-lb.js') : process.argv[binAt + 1];
const APP = '/fresh/app';
const HOST = 'fresh.bench';
const children = [];
const outputs = [];

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(args, ready) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  outputs.push(() => out);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started: ${out}`)), 60_000);
    const check = (chunk) => {
      out += chunk;
      if (ready(out)) {
        clearTimeout(timer);
        resolve({ child, out: () => out });
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

function send(method, url, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// Task id → the bench's stand-in for the task's process.
const tasks = new Map();
function taskRunning(id, port) {
  if (tasks.has(id)) return;
  const task = { id, port, server: undefined, listenAt: undefined, firstAt: undefined, closed: false, unusable: false };
  tasks.set(id, task);
  // The first BASE tasks listen at once; the others after a start-up time.
  const delay = tasks.size <= BASE ? 0 : 50 + Math.random() * 350;
  setTimeout(() => {
    if (task.closed) return;
    const server = http.createServer((_req, res) => {
      if (task.firstAt === undefined) task.firstAt = performance.now();
      res.end(id);
    });
    server.keepAliveTimeout = 1_000;
    server.listen(port, '127.0.0.1', () => {
      task.listenAt = performance.now();
    });
    // A port another program holds on this machine: that task is left out of the samples.
    server.on('error', () => (task.unusable = true));
    task.server = server;
  }, delay);
}
function taskGone(id) {
  const task = tasks.get(id);
  if (task === undefined) return;
  task.closed = true;
  task.server?.closeAllConnections();
  task.server?.close();
}

try {
  const sim = await start([join(root, 'packages/marathon-sim/bin/baton-sim.js'), '--port', '0', '--exec', '--heartbeat-ms', '1000', '--task-start-delay-ms', '10', '--log-level', 'warn'], (o) => o.includes('listening on'));
  const simUrl = /listening on (\S+)/.exec(sim.out())[1];

  // Task events from the simulator's event stream.
  await new Promise((resolve, reject) => {
    http.get(`${simUrl}/v2/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk) => {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (!line.startsWith('data:')) continue;
          let event;
          try {
            event = JSON.parse(line.slice(5));
          } catch {
            continue;
          }
          if (event.eventType !== 'status_update_event' || event.appId !== APP) continue;
          if (event.taskStatus === 'TASK_RUNNING') taskRunning(event.taskId, event.ports[0]);
          // A task stops listening when its process exits (TASK_KILLED), after Marathon reported it
          // killing: as an app that finishes its requests on SIGTERM.
          else if (['TASK_KILLED', 'TASK_FINISHED', 'TASK_FAILED'].includes(event.taskStatus)) taskGone(event.taskId);
        }
      });
      resolve();
    }).on('error', reject);
  });

  const created = await send('POST', `${simUrl}/v2/apps`, {
    id: APP,
    instances: BASE,
    cmd: 'exec sleep 3600',
    labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: HOST },
    portDefinitions: [{ port: 0, protocol: 'tcp' }],
  });
  if (created.status !== 201) throw new Error(`create app: ${created.status} ${created.text}`);

  const [http80, https443, appIdPort, admin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  await start([LB_BIN, '--marathon', simUrl, '--group', 'bench', '--bind-address', '127.0.0.1',
    '--http-port', String(http80), '--https-port', String(https443), '--app-id-port', String(appIdPort), '--admin-port', String(admin),
    '--ssl-certs', '', '--log-level', 'warn'], (o) => o.includes('baton-lb listening'));

  // Clients: back-to-back requests over keep-alive connections, each failure counted.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  let requests = 0;
  let failed = 0;
  const failures = {};
  let phase = 'up';
  let running = true;
  const get = () =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: http80, path: '/', headers: { host: HOST }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', () => resolve(0));
      req.end();
    });
  const deadline = Date.now() + 30_000;
  while ((await get()) !== 200) {
    if (Date.now() > deadline) throw new Error('the app never answered through baton-lb');
    await new Promise((r) => setTimeout(r, 50));
  }
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      const status = await get();
      requests++;
      if (status !== 200) {
        failed++;
        const key = `${phase}:${status}`;
        failures[key] = (failures[key] ?? 0) + 1;
      }
    }
  });

  const samples = [];
  while (samples.length < SAMPLES) {
    const before = new Set(tasks.keys());
    phase = 'up';
    const scaled = await send('PUT', `${simUrl}/v2/apps${APP}`, { instances: BASE + BATCH });
    if (scaled.status !== 200) throw new Error(`scale up: ${scaled.status} ${scaled.text}`);
    const roundDeadline = Date.now() + 20_000;
    let fresh = [];
    while (Date.now() < roundDeadline) {
      fresh = [...tasks.values()].filter((t) => !before.has(t.id));
      if (fresh.length >= BATCH && fresh.every((t) => t.firstAt !== undefined || t.unusable)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const t of fresh) if (t.firstAt !== undefined && t.listenAt !== undefined) samples.push(t.firstAt - t.listenAt);
    phase = 'down';
    const down = await send('PUT', `${simUrl}/v2/apps${APP}`, { instances: BASE });
    if (down.status !== 200) throw new Error(`scale down: ${down.status} ${down.text}`);
    while ([...tasks.values()].filter((t) => !t.closed).length > BASE && Date.now() < roundDeadline + 10_000) await new Promise((r) => setTimeout(r, 20));
  }
  running = false;
  await Promise.all(clients);
  agent.destroy();
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  const round = (v) => Math.round(v * 100) / 100;
  process.stdout.write(`${JSON.stringify({ samples: samples.length, p50: round(pct(50)), p99: round(pct(99)), max: round(samples[samples.length - 1]), requests, failed, failures })}\n`);
} catch (err) {
  for (const out of outputs) process.stderr.write(`--- child output (tail)\n${out().slice(-3000)}\n`);
  process.stderr.write(`--- ${err.message}\n`);
  process.exitCode = 1;
} finally {
  for (const t of tasks.values()) taskGone(t.id);
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.exit();
