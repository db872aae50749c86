// baton-lb end to end, in process: the simulator runs real backend processes (`exec` mode), the real
// feed + RouteBuilder + data plane follow it (cli.run), and real clients check labels → behaviour.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Client, request } from 'undici';
import { MarathonSimulator } from '@baton/marathon-sim';
import { silentLogger } from '@baton/marathon';
import { parseArgs, run, type RunningLb } from '../src/cli.js';
import { captureLogger, freePort, makeCertificate, tempDir, waitFor } from './helpers.js';

// One script for every backend task: for each PORTn it serves HTTP (answering who it is) or TCP
// (greeting with the task id, then echoing). SIGTERM stops listening and exits when requests are done.
const BACKEND = `
import http from 'node:http';
import net from 'node:net';
const id = process.env.MESOS_TASK_ID;
const modes = (process.argv[2] || 'http').split(',');
const servers = [];
modes.forEach((mode, i) => {
  const port = Number(process.env['PORT' + i]);
  let server;
  if (mode === 'tcp') {
    server = net.createServer((s) => { s.write(id + '\\n'); s.pipe(s); });
  } else {
    server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/close-listener') {
        // Stop listening and drop every connection: from now on this task refuses connections.
        res.setHeader('connection', 'close');
        res.on('finish', () => { server.close(); server.closeAllConnections(); });
      }
      const reply = () => {
        const headers = { 'content-type': 'application/json' };
        if (url.pathname === '/location') headers.location = url.searchParams.get('to');
        res.writeHead(200, headers);
        res.end(JSON.stringify({ task: id, portIndex: i, url: req.url, headers: req.headers }));
      };
      if (url.pathname === '/slow') setTimeout(reply, Number(url.searchParams.get('ms') || 1500));
      else reply();
    });
  }
  server.listen(port, process.env.HOST);
  servers.push(server);
});
setInterval(() => {}, 1 << 30); // stay up (a RUNNING task) even after closing every listener
process.on('SIGTERM', () => {
  let open = servers.length;
  for (const s of servers) { s.close(() => { if (--open === 0) process.exit(0); }); s.closeIdleConnections?.(); }
  setTimeout(() => process.exit(0), 2500).unref();
});
`;

let sim: MarathonSimulator;
let lb: RunningLb;
let dir: string;
let logLines: string[];
let http: number;
let https: number;
let appIdPort: number;
let tcpServicePort: number;
let tlsServicePort: number;
const agent = new Agent({ keepAliveTimeout: 1_000, connect: { rejectUnauthorized: false } });

function cmd(modes = 'http'): string {
  return `exec ${process.execPath} ${join(dir, 'backend.mjs')} ${modes}`;
}

async function get(path: string, headers: Record<string, string> = {}, port = http) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers, dispatcher: agent });
  const text = await res.body.text();
  const json = String(res.headers['content-type']).startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: res.statusCode, headers: res.headers, json, text };
}

/** Polls until a request through the LB answers 200 (tasks take a moment to start listening). */
async function until(path: string, headers: Record<string, string>, predicate: (r: Awaited<ReturnType<typeof get>>) => boolean = (r) => r.status === 200, port = http) {
  let last: Awaited<ReturnType<typeof get>> | undefined;
  await waitFor(async () => {
    try {
      last = await get(path, headers, port);
    } catch {
      return false;
    }
    return predicate(last);
  }, 20_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${last?.status} ${last?.text}`);
  });
  return last!;
}

const app = (id: string, labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  id,
  instances: 1,
  cmd: cmd(),
  cpus: 0.1,
  mem: 32,
  labels: { HAPROXY_GROUP: 'external', ...labels },
  portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http' }],
  ...extra,
});

beforeAll(async () => {
  dir = tempDir();
  writeFileSync(join(dir, 'backend.mjs'), BACKEND);
  const serviceCert = makeCertificate(dir, 'service.test');
  [tcpServicePort, tlsServicePort] = [await freePort(), await freePort()];
  const authHash = execFileSync('openssl', ['passwd', '-1', 'pw']).toString().trim();

  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, exec: true, heartbeatMs: 500, killGraceMs: 3_000, logger: silentLogger() });
  await sim.start();

  await Promise.all([
    sim.createApp(
      app('/e2e/web', { HAPROXY_0_VHOST: 'web.test,*.wild.test', HAPROXY_0_USE_HSTS: 'true', HAPROXY_1_VHOST: 'sticky.test', HAPROXY_1_STICKY: 'true' }, {
        instances: 2,
        cmd: cmd('http,http'),
        portDefinitions: [{ port: 0, protocol: 'tcp' }, { port: 0, protocol: 'tcp' }],
      }),
    ),
    sim.createApp(
      app('/e2e/api', {
        HAPROXY_0_VHOST: 'web.test',
        HAPROXY_0_PATH: '/api',
        HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api',
        HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: '/api',
        HAPROXY_0_AUTH: `private:alice:${authHash}`,
      }),
    ),
    sim.createApp(
      app('/e2e/secure', {
        HAPROXY_0_VHOST: 'secure.test',
        HAPROXY_0_REDIRECT_TO_HTTPS: 'true',
        HAPROXY_1_VHOST: 'denied.test',
        HAPROXY_1_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8',
        HAPROXY_2_VHOST: 'home.test',
        HAPROXY_2_HTTP_BACKEND_REDIR: '/home',
      }, { cmd: cmd('http,http,http'), portDefinitions: [{ port: 0 }, { port: 0 }, { port: 0 }] }),
    ),
    sim.createApp(
      app('/e2e/tcp', { HAPROXY_0_MODE: 'tcp', HAPROXY_1_MODE: 'http', HAPROXY_1_SSL_CERT: serviceCert }, {
        cmd: cmd('tcp,http'),
        portDefinitions: [{ port: tcpServicePort }, { port: tlsServicePort }],
      }),
    ),
    sim.createApp(app('/e2e/bad', { HAPROXY_0_VHOST: 'bad.test', HAPROXY_0_PORT: 'eighty' })),
    sim.createApp(app('/e2e/dup-a', { HAPROXY_0_VHOST: 'dup.test' })),
    sim.createApp(app('/e2e/dup-b', { HAPROXY_0_VHOST: 'dup.test' })),
  ]);

  logLines = [];
  const logger = captureLogger(logLines);
  const opts = parseArgs([
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--ssl-certs', serviceCert,
  ]);
  lb = await run(opts, logger);
  await lb.feed.ready();
  ({ http, https, appId: appIdPort } = lb.lb.addresses as { http: number; https: number; appId: number });
}, 60_000);

afterAll(async () => {
  await lb?.stop(2_000);
  await sim?.stop();
  await agent.close();
});

describe('labels → routes, end to end', () => {
  it('routes vhosts, Host with :port and wildcards to the app tasks, round-robin, with HSTS', async () => {
    const first = await until('/', { host: 'web.test' });
    expect(first.headers['strict-transport-security']).toBe('max-age=15768000');
    const taskIds = new Set((await sim.waitForRunning('/e2e/web', 2)).map((t) => t.id));
    const seen = new Set<string>();
    await waitFor(async () => {
      seen.add((await get('/', { host: 'WEB.test:80' })).json?.task);
      return seen.size === 2;
    }, 20_000, 20);
    expect(seen).toEqual(taskIds);
    expect((await until('/', { host: 'shop.wild.test' })).json.task).toMatch(/^e2e_web\./);
    expect((await get('/', { host: 'nothing.test' })).status).toBe(503);
  });

  it('path prefix with auth, proxypass and revproxy', async () => {
    const auth = { host: 'web.test', authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` };
    expect((await until('/api/x', { host: 'web.test' }, (r) => r.status === 401)).headers['www-authenticate']).toBe('Basic realm="private"');
    const ok = await until('/api/users?id=1', auth);
    expect(ok.json.task).toMatch(/^e2e_api\./);
    expect(ok.json.url).toBe('/users?id=1');
    expect((await get('/api/location?to=/login', auth)).headers.location).toBe('/api/login');
    // Other paths on the host go to the root vhost app.
    expect((await get('/other', { host: 'web.test' })).json.task).toMatch(/^e2e_web\./);
  });

  it('redirect to https, network ACL, root redirect, sticky', async () => {
    const redirect = await until('/p?q=1', { host: 'secure.test' }, (r) => r.status === 301);
    expect(redirect.headers.location).toBe(`https://secure.test:${https}/p?q=1`);
    expect((await until('/', { host: 'denied.test' }, (r) => r.status === 403)).status).toBe(403);
    const home = await until('/', { host: 'home.test' }, (r) => r.status === 301);
    expect(home.headers.location).toBe('/home');
    const sticky = await until('/', { host: 'sticky.test' });
    const cookie = /mesosphere_server_id=(\w+)/.exec(String(sticky.headers['set-cookie']))![1];
    for (let i = 0; i < 3; i++) expect((await get('/', { host: 'sticky.test', cookie: `mesosphere_server_id=${cookie}` })).json.task).toBe(sticky.json.task);
  });

  it('X-Forwarded-* and X-Marathon-App-Id routing on the app-id port', async () => {
    const res = await until('/', { 'x-marathon-app-id': '/e2e/api' }, undefined, appIdPort);
    expect(res.json.task).toMatch(/^e2e_api\./);
    expect(res.json.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.json.headers['x-forwarded-port']).toBe(String(appIdPort));
    expect(res.json.headers['x-forwarded-proto']).toBeUndefined(); // as marathon-lb: none added on plain HTTP
  });

  it('TCP service port and TLS on a service port', async () => {
    await waitFor(() => lb.lb.servicePort(tcpServicePort) !== undefined, 20_000);
    let greeting = '';
    await waitFor(async () => {
      greeting = await new Promise<string>((resolve) => {
        const s = netConnect(tcpServicePort, '127.0.0.1');
        let data = '';
        s.on('data', (c) => {
          data += c;
          if (data.includes('\n')) {
            s.write('ping');
            if (data.endsWith('ping')) { s.destroy(); resolve(data); }
          }
        });
        s.on('error', () => resolve(''));
        s.on('close', () => resolve(data));
      });
      return /^e2e_tcp\..*\nping$/.test(greeting);
    }, 20_000, 50);
    const cn = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: tlsServicePort, servername: 'x.test', rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().subject.CN as string);
        s.end();
      });
      s.on('error', reject);
    });
    expect(cn).toBe('service.test');
    const secure = await request(`https://127.0.0.1:${tlsServicePort}/`, { dispatcher: agent });
    expect(JSON.parse(await secure.body.text()).portIndex).toBe(1);
  });
});

describe('what marathon-lb could not do', () => {
  it('a bad label fails only that app port: status, log line and metric say so', async () => {
    await until('/', { host: 'web.test' });
    const problems = lb.lb.problems().filter((p) => p.appId === '/e2e/bad');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0].label).toBe('HAPROXY_0_PORT');
    expect(logLines.some((l) => l.includes('/e2e/bad') && l.includes('HAPROXY_0_PORT'))).toBe(true);
    const admin = lb.lb.addresses.admin!;
    const status = JSON.parse(await (await request(`http://127.0.0.1:${admin}/_baton/status`)).body.text());
    expect(status.problems.some((p: { appId: string; kind: string }) => p.appId === '/e2e/bad' && p.kind === 'bad-label')).toBe(true);
    const metrics = await (await request(`http://127.0.0.1:${admin}/metrics`)).body.text();
    expect(metrics).toMatch(/baton_lb_route_problems\{kind="bad-label"\} [1-9]/);
    expect((await get('/', { host: 'bad.test' })).status).toBe(503);
  });

  it('two apps claiming one vhost: reported, and the same app wins across rebuilds', async () => {
    const winner = (await until('/', { host: 'dup.test' })).json.task.split('.')[0];
    const conflict = lb.lb.problems().find((p) => p.kind === 'vhost-conflict');
    expect(conflict?.message).toMatch(/dup\.test/);
    // Rebuild both apps (new versions, new tasks): the same app keeps the vhost.
    await sim.updateApp('/e2e/dup-b', { env: { V: '2' } });
    await sim.updateApp('/e2e/dup-a', { env: { V: '2' } });
    await sim.waitForRunning('/e2e/dup-a');
    for (let i = 0; i < 5; i++) expect((await until('/', { host: 'dup.test' })).json.task.split('.')[0]).toBe(winner);
  });

  it('a deploy reaches the routes without dropping a keep-alive connection or an in-flight request', async () => {
    await sim.createApp(app('/e2e/roll', { HAPROXY_0_VHOST: 'roll.test' }));
    const before = (await until('/', { host: 'roll.test' })).json.task;
    const client = new Client(`http://127.0.0.1:${http}`);
    let connects = 0;
    client.on('connect', () => connects++);
    const ka = await client.request({ path: '/', method: 'GET', headers: { host: 'roll.test' } });
    expect(JSON.parse(await ka.body.text()).task).toBe(before);
    const slow = request(`http://127.0.0.1:${http}/slow?ms=2000`, { headers: { host: 'roll.test' } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // A new version replaces the task: the old one is removed from the table (and killed) mid-request.
    await sim.updateApp('/e2e/roll', { env: { V: '2' } });
    await waitFor(async () => {
      const r = await client.request({ path: '/', method: 'GET', headers: { host: 'roll.test' } });
      const body = await r.body.text();
      return r.statusCode === 200 && JSON.parse(body).task !== before;
    }, 20_000, 50);
    const slowRes = await slow;
    expect(slowRes.statusCode).toBe(200);
    expect(JSON.parse(await slowRes.body.text()).task).toBe(before);
    expect(connects).toBe(1);
    await client.close();
  });

  it('a task that refuses connections is taken out; requests go to the other task', async () => {
    await sim.createApp(app('/e2e/flaky', { HAPROXY_0_VHOST: 'flaky.test' }, { instances: 2 }));
    const seen = new Set<string>();
    await waitFor(async () => {
      const r = await get('/', { host: 'flaky.test' });
      if (r.status === 200) seen.add(r.json.task);
      return seen.size === 2;
    }, 20_000, 20);
    const closed = (await get('/close-listener', { host: 'flaky.test' })).json.task;
    const survivor = [...seen].find((t) => t !== closed);
    for (let i = 0; i < 6; i++) {
      const r = await get('/', { host: 'flaky.test' });
      expect(r.status).toBe(200);
      expect(r.json.task).toBe(survivor);
    }
    const status = JSON.parse(await (await request(`http://127.0.0.1:${lb.lb.addresses.admin}/_baton/status`)).body.text());
    const backend = status.backends.find((b: { appId: string }) => b.appId === '/e2e/flaky');
    expect(backend.servers.find((s: { taskId: string }) => s.taskId === closed)).toMatchObject({ state: 'DOWN' });
  });
});
