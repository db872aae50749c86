// Event-to-route latency at N apps, as a user sees it: the simulator (baton-sim, virtual tasks) and
// baton-lb (the real bin) each run in their own process; this process only changes apps and sends
// requests. For each sample one app's HAPROXY_0_VHOST changes (`PUT /v2/apps/{id}` to the simulator,
// which publishes `api_post_event` while handling it); the clock starts when the PUT is sent and stops
// when a request for the new vhost, sent back to back over one keep-alive connection (a round trip
// takes ~0.1–0.3 ms), first stops answering 503 (no route); with the new route it answers 301 to https.
//   node bench/lb/latency.mjs [--apps 1000] [--samples 200] [--groups 20] [--workers 1] [--profile] [--lb-bin path/to/baton-lb.js]
// Apps are spread over --groups Marathon groups (/bench/g<k>/app<i>), as clusters usually are.
// Prints one JSON line: { apps, samples, p50, p99, max, putP50, eventP50, eventP99, lbP50, lbP99, lbMax, lbCpuMsPerSample } (ms); event* =
// PUT sent → the api_post_event reaching another event-stream client (the simulator's part); lb* = that
// event → the first request the new route answers (baton-lb's part, per sample); lbCpuMsPerSample = CPU time
// (user + system) baton-lb used during the samples, per sample (includes answering the polling requests;
// with --workers N > 1, the primary's only: the route change then also crosses the IPC channel to the worker).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpuMs } from '../../tools/proc-tree.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const APPS = arg('apps', 1000);
const SAMPLES = arg('samples', 200);
const GROUPS = Math.max(1, arg('groups', 20));
const WORKERS = arg('workers', 1);
// Another build of baton-lb (e.g. an older one, to compare on the same machine at the same time).
const binAt = process.argv.indexOf('--lb-bin');
const LB_BIN = binAt === -1 ? join(root, 'packages/lb/bin/baton-lb.js') : process.argv[binAt + 1];
// An older build given with --lb-bin may not know --workers (it runs one process).
const workerArgs = binAt !== -1 && !process.argv.includes('--workers') ? [] : ['--workers', String(WORKERS)];
const tmp = mkdtempSync(join(tmpdir(), 'bench-lb-latency-'));
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
    outputs.push(() => out);
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(port, host) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (err) => reject(Object.assign(err, { message: `GET ${host} via :${port}: ${err.message}` })));
    req.end();
  });
}

function put(url, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'PUT', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (err) => reject(Object.assign(err, { message: `PUT ${url}: ${err.message}` })));
    req.end(data);
  });
}

const idOf = (i) => `/bench/g${i % GROUPS}/app${i}`;
// HAPROXY_0_REDIRECT_TO_HTTPS: a request on :80 that finds the route answers 301 at once, without a
// connection to the (virtual, unreachable) tasks, so the poll measures the route, not a connect attempt.
const labelsOf = (host) => ({ HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: host, HAPROXY_0_REDIRECT_TO_HTTPS: 'true' });

try {
  const apps = Array.from({ length: APPS }, (_, i) => ({
    id: idOf(i),
    instances: 2,
    cmd: 'sleep 1000',
    labels: labelsOf(`app${i}.bench`),
    portDefinitions: [{ port: 0, protocol: 'tcp' }],
  }));
  writeFileSync(join(tmp, 'apps.json'), JSON.stringify(apps));
  const sim = await start([join(root, 'packages/marathon-sim/bin/baton-sim.js'), '--port', '0', '--apps', join(tmp, 'apps.json'),
    '--heartbeat-ms', '1000', '--task-start-delay-ms', '50', '--log-level', 'warn'], (o) => o.includes('listening on'));
  const simUrl = /listening on (\S+)/.exec(sim.out())[1];
  const [http80, https443, appId, admin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const prof = process.argv.includes('--profile') ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/lb/profiles')] : [];
  const lb = await start([...prof, LB_BIN, '--marathon', simUrl, '--group', 'bench', '--bind-address', '127.0.0.1',
    '--http-port', String(http80), '--https-port', String(https443), '--app-id-port', String(appId), '--admin-port', String(admin),
    '--ssl-certs', '', '--log-level', 'warn', ...workerArgs], (o) => o.includes('baton-lb listening'));
  const deadline = Date.now() + 60_000;
  while ((await get(http80, `app${APPS - 1}.bench`)) === 503) {
    if (Date.now() > deadline) throw new Error('routes not built');
    await new Promise((r) => setTimeout(r, 50));
  }

  // A second event-stream client: when it sees the sample's api_post_event is the simulator's part;
  // the rest (event received → route answers) is baton-lb's.
  let eventSeen;
  let eventWanted;
  // The simulator drops a stream that falls more than 1,024 events behind (its start-up burst at
  // 10,000 apps can do that): reconnect; a sample whose event was missed has no split.
  let stopped = false;
  const listen = () =>
    new Promise((resolve, reject) => {
      const req = http.get(`${simUrl}/v2/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          if (eventWanted !== undefined && eventSeen === undefined && chunk.includes('api_post_event') && chunk.includes(eventWanted)) eventSeen = performance.now();
        });
        res.on('error', () => {});
        res.on('close', () => {
          if (!stopped) setTimeout(() => listen().catch(() => {}), 50);
        });
        resolve();
      });
      req.on('error', reject);
      streams.push(req);
    });
  const streams = [];
  await listen();
  // CPU time baton-lb used during the samples (user + system, from /proc): less sensitive to what else
  // the machine runs than latency, and what a per-event cost that grows with the cluster shows in.
  const cpuAtStart = cpuMs(lb.child.pid);
  const samples = [];
  const eventLag = [];
  const lbLag = [];
  const puts = [];
  for (let k = 0; k < SAMPLES; k++) {
    const i = (k * 7) % APPS;
    const host = `v${k}-app${i}.bench`;
    eventWanted = host;
    eventSeen = undefined;
    const t0 = performance.now();
    const update = put(`${simUrl}/v2/apps${idOf(i)}`, { labels: labelsOf(host) }).then((status) => {
      if (status !== 200) throw new Error(`PUT ${idOf(i)}: ${status}`);
      puts.push(performance.now() - t0);
    });
    let status = 503;
    while (status === 503) status = await get(http80, host);
    const t1 = performance.now();
    samples.push(t1 - t0);
    if (eventSeen !== undefined) {
      eventLag.push(eventSeen - t0);
      lbLag.push(t1 - eventSeen);
    }
    await update;
    // Let the deployment (new tasks, old tasks killed) settle before the next sample.
    await new Promise((r) => setTimeout(r, 150));
  }
  const lbCpuMsPerSample = (cpuMs(lb.child.pid) - cpuAtStart) / samples.length;
  samples.sort((a, b) => a - b);
  puts.sort((a, b) => a - b);
  eventLag.sort((a, b) => a - b);
  lbLag.sort((a, b) => a - b);
  const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  process.stdout.write(`${JSON.stringify({ apps: APPS, groups: GROUPS, samples: samples.length, p50: pct(samples, 50), p99: pct(samples, 99), max: samples[samples.length - 1], putP50: pct(puts, 50), eventP50: pct(eventLag, 50), eventP99: pct(eventLag, 99), lbP50: pct(lbLag, 50), lbP99: pct(lbLag, 99), lbMax: lbLag[lbLag.length - 1], lbCpuMsPerSample }, (k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}\n`);
  stopped = true;
  for (const req of streams) req.destroy();
} catch (err) {
  // Say why: the tail of each child's output (the simulator's, then baton-lb's).
  for (const out of outputs) process.stderr.write(`--- child output (tail)\n${out().slice(-3000)}\n`);
  process.stderr.write(`--- ${err.message}\n`);
  throw err;
} finally {
  agent.destroy();
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  // A profiled baton-lb writes its profile on exit, after its shutdown (seconds at 10,000 apps).
  const exitWaitMs = process.argv.includes('--profile') ? 15_000 : 300;
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => { c.once('exit', r); setTimeout(r, exitWaitMs); }) : undefined)));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
