// Odd and hostile Marathon payloads, served by a fake Marathon to baton-dns and baton-lb (both as
// their CLIs start them, in process): unknown fields, missing fields, wrong types, apps with zero
// tasks, a 10,000-label app, bad HAPROXY_* labels, malformed events. Each bad app is isolated (bad
// labels are reported per app in baton-lb's /_baton/status), the good app keeps being served by
// both servers, and later events are still applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '@baton/marathon';
import { parseArgs, run, type RunningLb } from '../../packages/lb/src/cli.js';
import { startBatonDns, type BatonDns } from '../../packages/dns/src/cli.js';
import { parseDnsConfig } from '../../packages/dns/src/config.js';
import { rawExchange, startCountingBackend, statusOf, waitFor, type CountingBackend } from './hardening-helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Json = Record<string, unknown>;

/** A fake Marathon: `/v2/apps` serves `apps` (or `appsText` verbatim), `/v2/events` streams what `emit` sends. */
class FakeMarathon {
  apps = new Map<string, Json>();
  appsText: string | undefined;
  url = '';
  private server: Server | undefined;
  private streams = new Set<ServerResponse>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (url.pathname === '/ping') return void res.end('pong');
      if (url.pathname === '/v2/leader') return json(200, { leader: new URL(this.url).host });
      if (url.pathname === '/v2/info') return json(200, { version: '1.10.0', leader: new URL(this.url).host, elected: true });
      if (url.pathname === '/v2/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream;charset=UTF-8', connection: 'close' });
        res.write('event: event_stream_attached\r\ndata: {"remoteAddress":"127.0.0.1","eventType":"event_stream_attached","timestamp":"2024-01-01T00:00:00.000Z"}\r\n\r\n');
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        return;
      }
      if (url.pathname === '/v2/apps') {
        const id = url.searchParams.get('id');
        if (this.appsText !== undefined && !id) return json(200, this.appsText);
        return json(200, { apps: [...this.apps.values()].filter((a) => !id || String(a.id).includes(id)) });
      }
      if (url.pathname.startsWith('/v2/apps/')) {
        const id = url.pathname.slice('/v2/apps'.length).replace(/\/tasks$/, '');
        const app = this.apps.get(id);
        if (!app) return json(404, { message: `App '${id}' does not exist` });
        return url.pathname.endsWith('/tasks') ? json(200, { tasks: app.tasks ?? [] }) : json(200, { app });
      }
      json(404, { message: 'not found' });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sends one SSE frame; `data` is written as is when it is a string. */
  emit(type: string, data: unknown): void {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    for (const s of this.streams) s.write(`event: ${type}\r\ndata: ${text}\r\n\r\n`);
  }

  get connected(): number {
    return this.streams.size;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

let n = 0;
function task(appId: string, host: string, ports: unknown, extra: Json = {}): Json {
  n++;
  const name = appId.slice(1).replace(/\//g, '_');
  return {
    id: `${name}.instance-0000000${n}-aaaa-bbbb-cccc-dddddddddddd._app.1`,
    appId,
    host,
    ports,
    ipAddresses: [{ ipAddress: host, protocol: 'IPv4' }],
    state: 'TASK_RUNNING',
    stagedAt: '2024-01-01T00:00:00.000Z',
    startedAt: '2024-01-01T00:00:01.000Z',
    slaveId: 'agent-S1',
    version: '2024-01-01T00:00:00.000Z',
    ...extra,
  };
}

// The apps' service ports are fixed numbers, so the LB listens on a loopback address of its own
// (all of 127/8 is local): nothing else on the machine holds those ports there.
const LB_ADDRESS = `127.${1 + (process.pid % 250)}.${1 + Math.floor(Math.random() * 250)}.1`;
let servicePort = 10000;
function app(id: string, extra: Json = {}): Json {
  servicePort++;
  return {
    id,
    instances: 1,
    cmd: 'serve',
    portDefinitions: [{ port: servicePort, protocol: 'tcp', name: 'http', labels: {} }],
    labels: {},
    version: '2024-01-01T00:00:00.000Z',
    tasks: [],
    ...extra,
  };
}

const fake = new FakeMarathon();
let backend: CountingBackend;
let dns: BatonDns;
let lb: RunningLb;
let resolver: Resolver;
let goodTask: Json;

const manyLabels: Record<string, string> = { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'many.test' };
for (let i = 0; i < 10_000; i++) manyLabels[i % 10 === 0 ? `HAPROXY_0_MISSPELT_${i}` : `label-${i}`] = `value-${i}-${'x'.repeat(20)}`;

async function status(): Promise<{ problems: { appId: string; kind: string; label?: string; message: string }[]; backends: { appId: string; name: string; servers: unknown[] }[] }> {
  return (await fetch(`http://${LB_ADDRESS}:${lb.lb.addresses.admin}/_baton/status`)).json() as never;
}

async function vhost(host: string, path = '/'): Promise<number> {
  return statusOf(await rawExchange(lb.lb.addresses.http!, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, { host: LB_ADDRESS }));
}

beforeAll(async () => {
  backend = await startCountingBackend('127.0.0.1', 0);
  cleanups.push(() => backend.close());
  goodTask = task('/good', '127.0.0.1', [backend.port], { unknownTaskField: { nested: [1, 2, 3] } });
  const apps: unknown[] = [
    // Unknown fields everywhere; the one app that must be served throughout.
    app('/good', {
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'good.test' },
      tasks: [goodTask],
      someFutureField: { a: 1 },
      container: { type: 'MESOS', futureContainerField: true },
    }),
    // Zero tasks.
    app('/empty', { instances: 0, labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'empty.test' } }),
    // Missing fields: no labels, no ports, tasks without host / ports / ipAddresses / state.
    { id: '/bare' },
    app('/holes', { labels: undefined, portDefinitions: undefined, tasks: [{ id: 'holes.1', appId: '/holes' }, { id: 'holes.2', appId: '/holes', host: '127.0.0.9' }] }),
    // Wrong types.
    app('/types', {
      instances: 'three',
      labels: { HAPROXY_GROUP: 7, HAPROXY_0_VHOST: ['x'] },
      portDefinitions: 'none',
      tasks: [task('/types', '127.0.0.9', '31000', { ipAddresses: {}, healthCheckResults: 7, state: 12 })],
    }),
    app('/types2', { labels: [1, 2, 3], container: 'docker', networks: 'host', tasks: 'many', healthChecks: { protocol: 1 } }),
    { id: 42, tasks: [] },
    'not an app',
    null,
    // Bad HAPROXY labels: reported for this app only.
    app('/badlabels', {
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'bad.test', HAPROXY_0_PORT: 'abc', HAPROXY_0_BALANCE: 'weird' },
      tasks: [task('/badlabels', '127.0.0.1', [backend.port])],
    }),
    app('/badacl', {
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'acl.test', HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/99 nonsense' },
      tasks: [task('/badacl', '127.0.0.1', [backend.port])],
    }),
    // 10,000 labels.
    app('/many', { labels: manyLabels, tasks: [task('/many', '127.0.0.1', [backend.port])] }),
  ];
  for (const a of apps) if (a && typeof a === 'object' && typeof (a as Json).id === 'string') fake.apps.set((a as Json).id as string, a as Json);
  fake.appsText = JSON.stringify({ apps, unknownTopLevel: true });
  await fake.start();
  cleanups.push(() => fake.stop());

  const { config, error } = parseDnsConfig({ marathon: [fake.url], port: 0, listener: '127.0.0.1', httpport: 0, HTTPListener: '127.0.0.1', resolvers: ['127.0.0.1:1'] });
  expect(error).toBeUndefined();
  dns = await startBatonDns(config!, silentLogger());
  cleanups.push(() => dns.close());
  resolver = new Resolver({ timeout: 2_000, tries: 3 });
  resolver.setServers([`127.0.0.1:${dns.dns!.udpPort}`]);

  lb = await run(parseArgs(['--marathon', fake.url, '--group', 'external', '--bind-address', LB_ADDRESS, '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0']), silentLogger());
  cleanups.push(() => lb.stop(1_000));
  await waitFor(() => lb.lb.table().hostIndex.has('good.test'), 15_000);
  await waitFor(() => fake.connected >= 2, 15_000);
}, 60_000);

describe('a Marathon listing with bad apps', () => {
  it('serves the good app by DNS and through the proxy', async () => {
    expect(await resolver.resolve4('good.marathon.mesos')).toEqual(['127.0.0.1']);
    expect(await vhost('good.test', '/through')).toBe(200);
    expect(backend.requests.at(-1)?.url).toBe('/through');
  });

  it('gives an app with zero tasks no route (as marathon-lb: 503 when no other rule matches), and no DNS name', async () => {
    expect(lb.lb.table().hostIndex.has('empty.test')).toBe(false);
    expect(await vhost('empty.test')).toBe(503);
    await expect(resolver.resolve4('empty.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('reports bad labels per app in /_baton/status, and serves that app nowhere else', async () => {
    const { problems, backends } = await status();
    const bad = problems.filter((p) => p.appId === '/badlabels');
    expect(bad.map((p) => p.label)).toEqual(expect.arrayContaining(['HAPROXY_0_PORT', 'HAPROXY_0_BALANCE']));
    expect(bad.every((p) => /abc|weird/.test(p.message))).toBe(true);
    expect(problems.some((p) => p.appId === '/badacl' && p.kind === 'bad-label')).toBe(true);
    expect(problems.filter((p) => p.appId === '/good')).toEqual([]);
    expect(backends.map((b) => b.appId)).toContain('/good');
    expect(backends.map((b) => b.appId)).not.toContain('/badlabels');
    expect(await vhost('bad.test')).toBe(503);
    expect(await vhost('acl.test')).toBe(503);
  });

  it('handles the 10,000-label app: routed, its misspelt labels reported as warnings', async () => {
    expect(await vhost('many.test')).toBe(200);
    const many = (await status()).problems.filter((p) => p.appId === '/many');
    expect(many.length).toBeGreaterThan(0);
    expect(many.length).toBeLessThanOrEqual(1_000); // one per misspelt label at most
    expect(many.every((p) => (p as { severity?: string }).severity === 'warning')).toBe(true);
    expect(await resolver.resolve4('many.marathon.mesos')).toEqual(['127.0.0.1']);
  });

  it('skips the apps with wrong types without taking their neighbours down', async () => {
    expect(await resolver.resolve4('good.marathon.mesos')).toEqual(['127.0.0.1']);
    const state = lb.state;
    expect(state.getApp('/good')).toBeDefined();
    // /bare and /holes are kept as apps (missing fields take defaults); their tasks without a host publish nothing.
    await expect(resolver.resolve4('holes.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('malformed events on the stream', () => {
  it('ignores each of them and applies the next good event', async () => {
    const badEvents: [string, unknown][] = [
      ['status_update_event', '{not json'],
      ['status_update_event', { eventType: 'status_update_event' }],
      ['status_update_event', { eventType: 'status_update_event', taskId: 42, taskStatus: ['TASK_RUNNING'], appId: {} }],
      ['status_update_event', { eventType: 'status_update_event', taskId: 'x.1', taskStatus: 'TASK_WHATEVER', appId: '/good', host: '127.0.0.1', ports: 'no' }],
      ['api_post_event', { eventType: 'api_post_event', appDefinition: 'nope' }],
      ['api_post_event', { eventType: 'api_post_event', appDefinition: { id: '/good', labels: 'x', instances: -1 } }],
      ['instance_changed_event', { eventType: 'instance_changed_event', instanceId: null }],
      ['health_status_changed_event', { eventType: 'health_status_changed_event', alive: 'maybe', taskId: 7 }],
      ['deployment_info', { eventType: 'deployment_info', plan: 'x', currentStep: null }],
      ['app_terminated_event', { eventType: 'app_terminated_event', appId: 12 }],
      ['some_future_event', { eventType: 'some_future_event', payload: 'x'.repeat(100_000) }],
      ['status_update_event', JSON.stringify({ eventType: 'status_update_event', huge: 'y'.repeat(1_000_000) })],
      ['', ''],
      ['status_update_event', '[]'],
      ['status_update_event', 'null'],
    ];
    for (const [type, data] of badEvents) fake.emit(type, data);

    // Then a good event: a second task of /good starts running on 127.0.0.2.
    const second = task('/good', '127.0.0.2', [backend.port]);
    const good = fake.apps.get('/good')!;
    good.tasks = [goodTask, second];
    fake.emit('status_update_event', {
      eventType: 'status_update_event',
      timestamp: new Date().toISOString(),
      slaveId: 'agent-S2',
      taskId: second.id,
      taskStatus: 'TASK_RUNNING',
      message: '',
      appId: '/good',
      host: '127.0.0.2',
      ipAddresses: second.ipAddresses,
      ports: second.ports,
      version: second.version,
    });
    await waitFor(async () => (await resolver.resolve4('good.marathon.mesos')).length === 2, 15_000);
    expect((await resolver.resolve4('good.marathon.mesos')).sort()).toEqual(['127.0.0.1', '127.0.0.2']);
    await waitFor(() => [...lb.lb.table().backends.values()].find((b) => b.appId === '/good')?.servers.length === 2, 15_000);
    expect(await vhost('good.test')).toBe(200);
    // Both servers are still following the same stream.
    expect(fake.connected).toBeGreaterThanOrEqual(2);
  });
});
