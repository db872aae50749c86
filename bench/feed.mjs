// Feed benchmark: how fast ClusterState takes a full resync and applies status updates.
//
//   npx tsc -b packages/marathon && node --expose-gc bench/feed.mjs [--apps 10000] [--tasks-per-app 10] [--events 1000000]
//
// 1. Generates GET /v2/apps?embed=apps.tasks JSON text (Marathon 1.5+ shape, with health results).
// 2. Times JSON.parse + replaceAll (a cold sync), then a second, unchanged resync.
// 3. Applies status_update_events (60% running updates of existing tasks, 20% kills, 20% new tasks),
//    pre-generated in batches so that only applyEvent is timed; then the same with JSON.parse of each
//    event's `data:` line included, as the SSE feed does.
// Prints a table; never fails (this is a measurement, not a test).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterState } from '../packages/marathon/dist/state.js';

const args = process.argv.slice(2);
function flag(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}
/** Peak RSS of this process (VmHWM on Linux), else the current RSS. */
function peakRss() {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {}
  return process.memoryUsage().rss;
}

// Child mode: a clean process that only reads the payload file, parses it and syncs, so that its RSS
// is what a baton server pays for a cold sync (the payload text, its parse and the state).
if (args[0] === '--sync-only') {
  const viaText = args[2] === 'text';
  const startRss = process.memoryUsage().rss;
  const body = readFileSync(args[1], 'utf8');
  const state = new ClusterState();
  const t0 = performance.now();
  let change;
  if (viaText) {
    change = state.replaceAllFromJson(body).change;
  } else {
    change = state.replaceAll(JSON.parse(body).apps);
  }
  const syncMs = performance.now() - t0;
  globalThis.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  console.log(JSON.stringify({ startRss, syncMs, peak: peakRss(), rss, heapUsed, apps: state.appCount, tasks: state.taskCount, touched: change?.appIds.length }));
  process.exit(0);
}
if (args.includes('--help')) {
  console.log('usage: node --expose-gc bench/feed.mjs [--apps N] [--tasks-per-app N] [--events N]');
  process.exit(0);
}
const APPS = flag('apps', 10_000);
const TASKS_PER_APP = flag('tasks-per-app', 10);
const EVENTS = flag('events', 1_000_000);
const BATCH = 2_000;

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const gc = () => globalThis.gc?.();

// Deterministic pseudo-random numbers (mulberry32), so runs are comparable.
let seed = 42;
function random() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (n) => Math.floor(random() * n);

let uuidCounter = 0;
function uuid() {
  const n = (uuidCounter++).toString(16).padStart(12, '0');
  return `0139427f-b042-11e8-9638-${n}`;
}

const appId = (i) => `/bench/group${i % 100}/app${i}`;
const safe = (id) => id.slice(1).replaceAll('/', '_');

// ------------------------------------------------------------------------ 1. resync payload text

/** The live task ids of each app, mirrored so that generated events stay consistent with the state. */
const live = [];

function task(app, i, id) {
  const agent = pick(200);
  return {
    ipAddresses: [{ ipAddress: `172.17.${agent % 250}.${pick(250)}`, protocol: 'IPv4' }],
    stagedAt: '2024-01-01T00:00:00.000Z',
    state: 'TASK_RUNNING',
    ports: [31000 + pick(1000)],
    startedAt: '2024-01-01T00:00:05.000Z',
    version: '2024-01-01T00:00:00.000Z',
    id,
    appId: app,
    slaveId: `c28a2184-c702-482c-91c8-5af9318434d4-S${agent}`,
    host: `10.0.${agent >> 8}.${agent & 255}`,
    healthCheckResults: [
      {
        alive: true,
        consecutiveFailures: 0,
        firstSuccess: '2024-01-01T00:00:10.000Z',
        lastFailure: null,
        lastSuccess: '2024-01-01T00:01:10.000Z',
        lastFailureCause: null,
        instanceId: id.replace('.', '.marathon-'),
      },
    ],
  };
}

function app(i) {
  const id = appId(i);
  const tasks = [];
  live[i] = [];
  for (let t = 0; t < TASKS_PER_APP; t++) {
    const taskId = `${safe(id)}.${uuid()}`;
    live[i].push(taskId);
    tasks.push(task(id, i, taskId));
  }
  return {
    id,
    cmd: null,
    args: null,
    user: null,
    env: { JAVA_OPTS: '-Xmx512m', SECRET: { secret: 'db' } },
    instances: TASKS_PER_APP,
    cpus: 0.1,
    mem: 128,
    disk: 0,
    gpus: 0,
    executor: '',
    constraints: [],
    fetch: [],
    backoffSeconds: 1,
    backoffFactor: 1.15,
    maxLaunchDelaySeconds: 3600,
    container: {
      type: 'DOCKER',
      docker: { forcePullImage: false, image: 'nginx:1.25', parameters: [], privileged: false },
      volumes: [],
      portMappings: [{ containerPort: 80, hostPort: 0, labels: {}, name: 'http', protocol: 'tcp', servicePort: 10000 + (i % 10000) }],
    },
    healthChecks: [
      { gracePeriodSeconds: 15, intervalSeconds: 3, maxConsecutiveFailures: 10, path: '/', portIndex: 0, protocol: 'MESOS_HTTP', timeoutSeconds: 15, delaySeconds: 15 },
    ],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: `app${i}.example.com` },
    networks: [{ mode: 'container/bridge' }],
    requirePorts: false,
    upgradeStrategy: { maximumOverCapacity: 1, minimumHealthCapacity: 1 },
    version: '2024-01-01T00:00:00.000Z',
    versionInfo: { lastScalingAt: '2024-01-01T00:00:00.000Z', lastConfigChangeAt: '2024-01-01T00:00:00.000Z' },
    killSelection: 'YOUNGEST_FIRST',
    unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
    tasksStaged: 0,
    tasksRunning: TASKS_PER_APP,
    tasksHealthy: TASKS_PER_APP,
    tasksUnhealthy: 0,
    deployments: [],
    tasks,
  };
}

function payloadText() {
  const parts = [];
  for (let i = 0; i < APPS; i++) parts.push(JSON.stringify(app(i)));
  return `{"apps":[${parts.join(',')}]}`;
}

let text = payloadText();
const textBytes = text.length;

// The cold sync is measured in a fresh process (see --sync-only above).
const dir = mkdtempSync(join(tmpdir(), 'baton-feed-'));
const payloadFile = join(dir, 'apps.json');
writeFileSync(payloadFile, text);
function coldSync(mode) {
  try {
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--sync-only', payloadFile, mode], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    return JSON.parse(out);
  } catch (err) {
    return { error: String(err.message ?? err).split('\n')[0] };
  }
}
const coldParsed = coldSync('parse');
const coldText = coldSync('text');
rmSync(dir, { recursive: true, force: true });

const state = new ClusterState();
let changesSeen = 0;
let appsTouched = 0;
state.subscribe((change) => {
  changesSeen++;
  appsTouched += change.appIds.length;
});
let t0 = performance.now();
let parsed = JSON.parse(text);
const first = state.replaceAll(parsed.apps);
const warmSyncMs = performance.now() - t0;

// An unchanged resync (the periodic heal): everything is compared, nothing is emitted.
t0 = performance.now();
parsed = JSON.parse(text);
const second = state.replaceAll(parsed.apps);
const resyncMs = performance.now() - t0;

parsed = undefined;
text = undefined;
gc();
const heapAfterSync = process.memoryUsage().heapUsed;

// -------------------------------------------------------------------------------- 2. status events

const TS = '2024-01-01T01:00:00.000Z';
function statusEvent(i, taskId, taskStatus, n) {
  const agent = pick(200);
  return {
    slaveId: `c28a2184-c702-482c-91c8-5af9318434d4-S${agent}`,
    taskId,
    taskStatus,
    message: '',
    appId: appId(i),
    host: `10.0.${agent >> 8}.${agent & 255}`,
    ipAddresses: [{ ipAddress: `172.17.${agent % 250}.${n % 250}`, protocol: 'IPv4' }],
    ports: [31000 + (n % 1000)],
    version: '2024-01-01T00:00:00.000Z',
    eventType: 'status_update_event',
    timestamp: TS,
  };
}

const mix = { update: 0, kill: 0, add: 0 };
function batch(size, n0) {
  const events = new Array(size);
  for (let k = 0; k < size; k++) {
    const n = n0 + k;
    const i = pick(APPS);
    const tasks = live[i];
    const roll = random();
    if (roll < 0.6 && tasks.length > 0) {
      mix.update++;
      events[k] = statusEvent(i, tasks[pick(tasks.length)], n % 7 === 0 ? 'TASK_KILLING' : 'TASK_RUNNING', n);
    } else if (roll < 0.8 && tasks.length > 0) {
      mix.kill++;
      const victim = pick(tasks.length);
      events[k] = statusEvent(i, tasks[victim], 'TASK_KILLED', n);
      tasks[victim] = tasks[tasks.length - 1];
      tasks.pop();
    } else {
      mix.add++;
      const taskId = `${safe(appId(i))}.${uuid()}`;
      tasks.push(taskId);
      events[k] = statusEvent(i, taskId, 'TASK_STAGING', n);
    }
  }
  return events;
}

function run(withParse) {
  let elapsed = 0;
  let errors = 0;
  for (let done = 0; done < EVENTS; done += BATCH) {
    const size = Math.min(BATCH, EVENTS - done);
    const events = batch(size, done);
    if (withParse) {
      const lines = events.map((e) => JSON.stringify(e));
      const start = performance.now();
      for (let k = 0; k < size; k++) if (state.applyEvent(JSON.parse(lines[k])).error) errors++;
      elapsed += performance.now() - start;
    } else {
      const start = performance.now();
      for (let k = 0; k < size; k++) if (state.applyEvent(events[k]).error) errors++;
      elapsed += performance.now() - start;
    }
  }
  return { elapsed, errors };
}

const versionBefore = state.version;
const applyOnly = run(false);
const versionsApplyOnly = state.version - versionBefore;
const withParse = run(true);
gc();
const heapAfterEvents = process.memoryUsage().heapUsed;

// ------------------------------------------------------------------------------------- 3. report

const rate = (ms) => `${Math.round(EVENTS / (ms / 1000)).toLocaleString('en-US')}/s`;
const ms = (cold) => (typeof cold.syncMs === 'number' ? `${cold.syncMs.toFixed(0)} ms` : `n/a (${cold.error})`);
const rss = (cold) => (cold.peak ? `${mb(cold.peak)} peak, ${mb(cold.rss)} after GC (heap used ${mb(cold.heapUsed)}; node alone ${mb(cold.startRss)})` : 'n/a');
const rows = [
  ['apps / tasks in the payload', `${APPS.toLocaleString('en-US')} / ${(APPS * TASKS_PER_APP).toLocaleString('en-US')}`],
  ['payload size', mb(textBytes)],
  ['cold sync, replaceAll(JSON.parse(text).apps): time', ms(coldParsed)],
  ['cold sync, replaceAll(JSON.parse(text).apps): RSS', rss(coldParsed)],
  ['cold sync, replaceAllFromJson(text): time (≤ 2 s)', ms(coldText)],
  ['cold sync, replaceAllFromJson(text): RSS (≤ 250 MB)', rss(coldText)],
  ['sync in the bench process: parse + replaceAll', `${warmSyncMs.toFixed(0)} ms (appIds ${first?.appIds.length ?? 0})`],
  ['unchanged resync: parse + compare', `${resyncMs.toFixed(0)} ms (change: ${second ? 'yes' : 'none'})`],
  ['status events per pass', `${EVENTS.toLocaleString('en-US')} (over both passes: update ${mix.update}, kill ${mix.kill}, new ${mix.add})`],
  ['applyEvent (≥ 200k/s)', `${rate(applyOnly.elapsed)}  (${versionsApplyOnly} changes, ${applyOnly.errors} errors)`],
  ['JSON.parse + applyEvent', `${rate(withParse.elapsed)}  (${withParse.errors} errors)`],
  ['state at the end', `${state.appCount} apps, ${state.taskCount} tasks, version ${state.version}`],
  ['subscriber saw', `${changesSeen} changes, ${appsTouched} app ids`],
  ['heap used in the bench process: after sync / after events', `${mb(heapAfterSync)} / ${mb(heapAfterEvents)}${globalThis.gc ? '' : ' (no --expose-gc: includes garbage)'}`],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(`baton feed benchmark (node ${process.version}, ${process.platform}/${process.arch})`);
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
