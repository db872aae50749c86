// Cost of LoadBalancer.apply at N apps (in-process): the synchronous swap plus the deferred pass that
// prunes pools and counters and syncs service-port listeners, for a route patch that changes one app's
// vhost (nothing leaves) and one where a task is killed (a server leaves). Uses the built packages
// (`npx tsc -b packages/lb`); `--server other/dist/server.js` measures another build of server.ts.
//   node bench/lb/apply.mjs [--apps 1000] [--rounds 1000] [--port-base 21000] [--server path/to/dist/server.js]
// Prints one JSON line with the median and p99 per kind, in ms.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ClusterState } from '@baton/marathon';
import { RouteBuilder } from '../../packages/lb/dist/routes.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const APPS = arg('apps', 1000);
const ROUNDS = arg('rounds', 1000);
const PORT_BASE = arg('port-base', 21000);
const serverAt = process.argv.indexOf('--server');
const { startLoadBalancer } = await import(serverAt === -1 ? '../../packages/lb/dist/server.js' : pathToFileURL(process.argv[serverAt + 1]).href);

const idOf = (i) => `/bench/g${i % 20}/app${i}`;
let seq = 0;
const taskOf = (id) => ({
  id: `${id.slice(1).replace(/\//g, '_')}.instance-${(++seq).toString(16)}._app.1`,
  appId: id,
  host: `10.0.${seq % 250}.${(seq >> 8) % 250}`,
  ports: [31000 + (seq % 1000)],
  state: 'TASK_RUNNING',
  startedAt: '2024-01-01T00:00:00.000Z',
});
const appOf = (i, host = `app${i}.bench`, tasks = [taskOf(idOf(i)), taskOf(idOf(i))]) => ({
  id: idOf(i),
  instances: 2,
  labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: host, HAPROXY_0_PORT: String(PORT_BASE + i) },
  networks: [{ mode: 'host' }],
  portDefinitions: [{ port: PORT_BASE + i, protocol: 'tcp' }],
  healthChecks: [],
  tasks,
});

const state = new ClusterState();
state.replaceAll(Array.from({ length: APPS }, (_, i) => appOf(i)));
const builder = new RouteBuilder({ groups: ['bench'] });
let table = builder.build(state);
state.subscribe((change) => (table = builder.update(state, change)));
const lb = await startLoadBalancer({ bindAddress: '127.0.0.1', httpPort: 0, httpsPort: 0, appIdPort: null, adminPort: null, initialTable: table });
if (lb.listeners().length !== APPS + 2) throw new Error(`expected ${APPS} service ports, got ${lb.listeners().length - 2}: ${lb.problems()[0]?.message}`);

const times = { vhost: [], kill: [] };
async function timedApply(kind) {
  const t0 = performance.now();
  await lb.apply(table);
  times[kind].push(performance.now() - t0);
}
for (let k = 0; k < ROUNDS; k++) {
  const i = (k * 7) % APPS;
  const id = idOf(i);
  state.replaceApp(id, appOf(i, `v${k}-app${i}.bench`, state.tasksOf(id)));
  await timedApply('vhost');
  const [first, second] = state.tasksOf(id);
  state.applyEvent({ eventType: 'status_update_event', appId: id, taskId: first.id, taskStatus: 'TASK_KILLED', host: first.host, ports: first.ports });
  await timedApply('kill');
  state.replaceApp(id, appOf(i, `v${k}-app${i}.bench`, [second, taskOf(id)]));
  await lb.apply(table);
}
await lb.close(0);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3));
};
const out = { apps: APPS, rounds: ROUNDS };
for (const [kind, xs] of Object.entries(times)) out[kind] = { p50: pct(xs, 50), p99: pct(xs, 99) };
process.stdout.write(`${JSON.stringify(out)}\n`);
