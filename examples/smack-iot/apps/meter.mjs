// meter: the demo's stand-in for an Akka-cluster service that ingests IoT readings.
//
// Started by examples/entrypoints/akka-service.sh, which asks `baton-env akka` for the seed nodes and
// sets AKKA_SEED_NODES and AKKA_CLUSTER_FOUNDER, as a JVM service would get them. Like Akka, an
// instance reads its seeds once, at start. The current membership is looked up in DNS (the SRV records
// baton-dns serves for this app), so any instance can show every instance's view.
//
//   GET  /health           200 ok (Marathon health check)
//   GET  /cluster          this instance: address, seeds, founder, readings received, aggregates
//   GET  /cluster/members  every instance in _<app>._tcp.marathon.mesos, each with its /cluster
//   POST /readings         a reading {device, kind, value, ts} or an array of them
//   GET  /aggregates       this instance's per-kind count/min/max/avg
// Every answer carries CORS headers (the web page calls it from another origin) and X-Meter-Instance.
import { createServer, request as httpRequest } from 'node:http';
import { Resolver } from 'node:dns/promises';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT0 ?? process.env.PORT ?? 0);
const address = `${host}:${port}`;
const appId = process.env.MARATHON_APP_ID ?? '/meter';
const taskId = process.env.MESOS_TASK_ID ?? '';
const seeds = (process.env.AKKA_SEED_NODES ?? '').split(',').filter(Boolean);
const founder = process.env.AKKA_CLUSTER_FOUNDER === 'true';
const system = process.env.AKKA_SYSTEM ?? 'meter';
const self = `${process.env.AKKA_PROTOCOL ?? 'akka.tcp'}://${system}@${address}`;
const startedAt = new Date().toISOString();
// Mesos-DNS names an app /a/b by its reversed path: /meter → _meter._tcp.marathon.mesos.
const srvName = process.env.CLUSTER_SRV ?? `_${appId.split('/').filter(Boolean).reverse().join('-')}._tcp.marathon.mesos`;

const resolver = new Resolver({ timeout: 1_000, tries: 2 });
if (process.env.DNS_SERVER) resolver.setServers([process.env.DNS_SERVER]);

let received = 0;
const byKind = new Map(); // kind → { count, sum, min, max }
const devices = new Set();

function log(message) {
  process.stdout.write(`${new Date().toISOString()} meter ${address}: ${message}\n`);
}

function ingest(reading) {
  if (!reading || typeof reading !== 'object') return false;
  const { device, kind, value } = reading;
  if (typeof kind !== 'string' || typeof value !== 'number' || !Number.isFinite(value)) return false;
  let agg = byKind.get(kind);
  if (!agg) byKind.set(kind, (agg = { count: 0, sum: 0, min: value, max: value }));
  agg.count++;
  agg.sum += value;
  agg.min = Math.min(agg.min, value);
  agg.max = Math.max(agg.max, value);
  if (typeof device === 'string') devices.add(device);
  received++;
  return true;
}

function aggregates() {
  const kinds = {};
  for (const [kind, a] of byKind) kinds[kind] = { count: a.count, min: a.min, max: a.max, avg: a.sum / a.count, sum: a.sum };
  return { received, devices: devices.size, kinds };
}

function clusterView() {
  return { self, address, taskId, appId, founder, seeds, startedAt, ...aggregates() };
}

function getJson(target, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function members() {
  const srv = await resolver.resolveSrv(srvName);
  const targets = await Promise.all(
    srv.map(async (record) => {
      const [ip] = await resolver.resolve4(record.name).catch(() => [record.name]);
      return `${ip}:${record.port}`;
    }),
  );
  const unique = [...new Set(targets)].sort();
  return Promise.all(
    unique.map(async (member) => {
      if (member === address) return { member, ok: true, ...clusterView() };
      try {
        return { member, ok: true, ...(await getJson(`http://${member}/cluster`, 800)) };
      } catch (error) {
        return { member, ok: false, error: error.message };
      }
    }),
  );
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
};
let draining = false;

function send(res, status, body) {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...CORS,
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'x-meter-instance': address,
    'cache-control': 'no-store',
    ...(draining ? { connection: 'close' } : {}),
  });
  res.end(text);
}

const MAX_BODY = 1 << 20;
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'OPTIONS') return send(res, 204, '');
  if (req.method === 'GET' && path === '/health') return send(res, 200, 'ok\n');
  if (req.method === 'GET' && path === '/cluster') return send(res, 200, clusterView());
  if (req.method === 'GET' && path === '/aggregates') return send(res, 200, aggregates());
  if (req.method === 'GET' && path === '/cluster/members') {
    members().then(
      (list) => send(res, 200, { srv: srvName, via: process.env.DNS_SERVER ?? 'system resolver', members: list }),
      (error) => send(res, 502, { srv: srvName, error: `SRV lookup failed: ${error.message}` }),
    );
    return;
  }
  if (req.method === 'POST' && path === '/readings') {
    let body = '';
    let tooBig = false;
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > MAX_BODY) tooBig = true;
    });
    req.on('end', () => {
      if (tooBig) return send(res, 413, { error: 'body over 1 MiB' });
      let parsed;
      try {
        parsed = JSON.parse(body);
      } catch {
        return send(res, 400, { error: 'body is not JSON' });
      }
      const readings = Array.isArray(parsed) ? parsed : [parsed];
      const accepted = readings.filter(ingest).length;
      send(res, accepted === readings.length ? 200 : 400, { accepted, rejected: readings.length - accepted, received });
    });
    return;
  }
  send(res, 404, { error: `no route for ${req.method} ${path}` });
});
server.keepAliveTimeout = 5_000;

server.listen(port, host, () => {
  log(
    founder
      ? `founded the cluster as ${self} (seeds: ${seeds.join(', ')})`
      : `joining the cluster via seeds ${seeds.join(', ')} (${self} is not the first seed)`,
  );
});

// Like a service behind a load balancer: keep answering (with Connection: close) while the proxies
// drop this task, then stop accepting, finish what is in flight and exit.
let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  draining = true;
  log(`${signal}: draining, then exiting`);
  setTimeout(() => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2_000).unref();
  }, 500);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
