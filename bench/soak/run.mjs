// bench/soak: baton-dns and baton-lb (the real bins; baton-lb as one process, --workers 1, so its memory
// is one process's) following the simulator through minutes of task
// churn while DNS and HTTP load runs against them, and attackers beside it.
//   node bench/soak/run.mjs [--minutes 10] [--attackers on|off] [--skip-build] [--dns-qps 500]
//                           [--http-concurrency 8] [--report-seconds 60]      (--help: the options)
//
// The simulator runs in this process with two apps:
//   /web    host networking, HAPROXY_0_VHOST=web.soak: its virtual tasks (127.0.1.x:31xxx) are served
//           by HTTP servers this script opens and closes as the tasks start and stop; HTTP load goes
//           through baton-lb's :80 with Host web.soak.
//   /names  container networking (one IP per task) with health checks: DNS load asks baton-dns
//           (--healthy-only) for names.marathon.mesos.
// Churn every ~1.5 s: scale either app up or down, kill a task (its backend closes abruptly), flap a
// task's health (unhealthy for 3 s).
// Attackers (on by default; bench/soak/attackers.mjs): 4 pipelining non-readers and 16 slow-body
// senders against baton-lb, 4 DNS-over-TCP non-readers against baton-dns, each connection at most
// 40 s; and a hostile feed phase (from 30% to 50% of the run) in which a second baton-dns/baton-lb
// pair, following the simulator through a proxy, gets an SSE line that never ends on /v2/events. The
// second pair is probed (1 DNS query and 1 HTTP request a second) and its RSS reported; its answers
// are not judged (its routes may lag while its feed is cut and resynced).
// Every minute: RSS and heap of both servers (used/total, and live = left after the full GC the
// probe forces every 30 s), queries, wrong answers, HTTP requests and failures.
//   wrong answer    = an A record for a /names task that was not running (and healthy) per the
//                     simulator at any time in the last GRACE_MS;
//   failed request  = non-2xx or connection error, not within KILL_EXCUSE_MS after a /web task was killed.
// Target: zero wrong answers, zero failed requests outside killed backends, RSS flat (every sample
// from minute 1 to the end within ±10% of minute 1's). Never fails the build: it always exits 0.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { dnsTcpNonReaders, hostileMarathon, pipeliningNonReaders, slowBodySenders } from './attackers.mjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const HELP = `node bench/soak/run.mjs [options]
  --minutes <n>           how long the soak runs (default 10; fractions allowed, e.g. 0.5)
  --attackers <on|off|list>  run the attackers beside the load (default on; --no-attackers = off);
                          a list picks some of pipelining,slow-body,dns-tcp,feed
  --dns-qps <n>           UDP queries a second for names.marathon.mesos (default 500)
  --http-concurrency <n>  keep-alive HTTP clients in a closed loop through baton-lb (default 8)
  --report-seconds <n>    seconds between report lines (default 60)
  --skip-build            do not run tsc -b first
  --help                  this text
Always exits 0; the summary says whether the target was met.`;
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const known = new Set(['--minutes', '--attackers', '--dns-qps', '--http-concurrency', '--report-seconds', '--skip-build', '--no-attackers']);
const withValue = new Set(['--minutes', '--attackers', '--dns-qps', '--http-concurrency', '--report-seconds']);
for (let i = 0; i < argv.length; i++) {
  if (!known.has(argv[i])) {
    process.stderr.write(`bench/soak: unknown option ${argv[i]}\n${HELP}\n`);
    process.exit(2);
  }
  if (withValue.has(argv[i])) i++;
}
const MINUTES = Number(opt('minutes', 10));
const ATTACKER_KINDS = ['pipelining', 'slow-body', 'dns-tcp', 'feed'];
const attackersOpt = argv.includes('--no-attackers') ? 'off' : opt('attackers', 'on');
const enabled = new Set(attackersOpt === 'on' ? ATTACKER_KINDS : attackersOpt === 'off' ? [] : attackersOpt.split(','));
for (const kind of enabled) {
  if (!ATTACKER_KINDS.includes(kind)) {
    process.stderr.write(`bench/soak: --attackers takes on, off or a list of ${ATTACKER_KINDS.join(',')}; not ${kind}\n`);
    process.exit(2);
  }
}
const ATTACKERS = enabled.size > 0;
const REPORT_MS = Number(opt('report-seconds', 60)) * 1_000;
const DNS_QPS = Number(opt('dns-qps', 500));
const HTTP_CONCURRENCY = Number(opt('http-concurrency', 8));
const GRACE_MS = 1_000;
const KILL_EXCUSE_MS = 2_000;
const CHURN_MS = 1_500;

const tmp = mkdtempSync(join(tmpdir(), 'baton-soak-'));
const children = [];
const timers = [];
let stopping = false;

function log(line) {
  process.stdout.write(`${line}\n`);
}

function startBin(name, bin, args, memFile) {
  const child = spawn(process.execPath, ['--expose-gc', '--import', pathToFileURL(join(root, 'bench/soak/mem-probe.mjs')).href, join(root, bin), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BATON_SOAK_MEM_FILE: memFile },
  });
  children.push(child);
  let out = '';
  let errTail = '';
  // Only the start-up line is looked for; baton-lb's access log (JSON on stdout) keeps flowing after it.
  child.stdout.on('data', (d) => (out = (out + d).slice(-64 * 1024)));
  child.stderr.on('data', (d) => (errTail = (errTail + d).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (!stopping) log(`!! ${name} exited (${code ?? signal}); last stderr:\n${errTail}`);
  });
  return {
    child,
    memFile,
    async line(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = pattern.exec(out);
        if (m) return m;
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      throw new Error(`${name} did not start: ${out}\n${errTail}`);
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

function memOf(proc) {
  try {
    return JSON.parse(readFileSync(proc.memFile, 'utf8'));
  } catch {
    return undefined;
  }
}

// --- DNS ------------------------------------------------------------------------------------------

function encodeQuery(id, name) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header[2] = 1;
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

function aRecords(reply) {
  let off = 12;
  const skipName = () => {
    for (;;) {
      const b = reply[off];
      if (b === 0) return void off++;
      if ((b & 0xc0) === 0xc0) return void (off += 2);
      off += 1 + b;
    }
  };
  for (let q = reply.readUInt16BE(4); q > 0; q--) {
    skipName();
    off += 4;
  }
  const out = [];
  for (let n = reply.readUInt16BE(6); n > 0; n--) {
    skipName();
    const type = reply.readUInt16BE(off);
    const rdlen = reply.readUInt16BE(off + 8);
    if (type === 1) out.push([...reply.subarray(off + 10, off + 14)].join('.'));
    off += 10 + rdlen;
  }
  return out;
}

/** The status of one GET /soak (Host web.soak) through baton-lb, 0 on a connection error. */
function firstStatus(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/soak', headers: { host: 'web.soak', connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

// --- main -----------------------------------------------------------------------------------------

async function main() {
  if (!argv.includes('--skip-build')) {
    const r = spawnSync('npx', ['tsc', '-b', 'packages/dns', 'packages/lb', 'packages/marathon-sim'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  }
  const { MarathonSimulator } = await import(pathToFileURL(join(root, 'packages/marathon-sim/dist/index.js')).href);
  const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 5_000, taskStartDelayMs: 20 });
  await sim.start();

  // Backends of /web: opened when a task runs, closed when it stops (abruptly when killed).
  const backends = new Map(); // taskId -> http.Server
  const killedAt = [];
  let backendBindFailures = 0;
  function openBackend(task) {
    if (backends.has(task.taskId)) return;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${task.taskId}\n`);
      });
    });
    server.keepAliveTimeout = 5_000;
    server.on('error', () => backendBindFailures++);
    server.listen(task.ports[0], task.host);
    backends.set(task.taskId, server);
  }
  function closeBackend(taskId, abrupt) {
    const server = backends.get(taskId);
    if (!server) return;
    backends.delete(taskId);
    server.close();
    if (abrupt) server.closeAllConnections();
    else server.closeIdleConnections();
  }
  sim.onEvent((e) => {
    if (e.eventType !== 'status_update_event' || e.appId !== '/web') return;
    if (e.taskStatus === 'TASK_RUNNING') openBackend(e);
    else if (e.taskStatus !== 'TASK_STAGING' && e.taskStatus !== 'TASK_STARTING') {
      // Killed by the churn (abrupt) or by a scale-down (graceful): either way a killed backend.
      if (backends.has(e.taskId)) {
        killedAt.push(Date.now());
        if (killedAt.length > 100) killedAt.shift();
      }
      closeBackend(e.taskId, e.taskStatus !== 'TASK_KILLED');
    }
  });

  // What DNS may answer for names.marathon.mesos: running, healthy /names tasks, over the last GRACE_MS.
  const snapshots = [];
  function validNow() {
    const ips = new Set();
    for (const t of sim.tasks('/names')) {
      if (t.state === 'TASK_RUNNING' && t.health.every((h) => h === null || h.alive !== false)) for (const ip of t.ipAddresses) ips.add(ip.ipAddress);
    }
    return ips;
  }
  function snapshot() {
    const now = Date.now();
    snapshots.push({ at: now, ips: validNow() });
    // Keep the last snapshot older than the window too: it was the state at the window's start.
    while (snapshots.length > 2 && snapshots[1].at < now - GRACE_MS - 5_000) snapshots.shift();
  }
  sim.onEvent(() => snapshot());

  await sim.createApp({ id: '/web', instances: 3, cmd: 'serve', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.soak' } });
  await sim.createApp({
    id: '/names',
    instances: 4,
    cmd: 'serve',
    networks: [{ mode: 'container', name: 'dcos' }],
    container: { type: 'MESOS', portMappings: [{ containerPort: 8080, name: 'http' }] },
    healthChecks: [{ protocol: 'MESOS_HTTP', portIndex: 0, path: '/health' }],
  });
  await sim.waitForRunning('/web', 3);
  await sim.waitForRunning('/names', 4);
  snapshot();

  writeFileSync(join(tmp, 'dns.json'), JSON.stringify({ HTTPListener: '127.0.0.1', resolvers: ['127.0.0.1:1'], ttl: 1 }));
  const dns = startBin('baton-dns', 'packages/dns/bin/baton-dns.js', ['--config', join(tmp, 'dns.json'), '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--healthy-only', '--log-level', 'warn'], join(tmp, 'dns-mem.json'));
  const lb = startBin('baton-lb', 'packages/lb/bin/baton-lb.js', ['--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'warn', '--workers', '1'], join(tmp, 'lb-mem.json'));
  const dnsPort = Number((await dns.line(/udp\+tcp 127\.0\.0\.1:(\d+)/))[1]);
  const httpPort = Number((await lb.line(/http=(\d+)/))[1]);
  log(`soak: ${MINUTES} min; baton-dns udp ${dnsPort}, baton-lb http ${httpPort}; DNS ${DNS_QPS} q/s, HTTP ${HTTP_CONCURRENCY} concurrent; attackers ${ATTACKERS ? [...enabled].join(',') : 'off'}`);

  // The hostile feed's pair: a second baton-dns/baton-lb following the simulator through a proxy that
  // sends an endless SSE line during the phase.
  const runMs = MINUTES * 60_000;
  let startedAt = Date.now();
  const hostilePhase = { from: 0.3 * runMs, to: 0.5 * runMs };
  const inHostilePhase = () => Date.now() - startedAt >= hostilePhase.from && Date.now() - startedAt < hostilePhase.to;
  const feedStats = { endlessStreams: 0, endlessBytes: 0, endlessClosedByClient: 0 };
  let proxy;
  let hostile;
  if (enabled.has('feed')) {
    proxy = await hostileMarathon({ upstreamUrl: sim.url, hostile: inHostilePhase, bytesPerSecond: 4 * 1024 * 1024, stats: feedStats });
    const hdns = startBin('baton-dns (hostile feed)', 'packages/dns/bin/baton-dns.js', ['--config', join(tmp, 'dns.json'), '--marathon', proxy.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--healthy-only', '--log-level', 'error'], join(tmp, 'hdns-mem.json'));
    const hlb = startBin('baton-lb (hostile feed)', 'packages/lb/bin/baton-lb.js', ['--marathon', proxy.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'error', '--workers', '1'], join(tmp, 'hlb-mem.json'));
    hostile = { dns: hdns, lb: hlb, dnsPort: Number((await hdns.line(/udp\+tcp 127\.0\.0\.1:(\d+)/))[1]), httpPort: Number((await hlb.line(/http=(\d+)/))[1]) };
    log(`  hostile feed pair: baton-dns udp ${hostile.dnsPort}, baton-lb http ${hostile.httpPort}; endless SSE line from ${(hostilePhase.from / 1000).toFixed(0)} s to ${(hostilePhase.to / 1000).toFixed(0)} s`);
  }
  // baton-lb listens before its first sync from Marathon is done (it answers 503 until then): the soak
  // measures the steady state, so its load starts once the route is there.
  const routeDeadline = Date.now() + 30_000;
  while ((await firstStatus(httpPort)) !== 200) {
    if (Date.now() > routeDeadline) throw new Error('baton-lb did not route web.soak within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  const stats = { queries: 0, wrong: 0, dnsTimeouts: 0, wrongSamples: [], requests: 0, failed: 0, failedDuringKills: 0, failedSamples: [], churn: 0 };
  startedAt = Date.now();

  // Attackers, each bounded in connections and each connection in time (40 s).
  const attackerStats = {
    pipelining: { connections: 0, closedByServer: 0, requestsWritten: 0 },
    slowBody: { connections: 0, closedByServer: 0, answered: {} },
    dnsTcp: { connections: 0, closedByServer: 0, queriesWritten: 0 },
  };
  const hostileProbe = { dnsAsked: 0, dnsAnswered: 0, httpAsked: 0, http200: 0, httpOther: {} };
  const attackers = [];
  const closers = [];
  if (ATTACKERS) {
    const isStopping = () => stopping;
    if (enabled.has('pipelining')) attackers.push(pipeliningNonReaders({ port: httpPort, count: 4, lifetimeMs: 40_000, isStopping, stats: attackerStats.pipelining }));
    if (enabled.has('slow-body')) attackers.push(slowBodySenders({ port: httpPort, count: 16, lifetimeMs: 40_000, isStopping, stats: attackerStats.slowBody }));
    if (enabled.has('dns-tcp')) attackers.push(dnsTcpNonReaders({ port: dnsPort, count: 4, lifetimeMs: 40_000, isStopping, stats: attackerStats.dnsTcp }));
  }
  if (hostile) {
    let wasHostile = false;
    const hudp = dgram.createSocket('udp4');
    await new Promise((resolve) => hudp.bind(0, '127.0.0.1', resolve));
    hudp.on('message', () => hostileProbe.dnsAnswered++);
    timers.push(
      setInterval(() => {
        const now = inHostilePhase();
        if (now && !wasHostile) proxy.turnHostile();
        wasHostile = now;
        hostileProbe.dnsAsked++;
        hudp.send(encodeQuery(hostileProbe.dnsAsked & 0xffff, 'names.marathon.mesos'), hostile.dnsPort, '127.0.0.1');
        hostileProbe.httpAsked++;
        void firstStatus(hostile.httpPort).then((status) => {
          if (status === 200) hostileProbe.http200++;
          else hostileProbe.httpOther[status] = (hostileProbe.httpOther[status] ?? 0) + 1;
        });
      }, 1_000),
    );
    closers.push(() => hudp.close());
  }

  // DNS load: DNS_QPS queries a second, each checked against the simulator.
  const udp = dgram.createSocket('udp4');
  await new Promise((resolve) => udp.bind(0, '127.0.0.1', resolve));
  const outstanding = new Map(); // id -> sentAt
  let nextId = 0;
  udp.on('message', (msg) => {
    const id = msg.readUInt16BE(0);
    const sentAt = outstanding.get(id);
    if (sentAt === undefined) return;
    outstanding.delete(id);
    stats.queries++;
    const ips = aRecords(msg);
    const valid = new Set(validNow());
    for (let i = 0; i < snapshots.length; i++) {
      // Every state in force at some time in [sentAt - GRACE_MS, now].
      const inForce = snapshots[i].at >= sentAt - GRACE_MS || i === snapshots.length - 1 || snapshots[i + 1].at > sentAt - GRACE_MS;
      if (inForce) for (const ip of snapshots[i].ips) valid.add(ip);
    }
    const bad = ips.filter((ip) => !valid.has(ip));
    if (bad.length > 0) {
      stats.wrong++;
      if (stats.wrongSamples.length < 5) {
        const about = bad.map((ip) => {
          const t = sim.tasks('/names').find((x) => x.ipAddresses.some((a) => a.ipAddress === ip));
          return `${ip} (${t ? `${t.state}, health ${JSON.stringify(t.health.map((h) => h?.alive))}` : 'no such task'})`;
        });
        stats.wrongSamples.push(`${new Date().toISOString()} ${about.join(', ')}, asked ${Date.now() - sentAt} ms before`);
      }
    }
  });
  const perTick = Math.max(1, Math.round(DNS_QPS / 50));
  timers.push(
    setInterval(() => {
      const now = Date.now();
      for (const [id, at] of outstanding) {
        if (now - at > 2_000) {
          outstanding.delete(id);
          stats.dnsTimeouts++;
        }
      }
      for (let i = 0; i < perTick; i++) {
        const id = (nextId = (nextId + 1) & 0xffff);
        outstanding.set(id, now);
        udp.send(encodeQuery(id, 'names.marathon.mesos'), dnsPort, '127.0.0.1');
      }
    }, 20),
  );

  // HTTP load: HTTP_CONCURRENCY keep-alive clients in a loop through baton-lb.
  const agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
  const excused = () => killedAt.some((t) => Date.now() - t < KILL_EXCUSE_MS);
  function oneRequest() {
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: httpPort, path: '/soak', headers: { host: 'web.soak' }, agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', (err) => resolve(err.code ?? 'error'));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => resolve(err.code ?? 'error'));
      req.end();
    });
  }
  const loops = Array.from({ length: HTTP_CONCURRENCY }, async () => {
    while (!stopping) {
      const status = await oneRequest();
      stats.requests++;
      if (status !== 200) {
        if (excused()) stats.failedDuringKills++;
        else {
          stats.failed++;
          if (stats.failedSamples.length < 5) stats.failedSamples.push(`${new Date().toISOString()} ${status} (last kill ${killedAt.length ? Date.now() - killedAt.at(-1) : '-'} ms before)`);
        }
      }
    }
  });

  // Churn.
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const running = (appId) => sim.tasks(appId).filter((t) => t.state === 'TASK_RUNNING');
  timers.push(
    setInterval(() => {
      try {
        const action = pick(['scale-web', 'scale-names', 'kill-web', 'kill-names', 'flap']);
        stats.churn++;
        if (action === 'scale-web') void sim.scaleApp('/web', 2 + Math.floor(Math.random() * 4)).catch(() => {});
        else if (action === 'scale-names') void sim.scaleApp('/names', 2 + Math.floor(Math.random() * 7)).catch(() => {});
        else if (action === 'kill-web') {
          const t = pick(running('/web'));
          if (t && running('/web').length > 1) {
            sim.killTask(t.id, { state: 'TASK_FAILED' });
          }
        } else if (action === 'kill-names') {
          const t = pick(running('/names'));
          if (t) sim.killTask(t.id, { state: 'TASK_KILLED' });
        } else {
          const t = pick(running('/names'));
          if (t) {
            sim.setTaskHealth(t.id, false);
            setTimeout(() => {
              try {
                sim.setTaskHealth(t.id, true);
              } catch {
                // killed meanwhile
              }
              snapshot();
            }, 3_000);
          }
        }
        snapshot();
      } catch (err) {
        log(`churn error: ${err.message}`);
      }
    }, CHURN_MS),
  );

  // Report every REPORT_MS: memory of each server, the load's counters, what the attackers met.
  const servers = [
    ['baton-dns', dns],
    ['baton-lb', lb],
    ...(hostile ? [['baton-dns (hostile feed)', hostile.dns], ['baton-lb (hostile feed)', hostile.lb]] : []),
  ];
  const series = new Map(servers.map(([name]) => [name, []])); // name -> [{ t, rss, rssAfterGc, heapLive }]
  const mem = (m) => (m ? `rss ${mb(m.rss)} MB heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB live ${m.heapLive === undefined ? '-' : mb(m.heapLive)} MB` : 'n/a');
  const report = () => {
    const t = Date.now() - startedAt;
    const now = servers.map(([name, proc]) => [name, memOf(proc)]);
    for (const [name, m] of now) if (m) series.get(name).push({ t, rss: m.rss, rssAfterGc: m.rssAfterGc, heapLive: m.heapLive });
    const [d, l] = [now[0][1], now[1][1]];
    log(
      `min ${(t / 60_000).toFixed(1).padStart(4)}: dns ${mem(d)} | lb ${mem(l)} | dns queries ${stats.queries} wrong ${stats.wrong} timeouts ${stats.dnsTimeouts}` +
        ` | http ${stats.requests} failed ${stats.failed} (during kills ${stats.failedDuringKills}) | churn ${stats.churn}`,
    );
    if (ATTACKERS) {
      const a = attackerStats;
      log(
        `          attackers: pipelining ${a.pipelining.connections} conns (${a.pipelining.closedByServer} closed by baton-lb, ${a.pipelining.requestsWritten} requests written)` +
          ` | slow body ${a.slowBody.connections} conns (${a.slowBody.closedByServer} closed by baton-lb, answers ${JSON.stringify(a.slowBody.answered)})` +
          ` | dns tcp ${a.dnsTcp.connections} conns (${a.dnsTcp.closedByServer} closed by baton-dns, ${a.dnsTcp.queriesWritten} queries written)` +
          ` | feed ${!hostile ? 'off' : inHostilePhase() ? 'HOSTILE' : 'normal'}: ${feedStats.endlessStreams} endless streams, ${mb(feedStats.endlessBytes)} MB sent, ${feedStats.endlessClosedByClient} cut by the bins`,
      );
      if (hostile) log(`          hostile-feed pair: hdns ${mem(now[2][1])} | hlb ${mem(now[3][1])} | dns answered ${hostileProbe.dnsAnswered}/${hostileProbe.dnsAsked} http 200 ${hostileProbe.http200}/${hostileProbe.httpAsked} ${JSON.stringify(hostileProbe.httpOther)}`);
    }
  };
  while (Date.now() - startedAt < runMs) {
    await sleep(Math.min(REPORT_MS, runMs - (Date.now() - startedAt)));
    report();
    if (servers.some(([, proc]) => proc.child.exitCode !== null)) {
      log('a server exited: stopping early');
      break;
    }
  }

  stopping = true;
  for (const t of timers) clearInterval(t);
  await Promise.all(loops);
  await Promise.all(attackers);
  log(`summary: ${MINUTES} min, attackers ${ATTACKERS ? [...enabled].join(',') : 'off'}, churn actions ${stats.churn}, /web backend bind failures ${backendBindFailures}`);
  log(`  DNS: ${stats.queries} answers, ${stats.wrong} wrong, ${stats.dnsTimeouts} unanswered${stats.wrongSamples.length ? `; e.g. ${stats.wrongSamples.join('; ')}` : ''}`);
  log(`  HTTP: ${stats.requests} requests, ${stats.failed} failed outside killed backends, ${stats.failedDuringKills} within ${KILL_EXCUSE_MS} ms of a kill${stats.failedSamples.length ? `; e.g. ${stats.failedSamples.join('; ')}` : ''}`);
  // Warm-up: the first minute (or the first sample of a shorter run); flat = every later sample
  // within ±10% of the first one after warm-up. The RSS right after the probe's last full GC is printed
  // beside it (what the process holds without the garbage of the moment). The hostile-feed pair holds
  // up to the feed's line cap (16 MiB) while the phase lasts: its samples from the phase's start to a
  // minute after its end are shown but not judged.
  let flatAll = true;
  const judged = (name, p) => !name.includes('hostile') || p.t < hostilePhase.from || p.t >= hostilePhase.to + 60_000;
  const drift = (values) => `${(((values.at(-1) - values[0]) / values[0]) * 100).toFixed(1)}%`;
  for (const [name, points] of series) {
    const after = points.filter((p) => p.t >= Math.min(60_000, points[0]?.t ?? 0) && judged(name, p));
    const values = after.map((p) => p.rss);
    const base = values[0];
    const devs = values.map((v) => ((v - base) / base) * 100);
    const flat = devs.every((x) => Math.abs(x) <= 10);
    if (!flat) flatAll = false;
    const live = after.filter((p) => p.heapLive !== undefined).map((p) => p.heapLive);
    log(`  RSS ${name} (MB, every ${REPORT_MS / 1000} s): ${points.map((p) => mb(p.rss)).join(' ')}; after full GC: ${points.map((p) => (p.rssAfterGc === undefined ? '-' : mb(p.rssAfterGc))).join(' ')}`);
    log(
      `    RSS after warm-up${name.includes('hostile') ? ' (outside the phase)' : ''} ${Math.min(...devs).toFixed(1)}% .. +${Math.max(...devs).toFixed(1)}%` +
        ` of ${mb(base)} MB, end ${devs.at(-1).toFixed(1)}%: ${flat ? 'flat (±10%)' : 'NOT flat'}; live heap drift ${live.length > 1 ? drift(live) : 'n/a'}`,
    );
  }
  if (ATTACKERS) {
    const a = attackerStats;
    log(`  attackers: pipelining non-readers ${a.pipelining.connections} conns (${a.pipelining.closedByServer} closed by baton-lb), slow bodies ${a.slowBody.connections} (${a.slowBody.closedByServer} closed, answers ${JSON.stringify(a.slowBody.answered)}), DNS TCP non-readers ${a.dnsTcp.connections} (${a.dnsTcp.closedByServer} closed by baton-dns)`);
    if (hostile) log(`  hostile feed: ${feedStats.endlessStreams} endless SSE streams (${mb(feedStats.endlessBytes)} MB), ${feedStats.endlessClosedByClient} closed by the bins; probes of that pair: DNS ${hostileProbe.dnsAnswered}/${hostileProbe.dnsAsked} answered, HTTP ${hostileProbe.http200}/${hostileProbe.httpAsked} 200 (others ${JSON.stringify(hostileProbe.httpOther)})`);
  }
  const ok = stats.wrong === 0 && stats.dnsTimeouts === 0 && stats.failed === 0;
  log(`  target (0 wrong or unanswered DNS queries, 0 failed requests outside killed backends, RSS flat ±10% after warm-up): ${ok && flatAll ? 'met' : 'NOT met'}`);
  for (const close of closers) close();
  await proxy?.close();
  udp.close();
  agent.destroy();
  for (const id of [...backends.keys()]) closeBackend(id, true);
  await sim.stop();
}

function cleanup() {
  stopping = true;
  for (const t of timers) clearInterval(t);
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(0);
});

main()
  .catch((err) => log(`soak failed: ${err.stack ?? err}`))
  .finally(() => {
    cleanup();
    setTimeout(() => process.exit(0), 1_000).unref();
  });
