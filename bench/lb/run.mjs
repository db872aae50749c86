// bench/lb: baton-lb next to HAProxy and the backend itself, in one run, with wrk.
//   node bench/lb/run.mjs [--duration 10] [--warm-up 3] [--skip-build] [--profile] [--compare-bin other/bin/baton-lb.js]
//                         [--only http,close,tcp,paths,logs,latency,first,workers] [--clients http1,undici]
//                         [--paths none,dispatch,request,http-proxy,raw,http1,tcp-pipe] [--apps 1000,10000] [--samples 300]
//                         [--rounds 3]   (access-log variants, and the workers' listen modes, take turns) [--workers 1,2]
// Starts nginx (`return 200` on loopback + a 64 MiB file), HAProxy 2.6 (nbthread 1: an http keep-alive
// frontend and a tcp frontend), the simulator (exec mode) with one app whose task ports are nginx's,
// and baton-lb (the real bin, --workers 1) following it. Prints rps and p50/p99 side by side.
// --compare-bin adds the http and close rows of another build of baton-lb, in the same run; the workers
// section runs baton-lb --workers N beside HAProxy nbthread N. The http and close sections end with
// two "Node floor" rows: what a Node process costs on the same load before any proxy work of its own.
// Never fails the build.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs, cpuTimesMs, descendants } from '../../tools/proc-tree.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv.slice(2);
const USAGE = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).slice(0, 10).map((l) => l.slice(3)).join('\n');
const VALUED = new Set(['duration', 'warm-up', 'only', 'clients', 'paths', 'apps', 'samples', 'rounds', 'compare-bin', 'workers']);
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].startsWith('--') ? argv[i].slice(2) : undefined;
  if (name === 'help' || argv[i] === '-h') {
    console.log(USAGE);
    process.exit(0);
  }
  if (name !== undefined && VALUED.has(name) && i + 1 < argv.length) i++;
  else if (name !== 'skip-build' && name !== 'profile') {
    console.error(`bench/lb/run.mjs: unknown or incomplete option ${argv[i]}\n\n${USAGE}`);
    process.exit(2);
  }
}
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const DURATION = Number(opt('duration', 10));
const ROUNDS = Math.max(1, Number(opt('rounds', 3)));
const WARM_UP = Number(opt('warm-up', 3));
const ONLY = new Set(String(opt('only', 'http,close,tcp,paths,logs,latency,first,workers')).split(','));
// Worker counts of the workers section (baton-lb --workers N beside HAProxy nbthread N).
const WORKERS = String(opt('workers', '1,2')).split(',').map(Number);
// baton-lb's upstream HTTP clients to measure in the keep-alive rows (the first is used for the rest).
const CLIENTS = String(opt('clients', 'http1,undici')).split(',');
const children = [];
const tmp = mkdtempSync(join(tmpdir(), 'bench-lb-'));

// What any Node proxy costs before it does any work of its own, on the same load as the rows above:
// the Node http server answering by itself, and a plain socket pipe to nginx (no HTTP parsing).
const NODE_FLOORS = [
  ['none', 'Node floor: http server, no upstream'],
  ['tcp-pipe', 'Node floor: plain socket pipe'],
];

/** wrk against a minimal Node process of bench/lb/mini-proxy.mjs (`kind`) in front of nginx's `target` port. */
async function nodeFloor(kind, target, wrkOptions = {}, path = '/') {
  const port = await freePort();
  const p = await start(process.execPath, [join(root, 'bench/lb/mini-proxy.mjs'), kind, String(port), String(target)], { waitFor: (o) => o.includes('ready') });
  try {
    return wrkCpu(p.pid, `http://127.0.0.1:${port}${path}`, wrkOptions);
  } finally {
    p.kill('SIGKILL');
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, { waitFor, env } = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.output = () => out;
  if (!waitFor) return Promise.resolve(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 20_000);
    const check = () => {
      if (waitFor(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

async function waitHttp(url, headers = {}) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await new Promise((resolve) => {
      // node:http, not fetch: fetch drops a Host header.
      const req = http.get(url, { headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`no 200 from ${url}: ${children.map((c) => c.output?.().slice(-1500)).join("\n---\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const UNIT = { us: 1e-3, ms: 1, s: 1e3 };
const SIZE = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 };
function wrk(url, { connections = 50, headers = [], seconds = DURATION } = {}) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const lat = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? Number(m[1]) * UNIT[m[2]] : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const t = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: ([^\n]+)/.exec(out)?.[0];
  return { rps, p50: lat(50), p99: lat(99), mbps: t ? Number(t[1]) * SIZE[t[2]] : NaN, errors };
}

/**
 * An unreported run before a proxy's first measured one (HAProxy and each fresh baton-lb alike), so
 * that a just-started Node process is measured after its JIT warm-up and first heap growth.
 */
function warmUp(url, headers = []) {
  wrk(url, { headers, seconds: WARM_UP });
}

/** wrk, plus the CPU time `pid` (the proxy under test; with `tree`, and its descendants: baton-lb's workers) used per request during the run. */
function wrkCpu(pid, url, options = {}) {
  const cpu = (p) => cpuTimesMs(options.tree ? descendants(p) : p);
  const before = cpu(pid);
  const r = wrk(url, options);
  const after = cpu(pid);
  const user = after.user - before.user;
  const used = user + after.sys - before.sys;
  const requests = r.rps * DURATION;
  return { ...r, cpuUsPerReq: (used * 1000) / requests, userUsPerReq: (user * 1000) / requests, cpuShare: used / (DURATION * 1000), cpuMsPerGB: used / ((r.mbps * DURATION) / 1024) };
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
const rows = [];
function report(section, name, r, peer) {
  const ratio = peer ? (section === 'tcp' ? r.mbps / peer.mbps : r.rps / peer.rps) : NaN;
  const p99ratio = peer && section !== 'tcp' ? r.p99 / peer.p99 : NaN;
  rows.push({ section, name, ...r, ratio, p99ratio });
  const main = section === 'tcp' ? `${fmt(r.mbps)} MB/s` : `${fmt(r.rps)} rps`;
  console.log(`  ${name.padEnd(34)} ${main.padStart(14)}  p50 ${fmt(r.p50, 2).padStart(6)} ms  p99 ${fmt(r.p99, 2).padStart(6)} ms` +
    (peer ? `  ${fmt(ratio, 2)}× HAProxy${section === 'tcp' ? '' : `, p99 ${fmt(p99ratio, 2)}×`}` : '') +
    (Number.isFinite(r.cpuUsPerReq) && section !== 'tcp' ? `  [${fmt(r.cpuUsPerReq, 1)} µs CPU/req (${fmt(r.userUsPerReq, 1)} user), ${fmt(r.cpuShare * 100)}% of a core]` : '') +
    (Number.isFinite(r.cpuShare) && section === 'tcp' ? `  [${fmt(r.cpuShare * 100)}% of a core, ${fmt(r.cpuMsPerGB)} ms CPU/GB]` : '') + (r.errors ? `  (${r.errors})` : '') +
    (r.split !== undefined ? `  ${r.split}` : '') + (r.load !== undefined ? `  load ${fmt(r.load, 2)}` : ''));
}

try {
  if (!flag('skip-build')) execFileSync('npx', ['tsc', '-b', 'packages/lb', 'packages/marathon-sim'], { cwd: root, stdio: 'inherit' });

  // nginx: `return 200` and a 64 MiB file, on two ports (one for HTTP, one behind the TCP frontends).
  const [n1, n2, h1, h2, b80, b443, b9091, badmin, s1, s2] = await Promise.all(Array.from({ length: 10 }, freePort));
  mkdirSync(join(tmp, 'www'));
  chmodSync(tmp, 0o755); // nginx workers run as nobody
  chmodSync(join(tmp, 'www'), 0o755);
  const big = openSync(join(tmp, 'www', 'big.bin'), 'w');
  ftruncateSync(big, 64 * 1024 * 1024);
  closeSync(big);
  chmodSync(join(tmp, 'www', 'big.bin'), 0o644);
  writeFileSync(join(tmp, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log;
events { worker_connections 10240; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  keepalive_requests 10000000;
  sendfile on;
  server {
    listen 127.0.0.1:${n1}; listen 127.0.0.1:${n2};
    root ${tmp}/www;
    location = / { return 200 "ok\\n"; }
  }
}
`);
  await start('nginx', ['-p', tmp, '-e', `${tmp}/nginx-error.log`, '-c', join(tmp, 'nginx.conf')]);
  await waitHttp(`http://127.0.0.1:${n1}/`);

  const haproxyConfig = (threads, httpPort, tcpPort) => `
global
  nbthread ${threads}
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  timeout connect 3s
  timeout client 30s
  timeout server 30s
  timeout tunnel 3600s
  timeout http-keep-alive 1s
  timeout http-request 15s
frontend http_in
  bind 127.0.0.1:${httpPort}
  default_backend nginx_http
backend nginx_http
  option forwardfor
  server n1 127.0.0.1:${n1}
frontend tcp_in
  mode tcp
  bind 127.0.0.1:${tcpPort}
  default_backend nginx_tcp
backend nginx_tcp
  mode tcp
  server n2 127.0.0.1:${n2}
`;
  writeFileSync(join(tmp, 'haproxy.cfg'), haproxyConfig(1, h1, h2));
  const haproxyProc = await start('haproxy', ['-db', '-f', join(tmp, 'haproxy.cfg')]);
  await waitHttp(`http://127.0.0.1:${h1}/`);
  warmUp(`http://127.0.0.1:${h1}/`);

  // The simulator (exec mode: the task is a `sleep` whose required ports are nginx's) and baton-lb.
  const sim = await start(process.execPath, [join(root, 'packages/marathon-sim/bin/baton-sim.js'), '--port', '0', '--exec', '--log-level', 'warn'], { waitFor: (o) => o.includes('listening on') });
  const simUrl = /listening on (\S+)/.exec(sim.output())[1];
  const app = {
    id: '/bench/nginx',
    instances: 1,
    cmd: 'sleep 100000',
    requirePorts: true,
    portDefinitions: [{ port: n1, protocol: 'tcp' }, { port: n2, protocol: 'tcp' }],
    labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: 'bench.local', HAPROXY_0_PORT: String(s1), HAPROXY_1_MODE: 'tcp', HAPROXY_1_PORT: String(s2) },
  };
  const created = await fetch(`${simUrl}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
  if (created.status !== 201) throw new Error(`cannot create the bench app: ${created.status} ${await created.text()}`);
  const LB_BIN = join(root, 'packages/lb/bin/baton-lb.js');
  const COMPARE_BIN = opt('compare-bin', undefined);
  const lbArgs = [LB_BIN, '--marathon', simUrl, '--group', 'bench', '--bind-address', '127.0.0.1',
    '--http-port', String(b80), '--https-port', String(b443), '--app-id-port', String(b9091), '--admin-port', String(badmin), '--ssl-certs', '', '--log-level', 'warn'];
  // HAProxy logs nothing here either; the `logs` section measures what access logs cost.
  const lbQuiet = [...lbArgs, '--access-log', 'off'];
  const nodeArgs = flag('profile') ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/lb/profiles')] : [];
  // BATON_LB_UPSTREAM_CLIENT (internal) picks the upstream client: http1 (net.Socket + Node's parser) or undici.
  const startLb = async (client, bin = LB_BIN) => {
    // This build as one process (--workers 1); a --compare-bin build may predate the flag.
    const child = await start(process.execPath, [...nodeArgs, bin, ...lbQuiet.slice(1), ...(bin === LB_BIN ? ['--workers', '1'] : [])], { waitFor: (o) => o.includes('baton-lb listening'), env: { BATON_LB_UPSTREAM_CLIENT: client } });
    child.client = client;
    child.bin = bin;
    await waitHttp(`http://127.0.0.1:${b80}/`, { host: 'bench.local' });
    await waitHttp(`http://127.0.0.1:${s1}/`);
    warmUp(`http://127.0.0.1:${b80}/`, ['Host: bench.local']);
    return child;
  };
  const stopLb = async (child) => {
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  let lb = await startLb(CLIENTS[0]);
  const host = ['Host: bench.local'];

  console.log(`\nwrk -t1 -c50 -d${DURATION}s --latency; nginx 1.22 (worker_processes 1), HAProxy 2.6 (nbthread 1), baton-lb (--workers 1: one process, Node ${process.versions.node})`);
  if (ONLY.has('http')) {
    console.log('\nHTTP keep-alive (nginx `return 200`)');
    const direct = wrk(`http://127.0.0.1:${n1}/`);
    report('http', 'direct to nginx', direct);
    const haproxy = wrkCpu(haproxyProc.pid, `http://127.0.0.1:${h1}/`, { headers: host });
    report('http', 'HAProxy', haproxy);
    for (const client of CLIENTS) {
      if (lb.client !== client) {
        await stopLb(lb);
        lb = await startLb(client);
      }
      report('http', `baton-lb :80 (vhost) [${client}]`, wrkCpu(lb.pid, `http://127.0.0.1:${b80}/`, { headers: host }), haproxy);
      report('http', `baton-lb service port [${client}]`, wrkCpu(lb.pid, `http://127.0.0.1:${s1}/`), haproxy);
    }
    if (COMPARE_BIN !== undefined) {
      await stopLb(lb);
      lb = await startLb(CLIENTS[0], COMPARE_BIN);
      report('http', `compare build :80 (vhost) [${CLIENTS[0]}]`, wrkCpu(lb.pid, `http://127.0.0.1:${b80}/`, { headers: host }), haproxy);
      report('http', `compare build service port [${CLIENTS[0]}]`, wrkCpu(lb.pid, `http://127.0.0.1:${s1}/`), haproxy);
    }
    for (const [kind, name] of NODE_FLOORS) report('http', name, await nodeFloor(kind, n1), haproxy);
    if (lb.client !== CLIENTS[0] || lb.bin !== LB_BIN) {
      await stopLb(lb);
      lb = await startLb(CLIENTS[0]);
    }
  }
  if (ONLY.has('close')) {
    console.log('\nHTTP, a new connection per request (Connection: close)');
    const close = ['Connection: close'];
    report('close', 'direct to nginx', wrk(`http://127.0.0.1:${n1}/`, { headers: close }));
    const haproxy = wrkCpu(haproxyProc.pid, `http://127.0.0.1:${h1}/`, { headers: [...host, ...close] });
    report('close', 'HAProxy', haproxy);
    report('close', 'baton-lb :80 (vhost)', wrkCpu(lb.pid, `http://127.0.0.1:${b80}/`, { headers: [...host, ...close] }), haproxy);
    if (COMPARE_BIN !== undefined) {
      await stopLb(lb);
      lb = await startLb(CLIENTS[0], COMPARE_BIN);
      report('close', 'compare build :80 (vhost)', wrkCpu(lb.pid, `http://127.0.0.1:${b80}/`, { headers: [...host, ...close] }), haproxy);
      await stopLb(lb);
      lb = await startLb(CLIENTS[0]);
    }
    for (const [kind, name] of NODE_FLOORS) report('close', name, await nodeFloor(kind, n1, { headers: close }), haproxy);
  }
  if (ONLY.has('tcp')) {
    console.log('\nTCP service port, 64 MiB file (wrk -c4)');
    report('tcp', 'direct to nginx', wrk(`http://127.0.0.1:${n2}/big.bin`, { connections: 4 }));
    const haproxy = wrkCpu(haproxyProc.pid, `http://127.0.0.1:${h2}/big.bin`, { connections: 4 });
    report('tcp', 'HAProxy mode tcp', haproxy);
    report('tcp', 'baton-lb tcp service port', wrkCpu(lb.pid, `http://127.0.0.1:${s2}/big.bin`, { connections: 4 }), haproxy);
    report('tcp', 'plain Node socket pipe (reference)', await nodeFloor('tcp-pipe', n2, { connections: 4 }, '/big.bin'), haproxy);
  }
  if (ONLY.has('paths')) {
    console.log('\nUpstream paths in isolation (minimal one-target proxies, bench/lb/mini-proxy.mjs)');
    const names = {
      none: 'node http, no upstream (ceiling)', raw: 'node http + net.Socket + native parser', http1: 'node http + baton http1-upstream',
      'http-proxy': 'node http + http-proxy (keep-alive agent)', dispatch: 'node http + undici Pool.dispatch', request: 'node http + undici pool.request',
      'tcp-pipe': 'plain Node socket pipe',
    };
    for (const kind of (opt('paths', 'none,dispatch,request,http-proxy,raw,http1')).split(',')) report('paths', names[kind] ?? kind, await nodeFloor(kind, n1));
  }
  await stopLb(lb);
  if (ONLY.has('workers')) {
    console.log(`\nWorkers: HTTP through :80, wrk -t1 -c50 -d${DURATION}s, keep-alive and a new connection per request (Connection: close), baton-lb --workers N beside HAProxy nbthread N (CPU of every process of each proxy; the share of each worker; 1-minute load average after each run; wrk and nginx share the same ${availableParallelism()} cores)`);
    // How the workers of --workers N ≥ 2 share a listening port: the primary accepts and hands each
    // connection over (Node's cluster, round-robin), or, on Node ≥ 22.12, each worker has a socket of
    // its own (SO_REUSEPORT) and the kernel spreads connections. The modes take turns, --rounds times.
    const [major, minor] = process.versions.node.split('.').map(Number);
    const modes = ['handoff', ...(major > 22 || (major === 22 && minor >= 12) ? ['reuseport'] : [])];
    const [wh, wt] = await Promise.all([freePort(), freePort()]);
    const close = [...host, 'Connection: close'];
    for (const n of WORKERS) {
      writeFileSync(join(tmp, `haproxy-${n}.cfg`), haproxyConfig(n, wh, wt));
      const hp = await start('haproxy', ['-db', '-f', join(tmp, `haproxy-${n}.cfg`)]);
      await waitHttp(`http://127.0.0.1:${wh}/`);
      warmUp(`http://127.0.0.1:${wh}/`);
      const peer = { ...wrkCpu(hp.pid, `http://127.0.0.1:${wh}/`, { headers: host }), load: loadavg()[0] };
      report('workers', `HAProxy nbthread ${n}`, peer);
      const peerClose = { ...wrkCpu(hp.pid, `http://127.0.0.1:${wh}/`, { headers: close }), load: loadavg()[0] };
      report('workers', `HAProxy nbthread ${n}, close`, peerClose);
      hp.kill('SIGKILL');
      for (let round = 0; round < (n > 1 ? ROUNDS : 1); round++) {
        for (const mode of n > 1 ? modes : ['handoff']) {
          const label = `baton-lb --workers ${n}${n > 1 ? ` ${mode}` : ''}`;
          const child = await start(process.execPath, [...nodeArgs, ...lbQuiet, '--workers', String(n)], { waitFor: (o) => o.includes('baton-lb listening'), env: { BATON_LB_LISTEN: mode } });
          await waitHttp(`http://127.0.0.1:${b80}/`, { host: 'bench.local' });
          warmUp(`http://127.0.0.1:${b80}/`, host);
          for (const [name, headers, against] of [[label, host, peer], [`${label}, close`, close, peerClose]]) {
            // Each process's share of the CPU used: the primary's (the hand-off's cost), each worker's (the spread).
            const cpuByPid = () => new Map(descendants(child.pid).map((pid) => [pid, cpuMs(pid)]));
            const before = cpuByPid();
            const r = wrkCpu(child.pid, `http://127.0.0.1:${b80}/`, { headers, tree: true });
            const [primary, ...used] = [...cpuByPid()].map(([pid, ms]) => ms - (before.get(pid) ?? 0));
            const pct = (x) => Math.round((x / (primary + used.reduce((a, b) => a + b, 0))) * 100);
            report('workers', name, { ...r, load: loadavg()[0], split: n > 1 ? `primary ${pct(primary)}%, workers ${used.map(pct).join('/')}%` : undefined }, against);
          }
          await stopLb(child);
        }
      }
    }
  }
  if (ONLY.has('logs')) {
    console.log('\nAccess logs: HTTP keep-alive through :80, one line per request (baton-lb stdout to a file)');
    // A Unix datagram socket that receives the syslog lines and counts them, as /dev/log would, in its
    // own process (this one blocks while wrk runs).
    const sockPath = join(tmp, 'syslog.sock');
    const receiver = spawn(process.execPath, ['-e', `
      const { DgramSocket } = require(${JSON.stringify(createRequire(join(root, 'packages/lb/package.json')).resolve('node-unix-socket'))});
      const socket = new DgramSocket();
      socket.bind(${JSON.stringify(sockPath)});
      let n = 0;
      socket.on('data', () => n++);
      process.on('message', () => process.send(n));
      process.send('ready');
    `], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(receiver);
    await new Promise((resolve) => receiver.once('message', resolve));
    const receivedCount = () => new Promise((resolve) => {
      receiver.once('message', resolve);
      receiver.send('count');
    });
    // The variants take turns for --rounds rounds, so a change in the machine's load hits each of them;
    // the summary compares medians.
    const variants = [['off', ['--access-log', 'off']], ['JSON on stdout', ['--access-log', 'json']], ['syslog, Unix socket', ['--syslog-socket', sockPath]]];
    const results = new Map(variants.map(([label]) => [label, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [label, extra] of variants) {
        const logFile = join(tmp, `access-${extra[1].replace(/\W/g, '')}.log`);
        const fd = openSync(logFile, 'w');
        const child = spawn(process.execPath, [...nodeArgs, ...lbArgs, '--workers', '1', ...extra], { cwd: root, stdio: ['ignore', fd, 'ignore'] });
        children.push(child);
        closeSync(fd);
        await waitHttp(`http://127.0.0.1:${b80}/`, { host: 'bench.local' });
        warmUp(`http://127.0.0.1:${b80}/`, host);
        const receivedBefore = await receivedCount();
        const r = wrkCpu(child.pid, `http://127.0.0.1:${b80}/`, { headers: host });
        report('logs', `round ${round}: baton-lb, access log ${label}`, r);
        results.get(label).push(r);
        if (label !== 'off') {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const lines = extra[0] === '--syslog-socket' ? (await receivedCount()) - receivedBefore : readFileSync(logFile, 'utf8').split('\n').length - 1;
          console.log(`    ${fmt(lines)} lines written`);
        }
        const exited = new Promise((res) => child.on('exit', res));
        child.kill('SIGTERM');
        await exited;
      }
    }
    const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const off = { rps: median(results.get('off').map((r) => r.rps)), cpu: median(results.get('off').map((r) => r.cpuUsPerReq)) };
    console.log(`  medians of ${ROUNDS} round(s):`);
    for (const [label] of variants) {
      const rps = median(results.get(label).map((r) => r.rps));
      const cpu = median(results.get(label).map((r) => r.cpuUsPerReq));
      console.log(`    access log ${label.padEnd(20)} ${fmt(rps)} rps, ${fmt(cpu, 1)} µs CPU/req` + (label === 'off' ? '' : ` — ${fmt((rps / off.rps) * 100, 1)}% of the rps with logs off, ${fmt(cpu - off.cpu, 1)} µs more CPU per request (${fmt(((cpu - off.cpu) / off.cpu) * 100, 1)}%)`));
    }
    receiver.kill('SIGKILL');
  }
  if (ONLY.has('latency')) {
    // Apps in groups of 10 (1,000 apps in 100 groups, 10,000 in 1,000).
    for (const apps of String(opt('apps', '1000,10000')).split(',').map(Number)) {
      console.log(`\nEvent-to-route latency (${apps.toLocaleString('en')} apps in ${(apps / 10).toLocaleString('en')} groups; sim, baton-lb and client in 3 processes; PUT of a new vhost → first request routed by it)`);
      try {
        const out = execFileSync(process.execPath, [join(root, 'bench/lb/latency.mjs'), '--apps', String(apps), '--groups', String(Math.max(1, apps / 10)), '--samples', opt('samples', '300'), ...(flag('profile') ? ['--profile'] : [])], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const r = JSON.parse(out.trim().split('\n').pop());
        console.log(`  ${r.samples} samples at ${r.apps} apps, PUT sent → route answers: p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, max ${fmt(r.max, 2)} ms`);
        console.log(`  of which PUT sent → api_post_event reaches an event-stream client (the simulator's part): p50 ${fmt(r.eventP50, 2)} ms, p99 ${fmt(r.eventP99, 2)} ms`);
        console.log(`  and event out → the new route answers (baton-lb's part, per sample): p50 ${fmt(r.lbP50, 2)} ms, p99 ${fmt(r.lbP99, 2)} ms, max ${fmt(r.lbMax, 2)} ms (target p99 ≤ 10 ms)`);
      } catch (err) {
        console.log(`  latency bench failed: ${err.message}`);
      }
    }
  }
  if (ONLY.has('first')) {
    console.log('\nTask listening → first routed request (2 → 12 tasks per round, each new task listening 50–400 ms after it is reported running; 4 clients without pause)');
    try {
      const out = execFileSync(process.execPath, [join(root, 'bench/lb/first-request.mjs'), '--samples', opt('samples', '300')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const r = JSON.parse(out.trim().split('\n').pop());
      console.log(`  ${r.samples} new tasks: p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, max ${fmt(r.max, 2)} ms (target p99 ≤ 200 ms); ${r.failed} of ${r.requests} client requests failed`);
    } catch (err) {
      console.log(`  first-request bench failed: ${err.message}`);
    }
  }
} catch (err) {
  console.log(`bench/lb failed: ${err.stack ?? err}`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
