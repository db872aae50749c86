import { normalizeApp, normalizeTask, type RawApp, type RawTask } from '@baton/marathon';
import { describe, expect, it } from 'vitest';
import {
  LruCache,
  ServicePortAssigner,
  backendName,
  healthCheckFor,
  isKeptState,
  serverCookie,
  serverName,
  servicePortsOf,
  taskEndpoint,
  taskSkipReason,
} from '../src/backends.js';

const app = (raw: Partial<RawApp>) => normalizeApp({ id: '/a', ...raw } as RawApp);
const task = (raw: Partial<RawTask>) => normalizeTask({ id: 'a.1', host: '10.0.0.1', state: 'TASK_RUNNING', ...raw } as RawTask, '/a');

describe('task states (marathon-lb keeps RUNNING, LOST, UNREACHABLE and no state)', () => {
  it.each([
    ['TASK_RUNNING', true],
    ['TASK_LOST', true],
    ['TASK_UNREACHABLE', true],
    [undefined, true],
    ['TASK_STAGING', false],
    ['TASK_STARTING', false],
    ['TASK_KILLING', false],
    ['TASK_FINISHED', false],
    ['TASK_FAILED', false],
    ['TASK_KILLED', false],
    ['TASK_ERROR', false],
    ['TASK_DROPPED', false],
    ['TASK_GONE', false],
    ['TASK_GONE_BY_OPERATOR', false],
    ['TASK_UNKNOWN', false],
  ])('%s → %s', (state, kept) => {
    expect(isKeptState(state)).toBe(kept);
  });
});

describe('taskSkipReason with --health-check', () => {
  const checked = app({ healthChecks: [{ protocol: 'HTTP' }], portDefinitions: [{ port: 10000 }] });
  it('healthy keeps and is remembered; unhealthy drops and is remembered; unknown uses the memory', () => {
    const cache = new LruCache<string, boolean>(10);
    const options = { healthCheck: true, healthCache: cache };
    expect(taskSkipReason(checked, task({ id: 't1', healthCheckResults: [{ alive: false }, { alive: true }] }), options)).toBeUndefined();
    expect(taskSkipReason(checked, task({ id: 't2', healthCheckResults: [{ alive: false }] }), options)).toBe('unhealthy');
    expect(taskSkipReason(checked, task({ id: 't1' }), options)).toBeUndefined();
    expect(taskSkipReason(checked, task({ id: 't2' }), options)).toBeDefined();
    expect(taskSkipReason(checked, task({ id: 't3' }), options)).toBeDefined();
    // Off: nothing is filtered by health.
    expect(taskSkipReason(checked, task({ id: 't3' }), { healthCheck: false, healthCache: cache })).toBeUndefined();
  });
  it('skips tasks without host', () => {
    expect(taskSkipReason(checked, task({ host: '' }), { healthCheck: false, healthCache: new LruCache(1) })).toBe('no host');
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });
});

describe('taskEndpoint', () => {
  it('host: task host and ports, else the port definitions', () => {
    const host = app({ portDefinitions: [{ port: 10000 }, { port: 10001 }] });
    expect(taskEndpoint(host, task({ host: 'agent', ports: [31000, 31001] }))).toEqual({ ip: 'agent', ports: [31000, 31001] });
    expect(taskEndpoint(host, task({ host: 'agent', ports: [] }))).toEqual({ ip: 'agent', ports: [10000, 10001] });
  });
  it('bridge: agent host and host ports, else container ports', () => {
    const bridge = app({ networks: [{ mode: 'container/bridge' }], container: { portMappings: [{ containerPort: 80, servicePort: 10000 }] } });
    expect(taskEndpoint(bridge, task({ host: '10.0.0.2', ports: [31000], ipAddresses: [{ ipAddress: '172.17.0.2' }] }))).toEqual({ ip: '10.0.0.2', ports: [31000] });
    expect(taskEndpoint(bridge, task({ host: '10.0.0.2', ports: [] }))).toEqual({ ip: '10.0.0.2', ports: [80] });
  });
  it('container: first task IP and the container ports (legacy ipAddress.discovery too); none without an IP', () => {
    const modern = app({ networks: [{ mode: 'container', name: 'dcos' }], container: { portMappings: [{ containerPort: 8080 }, { containerPort: 9090 }] } });
    expect(taskEndpoint(modern, task({ ipAddresses: [{ ipAddress: '9.0.0.1' }, { ipAddress: '9.0.0.2' }], ports: [] }))).toEqual({ ip: '9.0.0.1', ports: [8080, 9090] });
    expect(taskEndpoint(modern, task({ ports: [31000] }))).toBeUndefined();
    const legacy = app({ ipAddress: { networkName: 'dcos', discovery: { ports: [{ number: 7000, name: 'x', protocol: 'tcp' }] } } });
    expect(taskEndpoint(legacy, task({ ipAddresses: [{ ipAddress: '9.0.0.3' }] }))).toEqual({ ip: '9.0.0.3', ports: [7000] });
  });
});

describe('names', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1', 31000, '10_0_0_1_31000'],
    ['agent1', '10.0.0.1', 31000, 'agent1_10_0_0_1_31000'],
    ['agent-1.example.com', 'agent-1.example.com', 80, 'agent-1_example_com_80'],
  ])('server %s %s %i → %s', (host, ip, port, name) => {
    expect(serverName(host, ip, port)).toBe(name);
  });
  it('sticky cookie = sha1(name)[:10] (values from Python hashlib)', () => {
    expect(serverCookie('agent1_10_0_0_1_31000')).toBe('85e33450c0');
    expect(serverCookie('10_0_0_1_31000')).toBe('13d473d85a');
  });
  it('backend name: app id without the leading slash, / → _, plus the port', () => {
    expect(backendName('/grp/api', 10001)).toBe('grp_api_10001');
  });
});

describe('healthCheckFor (first check with a port, or with that portIndex)', () => {
  it('picks as marathon-lb does', () => {
    const a = app({
      portDefinitions: [{ port: 1 }, { port: 2 }],
      healthChecks: [{ protocol: 'TCP', portIndex: 1 }, { protocol: 'HTTP', portIndex: 0 }, { protocol: 'COMMAND', command: { value: 'true' } }],
    });
    expect(healthCheckFor(a, 0)?.protocol).toBe('HTTP');
    expect(healthCheckFor(a, 1)?.protocol).toBe('TCP');
    expect(healthCheckFor(a, 2)).toBeUndefined();
    const fixed = app({ healthChecks: [{ protocol: 'HTTP', port: 8080 }] });
    expect(healthCheckFor(fixed, 3)?.port).toBe(8080);
  });
});

describe('ServicePortAssigner', () => {
  it('uses marathon-lb’s sha1 formula (values from Python hashlib), then retries, then scans', () => {
    const assigner = new ServicePortAssigner(10050, 10100);
    expect(assigner.assign('/ippc', 0, 8080)).toBe(10087);
    // /a157 hashes to 10087 for i = 0 and 1; it must get another port.
    const other = assigner.assign('/a157', 0, 8080)!;
    expect(other).not.toBe(10087);
    expect(assigner.assign('/ippc', 0, 8080)).toBe(10087); // remembered
    expect(assigner.assign('/ippc', 0, 9999)).toBe(10087); // per (app, port index), even if the task port changes
  });

  it('fills a small range completely, then reports exhaustion; release frees ports', () => {
    const assigner = new ServicePortAssigner(20000, 20002);
    const ports = [0, 1, 2].map((i) => assigner.assign(`/app${i}`, 0, 80));
    expect(ports.slice().sort()).toEqual([20000, 20001, 20002]);
    expect(assigner.assign('/app3', 0, 80)).toBeUndefined();
    assigner.release('/app1');
    expect(assigner.assign('/app3', 0, 80)).toBe(ports[1]);
  });

  it('servicePortsOf: explicit ports win; IP-per-task apps without any get assigned ones', () => {
    const assigner = new ServicePortAssigner(10050, 10100);
    const ippc = app({ id: '/ippc', networks: [{ mode: 'container', name: 'dcos' }], container: { portMappings: [{ containerPort: 8080 }] } });
    expect(servicePortsOf(ippc, '/ippc', assigner)).toEqual([10087]);
    const explicit = app({ id: '/ippc', networks: [{ mode: 'container', name: 'dcos' }], container: { portMappings: [{ containerPort: 8080, servicePort: 10500 }] } });
    expect(servicePortsOf(explicit, '/ippc', assigner)).toEqual([10500]);
    expect(assigner.size).toBe(0);
    const host = app({ portDefinitions: [{ port: 10000 }] });
    expect(servicePortsOf(host, '/a', assigner)).toEqual([10000]);
  });
});
