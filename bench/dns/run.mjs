// bench/dns: baton-dns beside NSD, in the same run, on a 10,000-app / 30,000-task cluster.
//
// 1. builds, starts the Marathon simulator in this process and bulk-loads the apps;
// 2. starts the real `baton-dns` bin against it and waits for the first sync;
// 3. writes an NSD zone file with exactly the names baton serves (built with the same record code
//    from the same Marathon state) and runs NSD (`rrl-ratelimit: 0`) in the foreground;
// 4. runs `dnsperf -c 4` for 30 s per server with the same query mix (A, SRV, NXDOMAIN), in rounds
//    taking turns so that a change in the machine's load hits both (and a third contender, "Node floor":
//    bench/dns/udp-floor.mjs, a bare Node UDP responder, the ceiling of one Node socket); with `--workers 1,2` and
//    `--nsd-server-count 1,2`, one baton-dns per worker count and one NSD per server count take turns;
//    the server's CPU per answered query (user + kernel, and its user part; /proc, its processes summed) and the load average go beside
//    every figure;
// 5. measures event-to-answer latency: scale a probe app up / kill a task in the simulator and poll
//    baton-dns until the answer changes (from the moment the simulator publishes the event).
// Prints qps, latency and RSS side by side. Never fails the build: problems are printed, exit 0.
//
//   node bench/dns/run.mjs [--apps 10000] [--tasks-per-app 3] [--duration 30] [--trials 200]
//                          [--clients 4] [--rounds 3] [--port 15353] [--nsd-port 15354] [--queries 100000]
//                          [--workers 1,2] [--nsd-server-count 1,2]
//                          [--cpu-prof] [--keep] [--latency-only] [--probe-in-bench-group]
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { cpuTimesMs, descendants, statusKb, waitedChildrenCpuMs } from '../../tools/proc-tree.mjs';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const opts = parseFlags(process.argv.slice(2), {
  apps: 10_000,
  'tasks-per-app': 3,
  duration: 30,
  trials: 200,
  clients: 4,
  rounds: 3,
  port: 15353,
  'nsd-port': 15354,
  queries: 100_000,
  workers: '',
  'nsd-server-count': '',
  'cpu-prof': false,
  'probe-in-bench-group': false,
  'latency-only': false,
  keep: false,
});

const cleanups = [];
async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (err) {
      console.log(`cleanup: ${err.message}`);
    }
  }
}
process.on('SIGINT', () => cleanup().then(() => process.exit(0)));


async function main() {
  for (const tool of ['dnsperf', 'nsd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) console.log(`note: ${tool} is not installed; its part is skipped`);
  }
  const hasDnsperf = !opts['latency-only'] && spawnSync('sh', ['-c', 'command -v dnsperf']).status === 0;
  const hasNsd = !opts['latency-only'] && spawnSync('sh', ['-c', 'command -v nsd']).status === 0;

  step('build');
  const build = spawnSync('npx', ['tsc', '-b', 'packages/dns', 'packages/marathon-sim'], { cwd: repo, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);

  const { MarathonSimulator } = await import(join(repo, 'packages/marathon-sim/dist/index.js'));
  const marathon = await import(join(repo, 'packages/marathon/dist/index.js'));
  const dnsPkg = await import(join(repo, 'packages/dns/dist/index.js'));

  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-dns-'));
  if (!opts.keep) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  else console.log(`files kept in ${dir}`);

  // ------------------------------------------------------------------ simulator with the cluster
  step(`simulator: ${opts.apps} apps × ${opts['tasks-per-app']} tasks`);
  const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 10_000, taskStartDelayMs: 5, agents: 40 });
  await sim.start();
  cleanups.push(() => sim.stop());
  const defs = [];
  for (let i = 0; i < opts.apps; i++) {
    defs.push({
      id: `/bench/g${i % 100}/app${i}`,
      instances: opts['tasks-per-app'],
      cmd: 'sleep 1000',
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http' }],
    });
  }
  const loaded = sim.loadApps(defs);
  if (loaded.errors.length) console.log(`  ${loaded.errors.length} apps failed to load, first: ${JSON.stringify(loaded.errors[0])}`);
  // The probe app sits in a group of its own: a change to an app makes Marathon emit
  // group_change_success for its parent group, which the feed checks (a listing without tasks, at most
  // once a second); --probe-in-bench-group puts it beside the 10,000 apps instead (see docs).
  const probeId = opts['probe-in-bench-group'] ? '/bench/probe' : '/probe/app';
  const probeSrv = opts['probe-in-bench-group'] ? '_probe-bench._tcp.marathon.mesos' : '_app-probe._tcp.marathon.mesos';
  await sim.createApp({ id: probeId, instances: 1, cmd: 'sleep 1000', portDefinitions: [{ port: 0, name: 'http' }] });
  await sim.waitForRunning(probeId, 1);
  console.log(`  loaded ${loaded.loaded} apps`);

  // ------------------------------------------------------------------ baton-dns (the real bin)
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ domain: 'mesos', ttl: 60, httpon: false, externalon: false, resolvers: ['127.0.0.1:1'], listener: '127.0.0.1' }));
  const nodeArgs = opts['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(repo, 'bench/dns/profiles')}`] : [];
  const batons = [];
  for (const [i, workers] of countList(opts.workers).entries()) {
    const label = workers === undefined ? 'baton-dns' : `baton-dns --workers ${workers}`;
    const port = opts.port + 2 * i;
    step(label);
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        join(repo, 'packages/dns/bin/baton-dns.js'),
        '--config',
        configFile,
        '--marathon',
        sim.url,
        '--port',
        String(port),
        '--log-level',
        'warn',
        ...(workers === undefined ? [] : ['--workers', String(workers)]),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => stopProcess(child));
    await waitForLine(child, /listening on/, 120_000);
    const tree = descendants(child.pid);
    console.log(`  ready (first sync + listening) in ${((performance.now() - started) / 1000).toFixed(2)} s, RSS ${rssMb(tree)} MB (${tree.map((pid) => rssMb(pid)).join(' + ')})`);
    batons.push({ label, port, workers, pids: () => descendants(child.pid) });
  }
  const baton = batons[batons.length - 1];

  // ------------------------------------------------------------------ the same names, for NSD and for the query mix
  step('zone file and queries');
  let state = new marathon.ClusterState({});
  const client = new marathon.MarathonClient({ urls: [sim.url], timeoutMs: 60_000 });
  let text = await (await fetch(`${sim.url}/v2/apps?embed=apps.tasks`)).text();
  state.replaceAllFromJson(text);
  await client.close();
  const config = dnsPkg.parseDnsConfig({ marathon: [sim.url], listener: '127.0.0.1', resolvers: ['127.0.0.1:1'] }).config;
  let store = new dnsPkg.RecordStore({ domain: 'mesos' });
  dnsPkg.publishNameserver(store, config.soaMname, dnsPkg.listenerAddresses(config.listener));
  const source = new dnsPkg.MarathonRecordSource(state, store, { config });
  source.start();
  source.stop();
  const zone = ['$ORIGIN mesos.', '$TTL 60', '@ IN SOA ns1.mesos. root.ns1.mesos. 1 60 600 86400 60', '@ IN NS ns1.mesos.'];
  const appNames = [];
  const srvNames = [];
  const taskNames = [];
  let records = 0;
  for (const name of store.names()) {
    if (!name.endsWith('.mesos')) continue; // reverse names live in other zones
    const r = store.lookup(name);
    for (const ip of r.a) zone.push(`${name}. IN A ${ip}`);
    for (const ip of r.aaaa) zone.push(`${name}. IN AAAA ${ip}`);
    for (const s of r.srv) zone.push(`${name}. IN SRV 0 1 ${s.port} ${s.target}.`);
    records += r.a.length + r.aaaa.length + r.srv.length;
    if (/^app\d+-g\d+-bench\.marathon\.mesos$/.test(name)) appNames.push(name);
    else if (/^_app\d+-g\d+-bench\._tcp\.marathon\.mesos$/.test(name)) srvNames.push(name);
    else if (/^app\d+-g\d+-bench-\w{5}-s\d+\.marathon\.mesos$/.test(name)) taskNames.push(name);
  }
  writeFileSync(join(dir, 'mesos.zone'), `${zone.join('\n')}\n`);
  console.log(`  ${records} records under ${zone.length - 4} lines; ${appNames.length} app names, ${srvNames.length} SRV names, ${taskNames.length} task names`);
  const lines = [];
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  for (let i = 0; i < opts.queries; i++) {
    const r = Math.random();
    if (r < 0.4) lines.push(`${pick(appNames)} A`);
    else if (r < 0.5) lines.push(`${pick(taskNames)} A`);
    else if (r < 0.8) lines.push(`${pick(srvNames)} SRV`);
    else lines.push(`nx${Math.floor(Math.random() * 1e9)}.marathon.mesos A`);
  }
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, `${lines.join('\n')}\n`);
  // Drop this process's copy of the cluster: its GC pauses would blur the latency trials below.
  state = store = text = undefined;
  zone.length = 0;
  lines.length = 0;
  globalThis.gc?.();
  console.log('  query mix: 40% A (app), 10% A (task), 30% SRV, 20% NXDOMAIN');

  // ------------------------------------------------------------------ NSD
  const nsds = [];
  for (const [i, serverCount] of (hasNsd ? countList(opts['nsd-server-count']) : []).entries()) {
    const label = serverCount === undefined ? 'NSD 4.6' : `NSD server-count ${serverCount}`;
    const port = opts['nsd-port'] + 2 * i;
    const nsdDir = join(dir, `nsd${i}`);
    mkdirSync(nsdDir);
    copyFileSync(join(dir, 'mesos.zone'), join(nsdDir, 'mesos.zone'));
    step(label);
    writeFileSync(
      join(nsdDir, 'nsd.conf'),
      [
        'server:',
        `  port: ${port}`,
        ...(serverCount === undefined ? [] : [`  server-count: ${serverCount}`]),
        '  ip-address: 127.0.0.1',
        '  username: ""',
        '  chroot: ""',
        `  zonesdir: "${nsdDir}"`,
        '  database: ""',
        `  pidfile: "${nsdDir}/nsd.pid"`,
        `  xfrdfile: "${nsdDir}/xfrd.state"`,
        `  zonelistfile: "${nsdDir}/zone.list"`,
        `  logfile: "${nsdDir}/nsd.log"`,
        '  rrl-ratelimit: 0',
        '  verbosity: 1',
        'remote-control:',
        '  control-enable: no',
        'zone:',
        '  name: mesos',
        '  zonefile: mesos.zone',
        '',
      ].join('\n'),
    );
    const nsd = spawn('nsd', ['-d', '-c', join(nsdDir, 'nsd.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
    cleanups.push(() => stopProcess(nsd));
    const t0 = performance.now();
    await waitFor(async () => (await udpQuery(port, appNames[0], 1, 500))?.ancount > 0 || nsd.exitCode !== null, 120_000);
    if (nsd.exitCode !== null) {
      console.log(`  nsd exited (${nsd.exitCode}); log:\n${existsSync(join(nsdDir, 'nsd.log')) ? readFileSync(join(nsdDir, 'nsd.log'), 'utf8') : ''}`);
    } else {
      console.log(`  answering after ${((performance.now() - t0) / 1000).toFixed(2)} s, RSS ${rssMb(descendants(nsd.pid))} MB`);
      nsds.push({ label, port, workers: serverCount, pids: () => descendants(nsd.pid) });
    }
  }
  const nsd = nsds[0];

  // ------------------------------------------------------------------ the ceiling of one Node UDP socket
  const floors = [];
  {
    const label = 'Node floor: bare dgram responder';
    step(label);
    const child = spawn(process.execPath, [join(repo, 'bench/dns/udp-floor.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => stopProcess(child));
    const port = Number(/ready (\d+)/.exec(await waitForLine(child, /ready \d+\n/, 30_000))[1]);
    floors.push({ label, port, workers: undefined, pids: () => descendants(child.pid) });
  }

  // ------------------------------------------------------------------ sanity: both answer the same
  const sample = [appNames[1], srvNames[1], 'nx-sanity.marathon.mesos'];
  for (const name of sample) {
    const qtype = name.startsWith('_') ? 33 : 1;
    const b = await udpQuery(baton.port, name, qtype);
    const n = nsd ? await udpQuery(nsd.port, name, qtype) : undefined;
    console.log(`  ${name}: baton rcode ${b?.rcode} answers ${b?.ancount}${n ? `; nsd rcode ${n.rcode} answers ${n.ancount}` : ''}`);
  }

  // ------------------------------------------------------------------ dnsperf
  // The machine is shared, so the load changes during a run: the time is cut into rounds and the
  // servers take turns (alternating which goes first), each round running dnsperf for
  // duration / rounds seconds. Figures are the totals over all rounds.
  const results = {};
  if (hasDnsperf) {
    const targets = [...nsds, ...batons, ...floors];
    const rounds = Math.max(1, opts.rounds);
    const slice = Math.max(1, Math.round(opts.duration / rounds));
    step(`dnsperf -c ${opts.clients} -l ${slice}, ${rounds} rounds per server, taking turns`);
    for (const { label } of targets) results[label] = { queries: 0, seconds: 0, latencySum: 0, latencySq: 0, lost: 0, sent: 0, serverMs: 0, serverUserMs: 0, dnsperfMs: 0, loads: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const { label, port, pids } of order) {
        const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-c', String(opts.clients), '-l', String(slice)];
        const serverBefore = cpuTimesMs(pids());
        const dnsperfBefore = waitedChildrenCpuMs();
        const r = await runCapture('dnsperf', args);
        const serverAfter = cpuTimesMs(pids());
        const serverUserMs = serverAfter.user - serverBefore.user;
        const serverMs = serverUserMs + serverAfter.sys - serverBefore.sys;
        const dnsperfMs = waitedChildrenCpuMs() - dnsperfBefore;
        const load = loadavg()[0];
        const completed = num(/Queries completed:\s+(\d+)/, r);
        const sent = num(/Queries sent:\s+(\d+)/, r);
        const seconds = num(/Run time \(s\):\s+([\d.]+)/, r);
        const avg = num(/Average Latency \(s\):\s+([\d.]+)/, r);
        const sd = num(/Latency StdDev \(s\):\s+([\d.]+)/, r);
        const acc = results[label];
        acc.queries += completed;
        acc.sent += sent;
        acc.lost += sent - completed;
        acc.seconds += seconds;
        acc.latencySum += avg * completed;
        acc.latencySq += (sd * sd + avg * avg) * completed;
        acc.serverMs += serverMs;
        acc.serverUserMs += serverUserMs;
        acc.dnsperfMs += dnsperfMs;
        acc.loads.push(load);
        console.log(
          `  round ${round + 1} ${label}: ${(completed / seconds).toFixed(0)} qps, avg ${(avg * 1000).toFixed(3)} ms, ` +
            `CPU ${usPerQuery(serverMs, completed)} µs/query (${usPerQuery(serverUserMs, completed)} user; dnsperf ${usPerQuery(dnsperfMs, completed)}), load ${load.toFixed(2)}`,
        );
      }
    }
    for (const { label, pids, workers } of targets) {
      const acc = results[label];
      const avg = acc.latencySum / acc.queries;
      results[label] = {
        workers,
        cpuUs: `${usPerQuery(acc.serverMs, acc.queries)} (${usPerQuery(acc.serverUserMs, acc.queries)})`,
        dnsperfUs: usPerQuery(acc.dnsperfMs, acc.queries),
        load: `${Math.min(...acc.loads).toFixed(2)}–${Math.max(...acc.loads).toFixed(2)}`,
        qps: acc.queries / acc.seconds,
        avgMs: avg * 1000,
        sdMs: Math.sqrt(Math.max(0, acc.latencySq / acc.queries - avg * avg)) * 1000,
        lost: `${acc.lost} (${((100 * acc.lost) / Math.max(1, acc.sent)).toFixed(2)}%)`,
        rss: rssMb(pids()),
        hwm: hwmMb(pids()),
      };
    }
  }

  // ------------------------------------------------------------------ event → answer latency
  step(`event-to-answer latency, ${opts.trials} trials on ${probeId}`);
  const latencies = { create: [], kill: [] };
  let lastEvent = { at: 0, state: '' };
  const offEvent = sim.onEvent((e) => {
    if (e.eventType === 'status_update_event' && e.appId === probeId) lastEvent = { at: performance.now(), state: e.taskStatus };
  });
  const poller = await createPoller(baton.port, probeSrv, 33);
  cleanups.push(() => poller.close());
  const count = async () => (await poller.ask())?.ancount ?? -1;
  let n = await count();
  for (let t = 0; t < opts.trials; t++) {
    const create = t % 2 === 0;
    lastEvent = { at: 0, state: '' };
    if (create) await sim.scaleApp(probeId, n + 1);
    else {
      const tasks = (await (await fetch(`${sim.url}/v2/apps${probeId}/tasks`)).json()).tasks.filter((x) => x.state === 'TASK_RUNNING');
      sim.killTask(tasks[tasks.length - 1].id, { replace: false });
    }
    const want = create ? n + 1 : n - 1;
    const deadline = performance.now() + 5000;
    let got = await count();
    while (got !== want && performance.now() < deadline) got = await count();
    const answeredAt = performance.now();
    const expectState = create ? 'TASK_RUNNING' : 'TASK_KILLED';
    if (got === want && lastEvent.state === expectState && lastEvent.at > 0) latencies[create ? 'create' : 'kill'].push(answeredAt - lastEvent.at);
    else console.log(`  trial ${t}: answer ${got} (wanted ${want}), last event ${lastEvent.state}`);
    n = got;
    if (create) await new Promise((r) => setTimeout(r, 2)); // let the deployment finish before the next kill
  }
  offEvent();
  const all = [...latencies.create, ...latencies.kill];

  // ------------------------------------------------------------------ report
  step('results');
  const b = results[batons[0].label];
  const s = nsd && results[nsd.label];
  // Each baton-dns is compared with the NSD of as many server processes as it has workers, else the first NSD.
  const peerOf = (r) => (r.workers !== undefined && nsds.find((n) => n.workers === r.workers) ? results[nsds.find((n) => n.workers === r.workers).label] : s);
  const row = (cells) => `| ${cells.join(' | ')} |`;
  console.log(row(['server', 'qps', 'vs NSD', 'CPU µs/query (user)', 'dnsperf CPU µs/query', 'avg latency', 'latency stddev', 'lost', 'RSS after', 'peak RSS', 'load avg (1 min)']));
  console.log(row(['---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---']));
  for (const [label, r] of Object.entries(results)) {
    const peer = peerOf(r);
    console.log(
      row([
        label,
        r.qps.toFixed(0),
        peer ? (r.qps / peer.qps).toFixed(2) : '—',
        r.cpuUs,
        r.dnsperfUs,
        `${r.avgMs.toFixed(3)} ms`,
        `${r.sdMs.toFixed(3)} ms`,
        r.lost ?? '—',
        `${r.rss} MB`,
        `${r.hwm} MB`,
        r.load,
      ]),
    );
  }
  console.log('');
  console.log(row(['event → answer (baton-dns)', 'trials', 'p50', 'p90', 'p99', 'max']));
  console.log(row(['---', '---', '---', '---', '---', '---']));
  for (const [label, list] of [['task started', latencies.create], ['task killed', latencies.kill], ['all', all]]) {
    console.log(row([label, list.length, ms(pct(list, 50)), ms(pct(list, 90)), ms(pct(list, 99)), ms(pct(list, 100))]));
  }
  console.log('');
  console.log('targets: qps ≥ 0.65 × NSD, event-to-answer p99 ≤ 10 ms, RSS ≤ 250 MB');
  if (b && s) console.log(`  qps ratio ${(b.qps / s.qps).toFixed(2)} ${b.qps / s.qps >= 0.65 ? 'ok' : 'BELOW TARGET'}`);
  if (all.length) console.log(`  event-to-answer p99 ${ms(pct(all, 99))} ${pct(all, 99) <= 10 ? 'ok' : 'ABOVE TARGET'}`);
  if (b) console.log(`  baton-dns peak RSS ${b.hwm} MB ${b.hwm <= 250 ? 'ok' : 'ABOVE TARGET'}`);
}

// ---------------------------------------------------------------------------------------- helpers

function parseFlags(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) {
      console.log(`unknown flag ${argv[i]}; flags: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
      process.exit(0);
    }
    const kind = typeof defaults[key];
    out[key] = kind === 'boolean' ? true : kind === 'string' ? argv[++i] : Number(argv[++i]);
  }
  return out;
}

/** `1,2` → [1, 2]; '' → [undefined] (one server, with its default). */
function countList(text) {
  if (text === '') return [undefined];
  return text.split(',').map((n) => {
    if (!/^\d+$/.test(n) || Number(n) < 1) {
      console.log(`a process count list is like 1,2; got ${text}`);
      process.exit(0);
    }
    return Number(n);
  });
}

function usPerQuery(cpuMsUsed, queries) {
  return queries > 0 ? ((cpuMsUsed * 1e3) / queries).toFixed(1) : '—';
}

function step(what) {
  console.log(`\n# ${what}`);
}

function ms(v) {
  return v === undefined ? '—' : `${v.toFixed(2)} ms`;
}

function pct(list, p) {
  if (!list.length) return undefined;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function num(re, text) {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

// A server's memory and CPU are its processes' sums (NSD: main, xfrd and servers; baton-dns: primary and workers).
const rssMb = (pids) => Math.round(statusKb(pids, 'VmRSS') / 1024);
const hwmMb = (pids) => Math.round(statusKb(pids, 'VmHWM') / 1024);

function waitForLine(child, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} after ${timeoutMs} ms`)), timeoutMs);
    child.stdout.on('data', (d) => {
      buf += d;
      if (re.test(buf)) {
        clearTimeout(timer);
        resolve(buf);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${re}`));
    });
  });
}

async function waitFor(pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}

function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function runCapture(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', () => resolve(out));
    child.on('error', (err) => resolve(String(err)));
  });
}

/** One UDP socket asking the same question again and again (the latency probe). */
async function createPoller(port, name, qtype) {
  const socket = dgram.createSocket('udp4');
  await new Promise((r) => socket.bind(0, '127.0.0.1', r));
  socket.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const msg = encodeName(name, qtype, 0);
  let id = 0;
  let waiting;
  socket.on('message', (reply) => {
    if (!waiting || reply.readUInt16BE(0) !== waiting.id) return;
    const w = waiting;
    waiting = undefined;
    clearTimeout(w.timer);
    w.resolve({ rcode: reply[3] & 0x0f, ancount: reply.readUInt16BE(6) });
  });
  return {
    ask() {
      return new Promise((resolve) => {
        id = (id + 1) & 0xffff;
        msg.writeUInt16BE(id, 0);
        waiting = { id, resolve, timer: setTimeout(() => { waiting = undefined; resolve(undefined); }, 1000) };
        socket.send(msg);
      });
    },
    close: () => new Promise((r) => socket.close(r)),
  };
}

function encodeName(name, qtype, id) {
  const labels = name.split('.');
  const msg = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 1) + 4);
  msg.writeUInt16BE(id, 0);
  msg.writeUInt16BE(1, 4);
  let off = 12;
  for (const l of labels) {
    msg[off] = l.length;
    off += 1 + msg.write(l, off + 1, 'latin1');
  }
  msg[off++] = 0;
  msg.writeUInt16BE(qtype, off);
  msg.writeUInt16BE(1, off + 2);
  return msg;
}

let queryId = 1;
/** One query over UDP; resolves with { rcode, ancount, tc } or undefined on timeout. */
function udpQuery(port, name, qtype, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const id = queryId++ & 0xffff;
    const msg = encodeName(name, qtype, id);
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (reply) => {
      if (reply.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      socket.close();
      resolve({ rcode: reply[3] & 0x0f, ancount: reply.readUInt16BE(6), tc: (reply[2] & 2) !== 0 });
    });
    socket.on('error', () => {});
    socket.send(msg, port, '127.0.0.1');
  });
}

try {
  await main();
} catch (err) {
  console.log(`bench/dns failed: ${err.stack ?? err}`);
} finally {
  await cleanup();
}
process.exit(0);
