// Resync stall benchmark: the longest event-loop stall while a full resync of a large cluster is
// applied to ClusterState with baton-dns's record store subscribed (what DNS answers wait for).
//
//   npx tsc -b packages/dns && node bench/resync-stall.mjs [--apps 10000] [--tasks-per-app 10]
//
// Compares the synchronous `replaceAllFromJson` (the feed's path before the sliced resync) with
// `replaceAllFromJsonSliced` (the feed's path now), each in a fresh process, for a cold resync (empty
// state → every task) and a resync where every task moved (new host and port). The longest stall is
// the largest gap between two runs of a 1 ms interval timer during the resync (a synchronous resync
// is one gap); perf_hooks.monitorEventLoopDelay's p99 (1 ms resolution) is printed with it. GC pauses
// and, on a busy machine, CPU the process did not get are part of both. Prints a table; never fails
// (a measurement, not a test).

import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const APPS = flag('apps', 10_000);
const TASKS_PER_APP = flag('tasks-per-app', 10);

function payload(generation) {
  const apps = [];
  for (let i = 0; i < APPS; i++) {
    const id = `/bench/group${i % 100}/app${i}`;
    const tasks = [];
    for (let t = 0; t < TASKS_PER_APP; t++) {
      const agent = (i * 7 + t + generation * 13) % 200;
      tasks.push({
        id: `bench_group${i % 100}_app${i}.${String(t).padStart(8, '0')}-b042-11e8-9638-0242ac12001f`,
        appId: id, host: `10.0.${agent >> 8}.${agent & 255}`, slaveId: `S${agent}`, state: 'TASK_RUNNING',
        ports: [31000 + ((i + t + generation) % 1000)], ipAddresses: [{ ipAddress: `172.17.${agent % 250}.${(i + t) % 250}`, protocol: 'IPv4' }],
        stagedAt: '2024-01-01T00:00:00.000Z', startedAt: '2024-01-01T00:00:05.000Z', version: '2024-01-01T00:00:00.000Z',
        healthCheckResults: [{ alive: true, consecutiveFailures: 0, lastSuccess: '2024-01-01T00:01:10.000Z' }],
      });
    }
    apps.push({ id, instances: TASKS_PER_APP, labels: { HAPROXY_GROUP: 'external' }, portDefinitions: [{ port: 10000 + (i % 20000), protocol: 'tcp', name: 'http' }], healthChecks: [{ protocol: 'HTTP', path: '/' }], version: '2024-01-01T00:00:00.000Z', tasks });
  }
  return JSON.stringify({ apps });
}

if (args[0] === '--child') {
  const mode = args[1];
  const { ClusterState, silentLogger } = await import('../packages/marathon/dist/index.js');
  const { RecordStore, MarathonRecordSource } = await import('../packages/dns/dist/index.js');
  const state = new ClusterState();
  const store = new RecordStore({ domain: 'mesos' });
  new MarathonRecordSource(state, store, {
    config: { domain: 'mesos', enforceRfc952: false, ipSources: ['netinfo', 'host'], ptrOn: true, healthyOnly: false },
    logger: silentLogger(),
  }).start();
  const results = {};
  for (const [name, generation] of [['cold', 0], ['every task moved', 1]]) {
    const text = payload(generation);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    let last = performance.now();
    let longest = 0;
    const probe = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    const t0 = performance.now();
    if (mode === 'sync') state.replaceAllFromJson(text);
    else await state.replaceAllFromJsonSliced(text);
    const totalMs = performance.now() - t0;
    // Let the probe see the end of the last stall.
    await new Promise((resolve) => setTimeout(resolve, 5));
    clearInterval(probe);
    histogram.disable();
    results[name] = { totalMs, maxStallMs: longest, p99StallMs: histogram.percentile(99) / 1e6, tasks: state.taskCount };
  }
  console.log(JSON.stringify(results));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
console.log(`resync of ${APPS} apps × ${TASKS_PER_APP} tasks = ${APPS * TASKS_PER_APP} tasks, baton-dns record store subscribed`);
console.log('path                      resync             total ms   longest stall ms   p99 stall ms');
for (const mode of ['sync', 'sliced']) {
  const out = JSON.parse(execFileSync(process.execPath, ['--max-old-space-size=4096', self, '--child', mode, '--apps', String(APPS), '--tasks-per-app', String(TASKS_PER_APP)], { encoding: 'utf8' }));
  for (const [name, r] of Object.entries(out)) {
    const path = mode === 'sync' ? 'replaceAllFromJson' : 'replaceAllFromJsonSliced';
    console.log(`${path.padEnd(26)}${name.padEnd(19)}${r.totalMs.toFixed(0).padStart(8)}   ${r.maxStallMs.toFixed(1).padStart(16)}   ${r.p99StallMs.toFixed(1).padStart(12)}`);
  }
}
