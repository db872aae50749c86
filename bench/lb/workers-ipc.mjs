// What `baton-lb --workers N` pays to keep a worker's table in step (in-process, no I/O): per route
// change, the apps it named serialised as the cluster's IPC channel does (JSON) and read back, then
// applied to the worker's mirror and built with RouteBuilder.update; per worker start, every app (the
// snapshot) and a build from it. Beside them, what shipping the built table instead would cost (a whole
// RouteTable through the v8 serializer, which keeps its Maps: what each full assembly would send).
// Uses the built packages (`npx tsc -b packages/lb` first).
//   node bench/lb/workers-ipc.mjs [--apps 1000,10000] [--rounds 500] [--big-app-tasks 1000]
// Prints one JSON line per cluster size (times in ms, sizes in bytes; medians unless named).
import { performance } from 'node:perf_hooks';
import { serialize as v8Serialize } from 'node:v8';
import { ClusterState } from '@baton/marathon';
import { AppMirror, appsSnapshot, appsUpdate } from '../../packages/lb/dist/app-mirror.js';
import { RouteBuilder } from '../../packages/lb/dist/routes.js';

const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
};
const SIZES = String(opt('apps', '1000,10000')).split(',').map(Number);
const ROUNDS = Number(opt('rounds', 500));
const BIG = Number(opt('big-app-tasks', 1000));
const GROUPS = 20;

let seq = 0;
const idOf = (i) => `/bench/g${i % GROUPS}/app${i}`;
const taskOf = (id) => ({
  id: `${id.slice(1).replace(/\//g, '_')}.instance-${(++seq).toString(16)}._app.1`,
  appId: id,
  host: `agent${seq % 50}.bench`,
  ports: [31000 + (seq % 1000)],
  state: 'TASK_RUNNING',
  startedAt: '2024-01-01T00:00:00.000Z',
});
const appOf = (id, port, tasks) => ({
  id,
  instances: tasks,
  labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: `${id.slice(1).replace(/\//g, '-')}.bench` },
  networks: [{ mode: 'host' }],
  portDefinitions: [{ port, protocol: 'tcp' }],
  healthChecks: [],
  tasks: Array.from({ length: tasks }, () => taskOf(id)),
});
const serialize = (value) => Buffer.from(JSON.stringify(value));
const deserialize = (bytes) => JSON.parse(bytes.toString('utf8'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => {
  const t0 = performance.now();
  const value = fn();
  return [performance.now() - t0, value];
};

for (const apps of SIZES) {
  const state = new ClusterState();
  const defs = Array.from({ length: apps }, (_, i) => appOf(idOf(i), 10000 + i, 2));
  defs.push(appOf('/bench/big', 9000, BIG));
  state.replaceAll(defs);
  const primary = new RouteBuilder({ groups: ['bench'] });
  const table = primary.build(state);

  // A worker's start: every app, and a build from them.
  const [snapshotMs, snapshotBytes] = time(() => serialize(appsSnapshot(state)));
  const [snapshotReadMs, snapshot] = time(() => deserialize(snapshotBytes));
  const mirror = new AppMirror();
  const worker = new RouteBuilder({ groups: ['bench'] });
  worker.restoreMemory(primary.memory());
  const [workerBuildMs] = time(() => {
    mirror.apply(snapshot);
    return worker.build(mirror);
  });
  // Shipping the table instead: each full assembly (a new app, a removed one) would send all of it.
  const [tableMs, tableBytes] = time(() => v8Serialize(table));

  // Route changes: a task status update of a 2-task app, and of the big app.
  const perChange = {};
  for (const [kind, pick] of [['small app', (k) => idOf((k * 7) % apps)], ['big app', () => '/bench/big']]) {
    const send = [];
    const build = [];
    const bytes = [];
    const primaryBuild = [];
    let change;
    const unsubscribe = state.subscribe((c) => (change = c));
    for (let k = 0; k < ROUNDS; k++) {
      const id = pick(k);
      const task = state.tasksOf(id)[k % 2];
      state.applyEvent({ eventType: 'status_update_event', appId: id, taskId: task.id, taskStatus: k % 4 < 2 ? 'TASK_KILLING' : 'TASK_RUNNING', host: task.host, ports: task.ports });
      primaryBuild.push(time(() => primary.update(state, change))[0]);
      const [sendMs, wire] = time(() => serialize({ t: 'apps', update: appsUpdate(state, change) }));
      const [readMs, message] = time(() => deserialize(wire));
      const [buildMs] = time(() => {
        mirror.apply(message.update);
        return worker.update(mirror, message.update.change);
      });
      send.push(sendMs + readMs);
      build.push(buildMs);
      bytes.push(wire.length);
    }
    unsubscribe();
    perChange[kind] = { bytes: median(bytes), serializeAndReadMs: median(send), workerBuildMs: median(build), primaryBuildMs: median(primaryBuild) };
  }
  const round = (v) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v);
  const out = {
    apps: apps + 1,
    tasks: apps * 2 + BIG,
    perChange: Object.fromEntries(Object.entries(perChange).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([f, x]) => [f, round(x)]))])),
    workerStart: { snapshotBytes: snapshotBytes.length, serializeMs: round(snapshotMs), readMs: round(snapshotReadMs), buildMs: round(workerBuildMs) },
    wholeTable: { bytes: tableBytes.length, serializeMs: round(tableMs) },
    sameTable: worker.table.backends.size === primary.table.backends.size,
  };
  console.log(JSON.stringify(out));
}
