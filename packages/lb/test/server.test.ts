// The load balancer's lifecycle: listeners on the configured address, --dont-bind-http-https,
// graceful close (stop accepting, finish in-flight requests), problems logged once per appearance.

import { connect, createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { emptyRouteTable, startLoadBalancer } from '../src/server.js';
import { captureLogger, freePort, waitFor, makeBackend, makeServer, makeTable, startEcho, startLocalLb } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });

describe('startLoadBalancer', () => {
  it('binds :80, :443, :9091 and admin on the address given; --dont-bind-http-https leaves :80/:443 out', async () => {
    const lb = await startLoadBalancer({ bindAddress: '127.0.0.1', httpPort: 0, httpsPort: 0, appIdPort: 0, adminPort: 0 });
    cleanups.push(() => lb.close(100));
    expect(lb.listeners().map((l) => `${l.kind}@${l.address}`).sort()).toEqual(['admin@127.0.0.1', 'appid@127.0.0.1', 'http@127.0.0.1', 'https@127.0.0.1']);
    const res = await request(`http://127.0.0.1:${lb.addresses.http}/`);
    expect(res.statusCode).toBe(503);
    await res.body.text();

    const bare = await startLoadBalancer({ bindAddress: '127.0.0.1', dontBindHttpHttps: true, appIdPort: 0, adminPort: null });
    cleanups.push(() => bare.close(100));
    expect(bare.listeners().map((l) => l.kind)).toEqual(['appid']);
    expect(bare.addresses.http).toBeUndefined();
  });

  it('serves the last of a burst of tables at once and opens the service ports it asks for', async () => {
    const a = await startEcho('a');
    const b = await startEcho('b');
    cleanups.push(() => a.close(), () => b.close());
    const [p1, p2] = [await freePort(), await freePort()];
    const lb = await startLocalLb({
      initialTable: makeTable([makeBackend('a_1', [makeServer('a', a.port)], { vhosts: ['a.test'], servicePort: p1 })], { servicePorts: { [p1]: 'a_1' } }),
    });
    cleanups.push(() => lb.close(100));
    const nameAt = async (port: number, host?: string) => {
      const res = await request(`http://127.0.0.1:${port}/`, { headers: host ? { host } : {} });
      const body = await res.body.text();
      return res.statusCode === 200 ? (JSON.parse(body) as { name: string }).name : res.statusCode;
    };
    expect(await nameAt(p1)).toBe('a');

    // Two tables in one turn, as a burst of Marathon events gives: a_1 replaced by b_1 on the same port,
    // then b_2 on a second port.
    const b1 = makeBackend('b_1', [makeServer('b', b.port)], { vhosts: ['b.test'], servicePort: p1 });
    const b2 = makeBackend('b_2', [makeServer('b', b.port)], { servicePort: p2 });
    const first = lb.apply(makeTable([b1], { servicePorts: { [p1]: 'b_1' } }));
    const second = lb.apply(makeTable([b1, b2], { servicePorts: { [p1]: 'b_1', [p2]: 'b_2' } }));
    expect(lb.table().backends.has('b_2')).toBe(true);
    expect(await nameAt(lb.addresses.http!, 'b.test')).toBe('b');
    expect(await nameAt(lb.addresses.http!, 'a.test')).toBe(503);
    expect(await nameAt(p1)).toBe('b');

    await Promise.all([first, second]);
    expect(lb.servicePort(p2)).toBe(p2);
    expect(await nameAt(p2)).toBe('b');
    expect(lb.listeners().find((l) => l.port === p1)?.backend).toBe('b_1');
  });

  it('forgets counters of servers and backends that leave the table, and keeps a server that moves to another backend', async () => {
    const a = await startEcho('a');
    const b = await startEcho('b');
    cleanups.push(() => a.close(), () => b.close());
    const serverA = makeServer('task-a:0', a.port);
    const serverB = makeServer('task-b:0', b.port);
    const lb = await startLocalLb({
      initialTable: makeTable([makeBackend('a_1', [serverA], { vhosts: ['a.test'] }), makeBackend('b_1', [serverB], { vhosts: ['b.test'] })]),
    });
    cleanups.push(() => lb.close(100));
    const get = async (host: string) => {
      const res = await request(`http://127.0.0.1:${lb.addresses.http}/`, { headers: { host } });
      await res.body.text();
      return res.statusCode;
    };
    expect(await get('a.test')).toBe(200);
    expect(await get('b.test')).toBe(200);
    expect(await get('b.test')).toBe(200);
    expect([...lb.stats.backends.keys()].sort()).toEqual(['a_1', 'b_1']);

    // a_1 leaves, but its server moves to the new backend c_1; b_1 changes its vhost (a new backend
    // object with a new, equal server list).
    await lb.apply(makeTable([makeBackend('b_1', [{ ...serverB }], { vhosts: ['b2.test'] }), makeBackend('c_1', [serverA], { vhosts: ['c.test'] })]));
    expect([...lb.stats.backends.keys()].sort()).toEqual(['b_1']);
    expect(lb.stats.servers.get('task-a:0')?.stot).toBe(1);
    expect(lb.stats.servers.get('task-b:0')?.stot).toBe(2);
    expect(await get('c.test')).toBe(200);
    expect(lb.stats.servers.get('task-a:0')?.stot).toBe(2);

    // c_1 leaves with the last backend that held task-a:0.
    await lb.apply(makeTable([makeBackend('b_1', [serverB], { vhosts: ['b2.test'] })]));
    expect([...lb.stats.servers.keys()]).toEqual(['task-b:0']);
    expect([...lb.stats.backends.keys()]).toEqual(['b_1']);
    expect(await get('b2.test')).toBe(200);
  });

  /** An LB whose one service port is held by another listener (`blocker`) when it starts. */
  async function lbWithBlockedServicePort() {
    const echo = await startEcho('a');
    cleanups.push(() => echo.close());
    const port = await freePort();
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const listeners = [{ port, bindAddr: '*', backend: 'svc_1' }];
    const table = { ...makeTable([makeBackend('svc_1', [makeServer('task-s:0', echo.port)], { servicePort: port })], { servicePorts: { [port]: 'svc_1' } }), listeners };
    const lb = await startLocalLb({ initialTable: table });
    cleanups.push(() => lb.close(100));
    return { lb, port, table, blocker };
  }

  it('retries a service port that failed to bind on the next table, even when its listener list is unchanged', async () => {
    const { lb, port, table, blocker } = await lbWithBlockedServicePort();
    expect(lb.servicePort(port)).toBeUndefined();
    expect(lb.problems().map((p) => p.kind)).toEqual(['bind-failed']);

    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await lb.apply({ ...table, stateVersion: table.stateVersion + 1 });
    expect(lb.servicePort(port)).toBe(port);
    expect(lb.problems()).toEqual([]);
    const res = await request(`http://127.0.0.1:${port}/`);
    expect(JSON.parse(await res.body.text()).name).toBe('a');
  });

  it('retries a service port that failed to bind by itself, with no new table to bring the retry', async () => {
    const { lb, port, table, blocker } = await lbWithBlockedServicePort();
    expect(lb.problems().map((p) => p.kind)).toEqual(['bind-failed']);

    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await waitFor(() => lb.servicePort(port) === port, 20_000);
    expect(lb.problems()).toEqual([]);
    const res = await request(`http://127.0.0.1:${port}/`);
    expect(JSON.parse(await res.body.text()).name).toBe('a');
  });

  it('close() stops accepting at once and lets in-flight requests finish', async () => {
    const echo = await startEcho('a');
    cleanups.push(() => echo.close());
    const lb = await startLocalLb({
      initialTable: makeTable([makeBackend('a_1', [makeServer('a', echo.port)], { vhosts: ['a.test'] })]),
    });
    const port = lb.addresses.http!;
    const slow = request(`http://127.0.0.1:${port}/slow?ms=1000`, { headers: { host: 'a.test' } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = lb.close(5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await refused(port)).toBe(true);
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(await res.body.text()).name).toBe('a');
    await closing;
  });

  it('logs each route problem once when it appears, not on every table', async () => {
    const lines: string[] = [];
    const lb = await startLoadBalancer({ bindAddress: '127.0.0.1', dontBindHttpHttps: true, appIdPort: null, adminPort: null, logger: captureLogger(lines) });
    cleanups.push(() => lb.close(100));
    const problem = { appId: '/bad', portIndex: 0, label: 'HAPROXY_0_BALANCE', kind: 'bad-label', message: 'HAPROXY_0_BALANCE: unknown balance "fastest"' };
    await lb.apply({ ...emptyRouteTable(), stateVersion: 2, problems: [problem] });
    await lb.apply({ ...emptyRouteTable(), stateVersion: 3, problems: [problem] });
    const logged = lines.filter((l) => l.includes('HAPROXY_0_BALANCE'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0])).toMatchObject({ level: 'error', appId: '/bad', kind: 'bad-label' });
    expect(lb.problems()).toEqual([problem]);
  });
});
