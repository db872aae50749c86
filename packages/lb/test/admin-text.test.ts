import { readFileSync } from 'node:fs';
import { ClusterState } from '@baton/marathon';
import { describe, expect, it } from 'vitest';
import { renderAppMap, renderConfig, renderVhostMap, routeTableToJSON } from '../src/admin-text.js';
import { buildRouteTable } from '../src/routes.js';

const FIXTURES = new URL('../../../fixtures/marathon/', import.meta.url);
const fixtureApps = (name: string): unknown[] => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')).apps;

function table() {
  const state = new ClusterState();
  state.replaceAll([
    ...fixtureApps('rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json'),
    ...fixtureApps('rest-v2-apps-embed-tasks-pre1.4-legacy-docker-portMappings-real.json'),
    {
      id: '/shop/api',
      labels: {
        HAPROXY_GROUP: 'external',
        HAPROXY_0_VHOST: 'shop.com,*.shop.com',
        HAPROXY_0_PATH: '/api',
        HAPROXY_0_AUTH: 'shop:admin:$1$x$y',
        HAPROXY_0_STICKY: 'true',
        HAPROXY_1_PORT: 'not-a-port',
      },
      networks: [{ mode: 'host' }],
      portDefinitions: [{ port: 10200 }, { port: 10201 }],
      tasks: [{ id: 'shop_api.t1', host: 'agent-7', state: 'TASK_RUNNING', ports: [31007, 31008] }],
    },
    { id: '/shop/web', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'shop.com' }, networks: [{ mode: 'host' }], portDefinitions: [{ port: 10300 }], tasks: [] },
  ]);
  return buildRouteTable(state, { groups: ['external'], healthCheck: true });
}

describe('/_haproxy_getconfig', () => {
  it('lists every listener, rule, backend, server and problem', () => {
    const t = table();
    const text = renderConfig(t);
    expect(text).toContain(`state version ${t.stateVersion}`);
    for (const listener of t.listeners!) expect(text).toContain(`frontend ${listener.backend}   bind ${listener.bindAddr}:${listener.port}`);
    for (const rule of t.httpRules) expect(text).toMatch(new RegExp(`use_backend ${rule.backend} if host ${rule.host.replace(/[.*]/g, '\\$&')}`));
    for (const backend of t.backends.values()) {
      expect(text).toContain(`backend ${backend.name}\n`);
      for (const server of backend.servers) expect(text).toContain(`server ${server.name} ${server.host}:${server.port} id ${server.id}`);
    }
    expect(t.problems.length).toBeGreaterThan(0);
    for (const problem of t.problems) expect(text).toContain(problem.message);
    expect(text).toContain('draining');
    expect(text).toContain('cookie mesosphere_server_id insert indirect nocache');
    expect(text).toContain('no server: no rules and no listener');
    expect(text).not.toContain('$1$x$y'); // the password hash stays private
  });

  it('a JSON rendition carries the same table without the hash', () => {
    const json = routeTableToJSON(table());
    const text = JSON.stringify(json);
    expect(text).not.toContain('$1$x$y');
    expect((json.backends as { name: string }[]).map((b) => b.name)).toContain('shop_api_10200');
  });
});

describe('/_haproxy_getvhostmap and /_haproxy_getappmap', () => {
  it('vhost map: one `host backend` line per host, the backend serving its root (none for a root app without tasks)', () => {
    expect(renderVhostMap(table())).toBe('myvhost.com pywebserver_10101\n');
  });

  it('app map: `appid backend` for http apps', () => {
    expect(renderAppMap(table())).toBe('/nginx nginx_10000\n/pywebserver pywebserver_10101\n/shop/api shop_api_10200\n/shop/web shop_web_10300\n');
  });

  it('empty table → empty maps', () => {
    const empty = buildRouteTable(new ClusterState(), { groups: ['*'] });
    expect(renderVhostMap(empty)).toBe('');
    expect(renderAppMap(empty)).toBe('');
    expect(renderConfig(empty)).toContain('# problems (0)');
  });
});
