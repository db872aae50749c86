// marathon-lb parity, end to end: the simulator runs real backend processes, baton-lb follows it
// (cli.run), and each test asserts what marathon-lb + HAProxy answer for the same apps, labels and
// requests: the status, which app answered, and the headers the backend saw.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { MarathonSimulator } from '@baton/marathon-sim';
import { silentLogger } from '@baton/marathon';
import { parseArgs, run, type RunningLb } from '../src/cli.js';
import { captureLogger, freePort, makeCertificate, rawRequest, tempDir, waitFor } from './helpers.js';

// Each task answers with its id, the request target and the headers it received; an Upgrade request
// gets a 101 and the same JSON on the upgraded connection.
const BACKEND = `
import http from 'node:http';
const id = process.env.MESOS_TASK_ID;
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ task: id, url: req.url, headers: req.headers }));
});
server.on('upgrade', (req, socket) => {
  socket.end('HTTP/1.1 101 Switching Protocols\\r\\nupgrade: test\\r\\nconnection: upgrade\\r\\n\\r\\n' + JSON.stringify({ task: id, url: req.url, headers: req.headers }));
});
server.listen(Number(process.env.PORT0), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1 << 30);
`;

let sim: MarathonSimulator;
let lb: RunningLb;
let dir: string;
let logLines: string[];
let http: number;
let https: number;
let admin: number;
let emptyServicePort: number;
let authHash: string;
const agent = new Agent({ keepAliveTimeout: 1_000, connect: { rejectUnauthorized: false } });
const alice = `Basic ${Buffer.from('alice:pw').toString('base64')}`;

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; json: { task: string; url: string; headers: Record<string, string> } | undefined; text: string };

async function get(path: string, headers: Record<string, string>, scheme: 'http' | 'https' = 'http'): Promise<Reply> {
  const port = scheme === 'http' ? http : https;
  const res = await request(`${scheme}://127.0.0.1:${port}${path}`, { headers, dispatcher: agent });
  const text = await res.body.text();
  const json = String(res.headers['content-type']).startsWith('application/json') ? JSON.parse(text) : undefined;
  return { status: res.statusCode, headers: res.headers, json, text };
}

/** Polls until `predicate` holds (tasks take a moment to start and to reach the routes). */
async function until(path: string, headers: Record<string, string>, predicate: (r: Reply) => boolean, scheme: 'http' | 'https' = 'http'): Promise<Reply> {
  let last: Reply | undefined;
  await waitFor(async () => {
    try {
      last = await get(path, headers, scheme);
    } catch {
      return false;
    }
    return predicate(last);
  }, 20_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${last?.status} ${last?.text}`);
  });
  return last!;
}

const servedBy = (prefix: string) => (r: Reply) => r.status === 200 && r.json?.task.startsWith(prefix) === true;

const app = (id: string, labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  id,
  instances: 1,
  cmd: `exec ${process.execPath} ${join(dir, 'backend.mjs')}`,
  cpus: 0.1,
  mem: 32,
  labels: { HAPROXY_GROUP: 'external', ...labels },
  portDefinitions: [{ port: 0, protocol: 'tcp' }],
  ...extra,
});

beforeAll(async () => {
  dir = tempDir();
  writeFileSync(join(dir, 'backend.mjs'), BACKEND);
  const cert = makeCertificate(dir, 'parity.test', ['parity.test', 'secure.test', 'Secure.TEST']);
  authHash = execFileSync('openssl', ['passwd', '-1', 'pw']).toString().trim();
  emptyServicePort = await freePort();

  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, exec: true, heartbeatMs: 500, killGraceMs: 1_000, logger: silentLogger() });
  await sim.start();
  await Promise.all([
    // 1. auth and redirects cover the whole host
    sim.createApp(app('/p/shop', { HAPROXY_0_VHOST: 'shop.test', HAPROXY_0_AUTH: `shop:alice:${authHash}` })),
    sim.createApp(app('/p/public', { HAPROXY_0_VHOST: 'shop.test', HAPROXY_0_PATH: '/public' })),
    sim.createApp(app('/p/secure', { HAPROXY_0_VHOST: 'secure.test', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' })),
    sim.createApp(app('/p/plain', { HAPROXY_0_VHOST: 'secure.test', HAPROXY_0_PATH: '/plain' })),
    // 2. an app with no live task has no rules and no listener
    sim.createApp(app('/p/empty', { HAPROXY_0_VHOST: 'site.test', HAPROXY_0_PATH: '/api' }, { instances: 0, portDefinitions: [{ port: emptyServicePort }] })),
    sim.createApp(app('/p/site', { HAPROXY_0_VHOST: 'site.test', HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/legacy' })),
    // 3. groups are not trimmed
    sim.createApp(app('/p/typo', { HAPROXY_GROUP: 'internal, external', HAPROXY_0_VHOST: 'typo.test' })),
    // 5. sticky
    sim.createApp(app('/p/sticky', { HAPROXY_0_VHOST: 'sticky.test', HAPROXY_0_STICKY: 'true' })),
    // 6. blue/green: the old app first
    sim.createApp(app('/p/blue', { HAPROXY_DEPLOYMENT_GROUP: 'bg', HAPROXY_DEPLOYMENT_STARTED_AT: '2024-01-01T00:00:00.000000', HAPROXY_0_VHOST: 'bg.test' }, { instances: 2 })),
  ]);

  logLines = [];
  lb = await run(
    parseArgs([
      '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
      '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--ssl-certs', cert,
    ]),
    captureLogger(logLines),
  );
  await lb.feed.ready();
  ({ http, https, admin } = lb.lb.addresses as { http: number; https: number; admin: number });
}, 60_000);

afterAll(async () => {
  await lb?.stop(2_000);
  await sim?.stop();
  await agent.close();
});

describe('baton-lb routes as marathon-lb does', () => {
  it('1. a root app’s auth covers the path apps on its host', async () => {
    await until('/', { host: 'shop.test', authorization: alice }, servedBy('p_shop.'));
    const challenged = await until('/public/page', { host: 'shop.test' }, (r) => r.status !== 503);
    expect(challenged.status).toBe(401);
    expect(challenged.headers['www-authenticate']).toBe('Basic realm="shop"');
    const served = await until('/public/page', { host: 'shop.test', authorization: alice }, servedBy('p_public.'));
    expect(served.json!.url).toBe('/public/page');
    // The same on :443.
    expect((await get('/public/page', { host: 'shop.test' }, 'https')).status).toBe(401);
  });

  it('1. a root app’s redirect to https covers the path apps on its host, upgrades included', async () => {
    await until('/plain/x', { host: 'secure.test' }, servedBy('p_plain.'), 'https');
    const redirect = await get('/plain/x?y=1', { host: 'secure.test' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://secure.test:${https}/plain/x?y=1`);
    // An upgrade to the https-only vhost is redirected, not tunnelled in clear text.
    const upgrade = await rawRequest(http, 'GET /plain/ws HTTP/1.1\r\nhost: secure.test\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
    expect(upgrade).toMatch(/^HTTP\/1\.1 301 /);
    expect(upgrade).toMatch(new RegExp(`\r\nlocation: https://secure\\.test:${https}/plain/ws\r\n`, 'i'));
    expect(upgrade).not.toMatch(/p_plain\./);
  });

  it('2. an app with no live task has no rules: the next rule on the host serves; no service-port listener', async () => {
    const res = await until('/api/users', { host: 'site.test' }, (r) => r.status !== 503);
    expect(res.status).toBe(200);
    expect(res.json!.task).toMatch(/^p_site\./);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = netConnect(emptyServicePort, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('3. HAPROXY_GROUP is split on commas without trimming; the likely typo is in status, log and metric', async () => {
    await until('/', { host: 'sticky.test' }, servedBy('p_sticky.'));
    await sim.waitForRunning('/p/typo', 1);
    expect((await get('/', { host: 'typo.test' })).status).toBe(503);
    const status = JSON.parse(await (await request(`http://127.0.0.1:${admin}/_baton/status`)).body.text());
    expect(status.problems).toContainEqual(expect.objectContaining({ appId: '/p/typo', label: 'HAPROXY_GROUP', kind: 'group-blanks' }));
    expect(logLines.some((l) => l.includes('/p/typo') && l.includes('group-blanks'))).toBe(true);
    const metrics = await (await request(`http://127.0.0.1:${admin}/metrics`)).body.text();
    expect(metrics).toMatch(/baton_lb_route_problems\{kind="group-blanks"\} 1/);
  });

  it('4. X-Forwarded-Proto: passed through on plain HTTP with none added; https added on TLS', async () => {
    const fromTerminator = await until('/', { host: 'site.test', 'x-forwarded-proto': 'https' }, servedBy('p_site.'));
    expect(fromTerminator.json!.headers['x-forwarded-proto']).toBe('https');
    expect((await get('/', { host: 'site.test' })).json!.headers['x-forwarded-proto']).toBeUndefined();
    expect((await get('/', { host: 'site.test' }, 'https')).json!.headers['x-forwarded-proto']).toBe('https');
    // add-header: the client's value stays, https follows it.
    expect((await get('/', { host: 'site.test', 'x-forwarded-proto': 'http' }, 'https')).json!.headers['x-forwarded-proto']).toBe('http, https');
  });

  it('5. the sticky cookie is removed from requests before the backend; other cookies stay', async () => {
    const first = await until('/', { host: 'sticky.test' }, servedBy('p_sticky.'));
    const cookie = /mesosphere_server_id=(\w+)/.exec(String(first.headers['set-cookie']))![1];
    const mixed = await get('/', { host: 'sticky.test', cookie: `a=1; mesosphere_server_id=${cookie}; b=2` });
    expect(mixed.json!.task).toBe(first.json!.task);
    expect(mixed.json!.headers.cookie).toBe('a=1; b=2');
    const only = await get('/', { host: 'sticky.test', cookie: `mesosphere_server_id=${cookie}` });
    expect(only.json!.headers.cookie).toBeUndefined();
    // A non-sticky app gets the cookie as sent.
    const other = await until('/', { host: 'site.test', cookie: 'mesosphere_server_id=x; a=1' }, servedBy('p_site.'));
    expect(other.json!.headers.cookie).toBe('mesosphere_server_id=x; a=1');
  });

  it('6. blue/green: while old servers drain, roundrobin splits evenly over the new ones', async () => {
    const blue = new Set((await sim.waitForRunning('/p/blue', 2)).map((t) => t.id));
    await until('/', { host: 'bg.test' }, (r) => r.status === 200 && blue.has(r.json!.task));
    await sim.createApp(
      app('/p/green', {
        HAPROXY_DEPLOYMENT_GROUP: 'bg',
        HAPROXY_DEPLOYMENT_STARTED_AT: '2024-01-02T00:00:00.000000',
        HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2',
        HAPROXY_DEPLOYMENT_NEW_INSTANCES: '2',
        HAPROXY_0_VHOST: 'bg.test',
      }, { instances: 2 }),
    );
    const green = new Set((await sim.waitForRunning('/p/green', 2)).map((t) => t.id));
    const seen = new Set<string>();
    await waitFor(async () => {
      const r = await get('/', { host: 'bg.test' });
      if (r.status === 200 && green.has(r.json!.task)) seen.add(r.json!.task);
      return seen.size === 2;
    }, 20_000, 20);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const task = (await get('/', { host: 'bg.test' })).json!.task;
      counts.set(task, (counts.get(task) ?? 0) + 1);
    }
    expect([...counts.keys()].every((t) => green.has(t))).toBe(true);
    expect([...counts.values()]).toEqual([15, 15]);
  });

  it('7. HTTP_BACKEND_PROXYPASS_PATH strips the prefix in any case', async () => {
    const lower = await until('/legacy/users?id=1', { host: 'site.test' }, servedBy('p_site.'));
    expect(lower.json!.url).toBe('/users?id=1');
    const upper = await get('/LEGACY/users?id=1', { host: 'site.test' });
    expect(upper.json!.url).toBe('/users?id=1');
    expect(upper.json!.headers.host).toBe('site.test');
  });

  it('8. redirects carry no Cache-Control and keep the client’s host case', async () => {
    await until('/plain/x', { host: 'secure.test' }, servedBy('p_plain.'), 'https');
    const redirect = await get('/a?b=1', { host: 'Secure.TEST' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://Secure.TEST:${https}/a?b=1`);
    expect(redirect.headers['cache-control']).toBeUndefined();
  });
});
