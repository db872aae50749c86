import { describe, expect, it } from 'vitest';
import {
  HEALTH_CHECK_DEFAULTS,
  createInterner,
  splitAppsJson,
  healthFromResults,
  normalizeApp,
  normalizeIpAddresses,
  normalizeTask,
  tryNormalizeApp,
  tryNormalizeTask,
} from '../src/normalize.js';
import type { RawApp, RawTask } from '../src/types.js';

describe('normalizeApp: network mode', () => {
  it.each<[string, Partial<RawApp>, string, boolean, string | undefined]>([
    ['1.5 host', { networks: [{ mode: 'host' }] }, 'host', false, undefined],
    ['1.5 bridge', { networks: [{ mode: 'container/bridge' }] }, 'container/bridge', false, undefined],
    ['1.5 container', { networks: [{ mode: 'container', name: 'dcos' }] }, 'container', true, 'dcos'],
    ['nothing at all', {}, 'host', false, undefined],
    ['legacy HOST', { container: { type: 'DOCKER', docker: { network: 'HOST' } } }, 'host', false, undefined],
    ['legacy BRIDGE', { container: { type: 'DOCKER', docker: { network: 'BRIDGE' } } }, 'container/bridge', false, undefined],
    ['legacy USER', { container: { type: 'DOCKER', docker: { network: 'USER' } } }, 'container', true, undefined],
    ['legacy ipAddress', { ipAddress: { networkName: 'weave' } }, 'container', true, 'weave'],
    ['legacy ipAddress null', { ipAddress: null, container: null }, 'host', false, undefined],
    ['networks wins over legacy', { networks: [{ mode: 'host' }], container: { docker: { network: 'BRIDGE' } } }, 'host', false, undefined],
  ])('%s', (_name, raw, mode, ipPerTask, networkName) => {
    const app = normalizeApp({ id: '/a', ...raw });
    expect(app.networkMode).toBe(mode);
    expect(app.ipPerTask).toBe(ipPerTask);
    expect(app.networkName).toBe(networkName);
  });
});

describe('normalizeApp: ports', () => {
  it('1.5 bridge: one port per container.portMappings entry', () => {
    const app = normalizeApp({
      id: '/web',
      networks: [{ mode: 'container/bridge' }],
      container: {
        type: 'DOCKER',
        portMappings: [
          { containerPort: 80, hostPort: 0, servicePort: 10101, protocol: 'tcp', name: 'http', labels: { VIP_0: '1.2.3.4:80' } },
          { containerPort: 53, servicePort: 10102, protocol: 'udp' },
        ],
      },
    });
    expect(app.ports).toEqual([
      { index: 0, servicePort: 10101, containerPort: 80, hostPort: 0, name: 'http', protocol: 'tcp', labels: { VIP_0: '1.2.3.4:80' } },
      { index: 1, servicePort: 10102, containerPort: 53, hostPort: 0, protocol: 'udp', labels: {} },
    ]);
  });

  it('1.5 container network: no host port unless one is asked for', () => {
    const app = normalizeApp({
      id: '/c',
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { portMappings: [{ containerPort: 8080, name: 'api' }, { containerPort: 9090, hostPort: 0 }] },
    });
    expect(app.ports.map((p) => [p.containerPort, p.hostPort, p.servicePort, p.name])).toEqual([
      [8080, undefined, 0, 'api'],
      [9090, 0, 0, undefined],
    ]);
  });

  it('1.5 host: portDefinitions give service ports, host port dynamic unless requirePorts', () => {
    const app = normalizeApp({
      id: '/h',
      networks: [{ mode: 'host' }],
      portDefinitions: [{ port: 10000, protocol: 'tcp', name: 'http' }, { port: 10001 }],
    });
    expect(app.ports).toEqual([
      { index: 0, servicePort: 10000, hostPort: 0, name: 'http', protocol: 'tcp', labels: {} },
      { index: 1, servicePort: 10001, hostPort: 0, protocol: 'tcp', labels: {} },
    ]);
    const fixed = normalizeApp({ id: '/h', requirePorts: true, portDefinitions: [{ port: 31000 }] });
    expect(fixed.ports[0]).toMatchObject({ servicePort: 31000, hostPort: 31000 });
    expect(fixed.requirePorts).toBe(true);
  });

  it('legacy ports[]', () => {
    const app = normalizeApp({ id: '/old', ports: [10013, 10015] });
    expect(app.ports.map((p) => [p.index, p.servicePort, p.protocol])).toEqual([
      [0, 10013, 'tcp'],
      [1, 10015, 'tcp'],
    ]);
  });

  it('legacy docker BRIDGE with container.docker.portMappings', () => {
    const app = normalizeApp({
      id: '/legacy',
      ports: [10001],
      container: {
        type: 'DOCKER',
        docker: { network: 'BRIDGE', portMappings: [{ containerPort: 8080, hostPort: 0, servicePort: 10001, protocol: 'tcp' }] },
      },
    });
    expect(app.networkMode).toBe('container/bridge');
    expect(app.ports).toEqual([{ index: 0, servicePort: 10001, containerPort: 8080, hostPort: 0, protocol: 'tcp', labels: {} }]);
  });

  it('legacy IP-per-task: ipAddress.discovery.ports', () => {
    const app = normalizeApp({
      id: '/ippt',
      ipAddress: { networkName: 'dcos', discovery: { ports: [{ number: 8080, name: 'rest', protocol: 'tcp' }, { number: 53, protocol: 'udp' }] } },
    });
    expect(app.networkMode).toBe('container');
    expect(app.ports).toEqual([
      { index: 0, servicePort: 0, containerPort: 8080, name: 'rest', protocol: 'tcp', labels: {} },
      { index: 1, servicePort: 0, containerPort: 53, protocol: 'udp', labels: {} },
    ]);
  });

  it('bridge without mappings falls back to portDefinitions', () => {
    const app = normalizeApp({
      id: '/b',
      container: { docker: { network: 'BRIDGE', portMappings: [] } },
      portDefinitions: [{ port: 10006, protocol: 'tcp', name: 'default', labels: {} }],
    });
    expect(app.ports.map((p) => p.servicePort)).toEqual([10006]);
  });

  it('wrong types are treated as missing', () => {
    const app = normalizeApp({
      id: '/w',
      ports: 'nope',
      portDefinitions: [null, 'x', { port: 'y', protocol: 7, labels: { a: 1, b: 'ok' } }],
    } as unknown as RawApp);
    expect(app.ports).toEqual([{ index: 0, servicePort: 0, hostPort: 0, protocol: 'tcp', labels: { b: 'ok' } }]);
  });
});

describe('normalizeApp: other fields', () => {
  it('keeps only string env values (secret refs dropped) and string labels', () => {
    const app = normalizeApp({
      id: '/e',
      env: { A: '1', PASSWORD: { secret: '/db/password' }, N: 3 },
      labels: { HAPROXY_GROUP: 'external', bad: null as unknown as string },
    });
    expect(app.env).toEqual({ A: '1' });
    expect(app.labels).toEqual({ HAPROXY_GROUP: 'external' });
  });

  it('health checks get Marathon defaults', () => {
    const app = normalizeApp({
      id: '/hc',
      healthChecks: [{ protocol: 'TCP' }, { path: '/health', portIndex: 1, intervalSeconds: 5 }, { protocol: 'COMMAND', command: { value: 'true' } }, { protocol: 'MESOS_HTTP', port: 8080 }],
    });
    expect(app.healthChecks).toEqual([
      { protocol: 'TCP', portIndex: 0, ...HEALTH_CHECK_DEFAULTS },
      { protocol: 'HTTP', path: '/health', portIndex: 1, ...HEALTH_CHECK_DEFAULTS, intervalSeconds: 5 },
      { protocol: 'COMMAND', ...HEALTH_CHECK_DEFAULTS },
      { protocol: 'MESOS_HTTP', port: 8080, ...HEALTH_CHECK_DEFAULTS },
    ]);
    expect(HEALTH_CHECK_DEFAULTS).toEqual({ gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3 });
  });

  it('missing fields get safe defaults', () => {
    expect(normalizeApp({ id: '/m' })).toEqual({
      id: '/m',
      instances: 1,
      labels: {},
      env: {},
      networkMode: 'host',
      ipPerTask: false,
      ports: [],
      healthChecks: [],
      requirePorts: false,
    });
  });

  it('copies version, cmd and instances', () => {
    const app = normalizeApp({ id: '/v', version: '2017-07-19T17:34:41.967Z', cmd: 'sleep 1', instances: 0 });
    expect([app.version, app.cmd, app.instances]).toEqual(['2017-07-19T17:34:41.967Z', 'sleep 1', 0]);
  });
});

describe('tryNormalizeApp', () => {
  it.each<[unknown, string]>([
    [null, 'app is not an object (got null)'],
    ['x', 'app is not an object (got string)'],
    [[1], 'app is not an object (got array)'],
    [{}, 'app has no string id'],
    [{ id: 5 }, 'app has no string id'],
    [{ id: '' }, 'app has no string id'],
  ])('%j -> error %s', (raw, error) => {
    expect(tryNormalizeApp(raw)).toEqual({ error });
  });

  it('tasks are undefined when the payload embeds none', () => {
    const result = tryNormalizeApp({ id: '/a' });
    expect(result.app?.id).toBe('/a');
    expect(result.tasks).toBeUndefined();
  });

  it('normalises embedded tasks, fills service ports from the app, reports bad tasks', () => {
    const result = tryNormalizeApp({
      id: '/a',
      portDefinitions: [{ port: 10000 }],
      tasks: [{ id: 'a.1', host: 'h', ports: [31000] }, { id: 'a.2', servicePorts: [9] }, { nope: true }, 7],
    });
    expect(result.tasks?.map((t) => [t.id, t.appId, t.servicePorts])).toEqual([
      ['a.1', '/a', [10000]],
      ['a.2', '/a', [9]],
    ]);
    expect(result.taskErrors).toEqual(['app /a: task has no string id', 'app /a: task is not an object (got number)']);
  });
});

describe('normalizeTask', () => {
  it('health from healthCheckResults', () => {
    expect(healthFromResults([{ alive: false }, { alive: true }])).toBe('healthy');
    expect(healthFromResults([{ alive: false }])).toBe('unhealthy');
    expect(healthFromResults([{ consecutiveFailures: 3 }])).toBe('unhealthy');
    expect(healthFromResults([])).toBe('unknown');
    expect(healthFromResults(undefined)).toBe('unknown');
    expect(healthFromResults('x')).toBe('unknown');
  });

  it('ip address protocol defaults from the address', () => {
    expect(
      normalizeIpAddresses([
        { ipAddress: '10.0.0.1' },
        { ipAddress: 'fd00::1' },
        { ipAddress: '10.0.0.2', protocol: 'IPv4' },
        { ipAddress: 'fd00::2', protocol: 'IPv6' },
        { ipAddress: 7 },
        null,
      ]),
    ).toEqual([
      { ipAddress: '10.0.0.1', protocol: 'IPv4' },
      { ipAddress: 'fd00::1', protocol: 'IPv6' },
      { ipAddress: '10.0.0.2', protocol: 'IPv4' },
      { ipAddress: 'fd00::2', protocol: 'IPv6' },
    ]);
    expect(normalizeIpAddresses(null)).toEqual([]);
  });

  it('a full 1.5 task', () => {
    const raw: RawTask = {
      ipAddresses: [{ ipAddress: '172.17.0.2', protocol: 'IPv4' }],
      stagedAt: '2017-07-14T15:13:35.804Z',
      state: 'TASK_RUNNING',
      ports: [16916],
      startedAt: '2017-07-14T15:13:58.326Z',
      version: '2017-07-14T15:13:34.402Z',
      id: 'nginx-green.01da9a15-68a7-11e7-a229-e6a514ca0c21',
      appId: '/nginx-green',
      slaveId: 'c28a2184-S0',
      host: '10.0.6.25',
      healthCheckResults: [{ alive: true, instanceId: 'nginx-green.marathon-01da9a15-68a7-11e7-a229-e6a514ca0c21' }],
    };
    expect(normalizeTask(raw)).toEqual({
      id: 'nginx-green.01da9a15-68a7-11e7-a229-e6a514ca0c21',
      appId: '/nginx-green',
      host: '10.0.6.25',
      slaveId: 'c28a2184-S0',
      state: 'TASK_RUNNING',
      ports: [16916],
      servicePorts: [],
      ipAddresses: [{ ipAddress: '172.17.0.2', protocol: 'IPv4' }],
      stagedAt: '2017-07-14T15:13:35.804Z',
      startedAt: '2017-07-14T15:13:58.326Z',
      version: '2017-07-14T15:13:34.402Z',
      health: 'healthy',
    });
  });

  it('defaults: host "", appId from the task id, state from startedAt', () => {
    const staging = normalizeTask({ id: 'prod_db_mysql.abc' });
    expect(staging).toMatchObject({ appId: '/prod/db/mysql', host: '', slaveId: '', state: 'TASK_STAGING', ports: [], ipAddresses: [], health: 'unknown' });
    expect(normalizeTask({ id: 'x.abc', startedAt: 't' }).state).toBe('TASK_RUNNING');
    expect(normalizeTask({ id: 'x.abc', appId: '/own' }, '/embedding').appId).toBe('/embedding');
    expect(normalizeTask({ id: 'x.abc', appId: '/own' }).appId).toBe('/own');
  });

  it('tryNormalizeTask reports what is wrong', () => {
    expect(tryNormalizeTask(undefined)).toEqual({ error: 'task is not an object (got undefined)' });
    expect(tryNormalizeTask({ id: 3 })).toEqual({ error: 'task has no string id' });
    expect(tryNormalizeTask({ id: 'nodots' })).toEqual({ error: 'task nodots has no app id' });
    expect(tryNormalizeTask({ id: 'nodots' }, '/a').task?.appId).toBe('/a');
  });
});

describe('splitAppsJson', () => {
  it('splits the apps array of a response without parsing it', () => {
    const apps = [{ id: '/a', labels: { x: 'a "quoted" ] } value \\' } }, { id: '/b', tasks: [[1], { s: ',' }] }];
    const text = `{"other":{"apps":[1]},"apps": ${JSON.stringify(apps, null, 2)} , "tail": "x"}`;
    const { slices, error } = splitAppsJson(text);
    expect(error).toBeUndefined();
    expect(slices?.map((s) => JSON.parse(s))).toEqual(apps);
  });

  it.each<[string, string[]]>([
    ['{"apps":[]}', []],
    [' [ {"id":"/a"} ] ', ['{"id":"/a"}']],
    ['{"apps":[{"id":"/a"},null]}', ['{"id":"/a"}', 'null']],
  ])('%s', (text, slices) => {
    expect(splitAppsJson(text)).toEqual({ slices });
  });

  it.each<[unknown, string]>([
    ['', 'apps response is not a JSON object'],
    ['"x"', 'apps response is not a JSON object'],
    ['{"apps":{}}', 'apps response has no "apps" array'],
    ['{"message":"no"}', 'apps response has no "apps" array'],
    ['{"apps":[{"id":"/a"}', 'apps response is not valid JSON'],
    ['{"apps":[{"id":"/a}]}', 'apps response is not valid JSON'],
    [42, 'apps response is not text'],
  ])('%j -> %s', (text, error) => {
    expect(splitAppsJson(text as string)).toEqual({ error });
  });
});

describe('createInterner', () => {
  it('returns one shared copy of equal strings and forgets past its limit', () => {
    const intern = createInterner(2);
    const a = intern('agent-1');
    expect(intern(['agent', '1'].join('-'))).toBe(a);
    intern('b');
    intern('c'); // pool full: starts over
    expect(intern('agent-1')).toBe('agent-1');
  });
});
