import { readFileSync } from 'node:fs';
import { ClusterState, type StateChange } from '@baton/marathon';
import { describe, expect, it } from 'vitest';
import { routeTableToJSON } from '../src/admin-text.js';
import { RouteBuilder, buildRouteTable, mergeChanges, type RouteOptionsInput } from '../src/routes.js';
import type { RouteTable } from '../src/route-table.js';

const FIXTURES = new URL('../../../fixtures/marathon/', import.meta.url);
const fixtureApps = (name: string): unknown[] => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')).apps;

// ------------------------------------------------------------------------------------ app factory

let seq = 0;
type Raw = Record<string, unknown>;

interface TaskSpec {
  id?: string;
  host?: string;
  state?: string | null;
  ports?: number[];
  ip?: string;
  alive?: boolean[];
}

function task(appId: string, spec: TaskSpec = {}): Raw {
  seq++;
  const t: Raw = {
    id: spec.id ?? `${appId.slice(1).replace(/\//g, '_')}.instance-${seq.toString(16).padStart(8, '0')}._app.1`,
    host: spec.host ?? '10.0.0.1',
    ports: spec.ports ?? [31000 + seq],
    startedAt: '2024-01-01T00:00:00.000Z',
  };
  if (spec.state !== null) t.state = spec.state ?? 'TASK_RUNNING';
  if (spec.ip) t.ipAddresses = [{ ipAddress: spec.ip, protocol: 'IPv4' }];
  if (spec.alive) t.healthCheckResults = spec.alive.map((alive) => ({ alive }));
  return t;
}

interface AppSpec {
  labels?: Record<string, string>;
  servicePorts?: number[];
  tasks?: Raw[];
  healthChecks?: Raw[];
  instances?: number;
}

function hostApp(id: string, spec: AppSpec = {}): Raw {
  return {
    id,
    instances: spec.instances ?? spec.tasks?.length ?? 1,
    labels: spec.labels ?? {},
    networks: [{ mode: 'host' }],
    portDefinitions: (spec.servicePorts ?? [10000]).map((port) => ({ port, protocol: 'tcp' })),
    healthChecks: spec.healthChecks ?? [],
    tasks: spec.tasks ?? [task(id)],
  };
}

function bridgeApp(id: string, spec: AppSpec & { containerPorts?: number[] } = {}): Raw {
  const servicePorts = spec.servicePorts ?? [10000];
  return {
    id,
    instances: spec.tasks?.length ?? 1,
    labels: spec.labels ?? {},
    networks: [{ mode: 'container/bridge' }],
    container: {
      type: 'DOCKER',
      portMappings: servicePorts.map((servicePort, i) => ({ containerPort: spec.containerPorts?.[i] ?? 80, hostPort: 0, servicePort })),
    },
    healthChecks: spec.healthChecks ?? [],
    tasks: spec.tasks ?? [task(id)],
  };
}

function ipPerTaskApp(id: string, spec: AppSpec & { containerPorts?: number[] } = {}): Raw {
  const containerPorts = spec.containerPorts ?? [8080];
  return {
    id,
    instances: spec.tasks?.length ?? 1,
    labels: spec.labels ?? {},
    networks: [{ mode: 'container', name: 'dcos' }],
    container: {
      type: 'DOCKER',
      portMappings: containerPorts.map((containerPort, i) => {
        const m: Raw = { containerPort };
        if (spec.servicePorts) m.servicePort = spec.servicePorts[i];
        return m;
      }),
    },
    healthChecks: spec.healthChecks ?? [],
    tasks: spec.tasks ?? [task(id, { ip: '9.0.0.1', ports: [] })],
  };
}

function sortedEntries<V>(map: ReadonlyMap<string, V>): [string, V][] {
  return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function stateOf(apps: unknown[]): ClusterState {
  const state = new ClusterState();
  state.replaceAll(apps);
  return state;
}

const ALL: RouteOptionsInput = { groups: ['*'] };
const build = (apps: unknown[], options: RouteOptionsInput = ALL): RouteTable => buildRouteTable(stateOf(apps), options);
const errors = (table: RouteTable) => table.problems.filter((p) => (p.severity ?? 'error') === 'error');

function shuffled<T>(items: T[], seed: number): T[] {
  const out = items.slice();
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ------------------------------------------------------------------------------------------ tests

describe('real Marathon payloads', () => {
  it('1.5 bridge app with a vhost: http backend on its service port, server at agent IP + host port', () => {
    const table = build(fixtureApps('rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json'), { groups: ['external'] });
    const backend = table.backends.get('pywebserver_10101')!;
    expect(backend).toMatchObject({ appId: '/pywebserver', portIndex: 0, servicePort: 10101, mode: 'http', vhosts: ['myvhost.com'] });
    expect(backend.servers).toMatchObject([{ host: '10.0.2.148', port: 1565, name: '10_0_2_148_1565', draining: false }]);
    expect(backend.servers[0].id).toBe('pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc:0');
    expect(table.servicePorts.get(10101)).toBe('pywebserver_10101');
    expect(table.httpRules).toMatchObject([{ host: 'myvhost.com', paths: [], backend: 'pywebserver_10101', weight: 0 }]);
    expect(table.hostIndex.get('myvhost.com')).toHaveLength(1);
    expect(table.appIdIndex.get('/pywebserver')).toBe('pywebserver_10101');
    expect(table.problems).toEqual([]);
    // Another LB group does not see it.
    expect(build(fixtureApps('rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json'), { groups: ['internal'] }).backends.size).toBe(0);
  });

  it('1.5 app with a MESOS_HTTP health check in a deployment group: tcp backend named after the group on HAPROXY_0_PORT', () => {
    const table = build(fixtureApps('rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json'), {
      groups: ['external'],
      healthCheck: true,
    });
    const backend = table.backends.get('nginx_10000')!;
    expect(backend).toMatchObject({ appId: '/nginx', servicePort: 10000, mode: 'tcp', deploymentGroup: 'nginx', memberAppIds: ['/nginx-green'] });
    expect(backend.healthCheck).toMatchObject({ protocol: 'MESOS_HTTP', path: '/', intervalSeconds: 3, timeoutSeconds: 15, maxConsecutiveFailures: 10 });
    expect(backend.servers.map((s) => `${s.host}:${s.port}`).sort()).toEqual(['10.0.6.25:16916', '10.0.6.25:23336', '10.0.6.25:31184']);
    expect(table.servicePorts.get(10000)).toBe('nginx_10000');
    expect(table.appIdIndex.size).toBe(0); // tcp mode: not on :9091
  });

  it('pre-1.4 blue/green pair merges with marathon-lb drain rule (1 old task drains)', () => {
    const table = build(fixtureApps('rest-v2-apps-embed-tasks-pre1.4-legacy-docker-portMappings-real.json'), {
      groups: ['external'],
      healthCheck: true,
    });
    expect([...table.backends.keys()]).toEqual(['nginx_10000']);
    const backend = table.backends.get('nginx_10000')!;
    expect(backend.mode).toBe('http'); // HTTP health check
    expect(backend.memberAppIds).toEqual(['/nginx-green', '/nginx-blue']);
    expect(backend.servers).toHaveLength(4);
    // target = 1 (no NEW_INSTANCES): min(3 old, 1 healthy new, max(0, 1 + 3 − 1)) = 1, the smallest old id.
    expect(backend.servers.filter((s) => s.draining).map((s) => s.taskId)).toEqual(['nginx-green.0dbabba6-c931-11e5-9836-026ee08d9f6f']);
    expect(backend.servers.find((s) => s.appId === '/nginx-blue')).toMatchObject({ host: '10.0.1.147', port: 25724, draining: false });
    expect(table.servicePorts.get(10000)).toBe('nginx_10000');
    expect(table.servicePorts.has(10001)).toBe(false);
  });
});

describe('groups', () => {
  const apps = () => [
    hostApp('/ext', { labels: { HAPROXY_GROUP: 'external' }, servicePorts: [10001] }),
    hostApp('/int', { labels: { HAPROXY_GROUP: 'internal,other' }, servicePorts: [10002] }),
    hostApp('/none', { servicePorts: [10003] }),
    hostApp('/split', { labels: { HAPROXY_GROUP: 'external', HAPROXY_1_GROUP: 'internal' }, servicePorts: [10004, 10005] }),
  ];

  it.each<[string[], string[]]>([
    [['external'], ['ext_10001', 'split_10004']],
    [['internal'], ['int_10002', 'split_10005']],
    [['other', 'external'], ['ext_10001', 'int_10002', 'split_10004']],
    [['*'], ['ext_10001', 'int_10002', 'none_10003', 'split_10004', 'split_10005']],
    [['nobody'], []],
  ])('--group %j serves %j', (groups, expected) => {
    expect([...build(apps(), { groups }).backends.keys()].sort()).toEqual(expected);
  });

  it('problems of ports another LB serves are not reported', () => {
    const bad = hostApp('/bad', { labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_PORT: 'x' } });
    expect(build([bad], { groups: ['external'] }).problems).toEqual([]);
    expect(errors(build([bad], { groups: ['internal'] }))).toHaveLength(1);
  });
});

describe('modes', () => {
  const http = { protocol: 'HTTP', path: '/health', portIndex: 0 };
  it.each<[string, Raw, string]>([
    ['default tcp', hostApp('/a'), 'tcp'],
    ['vhost → http', hostApp('/a', { labels: { HAPROXY_0_VHOST: 'a.com' } }), 'http'],
    ['HTTP health check → http', hostApp('/a', { healthChecks: [http] }), 'http'],
    ['MESOS_HTTP health check of its own → tcp', hostApp('/a', { healthChecks: [{ ...http, protocol: 'MESOS_HTTP' }] }), 'tcp'],
    ['TCP health check → tcp', hostApp('/a', { healthChecks: [{ protocol: 'TCP', portIndex: 0 }] }), 'tcp'],
    ['explicit tcp beats HTTP check', hostApp('/a', { labels: { HAPROXY_0_MODE: 'tcp' }, healthChecks: [http] }), 'tcp'],
    ['explicit http', hostApp('/a', { labels: { HAPROXY_0_MODE: 'http' } }), 'http'],
  ])('%s', (_name, app, mode) => {
    expect(build([app]).backends.get('a_10000')!.mode).toBe(mode);
  });

  it('explicit tcp with a vhost: tcp, no :80 rule, a warning', () => {
    const table = build([hostApp('/a', { labels: { HAPROXY_0_MODE: 'tcp', HAPROXY_0_VHOST: 'a.com' } })]);
    expect(table.backends.get('a_10000')!.mode).toBe('tcp');
    expect(table.httpRules).toEqual([]);
    expect(table.problems).toMatchObject([{ kind: 'vhost-ignored', severity: 'warning', portIndex: 0 }]);
  });

  it('HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX borrows a check: http for MESOS_HTTP, check port = that task port', () => {
    const app = hostApp('/a', {
      servicePorts: [10000, 10001],
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/h', portIndex: 1 }],
      labels: { HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX: '1' },
      tasks: [task('/a', { ports: [31000, 31001] })],
    });
    const table = build([app]);
    const port0 = table.backends.get('a_10000')!;
    expect(port0.mode).toBe('http');
    expect(port0.healthCheck).toMatchObject({ protocol: 'MESOS_HTTP', path: '/h' });
    expect(port0.servers).toMatchObject([{ port: 31000, checkPort: 31001 }]);
    expect(table.backends.get('a_10001')!.mode).toBe('tcp'); // its own MESOS_HTTP check: not exactly HTTP
  });

  it('HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX moves the port of the port\'s own check (as marathon-lb)', () => {
    const app = hostApp('/a', {
      servicePorts: [10000, 10001],
      healthChecks: [{ protocol: 'HTTP', path: '/h', portIndex: 0 }],
      labels: { HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX: '1' },
      tasks: [task('/a', { ports: [31000, 31001] })],
    });
    expect(build([app]).backends.get('a_10000')!.servers).toMatchObject([{ port: 31000, checkPort: 31001 }]);
  });
});

describe('labels shape the backend', () => {
  it('every per-port label reaches the backend', () => {
    const table = build([
      hostApp('/web', {
        labels: {
          HAPROXY_0_VHOST: 'Web.example.com,www.example.com',
          HAPROXY_0_PATH: '-i /app',
          HAPROXY_0_PORT: '12000',
          HAPROXY_0_BIND_ADDR: '127.0.0.1',
          HAPROXY_0_BIND_OPTIONS: 'accept-proxy',
          HAPROXY_0_BALANCE: 'leastconn',
          HAPROXY_0_STICKY: 'true',
          HAPROXY_0_REDIRECT_TO_HTTPS: 'true',
          HAPROXY_0_USE_HSTS: 'true',
          HAPROXY_0_SSL_CERT: '/certs/web.pem',
          HAPROXY_0_AUTH: 'web:alice:$1$salt$hash',
          HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/app',
          HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: '/app',
          HAPROXY_0_HTTP_BACKEND_REDIR: '/app/',
          HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8',
        },
        tasks: [task('/web', { host: 'agent-1.local', ports: [31005] })],
      }),
    ]);
    const backend = table.backends.get('web_12000')!;
    expect(backend).toMatchObject({
      servicePort: 12000,
      mode: 'http',
      vhosts: ['web.example.com', 'www.example.com'],
      paths: ['/app'],
      caseInsensitivePath: true,
      weight: 1,
      bindAddr: '127.0.0.1',
      bindOptions: 'accept-proxy',
      balance: 'leastconn',
      sticky: true,
      redirectToHttps: true,
      useHsts: true,
      sslCert: '/certs/web.pem',
      auth: { realm: 'web', user: 'alice', passwordHash: '$1$salt$hash' },
      proxyPassPath: '/app',
      revProxyPath: '/app',
      redirectRootTo: '/app/',
      allowedNetworks: ['10.0.0.0/8'],
    });
    expect(backend.servers).toMatchObject([{ host: 'agent-1.local', port: 31005, name: 'agent-1_local_31005' }]);
    expect(table.listeners).toEqual([{ port: 12000, bindAddr: '127.0.0.1', backend: 'web_12000' }]);
    expect(table.servicePorts.has(10000)).toBe(false);
    expect(table.certificateFiles).toEqual(['/certs/web.pem']);
    expect(table.httpRules.map((r) => [r.host, r.paths, r.caseInsensitivePath])).toEqual([
      ['web.example.com', ['/app'], true],
      ['www.example.com', ['/app'], true],
    ]);
  });

  it('a disabled port is not served; strict mode serves only enabled ports', () => {
    const app = hostApp('/a', { servicePorts: [10000, 10001], labels: { HAPROXY_1_ENABLED: 'false' }, tasks: [task('/a', { ports: [1, 2] })] });
    expect([...build([app]).backends.keys()]).toEqual(['a_10000']);
    expect([...build([app], { groups: ['*'], strictMode: true }).backends.keys()]).toEqual([]);
    const enabled = hostApp('/b', { servicePorts: [10000, 10001], labels: { HAPROXY_1_ENABLED: 'true' }, tasks: [task('/b', { ports: [1, 2] })] });
    expect([...build([enabled], { groups: ['*'], strictMode: true }).backends.keys()]).toEqual(['b_10001']);
  });

  it('a malformed label drops only that app port; the rest of the cluster keeps routing', () => {
    const table = build([
      hostApp('/bad', {
        servicePorts: [10000, 10001],
        labels: { HAPROXY_0_PORT: 'eighty', HAPROXY_1_VHOST: 'bad-but-ok.com' },
        tasks: [task('/bad', { ports: [1, 2] })],
      }),
      hostApp('/good', { servicePorts: [10002], labels: { HAPROXY_0_VHOST: 'good.com' } }),
      hostApp('/auth', { servicePorts: [10003], labels: { HAPROXY_0_AUTH: 'nope' } }),
    ]);
    expect([...table.backends.keys()].sort()).toEqual(['bad_10001', 'good_10002']);
    expect(errors(table).map((p) => [p.appId, p.portIndex, p.label, p.kind])).toEqual([
      ['/auth', 0, 'HAPROXY_0_AUTH', 'bad-label'],
      ['/bad', 0, 'HAPROXY_0_PORT', 'bad-label'],
    ]);
    expect(table.hostIndex.has('good.com')).toBe(true);
    expect(table.hostIndex.has('bad-but-ok.com')).toBe(true);
  });

  it('the LB’s own app (frameworkName) is skipped', () => {
    const apps = [hostApp('/baton-lb', { servicePorts: [10000] }), hostApp('/web', { servicePorts: [10001] })];
    expect([...build(apps, { groups: ['*'], frameworkName: 'baton-lb' }).backends.keys()]).toEqual(['web_10001']);
    expect(build(apps).backends.size).toBe(2);
  });

  it('an app with no live task has no rules and no listener (marathon-lb leaves it out); the next rule serves', () => {
    const apps = [
      hostApp('/empty', { tasks: [], labels: { HAPROXY_0_VHOST: 'empty.com', HAPROXY_0_PATH: '/api' }, servicePorts: [10000] }),
      hostApp('/root', { labels: { HAPROXY_0_VHOST: 'empty.com', HAPROXY_0_PORT: '10000' }, servicePorts: [10001] }),
    ];
    const table = build(apps);
    expect(table.backends.get('empty_10000')!.servers).toEqual([]);
    // The app's service port goes to the other claimant; its vhost rule is gone, the root app's serves.
    expect(table.servicePorts.get(10000)).toBe('root_10000');
    expect(table.hostIndex.get('empty.com')!.map((r) => r.backend)).toEqual(['root_10000']);
    expect(table.problems.filter((p) => p.kind === 'port-conflict')).toEqual([]);
    // A task starts: rules and listener come back (also through an incremental update).
    const builder = new RouteBuilder({ groups: ['*'] });
    const state = new ClusterState();
    state.replaceAll(apps as never);
    builder.build(state);
    const withTask = hostApp('/empty', { labels: { HAPROXY_0_VHOST: 'empty.com', HAPROXY_0_PATH: '/api' }, servicePorts: [10000] });
    const change = state.replaceApp('/empty', withTask);
    const updated = builder.update(state, change!);
    expect(updated.servicePorts.get(10000)).toBe('empty_10000');
    expect(updated.hostIndex.get('empty.com')!.map((r) => r.backend)).toEqual(['empty_10000', 'root_10000']);
  });

  it('group names are not trimmed (as marathon-lb); the likely typo is reported where it matters', () => {
    const apps = [
      hostApp('/typo', { labels: { HAPROXY_GROUP: 'internal, external', HAPROXY_0_VHOST: 'typo.com' }, servicePorts: [10000] }),
      hostApp('/fine', { labels: { HAPROXY_GROUP: 'internal,external' }, servicePorts: [10001] }),
    ];
    const external = build(apps, { groups: ['external'] });
    expect([...external.backends.keys()]).toEqual(['fine_10001']);
    expect(external.problems).toEqual([
      expect.objectContaining({ appId: '/typo', label: 'HAPROXY_GROUP', kind: 'group-blanks', severity: 'warning', message: expect.stringMatching(/" external" is not "external"/) }),
    ]);
    const internal = build(apps, { groups: ['internal'] });
    expect([...internal.backends.keys()].sort()).toEqual(['fine_10001', 'typo_10000']);
    expect(internal.problems.map((p) => p.kind)).toEqual(['group-blanks']);
    expect(build(apps, { groups: ['other'] }).problems).toEqual([]);
  });
});

describe('HTTP rule order (marathon-lb: blocks by weight descending, ties by app id then port)', () => {
  it('path apps (weight 1) precede root vhosts (0), -1 comes last, each block contiguous', () => {
    const vhost = (id: string, labels: Record<string, string>, port: number) => hostApp(id, { labels, servicePorts: [port] });
    const apps = [
      vhost('/root', { HAPROXY_0_VHOST: 'x.com' }, 10001),
      vhost('/api', { HAPROXY_0_VHOST: 'x.com,y.com', HAPROXY_0_PATH: '/api' }, 10002),
      vhost('/last', { HAPROXY_0_VHOST: 'x.com', HAPROXY_0_BACKEND_WEIGHT: '-1' }, 10003),
      vhost('/heavy', { HAPROXY_0_VHOST: 'z.com', HAPROXY_0_BACKEND_WEIGHT: '5' }, 10004),
      vhost('/docs', { HAPROXY_0_VHOST: 'x.com', HAPROXY_0_PATH: '/docs' }, 10005),
      vhost('/wild', { HAPROXY_0_VHOST: '*.x.com' }, 10006),
    ];
    for (const seed of [1, 2, 3, 4]) {
      const table = build(shuffled(apps, seed));
      expect(table.httpRules.map((r) => `${r.backend} ${r.host}${r.paths.length ? ' ' + r.paths.join(' ') : ''} w${r.weight}`)).toEqual([
        'heavy_10004 z.com w5',
        'api_10002 x.com /api w1',
        'api_10002 y.com /api w1',
        'docs_10005 x.com /docs w1',
        'root_10001 x.com w0',
        'wild_10006 *.x.com w0',
        'last_10003 x.com w-1',
      ]);
      expect(table.hostIndex.get('x.com')!.map((r) => r.backend)).toEqual(['api_10002', 'docs_10005', 'root_10001', 'last_10003']);
      expect(table.hostIndex.has('*.x.com')).toBe(false);
      expect(table.wildcardRules.map((r) => r.backend)).toEqual(['wild_10006']);
      expect(errors(table)).toEqual([]);
    }
  });

  it('the same vhost+path with different weights: both kept, the heavier first, no problem', () => {
    const table = build([
      hostApp('/a', { labels: { HAPROXY_0_VHOST: 'x.com' }, servicePorts: [10001] }),
      hostApp('/b', { labels: { HAPROXY_0_VHOST: 'x.com', HAPROXY_0_BACKEND_WEIGHT: '2' }, servicePorts: [10002] }),
    ]);
    expect(table.hostIndex.get('x.com')!.map((r) => r.backend)).toEqual(['b_10002', 'a_10001']);
    expect(table.problems).toEqual([]);
  });

  it('X-Marathon-App-Id (:9091): http apps only, first port, lower-cased id', () => {
    const table = build([
      hostApp('/Grp/Web', { labels: { HAPROXY_0_MODE: 'http', HAPROXY_1_MODE: 'http' }, servicePorts: [10002, 10001], tasks: [task('/Grp/Web', { ports: [1, 2] })] }),
      hostApp('/tcp', { servicePorts: [10003] }),
    ]);
    expect([...table.appIdIndex]).toEqual([['/grp/web', 'Grp_Web_10001']]);
  });
});

describe('conflicts are detected and the same app wins every time', () => {
  it('two apps on one service port: the smallest app id keeps the listener', () => {
    const apps = [
      hostApp('/zeta', { servicePorts: [10000] }),
      hostApp('/alpha', { servicePorts: [10500], labels: { HAPROXY_0_PORT: '10000' } }),
      hostApp('/mid', { servicePorts: [10000] }),
      hostApp('/other', { servicePorts: [10001] }),
    ];
    const outcomes = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const table = build(shuffled(apps, seed));
      expect(table.servicePorts.get(10000)).toBe('alpha_10000');
      expect(table.servicePorts.get(10001)).toBe('other_10001');
      const conflicts = table.problems.filter((p) => p.kind === 'port-conflict');
      expect(conflicts.map((p) => p.appId).sort()).toEqual(['/mid', '/zeta']);
      for (const problem of conflicts) expect(problem.message).toContain('/alpha');
      outcomes.add(JSON.stringify(routeTableToJSON(table)));
    }
    expect(outcomes.size).toBe(1);
  });

  it('different bind addresses on one port do not clash; * clashes with any', () => {
    const table = build([
      hostApp('/a', { servicePorts: [10000], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.1' } }),
      hostApp('/b', { servicePorts: [10000], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2' } }),
      hostApp('/c', { servicePorts: [10000] }),
    ]);
    expect(table.listeners).toEqual([
      { port: 10000, bindAddr: '127.0.0.1', backend: 'a_10000' },
      { port: 10000, bindAddr: '127.0.0.2', backend: 'b_10000' },
    ]);
    expect(table.problems.map((p) => [p.appId, p.kind])).toEqual([['/c', 'port-conflict']]);
  });

  it('a service port equal to an LB port (80, 443, 9090, 9091 or configured) is a conflict; its vhost still routes', () => {
    const apps = [hostApp('/web', { labels: { HAPROXY_0_PORT: '80', HAPROXY_0_VHOST: 'web.com' } }), hostApp('/adm', { servicePorts: [9090] })];
    const table = build(apps);
    expect(table.servicePorts.size).toBe(0);
    expect(table.problems.map((p) => [p.appId, p.kind])).toEqual([
      ['/adm', 'port-conflict'],
      ['/web', 'port-conflict'],
    ]);
    expect(table.hostIndex.get('web.com')![0].backend).toBe('web_80');
    const custom = build(apps, { groups: ['*'], reservedPorts: [8080] });
    expect([...custom.servicePorts.keys()].sort()).toEqual([80, 9090]);
  });

  it('the same vhost+path with the same weight: the smallest app id wins, losers reported', () => {
    const apps = [
      hostApp('/m', { labels: { HAPROXY_0_VHOST: 'x.com' }, servicePorts: [10001] }),
      hostApp('/z', { labels: { HAPROXY_0_VHOST: 'x.com,only-z.com' }, servicePorts: [10002] }),
      hostApp('/b', { labels: { HAPROXY_0_VHOST: 'x.com', HAPROXY_0_PATH: '/p /q' }, servicePorts: [10003] }),
      hostApp('/c', { labels: { HAPROXY_0_VHOST: 'x.com', HAPROXY_0_PATH: '/q /r' }, servicePorts: [10004] }),
    ];
    for (const seed of [1, 2, 3, 4, 5]) {
      const table = build(shuffled(apps, seed));
      expect(table.hostIndex.get('x.com')!.map((r) => `${r.backend} ${r.paths.join(' ')}`)).toEqual(['b_10003 /p /q', 'c_10004 /r', 'm_10001 ']);
      expect(table.hostIndex.get('only-z.com')!.map((r) => r.backend)).toEqual(['z_10002']);
      expect(table.problems.map((p) => [p.appId, p.kind])).toEqual([
        ['/c', 'vhost-conflict'],
        ['/z', 'vhost-conflict'],
      ]);
    }
  });
});

describe('which tasks become servers', () => {
  it.each<[string | null, boolean]>([
    ['TASK_RUNNING', true],
    ['TASK_UNREACHABLE', true],
    [null, true],
    ['TASK_STAGING', false],
    ['TASK_STARTING', false],
    ['TASK_KILLING', false],
  ])('state %s kept: %s', (state, kept) => {
    const table = build([hostApp('/a', { tasks: [task('/a', { state })] })]);
    expect(table.backends.get('a_10000')!.servers.length).toBe(kept ? 1 : 0);
  });

  it('tasks without a host are skipped', () => {
    const table = build([hostApp('/a', { tasks: [task('/a', { host: '' }), task('/a', { host: '10.0.0.9', ports: [4000] })] })]);
    expect(table.backends.get('a_10000')!.servers.map((s) => `${s.host}:${s.port}`)).toEqual(['10.0.0.9:4000']);
  });

  it('--health-check: only apps with checks are filtered; any alive result keeps a task', () => {
    const check = [{ protocol: 'TCP', portIndex: 0 }];
    const apps = [
      hostApp('/checked', {
        healthChecks: check,
        tasks: [
          task('/checked', { host: 'h1', alive: [false, true] }),
          task('/checked', { host: 'h2', alive: [false] }),
          task('/checked', { host: 'h3' }),
        ],
      }),
      hostApp('/unchecked', { servicePorts: [10001], tasks: [task('/unchecked', { host: 'h4' })] }),
    ];
    const on = build(apps, { groups: ['*'], healthCheck: true });
    expect(on.backends.get('checked_10000')!.servers.map((s) => s.agentHost)).toEqual(['h1']);
    expect(on.backends.get('unchecked_10001')!.servers).toHaveLength(1);
    const off = build(apps);
    expect(off.backends.get('checked_10000')!.servers).toHaveLength(3);
  });

  it('--health-check: a task without results keeps its last known health (LRU across rebuilds)', () => {
    const check = [{ protocol: 'TCP', portIndex: 0 }];
    const ids = ['a.t1', 'a.t2', 'a.t3'];
    const builder = new RouteBuilder({ groups: ['*'], healthCheck: true, lruCacheCapacity: 2 });
    const withResults = hostApp('/a', {
      healthChecks: check,
      tasks: [
        task('/a', { id: ids[0], host: 'h1', alive: [true] }),
        task('/a', { id: ids[1], host: 'h2', alive: [false] }),
        task('/a', { id: ids[2], host: 'h3', alive: [true] }),
      ],
    });
    expect(builder.build(stateOf([withResults])).backends.get('a_10000')!.servers.map((s) => s.taskId)).toEqual(['a.t1', 'a.t3']);

    // A fresh Marathon leader reports no results at all (a new ClusterState knows nothing either).
    const noResults = hostApp('/a', {
      healthChecks: check,
      tasks: [...ids, 'a.t4'].map((id, i) => task('/a', { id, host: `h${i + 1}` })),
    });
    // Capacity 2: t1 was evicted by t2 and t3; t2 is remembered unhealthy; t4 was never seen.
    expect(builder.build(stateOf([noResults])).backends.get('a_10000')!.servers.map((s) => s.taskId)).toEqual(['a.t3']);

    const roomy = new RouteBuilder({ groups: ['*'], healthCheck: true });
    roomy.build(stateOf([withResults]));
    expect(roomy.build(stateOf([noResults])).backends.get('a_10000')!.servers.map((s) => s.taskId)).toEqual(['a.t1', 'a.t3']);
    // Without memory (a one-shot build), no result = dropped.
    expect(build([noResults], { groups: ['*'], healthCheck: true }).backends.get('a_10000')!.servers).toEqual([]);
  });
});

describe('network modes', () => {
  it('host: agent host and task ports, zipped with service ports', () => {
    const app = hostApp('/h', { servicePorts: [10000, 10001], tasks: [task('/h', { host: 'agent.local', ports: [31000, 31001, 31002] })] });
    const table = build([app]);
    expect(table.backends.get('h_10000')!.servers).toMatchObject([{ host: 'agent.local', port: 31000 }]);
    expect(table.backends.get('h_10001')!.servers).toMatchObject([{ host: 'agent.local', port: 31001, id: expect.stringMatching(/:1$/) }]);
    const short = build([hostApp('/h', { servicePorts: [10000, 10001], tasks: [task('/h', { ports: [31000] })] })]);
    expect(short.backends.get('h_10001')!.servers).toEqual([]);
  });

  it('container/bridge: agent IP and host ports; container port when the task has none', () => {
    const table = build([
      bridgeApp('/b', { tasks: [task('/b', { host: '10.0.0.5', ports: [31555], ip: '172.17.0.2' })] }),
      bridgeApp('/c', { servicePorts: [10001], containerPorts: [8080], tasks: [task('/c', { host: '10.0.0.6', ports: [] })] }),
    ]);
    expect(table.backends.get('b_10000')!.servers).toMatchObject([{ host: '10.0.0.5', port: 31555, name: '10_0_0_5_31555' }]);
    expect(table.backends.get('c_10001')!.servers).toMatchObject([{ host: '10.0.0.6', port: 8080 }]);
  });

  it('container (IP-per-task): task IP and container ports; tasks without an IP are skipped', () => {
    const table = build([
      ipPerTaskApp('/ip', {
        servicePorts: [10000],
        containerPorts: [8080],
        tasks: [task('/ip', { host: 'agent-2', ip: '9.0.0.7', ports: [] }), task('/ip', { host: 'agent-3', ports: [] })],
      }),
    ]);
    expect(table.backends.get('ip_10000')!.servers).toMatchObject([{ host: '9.0.0.7', port: 8080, name: 'agent-2_9_0_0_7_8080', agentHost: 'agent-2' }]);
  });

  it('server names and sticky cookies as marathon-lb computes them', () => {
    const table = build([hostApp('/a', { tasks: [task('/a', { host: 'agent1', ports: [31000] }), task('/a', { host: '10.0.0.1', ports: [31000] })] })]);
    const byName = new Map(table.backends.get('a_10000')!.servers.map((s) => [s.name, s.cookie]));
    // sha1("agent1_10_0_0_1_31000")[:10] — host and IP differ here because the host is a name.
    expect(byName.get('10_0_0_1_31000')).toBe('13d473d85a');
    expect(byName.has('agent1_31000')).toBe(true);
  });
});

describe('IP-per-task service ports', () => {
  it('are assigned by marathon-lb’s sha1 formula from 10050–10100', () => {
    const table = build([ipPerTaskApp('/ippc', { containerPorts: [8080] }), ipPerTaskApp('/ippc2', { containerPorts: [80] })]);
    expect(table.servicePorts.get(10087)).toBe('ippc_10087');
    expect(table.servicePorts.get(10078)).toBe('ippc2_10078');
  });

  it('stay put when other apps change (marathon-lb would move them)', () => {
    const builder = new RouteBuilder(ALL);
    const state = stateOf([ipPerTaskApp('/ippc', { containerPorts: [8080] }), ipPerTaskApp('/other', { containerPorts: [80] })]);
    let table = builder.build(state);
    expect(table.servicePorts.get(10087)).toBe('ippc_10087');
    const otherPort = [...table.servicePorts].find(([, b]) => b.startsWith('other_'))![0];

    // /a157 hashes to 10087 too, and sorts before /ippc: a from-scratch assignment hands it 10087.
    const change = state.replaceApp('/a157', ipPerTaskApp('/a157', { containerPorts: [8080] }))!;
    table = builder.update(state, change);
    expect(table.servicePorts.get(10087)).toBe('ippc_10087');
    expect(table.servicePorts.get(otherPort)).toBe(`other_${otherPort}`);
    const a157 = [...table.backends.values()].find((b) => b.appId === '/a157')!;
    expect(a157.servicePort).toBeGreaterThanOrEqual(10050);
    expect(a157.servicePort).toBeLessThanOrEqual(10100);
    expect(a157.servicePort).not.toBe(10087);
    expect(buildRouteTable(state, ALL).servicePorts.get(10087)).toBe('a157_10087');

    // Another app's update and removal leave it alone as well.
    table = builder.update(state, state.replaceApp('/other', null)!);
    table = builder.update(state, state.replaceApp('/a157', ipPerTaskApp('/a157', { containerPorts: [8080], labels: { X: '1' } }))!);
    expect(table.servicePorts.get(10087)).toBe('ippc_10087');
    expect(table.servicePorts.get(a157.servicePort)).toBe(a157.name);
  });

  it('explicit service ports are used when Marathon assigned them', () => {
    const table = build([ipPerTaskApp('/ip', { servicePorts: [10200], containerPorts: [8080] })]);
    expect([...table.servicePorts.keys()]).toEqual([10200]);
  });
});

describe('RouteBuilder.update equals a full build', () => {
  it('after random app, task and health changes', () => {
    const options: RouteOptionsInput = { groups: ['external', 'internal'], healthCheck: true };
    const state = new ClusterState();
    const builder = new RouteBuilder(options);
    const changes: StateChange[] = [];
    state.subscribe((change) => changes.push(change));

    let rnd = 42;
    const random = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      return rnd % n;
    };
    const labelSets: Record<string, string>[] = [
      { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.com' },
      { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '/x' },
      { HAPROXY_GROUP: 'internal' },
      { HAPROXY_GROUP: 'internal', HAPROXY_0_PORT: '11000' },
      { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: 'bad' },
      { HAPROXY_GROUP: 'external', HAPROXY_DEPLOYMENT_GROUP: 'dg', HAPROXY_0_PORT: '12000', HAPROXY_DEPLOYMENT_STARTED_AT: '2024-01-01T00:00:00Z' },
      { HAPROXY_GROUP: 'external', HAPROXY_DEPLOYMENT_GROUP: 'dg', HAPROXY_0_PORT: '12000', HAPROXY_DEPLOYMENT_STARTED_AT: '2024-02-01T00:00:00Z', HAPROXY_DEPLOYMENT_NEW_INSTANCES: '1', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2' },
      { HAPROXY_GROUP: 'nobody' },
    ];
    const appIds = Array.from({ length: 12 }, (_, i) => `/app${i}`);
    const makeApp = (id: string) => {
      const tasks = Array.from({ length: random(4) }, () =>
        task(id, { host: `h${random(3)}`, alive: random(3) === 0 ? [false] : [true], ports: [31000 + random(50)] }),
      );
      return hostApp(id, {
        labels: labelSets[random(labelSets.length)],
        servicePorts: [10000 + random(8)],
        healthChecks: random(2) === 0 ? [{ protocol: 'HTTP', portIndex: 0 }] : [],
        tasks,
      });
    };
    state.replaceAll(appIds.slice(0, 6).map(makeApp));
    builder.build(state);

    for (let step = 0; step < 150; step++) {
      changes.length = 0;
      const id = appIds[random(appIds.length)];
      const tasks = state.tasksOf(id);
      switch (random(5)) {
        case 0:
          state.replaceApp(id, makeApp(id));
          break;
        case 1:
          state.replaceApp(id, null);
          break;
        case 2:
          if (tasks.length > 0) {
            const t = tasks[random(tasks.length)];
            state.applyEvent({ eventType: 'health_status_changed_event', appId: id, taskId: t.id, alive: random(2) === 0 });
          }
          break;
        case 3:
          if (tasks.length > 0 && state.getApp(id)) {
            const t = tasks[random(tasks.length)];
            state.applyEvent({ eventType: 'status_update_event', appId: id, taskId: t.id, taskStatus: ['TASK_KILLING', 'TASK_KILLED', 'TASK_UNREACHABLE'][random(3)], host: t.host, ports: t.ports });
          }
          break;
        default:
          state.setLeader(`m${random(3)}:8080`);
      }
      let table: RouteTable | undefined;
      for (const change of changes) table = builder.update(state, change);
      if (!table) continue;
      expect(JSON.stringify(routeTableToJSON(table))).toBe(JSON.stringify(routeTableToJSON(buildRouteTable(state, options))));
      expect([...table.hostIndex.keys()]).toEqual([...buildRouteTable(state, options).hostIndex.keys()]);
    }
  });

  it('after random changes with conflicts, weights, wildcards, certificates and zdd groups', () => {
    const options: RouteOptionsInput = { groups: ['external'], healthCheck: true };
    const state = new ClusterState();
    const builder = new RouteBuilder(options);
    const changes: StateChange[] = [];
    state.subscribe((change) => changes.push(change));

    let rnd = 7;
    // The high bits of the LCG: its low bits repeat with a short period (with `% n` every app had
    // the same number of tasks: none).
    const random = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      return Math.floor((rnd / 0x80000000) * n);
    };
    const ext = (labels: Record<string, string>) => ({ HAPROXY_GROUP: 'external', ...labels });
    // Most label sets are an app's own (no conflict: the incremental path); the rest collide on
    // purpose (same vhost and weight, other weights, one backend name, one port, a reserved port,
    // the same id in another case, one deployment group).
    const labelSets = (id: string, n: number): Record<string, string>[] => [
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com`, ...(n % 3 === 0 ? { HAPROXY_0_BACKEND_HEAD: 'x' } : {}) }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com`, HAPROXY_0_PATH: n % 2 ? '/api /v1' : '/api', ...(n % 3 === 0 ? { HAPROXY_2_PORT: '1' } : {}) }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com,x${n % 2}.${id.slice(1)}.com`, HAPROXY_0_BACKEND_WEIGHT: String(n % 3) }),
      ext({ HAPROXY_0_VHOST: `*.${id.slice(1)}.wild.com`, HAPROXY_0_PATH: n % 2 ? '-i /Y' : '/Y' }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com,${id.slice(1).toUpperCase()}.own.com`, HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }),
      ext({ HAPROXY_0_MODE: n % 2 ? 'http' : 'tcp' }),
      ext({ HAPROXY_0_MODE: 'tcp', HAPROXY_0_VHOST: `${id.slice(1)}.own.com` }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com`, HAPROXY_0_SSL_CERT: `/etc/ssl/${id.slice(1)}-${n % 2}.pem` }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com`, HAPROXY_0_BIND_ADDR: `127.0.0.${1 + (n % 2)}` }),
      ext({ HAPROXY_0_VHOST: `${id.slice(1)}.own.com`, [n % 2 ? 'HAPROXY_0_BACKEND_HEAD' : 'HAPROXY_1_PORT']: n % 3 ? 'x' : 'bad' }),
      ext({ HAPROXY_0_VHOST: 'shared.com' }),
      ext({ HAPROXY_0_VHOST: 'shared.com', HAPROXY_0_BACKEND_WEIGHT: String(n % 2) }),
      ext({ HAPROXY_0_VHOST: '*.shared.com,shared.com', HAPROXY_0_PATH: '/p' }),
      ext({ HAPROXY_0_PORT: '11000', HAPROXY_0_VHOST: `${id.slice(1)}.own.com` }),
      ext({ HAPROXY_0_PORT: '9091' }),
      ext({ HAPROXY_0_PORT: 'bad' }),
      ext({ HAPROXY_DEPLOYMENT_GROUP: 'dg', HAPROXY_0_PORT: '12000', HAPROXY_0_VHOST: 'dg.com', HAPROXY_DEPLOYMENT_STARTED_AT: `2024-0${1 + (n % 3)}-01T00:00:00Z`, HAPROXY_DEPLOYMENT_NEW_INSTANCES: '1', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2' }),
      { HAPROXY_GROUP: 'nobody', HAPROXY_0_VHOST: 'shared.com' },
      ext({ HAPROXY_0_PORT: '12000', HAPROXY_0_VHOST: `dg${n % 2}.com` }),
    ];
    const appIds = [...Array.from({ length: 16 }, (_, i) => `/app${i}`), '/App1', '/dg'];
    const servicePortOf = new Map(appIds.map((id, i) => [id, 10000 + i]));
    const OWN = 10;
    const labelsOf = new Map<string, Record<string, string>>();
    const labelIndex = new Map<string, number>();
    const rawApps = new Map<string, Raw>();
    const twoPorts = new Map<string, boolean>();
    const makeApp = (id: string, relabel: boolean) => {
      if (relabel || !labelsOf.has(id)) {
        const sets = labelSets(id, random(6));
        // A quarter of relabels pick any set; half change the app's set a little (weight, paths,
        // cert, address, problems…); a quarter pick another conflict-free set. /dg keeps its port
        // 12000, which the deployment group dg claims too (the app wins the backend name).
        const kind = random(4);
        const index = id === '/dg' ? sets.length - 1 : kind === 0 ? random(sets.length - 1) : kind === 3 ? random(OWN) : (labelIndex.get(id) ?? 0);
        labelIndex.set(id, index);
        labelsOf.set(id, sets[index]);
      }
      if (random(20) === 0) servicePortOf.set(id, 10000 + random(30));
      const tasks = Array.from({ length: random(4) }, () =>
        task(id, { host: `h${random(3)}`, alive: random(4) === 0 ? [false] : [true], ports: [31000 + random(50), 32000 + random(50)] }),
      );
      if (random(10) === 0) twoPorts.set(id, !twoPorts.get(id));
      const servicePorts = twoPorts.get(id) ? [servicePortOf.get(id)!, servicePortOf.get(id)! + 100] : [servicePortOf.get(id)!];
      const app = hostApp(id, { labels: labelsOf.get(id), servicePorts, healthChecks: random(3) === 0 ? [{ protocol: 'HTTP', portIndex: 0 }] : [], tasks });
      rawApps.set(id, app);
      return app;
    };
    state.replaceAll(appIds.slice(0, 12).map((id) => makeApp(id, true)));
    let previous = builder.build(state);

    let patched = 0;
    let patchedRules = 0;
    for (let step = 0; step < 1200; step++) {
      changes.length = 0;
      const id = appIds[random(appIds.length)];
      const tasks = state.tasksOf(id);
      switch (random(8)) {
        case 0:
          state.replaceApp(id, makeApp(id, true));
          break;
        case 1:
          if (random(3) === 0) {
            rawApps.delete(id);
            state.replaceApp(id, null);
          } else state.replaceApp(id, makeApp(id, false));
          break;
        case 2:
          // Several apps in one change, as a resync does.
          {
            const kept = appIds.filter(() => random(4) !== 0);
            const apps = kept.map((other) => (rawApps.has(other) && random(6) !== 0 ? rawApps.get(other)! : makeApp(other, random(2) === 0)));
            for (const other of appIds) if (!kept.includes(other)) rawApps.delete(other);
            state.replaceAll(apps);
          }
          break;
        case 3:
        case 4:
          if (tasks.length > 0) {
            const t = tasks[random(tasks.length)];
            state.applyEvent({ eventType: 'health_status_changed_event', appId: id, taskId: t.id, alive: random(2) === 0 });
          }
          break;
        case 5:
        case 6:
          if (tasks.length > 0 && state.getApp(id)) {
            const t = tasks[random(tasks.length)];
            state.applyEvent({ eventType: 'status_update_event', appId: id, taskId: t.id, taskStatus: ['TASK_RUNNING', 'TASK_KILLING', 'TASK_KILLED', 'TASK_UNREACHABLE'][random(4)], host: t.host, ports: t.ports });
          }
          break;
        default:
          state.setLeader(`m${random(3)}:8080`);
      }
      let table: RouteTable | undefined;
      for (const change of changes) {
        // A patch updates the last table's rule list in place: compare with a copy.
        const rulesBefore = JSON.stringify(previous.httpRules);
        table = builder.update(state, change);
        if (table.patch !== undefined && table.patch.base === previous.serial) {
          patched++;
          if (JSON.stringify(table.httpRules) !== rulesBefore) patchedRules++;
        }
        previous = table;
      }
      if (!table) continue;
      const full = buildRouteTable(state, options);
      expect(JSON.stringify(routeTableToJSON(table))).toBe(JSON.stringify(routeTableToJSON(full)));
      // Host order in the index is insertion order; a patch appends a host it adds.
      expect(sortedEntries(table.hostIndex)).toEqual(sortedEntries(full.hostIndex));
      expect(table.wildcardRules).toEqual(full.wildcardRules);
      expect([...table.servicePorts]).toEqual([...full.servicePorts]);
    }
    // The incremental path was taken (a full assembly builds a new listener list), also for vhost changes.
    expect(patched).toBeGreaterThan(50);
    expect(patchedRules).toBeGreaterThan(5);
  });

  it('after each label change of one app among others (vhosts, paths, case, weight, mode)', () => {
    const others = Array.from({ length: 6 }, (_, i) =>
      hostApp(`/o${i}`, { servicePorts: [10100 + i], labels: { HAPROXY_0_VHOST: i % 2 ? `o${i}.com` : `*.o${i}.com`, HAPROXY_0_PATH: i % 3 ? '' : '/o' } }),
    );
    const versions: Record<string, string>[] = [
      { HAPROXY_0_VHOST: 'm.com' },
      { HAPROXY_0_VHOST: 'm.com', HAPROXY_0_PATH: '/a /b' },
      { HAPROXY_0_VHOST: 'm.com', HAPROXY_0_PATH: '/a' },
      { HAPROXY_0_VHOST: 'm.com', HAPROXY_0_PATH: '-i /a' },
      { HAPROXY_0_VHOST: 'm.com,n.com', HAPROXY_0_PATH: '-i /a' },
      { HAPROXY_0_VHOST: 'n.com,m.com', HAPROXY_0_BACKEND_WEIGHT: '-1' },
      { HAPROXY_0_VHOST: '*.m.com', HAPROXY_0_BACKEND_WEIGHT: '3' },
      { HAPROXY_0_MODE: 'http' },
      { HAPROXY_0_MODE: 'tcp' },
      { HAPROXY_0_VHOST: 'o1.com' },
      { HAPROXY_0_VHOST: 'm.com', HAPROXY_0_SSL_CERT: '/etc/ssl/m.pem' },
      { HAPROXY_0_VHOST: 'm.com' },
    ];
    const state = stateOf([...others, hostApp('/m', { servicePorts: [10000], labels: versions[0] })]);
    const builder = new RouteBuilder(ALL);
    let previous = builder.build(state);
    for (const labels of versions) {
      const table = builder.update(state, state.replaceApp('/m', hostApp('/m', { servicePorts: [10000], labels }))!);
      const full = buildRouteTable(state, ALL);
      expect(JSON.stringify(routeTableToJSON(table)), JSON.stringify(labels)).toBe(JSON.stringify(routeTableToJSON(full)));
      expect(sortedEntries(table.hostIndex)).toEqual(sortedEntries(full.hostIndex));
      expect(table.wildcardRules).toEqual(full.wildcardRules);
      // A patch updates the shared maps in place (no O(cluster) copy); a mode change rebuilds.
      if (table.patch !== undefined) expect(table.backends).toBe(previous.backends);
      else expect(table.backends).not.toBe(previous.backends);
      previous = table;
    }
  });

  it('for a burst of changes merged into one (one build per event-loop turn)', () => {
    const state = stateOf([hostApp('/a', { labels: { HAPROXY_0_VHOST: 'a.com' } }), hostApp('/b', { servicePorts: [10001] })]);
    const builder = new RouteBuilder(ALL);
    builder.build(state);
    const burst: StateChange[] = [];
    const unsubscribe = state.subscribe((change) => burst.push(change));
    state.replaceApp('/a', hostApp('/a', { labels: { HAPROXY_0_VHOST: 'a2.com' } }));
    state.replaceApp('/c', hostApp('/c', { servicePorts: [10002] }));
    state.replaceApp('/b', null);
    state.setLeader('m1:8080');
    unsubscribe();
    const merged = mergeChanges(burst);
    expect(merged.version).toBe(state.version);
    expect(new Set(merged.appIds)).toEqual(new Set(['/a', '/b', '/c']));
    const table = builder.update(state, merged);
    expect(JSON.stringify(routeTableToJSON(table))).toBe(JSON.stringify(routeTableToJSON(buildRouteTable(state, ALL))));
    expect([...table.hostIndex.keys()]).toEqual(['a2.com']);
  });

  it('unchanged apps keep their Backend objects', () => {
    const state = stateOf([hostApp('/a', { servicePorts: [10000] }), hostApp('/b', { servicePorts: [10001] })]);
    const builder = new RouteBuilder(ALL);
    const before = builder.build(state);
    const after = builder.update(state, state.replaceApp('/b', hostApp('/b', { servicePorts: [10002] }))!);
    expect(after.backends.get('a_10000')).toBe(before.backends.get('a_10000'));
    expect(after.backends.has('b_10001')).toBe(false);
    expect(after.backends.has('b_10002')).toBe(true);
    expect(after.stateVersion).toBe(state.version);
  });
});
