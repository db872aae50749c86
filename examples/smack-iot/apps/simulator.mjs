// simulator: IoT devices sending readings to meter, the way the DC/OS deployment does it: through the
// internal load balancer, found by its Mesos-DNS name (METER_HOST=marathon-lb-internal.marathon.mesos,
// METER_PORT=19002 = meter's service port).
//
// Started by examples/entrypoints/kafka-client.sh, which runs `baton-env exec kafka …` so that
// KAFKA_BROKERS_LIST is set before this starts (a real simulator would produce to those brokers).
//
//   GET /status   sent/failed counts, rate, the resolved meter address, which meter instances answered, brokers
//   GET /health   200 ok
import { createServer, request as httpRequest, Agent } from 'node:http';
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT0 ?? process.env.PORT ?? 0);
const meterHost = process.env.METER_HOST ?? 'marathon-lb-internal.marathon.mesos';
const meterPort = Number(process.env.METER_PORT ?? 19002);
const dnsServer = process.env.DNS_SERVER;
const deviceCount = Number(process.env.DEVICES ?? 40);
const perSecond = Number(process.env.READINGS_PER_SECOND ?? 50);
const brokers = (process.env.KAFKA_BROKERS_LIST ?? '').split(',').filter(Boolean);
const BATCH_EVERY_MS = 200;
const RESOLVE_EVERY_MS = 5_000;

const resolver = new Resolver({ timeout: 1_000, tries: 2 });
if (dnsServer) resolver.setServers([dnsServer]);

const status = {
  startedAt: new Date().toISOString(),
  devices: deviceCount,
  readingsPerSecond: perSecond,
  sent: 0,
  batches: 0,
  failedBatches: 0,
  retriedBatches: 0,
  lastError: null,
  ratePerSecond: 0,
  meter: { host: meterHost, port: meterPort, dnsServer: dnsServer ?? 'system resolver', resolvedTo: null, resolvedAt: null },
  servedBy: {},
  kafka: { brokers, source: process.env.KAFKA_ZK ? `zookeeper ${process.env.KAFKA_ZK}` : `dns ${process.env.KAFKA_SRV ?? ''}` },
};

process.stdout.write(`simulator: KAFKA_BROKERS_LIST=${brokers.join(',')}; sending to ${meterHost}:${meterPort}\n`);

async function resolveMeter() {
  if (isIP(meterHost)) {
    status.meter.resolvedTo = meterHost;
    return;
  }
  try {
    const [ip] = await resolver.resolve4(meterHost);
    if (ip !== status.meter.resolvedTo) process.stdout.write(`simulator: ${meterHost} → ${ip} (DNS ${dnsServer ?? 'system'})\n`);
    status.meter.resolvedTo = ip;
    status.meter.resolvedAt = new Date().toISOString();
  } catch (error) {
    // Keep the last good address; say why in the status.
    status.lastError = `resolve ${meterHost}: ${error.code ?? error.message}`;
  }
}

// Each device reports one kind of value, drifting slowly.
const KINDS = [
  { kind: 'temperature', base: 21, spread: 4 },
  { kind: 'humidity', base: 45, spread: 10 },
  { kind: 'power', base: 350, spread: 120 },
];
const devices = Array.from({ length: deviceCount }, (_, i) => {
  const k = KINDS[i % KINDS.length];
  return { id: `sensor-${String(i + 1).padStart(3, '0')}`, kind: k.kind, value: k.base + (Math.random() - 0.5) * k.spread, k };
});
let nextDevice = 0;
function batch(size) {
  const now = Date.now();
  const readings = [];
  for (let i = 0; i < size; i++) {
    const d = devices[nextDevice++ % devices.length];
    d.value += (Math.random() - 0.5) * d.k.spread * 0.1;
    d.value = Math.min(d.k.base + d.k.spread, Math.max(d.k.base - d.k.spread, d.value));
    readings.push({ device: d.id, kind: d.kind, value: Math.round(d.value * 100) / 100, ts: now });
  }
  return readings;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
function post(body) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: status.meter.resolvedTo, port: meterPort, method: 'POST', path: '/readings', agent, timeout: 3_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(res.headers['x-meter-instance']) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function sendBatch() {
  if (!status.meter.resolvedTo) return;
  const readings = batch(Math.max(1, Math.round((perSecond * BATCH_EVERY_MS) / 1000)));
  const body = JSON.stringify(readings);
  status.batches++;
  // One retry: a batch can meet a meter instance that is being stopped.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const instance = (await post(body)) ?? 'unknown';
      status.sent += readings.length;
      status.servedBy[instance] = (status.servedBy[instance] ?? 0) + readings.length;
      return;
    } catch (error) {
      status.lastError = `POST /readings: ${error.message}`;
      if (attempt === 0) status.retriedBatches++;
    }
  }
  status.failedBatches++;
}

// Readings per second over the last five seconds.
const history = [];
setInterval(() => {
  history.push({ at: Date.now(), sent: status.sent });
  while (history.length > 6) history.shift();
  const first = history[0];
  const last = history[history.length - 1];
  status.ratePerSecond = last.at > first.at ? Math.round(((last.sent - first.sent) * 1000) / (last.at - first.at)) : 0;
}, 1_000);

let inFlight = false;
setInterval(() => {
  if (inFlight) return;
  inFlight = true;
  sendBatch().finally(() => (inFlight = false));
}, BATCH_EVERY_MS);
setInterval(resolveMeter, RESOLVE_EVERY_MS);
await resolveMeter();

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const headers = { 'access-control-allow-origin': '*', 'cache-control': 'no-store' };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...headers, 'access-control-allow-methods': 'GET, OPTIONS', 'access-control-allow-headers': 'content-type' });
    return res.end();
  }
  if (req.method === 'GET' && path === '/health') {
    res.writeHead(200, { ...headers, 'content-type': 'text/plain' });
    return res.end('ok\n');
  }
  if (req.method === 'GET' && (path === '/status' || path === '/')) {
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    return res.end(`${JSON.stringify({ ...status, address: `${host}:${port}` })}\n`);
  }
  res.writeHead(404, { ...headers, 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ error: `no route for ${req.method} ${path}` })}\n`);
});
server.listen(port, host);

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
