// Cost of RouteBuilder.update at N apps (in-process, no I/O): a task status change of one app, a vhost
// change of one app, and a full build. Uses the built packages (`npx tsc -b packages/lb` first).
//   node bench/lb/routes-update.mjs [--apps 1000] [--groups 20] [--rounds 2000] [--routes path/to/dist/routes.js (another build)]
// Prints one JSON line with the median and p99 per kind, in ms.
import { performance } from 'node:perf_hooks';
import { ClusterState } from '@baton/marathon';
import { pathToFileURL } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const APPS = arg('apps', 1000);
const ROUNDS = arg('rounds', 2000);
const routesAt = process.argv.indexOf('--routes');
const { RouteBuilder } = await import(routesAt === -1 ? '../../packages/lb/dist/routes.js' : pathToFileURL(process.argv[routesAt + 1]).href);
const GROUPS = Math.max(1, arg('groups', 20));
const idOf = (i) => `/bench/g${i % GROUPS}/app${i}`;
const labelsOf = (host) => ({ HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: host, HAPROXY_0_REDIRECT_TO_HTTPS: 'true' });
let seq = 0;
const taskOf = (id, i) => ({
  id: `${id.slice(1).replace(/\//g, '_')}.instance-${(++seq).toString(16)}._app.1`,
  appId: id,
  host: `agent${(i * 7 + seq) % 50}.bench`,
  ports: [31000 + (seq % 1000)],
  state: 'TASK_RUNNING',
  startedAt: '2024-01-01T00:00:00.000Z',
});
const appOf = (i, host = `app${i}.bench`) => ({
  id: idOf(i),
  instances: 2,
  labels: labelsOf(host),
  networks: [{ mode: 'host' }],
  portDefinitions: [{ port: 10000 + i, protocol: 'tcp' }],
  healthChecks: [],
  tasks: [taskOf(idOf(i), 0), taskOf(idOf(i), 1)],
});

const state = new ClusterState();
state.replaceAll(Array.from({ length: APPS }, (_, i) => appOf(i)));
const builder = new RouteBuilder({ groups: ['bench'] });
let last;
state.subscribe((change) => {
  const t0 = performance.now();
  last = builder.update(state, change);
  cost = performance.now() - t0;
});
let cost = 0;
const times = { build: [], status: [], vhost: [] };
for (let k = 0; k < 20; k++) {
  const t0 = performance.now();
  builder.build(state);
  times.build.push(performance.now() - t0);
}
for (let k = 0; k < ROUNDS; k++) {
  const i = (k * 7) % APPS;
  const id = idOf(i);
  const task = state.tasksOf(id)[0];
  state.applyEvent({ eventType: 'status_update_event', appId: id, taskId: task.id, taskStatus: k % 2 ? 'TASK_RUNNING' : 'TASK_KILLING', host: task.host, ports: task.ports });
  times.status.push(cost);
  state.replaceApp(id, appOf(i, `v${k}-app${i}.bench`));
  times.vhost.push(cost);
}
if (last.backends.size !== APPS) throw new Error(`expected ${APPS} backends, got ${last.backends.size}`);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3));
};
const out = { apps: APPS };
for (const [kind, xs] of Object.entries(times)) out[kind] = { p50: pct(xs, 50), p99: pct(xs, 99) };
process.stdout.write(`${JSON.stringify(out)}\n`);
