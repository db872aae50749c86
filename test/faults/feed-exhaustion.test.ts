// A broken or hostile Marathon cannot exhaust baton-lb or baton-dns (the real bins), and what the
// Marathon side gives them (credentials, state file) is kept safe:
// - an SSE line that never ends is cut at the documented limit, the stream reopened and resynced,
//   while a good vhost and a DNS name keep being answered;
// - a full resync of many tasks is applied without stopping DNS answers;
// - a late, older TASK_RUNNING after TASK_KILLED does not bring the dead task back;
// - 200 `/_mlb_signal/hup` calls cost at most two Marathon refetches;
// - `http://user:pass@marathon` is used for Basic auth and the password is shown nowhere;
// - `--state-file` failures are reported, the file is restored at a graceful stop, and its temporary
//   file is never opened through a planted symlink.
// The Marathon here is a fake HTTP server on loopback, scripted per test.
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, lookupA, metric, resolverFor, startBin, type Bin } from './fault-helpers.js';
import { processUsage } from './hardening-helpers.js';

const PASSWORD = 's3cr3t-Pa55';
let dir: string;
let backend: Server;
let backendPort: number;
const bins: Bin[] = [];
const marathons: FakeMarathon[] = [];

beforeAll(async () => {
  ensureBuilt('dns', 'lb');
  dir = mkdtempSync(join(tmpdir(), 'baton-feed-exhaustion-'));
  backend = createServer((_req, res) => res.end('web ok\n'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as AddressInfo).port;
}, 120_000);

afterEach(async () => {
  for (const bin of bins.splice(0)) {
    bin.kill('SIGKILL');
    await bin.exited;
  }
  for (const marathon of marathons.splice(0)) await marathon.close();
});

afterAll(async () => {
  await new Promise<void>((resolve) => backend?.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------- fake Marathon

interface FakeTask {
  id: string;
  host: string;
  port: number;
}

interface FakeMarathon {
  url: string;
  port: number;
  /** `GET /v2/apps` requests answered so far. */
  appsRequests: number;
  /** `GET /v2/events` connections so far. */
  streams: number;
  /** Authorization headers seen. */
  authorizations: Set<string | undefined>;
  apps: { id: string; labels: Record<string, string>; servicePort: number; tasks: FakeTask[] }[];
  /** What an event stream does once opened: the default sends heartbeats. */
  onStream?: (res: ServerResponse) => void;
  /** Delay before `/v2/apps` answers, in ms. */
  appsDelayMs: number;
  /** Required `user:pass`, when set. */
  requireAuth?: string;
  send(event: Record<string, unknown>): void;
  close(): Promise<void>;
}

function webApp(tasks: FakeTask[]) {
  return { id: '/web', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.test' }, servicePort: 10100, tasks };
}

function appJson(app: FakeMarathon['apps'][number]) {
  return {
    id: app.id,
    instances: app.tasks.length,
    labels: app.labels,
    portDefinitions: [{ port: app.servicePort, protocol: 'tcp' }],
    version: '2024-01-01T00:00:00.000Z',
    tasks: app.tasks.map((t) => ({
      id: t.id,
      appId: app.id,
      host: t.host,
      slaveId: 'agent-1',
      state: 'TASK_RUNNING',
      ports: [t.port],
      ipAddresses: [{ ipAddress: t.host, protocol: 'IPv4' }],
      stagedAt: '2024-01-01T00:00:00.000Z',
      startedAt: '2024-01-01T00:00:01.000Z',
      version: '2024-01-01T00:00:00.000Z',
    })),
  };
}

async function startMarathon(apps: FakeMarathon['apps'], port = 0): Promise<FakeMarathon> {
  const open = new Set<ServerResponse>();
  let cachedApps: { key: string; text: string } | undefined;
  const fake: FakeMarathon = {
    url: '',
    port: 0,
    appsRequests: 0,
    streams: 0,
    authorizations: new Set(),
    apps,
    appsDelayMs: 0,
    send(event) {
      for (const res of open) res.write(`event: ${event.eventType as string}\r\ndata: ${JSON.stringify(event)}\r\n\r\n`);
    },
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    fake.authorizations.add(req.headers.authorization);
    if (fake.requireAuth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(fake.requireAuth).toString('base64')}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"invalid username or password"}');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v2/events') {
      fake.streams++;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-marathon-leader': `http://127.0.0.1:${fake.port}` });
      res.write('event: event_stream_attached\r\ndata: {"eventType":"event_stream_attached","remoteAddress":"127.0.0.1"}\r\n\r\n');
      open.add(res);
      res.on('close', () => open.delete(res));
      if (fake.onStream) fake.onStream(res);
      else {
        const beat = setInterval(() => res.write('\r\n'), 1_000);
        res.on('close', () => clearInterval(beat));
      }
      return;
    }
    if (path === '/v2/apps') {
      fake.appsRequests++;
      const key = JSON.stringify(fake.apps.map((a) => [a.id, a.tasks.length, a.tasks[0]?.host]));
      if (cachedApps?.key !== key) cachedApps = { key, text: JSON.stringify({ apps: fake.apps.map(appJson) }) };
      const text = cachedApps.text;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(text), fake.appsDelayMs);
      return;
    }
    if (path.startsWith('/v2/apps/')) {
      const app = fake.apps.find((a) => path === `/v2/apps${a.id}`);
      if (!app) res.writeHead(404).end('{"message":"App does not exist"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ app: appJson(app) }));
      return;
    }
    if (path === '/v2/leader') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ leader: `127.0.0.1:${fake.port}` }));
      return;
    }
    res.writeHead(404).end('{}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  marathons.push(fake);
  return fake;
}

// -------------------------------------------------------------------------------------- bins

async function startLb(marathonUrl: string, extra: string[] = []) {
  const bin = startBin('lb', 'baton-lb', [
    '--marathon', marathonUrl, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'info', ...extra,
  ]);
  bins.push(bin);
  const [, httpPort, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
  return { bin, http: `http://127.0.0.1:${httpPort}`, admin: `http://127.0.0.1:${adminPort}` };
}

async function startDns(marathonUrl: string, extra: string[] = []) {
  const bin = startBin('dns', 'baton-dns', ['--marathon', marathonUrl, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--log-level', 'info', ...extra]);
  bins.push(bin);
  const [, dnsPort, httpPort] = await bin.line(/listening on dns udp\+tcp 127\.0\.0\.1:(\d+), http [^ ]+:(\d+)/);
  return { bin, resolver: resolverFor(Number(dnsPort)), http: `http://127.0.0.1:${httpPort}` };
}

const webTask = (n = 1): FakeTask => ({ id: `web.0000000${n}-b042-11e8-9638-0242ac12001f`, host: '127.0.0.1', port: backendPort });
const vhost = (lb: { http: string }) => http(`${lb.http}/`, { headers: { host: 'web.test' }, timeoutMs: 5_000 });

/** Keeps asking until stopped; every answer must come, each within the probe's own timeout. */
function keepAsking(ask: () => Promise<boolean>) {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        if (await ask()) ok++;
        else failures.push('wrong answer');
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failures };
    },
  };
}

// -------------------------------------------------------------------------------------- tests

describe('a hostile Marathon feed', () => {
  it('an SSE line that never ends is cut at the limit and the stream reopened; both bins keep answering', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    const lb = await startLb(marathon.url);
    const dns = await startDns(marathon.url);
    await waitFor(async () => (await vhost(lb)).status === 200, 20_000, 100);
    expect(await lookupA(dns.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    const streamsBefore = marathon.streams;

    // From now on, every stream sends one line that never ends, as fast as the bins read it.
    const chunk = 'x'.repeat(64 * 1024);
    marathon.onStream = (res) => {
      res.write('data: {"eventType":"status_update_event","pad":"');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    };
    // Marathon restarts (the bins reconnect and resync), and streams the endless line from now on.
    await marathon.close();
    marathons.splice(marathons.indexOf(marathon), 1);
    const hostile = await startMarathonOn(marathon);

    const web = keepAsking(async () => (await vhost(lb)).status === 200);
    const names = keepAsking(async () => (await lookupA(dns.resolver, 'web.marathon.mesos')).join() === '127.0.0.1');
    const peakRss = { lb: 0, dns: 0 };
    const deadline = Date.now() + 8_000;
    while (Date.now() < deadline) {
      peakRss.lb = Math.max(peakRss.lb, processUsage(lb.bin.child.pid!).rss);
      peakRss.dns = Math.max(peakRss.dns, processUsage(dns.bin.child.pid!).rss);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const webResult = await web.stop();
    const namesResult = await names.stop();

    expect(webResult.failures).toEqual([]);
    expect(namesResult.failures).toEqual([]);
    expect(webResult.ok).toBeGreaterThan(10);
    expect(namesResult.ok).toBeGreaterThan(10);
    // Each bin hit the limit and reopened its stream (each reopening resyncs).
    expect(hostile.streams - streamsBefore).toBeGreaterThanOrEqual(4);
    for (const bin of [lb.bin, dns.bin]) expect(bin.stderr()).toContain('longer than 16777216 characters (the limit)');
    // A line is held up to the 16 MiB limit (UTF-16 pieces and the read buffers): far from unbounded.
    expect(peakRss.lb).toBeLessThan(400 * 1024 * 1024);
    expect(peakRss.dns).toBeLessThan(400 * 1024 * 1024);
  }, 90_000);

  it('a large resync does not stop DNS answers', async () => {
    const many = Array.from({ length: 2_000 }, (_, i) => ({
      id: `/bulk/app${i}`,
      labels: {},
      servicePort: 20000 + i,
      tasks: Array.from({ length: 10 }, (_, t) => ({ id: `bulk_app${i}.${String(t).padStart(8, '0')}-b042-11e8-9638-0242ac12001f`, host: `10.1.${t}.${i % 250}`, port: 31000 + t })),
    }));
    const marathon = await startMarathon([webApp([webTask()]), ...many]);
    const dns = await startDns(marathon.url);
    expect(await lookupA(dns.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    const syncs = () => (dns.bin.stderr().match(/marathon resync done/g) ?? []).length;
    const before = syncs();

    // Every task moves, then the stream drops: the reconnect resyncs 20k changed tasks.
    for (const app of many) for (const task of app.tasks) task.host = task.host.replace('10.1.', '10.2.');
    const names = keepAsking(async () => (await lookupA(dns.resolver, 'web.marathon.mesos')).join() === '127.0.0.1');
    await marathon.close();
    marathons.splice(marathons.indexOf(marathon), 1);
    await startMarathonOn(marathon);
    await waitFor(() => syncs() > before, 60_000, 50);
    const result = await names.stop();
    expect(result.failures).toEqual([]);
    expect(await lookupA(dns.resolver, 'app0.bulk.marathon.mesos')).toContain('10.2.0.0');
  }, 120_000);

  it('a late, older TASK_RUNNING after TASK_KILLED does not bring the task back', async () => {
    const marathon = await startMarathon([webApp([webTask(1), webTask(2)])]);
    const lb = await startLb(marathon.url);
    const dns = await startDns(marathon.url);
    await waitFor(async () => (await vhost(lb)).status === 200, 20_000, 100);
    const status = (task: FakeTask, taskStatus: string, timestamp: string) => ({
      eventType: 'status_update_event', timestamp, slaveId: 'agent-1', taskId: task.id, taskStatus, appId: '/web',
      host: task.host, ports: [task.port], ipAddresses: [{ ipAddress: task.host, protocol: 'IPv4' }], version: '2024-01-01T00:00:00.000Z',
    });
    const dead = webTask(1);
    marathon.apps[0].tasks = [webTask(2)]; // Marathon's own view: the task is gone
    marathon.send(status(dead, 'TASK_KILLED', '2024-06-01T00:00:05.000Z'));
    marathon.send(status(dead, 'TASK_RUNNING', '2024-06-01T00:00:04.000Z')); // late, older
    // A marker after both: once it shows, both earlier events were applied.
    const marker = { id: 'marker.00000001-b042-11e8-9638-0242ac12001f', host: '127.0.0.9', port: 1 };
    marathon.apps.push({ id: '/marker', labels: {}, servicePort: 10200, tasks: [marker] }); // for the refetch it causes
    marathon.send({ ...status(marker, 'TASK_RUNNING', '2024-06-01T00:00:06.000Z'), appId: '/marker' });
    await waitFor(async () => (await lookupA(dns.resolver, 'marker.marathon.mesos')).length > 0, 10_000, 50);
    const lbStatus = async () => (await getJson<{ backends: { appId: string; servers: { taskId: string }[] }[] }>(`${lb.admin}/_baton/status`)).body;
    await waitFor(async () => JSON.stringify(await lbStatus()).length > 0, 5_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the lb builds routes on the next turn

    const web = (await lbStatus()).backends.find((b) => b.appId === '/web');
    expect(web?.servers.map((s) => s.taskId)).toEqual([webTask(2).id]);
    const dnsTasks = (await getJson<{ frameworks: { tasks: { id: string }[] }[] }>(`${dns.http}/v1/enumerate`)).body;
    expect(JSON.stringify(dnsTasks)).not.toContain(dead.id);
  }, 60_000);
});

describe('baton-lb admin', () => {
  it('200 concurrent /_mlb_signal/hup calls cost at most two Marathon refetches', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    const lb = await startLb(marathon.url);
    await waitFor(async () => (await vhost(lb)).status === 200, 20_000, 100);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the connect resync is over
    marathon.appsDelayMs = 300;
    const before = marathon.appsRequests;
    const answers = await Promise.all(Array.from({ length: 200 }, () => http(`${lb.admin}/_mlb_signal/hup`, { timeoutMs: 30_000 })));
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(marathon.appsRequests - before).toBeGreaterThanOrEqual(1);
    expect(marathon.appsRequests - before).toBeLessThanOrEqual(2);
  }, 60_000);
});

describe('credentials in Marathon URLs', () => {
  it('are used for Basic auth by both bins, and the password shows nowhere', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    marathon.requireAuth = `ops:${PASSWORD}`;
    const url = `http://ops:${PASSWORD}@127.0.0.1:${marathon.port}`;
    const lb = await startLb(url);
    const dns = await startDns(url);
    await waitFor(async () => (await vhost(lb)).status === 200, 20_000, 100);
    expect(await lookupA(dns.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    // An error that quotes the URL: the stream is cut, and Marathon refuses the next connection once.
    marathon.requireAuth = 'someone:else';
    await marathon.close();
    marathons.splice(marathons.indexOf(marathon), 1);
    const again = await startMarathonOn(marathon);
    await waitFor(() => again.authorizations.size > 0, 10_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const pages = [
      (await http(`${lb.admin}/_baton/status`)).body,
      (await http(`${lb.admin}/metrics`)).body,
      (await http(`${dns.http}/health`)).body,
      (await http(`${dns.http}/v1/config`)).body,
      (await http(`${dns.http}/metrics`)).body,
    ];
    expect(pages[0]).toContain(`127.0.0.1:${marathon.port}`);
    for (const text of [...pages, lb.bin.stderr(), lb.bin.stdout(), dns.bin.stderr(), dns.bin.stdout()]) expect(text).not.toContain(PASSWORD);
  }, 60_000);

  it('a zk:// URL with credentials is refused at start-up without printing the password', async () => {
    for (const [pkg, name, args] of [
      ['lb', 'baton-lb', ['--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0']],
      ['dns', 'baton-dns', ['--port', '0', '--listener', '127.0.0.1', '--http-port', '0']],
    ] as const) {
      const bin = startBin(pkg, name, ['--marathon', `zk://ops:${PASSWORD}@127.0.0.1:1/marathon`, ...args]);
      bins.push(bin);
      const exit = await Promise.race([bin.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))]);
      expect(exit?.code).toBe(2);
      expect(bin.stderr()).toMatch(/credentials in ZooKeeper URLs are not supported/);
      expect(bin.stderr()).toContain('<redacted>');
      expect(bin.stderr() + bin.stdout()).not.toContain(PASSWORD);
    }
  }, 30_000);
});

describe('--state-file', () => {
  it('write failures show in baton-dns /health and /metrics and baton-lb /_baton/status and /metrics', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    const path = join(dir, 'no-such-dir', 'state.json');
    const lb = await startLb(marathon.url, ['--state-file', path]);
    const dns = await startDns(marathon.url, ['--state-file', path]);
    await waitFor(async () => metric((await http(`${lb.admin}/metrics`)).body, 'baton_lb_state_file_errors_total')! >= 1, 20_000, 100);
    await waitFor(async () => metric((await http(`${dns.http}/metrics`)).body, 'baton_dns_state_file_errors_total')! >= 1, 20_000, 100);
    const health = (await getJson<{ stateFile?: { errors: number; lastError?: string } }>(`${dns.http}/health`)).body;
    expect(health.stateFile?.lastError).toMatch(/cannot write state file .*no-such-dir.*ENOENT/);
    const status = (await getJson<{ stateFile?: { errors: number; lastError?: string } }>(`${lb.admin}/_baton/status`)).body;
    expect(status.stateFile?.errors).toBeGreaterThanOrEqual(1);
    expect(status.stateFile?.lastError).toMatch(/no-such-dir/);
    expect(metric((await http(`${lb.admin}/metrics`)).body, 'baton_lb_state_file_failing')).toBe(1);
  }, 60_000);

  it('a state file removed or truncated while running is written again at a graceful stop', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    const lbPath = join(dir, 'lb-restore.json');
    const dnsPath = join(dir, 'dns-restore.json');
    const lb = await startLb(marathon.url, ['--state-file', lbPath]);
    const dns = await startDns(marathon.url, ['--state-file', dnsPath]);
    await waitFor(() => existsSync(lbPath) && existsSync(dnsPath), 20_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the writers' 1 s interval
    unlinkSync(lbPath);
    writeFileSync(dnsPath, '');
    for (const bin of [lb.bin, dns.bin]) {
      bin.kill('SIGTERM');
      expect((await bin.exited).code).toBe(0);
    }
    for (const path of [lbPath, dnsPath]) {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as { apps: { id: string }[] };
      expect(saved.apps.map((a) => a.id)).toEqual(['/web']);
    }
  }, 60_000);

  it('the temporary file is created exclusively with a random name: a planted symlink is never written through', async () => {
    const marathon = await startMarathon([webApp([webTask()])]);
    const path = join(dir, 'planted-state.json');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const dns = await startDns(marathon.url, ['--state-file', path]);
    await waitFor(() => existsSync(path), 20_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // The old name was `.<file>.<pid>.<Date.now()>.tmp`: plant one for every millisecond of the next 4 s.
    const start = Date.now();
    for (let t = start; t < start + 4_000; t++) symlinkSync(victim, join(dir, `.planted-state.json.${dns.bin.child.pid}.${t}.tmp`));
    const mtime = () => (existsSync(path) ? readFileSync(path, 'utf8') : '');
    const before = mtime();
    marathon.send({
      eventType: 'status_update_event', timestamp: '2024-06-01T00:00:06.000Z', slaveId: 'agent-1', taskId: webTask(2).id, taskStatus: 'TASK_RUNNING',
      appId: '/web', host: '127.0.0.1', ports: [backendPort], ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }], version: '2024-01-01T00:00:00.000Z',
    });
    await waitFor(() => mtime() !== before, 10_000, 50);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(JSON.parse(readFileSync(path, 'utf8')).apps[0].tasks).toHaveLength(2);
  }, 60_000);
});

/** A new fake Marathon on the same port as `old` with the same apps and settings (the bins reconnect to it). */
async function startMarathonOn(old: FakeMarathon): Promise<FakeMarathon> {
  const fresh = await startMarathonAt(old.port, old.apps);
  fresh.onStream = old.onStream;
  fresh.appsDelayMs = old.appsDelayMs;
  fresh.requireAuth = old.requireAuth;
  fresh.streams = old.streams;
  fresh.appsRequests = old.appsRequests;
  return fresh;
}

async function startMarathonAt(port: number, apps: FakeMarathon['apps']): Promise<FakeMarathon> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startMarathon(apps, port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
