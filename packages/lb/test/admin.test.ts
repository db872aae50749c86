// The admin port: health check, config and maps, signals, stats (HTML + CSV), Prometheus metrics,
// JSON status, and optional basic auth.

import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { renderAppMap, renderConfig, renderVhostMap } from '../src/admin-text.js';
import { startLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/server.js';
import { freePort, makeBackend, makeServer, makeTable, startEcho } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(opts: Partial<LoadBalancerOptions> = {}) {
  const echo = await startEcho('a');
  cleanups.push(() => echo.close());
  const dead = await freePort();
  const table = makeTable(
    [
      makeBackend('web_10001', [makeServer('t1:0', echo.port, { name: 'srv_a' }), makeServer('t2:0', dead, { name: 'srv_dead' })], { vhosts: ['web.test'], appId: '/web' }),
      makeBackend('drain_10002', [makeServer('t3:0', echo.port, { name: 'srv_drain', draining: true })], { vhosts: ['drain.test'], appId: '/drain' }),
    ],
    { version: 42, problems: [{ appId: '/bad', portIndex: 0, label: 'HAPROXY_0_PORT', kind: 'bad-label', message: 'HAPROXY_0_PORT: not an integer' }] },
  );
  let resyncs = 0;
  const lb = await startLoadBalancer({
    bindAddress: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    appIdPort: null,
    adminPort: 0,
    initialTable: table,
    feedStatus: () => ({ connected: true, stale: false, staleSeconds: 0, eventsApplied: 7, resyncs: 1, reconnects: 0, lastSyncAt: new Date().toISOString() }) as never,
    onResync: () => {
      resyncs++;
    },
    renderers: { renderConfig, renderVhostMap, renderAppMap },
    ...opts,
  });
  cleanups.push(() => lb.close(500));
  const admin = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`http://127.0.0.1:${lb.addresses.admin}${path}`, { headers });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  // Some traffic: two requests (one retried away from the dead server), one 503.
  for (let i = 0; i < 2; i++) await (await request(`http://127.0.0.1:${lb.addresses.http}/`, { headers: { host: 'web.test' } })).body.text();
  await (await request(`http://127.0.0.1:${lb.addresses.http}/`, { headers: { host: 'nope.test' } })).body.text();
  return { lb, admin, resyncs: () => resyncs };
}

describe('admin endpoints', () => {
  it('health check, getconfig, maps and signals', async () => {
    const { admin, resyncs, lb } = await setup();
    expect((await admin('/_haproxy_health_check')).status).toBe(200);
    const config = await admin('/_haproxy_getconfig');
    expect(config.status).toBe(200);
    expect(config.text).toContain('web_10001');
    expect((await admin('/_haproxy_getvhostmap')).status).toBe(200);
    expect((await admin('/_haproxy_getappmap')).status).toBe(200);
    expect((await admin('/_mlb_signal/hup')).status).toBe(200);
    expect(resyncs()).toBe(1);
    const before = lb.table();
    expect((await admin('/_mlb_signal/usr1')).status).toBe(200);
    expect(lb.table()).toBe(before);
    expect((await admin('/nope')).status).toBe(404);
  });

  it('stats page in HTML and HAProxy-like CSV with state, sessions, bytes and errors', async () => {
    const { admin } = await setup();
    const html = await admin('/haproxy?stats');
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.text).toContain('web_10001');
    expect(html.text).toContain('srv_dead');
    const csv = await admin('/haproxy?stats;csv');
    const [header, ...rows] = csv.text.trim().split('\n');
    expect(header.startsWith('# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp')).toBe(true);
    const cols = header.slice(2).split(',');
    const parsed = rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
    const row = (px: string, sv: string) => parsed.find((r) => r.pxname === px && r.svname === sv)!;
    expect(row('web_10001', 'srv_a').status).toBe('UP');
    expect(row('web_10001', 'srv_a').stot).toBe('2');
    expect(Number(row('web_10001', 'srv_a').bout)).toBeGreaterThan(0);
    expect(row('web_10001', 'srv_dead').status).toBe('DOWN');
    expect(row('web_10001', 'srv_dead').econ).toBe('1');
    expect(row('drain_10002', 'srv_drain').status).toBe('MAINT');
    expect(row('web_10001', 'BACKEND').hrsp_2xx).toBe('2');
    expect(row('marathon_http_in', 'FRONTEND').ereq).toBe('1');
    expect(row('marathon_http_in', 'FRONTEND').status).toBe('OPEN');
  });

  it('Prometheus metrics: requests by status class, servers by state, problems, table version, feed', async () => {
    const { admin } = await setup();
    const text = (await admin('/metrics')).text;
    expect(text).toContain('baton_lb_requests_total{backend="web_10001",code="2xx"} 2');
    expect(text).toContain('baton_lb_backend_servers{backend="web_10001",state="up"} 1');
    expect(text).toContain('baton_lb_backend_servers{backend="web_10001",state="down"} 1');
    expect(text).toContain('baton_lb_backend_servers{backend="drain_10002",state="draining"} 1');
    expect(text).toContain('baton_lb_route_problems{kind="bad-label"} 1');
    expect(text).toContain('baton_lb_route_table_version 42');
    expect(text).toContain('baton_lb_feed_stale 0');
    expect(text).toMatch(/baton_lb_frontend_active_connections\{frontend="marathon_http_in"\} \d+/);
    expect(text).toMatch(/baton_lb_backend_bytes_total\{backend="web_10001",direction="out"\} [1-9]/);
  });

  it('JSON status: feed, table version, listeners, problems, servers with state', async () => {
    const { admin } = await setup();
    const status = JSON.parse((await admin('/_baton/status')).text);
    expect(status.tableVersion).toBe(42);
    expect(status.feed).toMatchObject({ connected: true, stale: false });
    expect(typeof status.feed.ageSeconds).toBe('number');
    expect(status.problems).toEqual([expect.objectContaining({ appId: '/bad', kind: 'bad-label' })]);
    expect(status.listeners.map((l: { kind: string }) => l.kind).sort()).toEqual(['admin', 'http', 'https']);
    const web = status.backends.find((b: { name: string }) => b.name === 'web_10001');
    expect(web.servers.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).toEqual(['srv_a:UP', 'srv_dead:DOWN']);
    expect(web.servers[1].lastError).toBe('ECONNREFUSED');
  });

  it('basic auth on the admin port, except for the health check', async () => {
    const { admin } = await setup({ adminAuth: 'ops:secret' });
    expect((await admin('/_haproxy_health_check')).status).toBe(200);
    const denied = await admin('/_baton/status');
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect((await admin('/metrics', { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` })).status).toBe(401);
    expect((await admin('/metrics', { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` })).status).toBe(200);
  });

  it('hup answers 500 when there is no feed to resync', async () => {
    const { admin } = await setup({ onResync: undefined });
    expect((await admin('/_mlb_signal/hup')).status).toBe(500);
  });
});
