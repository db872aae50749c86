// Event-to-route latency at N apps: the simulator (virtual tasks) and baton-lb's full stack
// (feed → ClusterState → RouteBuilder → data plane, cli.run) in one process over loopback. For each
// sample an app's HAPROXY_0_VHOST changes; the clock starts when the simulator publishes the event
// and stops when a request for the new vhost stops answering 503 (no route).
//   node bench/lb/latency.mjs [--apps 1000] [--samples 200]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { MarathonSimulator } = await import(`${root}packages/marathon-sim/dist/index.js`);
const { silentLogger } = await import(`${root}packages/marathon/dist/index.js`);
const { parseArgs, run } = await import(`${root}packages/lb/dist/cli.js`);
const require = createRequire(`${root}packages/lb/package.json`);
const { Agent, request } = require('undici');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const APPS = arg('apps', 1000);
const SAMPLES = arg('samples', 200);

const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 1000, taskStartDelayMs: 50, logger: silentLogger() });
await sim.start();
const apps = [];
for (let i = 0; i < APPS; i++) {
  apps.push({
    id: `/bench/app${i}`,
    instances: 2,
    cmd: 'sleep 1000',
    labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: `app${i}.bench` },
    portDefinitions: [{ port: 0, protocol: 'tcp' }],
  });
}
sim.loadApps(apps);

const opts = parseArgs(['--marathon', sim.url, '--group', 'bench', '--bind-address', '127.0.0.1', '--http-port', '0',
  '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--ssl-certs', '', '--log-level', 'silent']);
const lb = await run(opts, silentLogger());
await lb.feed.ready();
const port = lb.lb.addresses.http;
const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
const statusOf = async (host) => {
  const res = await request(`http://127.0.0.1:${port}/`, { headers: { host }, dispatcher: agent });
  await res.body.dump();
  return res.statusCode;
};
if ((await statusOf('app0.bench')) === 503) throw new Error('routes not built');

let published = new Map();
sim.onEvent((event) => {
  if (event.eventType === 'api_post_event') published.set(event.appDefinition?.id ?? event.appId, performance.now());
});

const stateAt = new Map();
// When ClusterState first holds the new label (the feed's part); the route table is rebuilt in the
// same subscriber call chain, so route time − state time is baton-lb's own part.
let expected;
lb.state.subscribe((change) => {
  if (expected && !stateAt.has(expected.id) && change.appIds.includes(expected.id) && lb.state.getApp(expected.id)?.labels.HAPROXY_0_VHOST === expected.host) {
    stateAt.set(expected.id, performance.now());
  }
});
const stateSamples = [];
const samples = [];
for (let k = 0; k < SAMPLES; k++) {
  const i = (k * 7) % APPS;
  const id = `/bench/app${i}`;
  const host = `v${k}-app${i}.bench`;
  published.delete(id);
  stateAt.delete(id);
  expected = { id, host };
  const update = sim.updateApp(id, { labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: host } });
  let status = 503;
  let tableAt;
  while (status === 503) {
    status = await statusOf(host);
    if (tableAt === undefined && lb.lb.table().hostIndex.has(host)) tableAt = performance.now();
  }
  if (stateAt.has(id)) stateSamples.push(tableAt - stateAt.get(id));
  const done = performance.now();
  await update;
  const start = published.get(id);
  if (start !== undefined) samples.push(done - start);
  await new Promise((r) => setTimeout(r, 5));
}
samples.sort((a, b) => a - b);
const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
stateSamples.sort((a, b) => a - b);
const spct = (p) => stateSamples[Math.min(stateSamples.length - 1, Math.floor((p / 100) * stateSamples.length))];
const result = { stateToRouteP50: spct(50), stateToRouteP99: spct(99), apps: APPS, samples: samples.length, p50: pct(50), p99: pct(99), max: samples[samples.length - 1] };
process.stdout.write(`${JSON.stringify(result)}\n`);
await lb.stop(1000);
await agent.close();
await sim.stop();
process.exit(0);
