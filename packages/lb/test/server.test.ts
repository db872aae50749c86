// The load balancer's lifecycle: listeners on the configured address, --dont-bind-http-https,
// graceful close (stop accepting, finish in-flight requests), problems logged once per appearance.

import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { emptyRouteTable, startLoadBalancer } from '../src/server.js';
import { captureLogger, makeBackend, makeServer, makeTable, startEcho } from './helpers.js';

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

  it('close() stops accepting at once and lets in-flight requests finish', async () => {
    const echo = await startEcho('a');
    cleanups.push(() => echo.close());
    const lb = await startLoadBalancer({
      bindAddress: '127.0.0.1',
      httpPort: 0,
      httpsPort: 0,
      appIdPort: null,
      adminPort: null,
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
