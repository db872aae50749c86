// The SMACK IoT demo (`pnpm demo`): on one machine, the DC/OS deployment baton replaces —
// Marathon (baton-sim --exec), Mesos-DNS (baton-dns), ZooKeeper with two Kafka brokers, marathon-lb
// external and internal (baton-lb), and the apps meter (an Akka cluster), simulator and web.
// Prints what to try; Ctrl-C stops everything it started.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, delimiter } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readSettings, checkPorts, SettingsError } from './settings.mjs';
import { startZooKeeper, zooKeeperMissing } from './zookeeper.mjs';
import { demoApps, KAFKA_CHROOT } from './apps.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (pkg, name) => join(root, 'packages', pkg, 'bin', `${name}.js`);
const START_TIMEOUT_MS = Number(process.env.SMACK_START_TIMEOUT_MS || 180_000);

const say = (line = '') => process.stdout.write(`${line}\n`);
const fail = (message, code = 1) => {
  process.stderr.write(`smack-iot: ${message}\n`);
  process.exit(code);
};

// ---- settings and pre-flight checks ---------------------------------------------------------------

let settings;
try {
  settings = readSettings();
} catch (error) {
  if (error instanceof SettingsError) fail(error.message, 2);
  throw error;
}
const missingBuild = ['marathon-sim', 'dns', 'lb', 'discovery'].filter((pkg) => !existsSync(join(root, 'packages', pkg, 'dist', 'cli.js')));
if (missingBuild.length > 0) fail(`packages not built (${missingBuild.join(', ')}): run \`pnpm build\` (or \`pnpm demo\`, which builds first)`);
const portProblems = await checkPorts(settings);
if (portProblems.length > 0) fail(`cannot start:\n  ${portProblems.join('\n  ')}`);

const s = settings;
const logDir = mkdtempSync(join(tmpdir(), 'smack-iot-'));
const marathonUrl = `http://127.0.0.1:${s.marathonPort}`;
const dnsServer = `127.0.0.1:${s.dnsPort}`;

// ---- processes ------------------------------------------------------------------------------------

/** Started processes, stopped in reverse order. */
const started = [];
let shuttingDown = false;

// Marathon first (it stops every task: proxies, meter, simulator, web, brokers), then DNS and ZooKeeper.
const STOP_ORDER = ['baton-sim', 'baton-dns', 'zookeeper'];
async function stopAll() {
  const ordered = [...started].sort((a, b) => STOP_ORDER.indexOf(a.name) - STOP_ORDER.indexOf(b.name));
  for (const proc of ordered) await proc.stop();
}

async function shutdown(reason, code) {
  if (shuttingDown) return;
  shuttingDown = true;
  say(`\nsmack-iot: ${reason}: stopping…`);
  const forced = setTimeout(() => {
    process.stderr.write('smack-iot: still stopping after 20 s; killing what is left\n');
    for (const proc of started) proc.kill('SIGKILL');
    process.exit(1);
  }, 20_000);
  await stopAll();
  clearTimeout(forced);
  say('smack-iot: stopped (every process it started has exited)');
  // Logs are kept after a failure, or with SMACK_KEEP_LOGS=1.
  if (code === 0 && !process.env.SMACK_KEEP_LOGS) rmSync(logDir, { recursive: true, force: true });
  else say(`smack-iot: logs kept in ${logDir}`);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

/** Spawns a node bin, logs stderr to a file, resolves once stdout prints a line matching `ready`. */
async function startBin(name, args, { ready, env }) {
  const logPath = join(logDir, `${name}.log`);
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', log], env: env ?? process.env });
  closeSync(log);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  const proc = {
    name,
    child,
    kill: (signal) => !gone && child.kill(signal),
    stop: async () => {
      if (gone) return;
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(killer);
    },
  };
  started.push(proc);
  void exited.then(({ code, signal }) => {
    gone = true;
    if (!shuttingDown) void shutdown(`${name} exited unexpectedly (${signal ?? `status ${code}`}; log: ${logPath})`, 1);
  });
  const lines = createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s (log: ${logPath})`)), 60_000);
    lines.on('line', (text) => {
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    void exited.then(() => reject(new Error(`${name} exited during start-up (log: ${logPath})`)));
  });
  lines.on('line', () => undefined); // keep draining stdout
  return { ...proc, line };
}

async function marathon(method, path, body) {
  const res = await fetch(`${marathonUrl}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(3_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// ---- start ----------------------------------------------------------------------------------------

async function start() {
  say(`smack-iot: starting the SMACK IoT demo (logs in ${logDir})`);

  let kafkaZk;
  if (s.zookeeper) {
    const missing = zooKeeperMissing();
    if (missing) {
      say(`smack-iot: ${missing}; running without it: simulator finds the Kafka brokers by DNS SRV (_kafka._tcp.marathon.mesos) instead`);
    } else {
      const zk = await startZooKeeper({ port: s.zkPort, dir: join(logDir, 'zookeeper') });
      started.push({ name: 'zookeeper', kill: (sig) => zk.child.kill(sig), stop: zk.stop });
      void zk.exited.then(() => !shuttingDown && void shutdown('ZooKeeper exited unexpectedly', 1));
      kafkaZk = zk.url(KAFKA_CHROOT);
      say(`smack-iot: ZooKeeper on ${zk.connectString}`);
    }
  } else {
    say('smack-iot: SMACK_ZOOKEEPER=off: simulator finds the Kafka brokers by DNS SRV (_kafka._tcp.marathon.mesos)');
  }

  // Tasks find baton-env, baton-lb and node on PATH, as they would in their images.
  const taskPath = [join(root, 'node_modules', '.bin'), dirname(process.execPath), process.env.PATH].join(delimiter);
  await startBin('baton-sim', [bin('marathon-sim', 'baton-sim'), '--exec', '--host', '127.0.0.1', '--port', String(s.marathonPort), '--log-level', 'info'], {
    ready: /^baton-sim listening/,
    // Task sandboxes (each task's stdout/stderr) go under the log dir.
    env: { ...process.env, PATH: taskPath, TMPDIR: logDir },
  });
  say(`smack-iot: baton-sim (Marathon) on ${marathonUrl}`);

  const dnsConfig = join(logDir, 'baton-dns.json');
  writeFileSync(dnsConfig, `${JSON.stringify({ domain: 'mesos', HTTPListener: '127.0.0.1', httpon: true, dnson: true, externalOn: true, ttl: 5 }, null, 2)}\n`);
  await startBin('baton-dns', [bin('dns', 'baton-dns'), '--config', dnsConfig, '--marathon', marathonUrl, '--listener', '127.0.0.1', '--port', String(s.dnsPort), '--http-port', String(s.dnsHttpPort), '--log-level', 'info'], {
    ready: /^baton-dns listening/,
  });
  say(`smack-iot: baton-dns on ${dnsServer} (udp+tcp), HTTP API on http://127.0.0.1:${s.dnsHttpPort}`);

  const apps = demoApps(s, { marathonUrl, dnsServer, kafkaZk });
  for (const app of apps) await marathon('POST', '/v2/apps', app);
  say(`smack-iot: created ${apps.map((a) => a.id).join(', ')}; waiting for them to run…`);

  await waitUntilReady(apps);
  printWhatToTry(kafkaZk);
}

async function waitUntilReady(apps) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let missing = 'apps';
  const ext = s.externalIp;
  const checks = [
    async () => {
      const { apps: live } = await marathon('GET', '/v2/apps');
      const behind = apps
        .map((want) => live.find((a) => a.id === want.id))
        .filter((a) => !a || a.tasksRunning < a.instances || (a.healthChecks?.length > 0 && a.tasksHealthy < a.instances));
      return behind.length === 0 || `${behind.map((a) => a?.id).join(', ')} not running and healthy yet`;
    },
    async () => (await getJson(`http://${ext}:${s.webPort}/config.json`)).meterUrl ? true : 'web not served by marathon-lb yet',
    async () => (await getJson(`http://${ext}:${s.meterPort}/cluster/members`)).members.every((m) => m.ok) || 'meter cluster view incomplete',
    async () => (await getJson(`http://${ext}:${s.simulatorPort}/status`)).sent > 0 || 'no readings sent yet',
  ];
  for (;;) {
    let ok = true;
    for (const check of checks) {
      const result = await check().catch((error) => error.message);
      if (result !== true) {
        missing = result;
        ok = false;
        break;
      }
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${START_TIMEOUT_MS / 1000} s: ${missing} (logs in ${logDir})`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function printWhatToTry(kafkaZk) {
  const ext = s.externalIp;
  const int = s.internalIp;
  const dig = `dig @127.0.0.1 -p ${s.dnsPort} +short`;
  say(`
SMACK IoT demo is ready.

  dashboard        http://${ext}:${s.webPort}/          (web, through marathon-lb on its service port)
  Marathon         ${marathonUrl}/v2/apps   (baton-sim; events: curl -N -H 'Accept: text/event-stream' ${marathonUrl}/v2/events)
  DNS              baton-dns on ${dnsServer}, HTTP API http://127.0.0.1:${s.dnsHttpPort}/v1/services/_meter._tcp.marathon.mesos
  marathon-lb      ${ext}  stats http://${ext}:${s.externalAdminPort}/haproxy?stats   status http://${ext}:${s.externalAdminPort}/_baton/status
  marathon-lb-int  ${int}  stats http://${int}:${s.internalAdminPort}/haproxy?stats   status http://${int}:${s.internalAdminPort}/_baton/status
  Kafka brokers    ${kafkaZk ? `registered in ZooKeeper at ${kafkaZk}/brokers/ids` : 'found by DNS SRV _kafka._tcp.marathon.mesos (no ZooKeeper)'}

Try, in another terminal:
  ${dig} meter.marathon.mesos                          # meter's tasks
  ${dig} SRV _meter._tcp.marathon.mesos                # ... with their ports
  ${dig} marathon-lb-internal.marathon.mesos           # ${int}: where simulator sends its readings
  curl -s -H 'Host: meter.example.com' http://${ext}:${s.externalHttpPort}/cluster; echo     # meter by vhost
  curl -s http://${ext}:${s.meterPort}/cluster/members; echo                                 # by service port: every instance's seeds
  curl -s http://${ext}:${s.simulatorPort}/status; echo                                      # readings sent, KAFKA_BROKERS_LIST
  curl -s http://${int}:${s.internalAdminPort}/_haproxy_getconfig                            # the internal proxy's live config

Scale meter and watch DNS, both proxies and the dashboard follow:
  curl -s -X PUT -H 'Content-Type: application/json' -d '{"instances":5}' ${marathonUrl}/v2/apps/meter; echo
  ${dig} meter.marathon.mesos
  curl -s http://${ext}:${s.externalAdminPort}/haproxy?stats\\;csv | grep ^meter
Kill a task (Marathon replaces it):
  curl -s -X DELETE ${marathonUrl}/v2/apps/meter/tasks/$(curl -s ${marathonUrl}/v2/apps/meter/tasks | node -pe 'JSON.parse(require("fs").readFileSync(0)).tasks[0].id'); echo

Task logs: ${logDir}/baton-sim-*/<task id>-*/stdout (e.g. meter's seeds: tail ${logDir}/baton-sim-*/meter.*/stdout)
Press Ctrl-C to stop.`);
}

start().catch(async (error) => {
  process.stderr.write(`smack-iot: ${error.message}\n`);
  await shutdown('start-up failed', 1);
});
