import { describe, expect, it } from 'vitest';
import { Cluster, MarathonSimulator, normalizeAppDefinition, portRanges, safePath, taskEnvironment, taskIdentity, toHostname, virtualAgentHost } from '../src/index.js';
import { labelSelector } from '../src/render.js';
import { pingVariant } from '../src/http.js';
import { appIdError } from '../src/ids.js';
import { http } from './helpers.js';

describe('ids and names', () => {
  it.each([
    ['/prod/db/mysql', 'prod_db_mysql', 'mysql.db.prod'],
    ['/web', 'web', 'web'],
    ['/a.b/c-d', 'a.b_c-d', 'c-d.a.b'],
  ])('%s → safePath %s, toHostname %s', (id, safe, hostname) => {
    expect(safePath(id)).toBe(safe);
    expect(toHostname(id)).toBe(hostname);
  });

  it.each([
    ['1.8', 'prod_db_mysql.instance-U', 'prod_db_mysql.instance-U._app.3'],
    ['1.7', 'prod_db_mysql.marathon-U', 'prod_db_mysql.U'],
  ] as const)('formats %s ids', (format, instanceId, taskId) => {
    expect(taskIdentity('/prod/db/mysql', 'U', 3, format)).toEqual({ instanceId, taskId });
  });

  it.each([
    ['/ok/app-1', undefined],
    ['/Upper', 'regular expression'],
    ['/under_score', 'regular expression'],
    ['/x/tasks', 'must not end with tasks'],
  ])('validates app id %s', (id, error) => {
    const result = appIdError(id);
    if (error === undefined) expect(result).toBeUndefined();
    else expect(result).toContain(error);
  });

  it('numbers virtual agents on 127.0.x.y loopback addresses', () => {
    expect([0, 1, 253, 254].map(virtualAgentHost)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.254', '127.0.2.1']);
  });
});

describe('normalizeAppDefinition', () => {
  it.each([
    ['host default', { id: 'a' }, { networks: [{ mode: 'host' }], portDefinitions: [{ port: 0, protocol: 'tcp', name: 'default', labels: {} }] }],
    ['legacy ports', { id: 'a', ports: [80, 0] }, { portDefinitions: [{ port: 80, protocol: 'tcp', labels: {} }, { port: 0, protocol: 'tcp', labels: {} }] }],
    ['docker HOST', { id: 'a', container: { docker: { image: 'x', network: 'HOST' } } }, { networks: [{ mode: 'host' }], container: { type: 'DOCKER', docker: { image: 'x', forcePullImage: false, parameters: [], privileged: false }, volumes: [] } }],
    ['uris to fetch', { id: 'a', uris: ['http://x/y.tgz'] }, { fetch: [{ uri: 'http://x/y.tgz', extract: true, executable: false, cache: false }] }],
  ])('%s', (_name, input, expected) => {
    const result = normalizeAppDefinition(input);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.def).toMatchObject(expected);
  });

  it('keeps unknown fields and rejects bad input with paths', () => {
    const kept = normalizeAppDefinition({ id: '/a', somethingNew: { x: 1 } });
    expect(kept.ok && kept.def.somethingNew).toEqual({ x: 1 });
    expect(normalizeAppDefinition('nope')).toMatchObject({ ok: false });
    expect(normalizeAppDefinition({})).toMatchObject({ ok: false, details: [{ path: '/id' }] });
    expect(normalizeAppDefinition({ id: '/a', networks: [{ mode: 'weird' }] })).toMatchObject({ ok: false, details: [{ path: '/networks(0)/mode' }] });
    expect(normalizeAppDefinition({ id: '/a', mem: 'lots' })).toMatchObject({ ok: false, details: [{ path: '/mem' }] });
  });
});

describe('task environment', () => {
  it('follows Marathon: unsanitised PORT_<NAME>, PORT_<requested>, labels, app env wins', () => {
    const cluster = new Cluster();
    const created = cluster.createApp({
      id: '/prod/api',
      requirePorts: true,
      portDefinitions: [{ port: 8080, name: 'http-api' }, { port: 9090 }],
      labels: { 'a.b-c': '1', ['k'.repeat(493)]: 'dropped' },
      env: { HOST: 'overridden', SECRET: { secret: 'db' } },
    });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    const app = created.value;
    const task = cluster.stageTask(app.id, { uuid: 'u', incarnation: 1, delayMs: 0 }, cluster.virtualPlacement(app))!;
    expect(task.ports).toEqual([8080, 9090]);
    const env = taskEnvironment(app, task);
    expect(env).toMatchObject({
      HOST: 'overridden', PORT0: '8080', PORT1: '9090', PORT: '8080', PORTS: '8080,9090', 'PORT_HTTP-API': '8080', PORT_8080: '8080', PORT_9090: '9090',
      MARATHON_APP_ID: '/prod/api', MESOS_TASK_ID: task.id, MARATHON_APP_LABELS: 'A_B_C', MARATHON_APP_LABEL_A_B_C: '1',
      MARATHON_APP_RESOURCE_CPUS: '1', MARATHON_APP_RESOURCE_GPUS: '0',
    });
    expect(env).not.toHaveProperty('SECRET');
  });
});

describe('small pure helpers', () => {
  it.each([
    [[31000], '[31000-31000]'],
    [[31005, 31000, 31001], '[31000-31001, 31005-31005]'],
    [[], '[]'],
  ])('portRanges(%j) = %s', (ports, expected) => expect(portRanges(ports)).toBe(expected));

  it.each([
    ['HAPROXY_GROUP', { HAPROXY_GROUP: 'x' }, true],
    ['HAPROXY_GROUP', {}, false],
    ['a==1,b!=2', { a: '1', b: '3' }, true],
    ['a==1,b!=2', { a: '1', b: '2' }, false],
    ['a in (x, y)', { a: 'y' }, true],
    ['a notin (x, y)', { a: 'y' }, false],
  ])('label selector %s on %j → %s', (selector, labels, expected) => expect(labelSelector(selector)(labels)).toBe(expected));

  it.each([
    [undefined, 'text'], ['*/*', 'text'], ['application/json', 'json'], ['application/json, text/plain;q=0.5', 'json'],
    ['text/plain;q=0.1, application/json', 'json'], ['image/png', 'none'],
  ] as const)('ping Accept %s → %s', (accept, expected) => expect(pingVariant(accept)).toBe(expected));
});

describe('bulk load', () => {
  it('loads many apps with running tasks, growing agents when host ports run out', async () => {
    const sim = new MarathonSimulator({ agents: 2 });
    await sim.start();
    try {
      const defs = Array.from({ length: 500 }, (_, i) => ({ id: `/bulk/app-${i}`, instances: 6, healthChecks: i % 2 ? [{ protocol: 'TCP' }] : [] }));
      const result = sim.loadApps([...defs, { id: '/bulk/app-0' }, { id: 'BAD' }]);
      expect(result.loaded).toBe(500);
      expect(result.errors.map((e) => e.error.status)).toEqual([409, 422]);
      expect(sim.cluster.agents.length).toBeGreaterThan(2);
      expect(sim.events.filter((e) => e.eventType === 'status_update_event')).toHaveLength(0);
      const apps = (await http('GET', `${sim.url}/v2/apps?embed=apps.tasks`)).json().apps;
      expect(apps).toHaveLength(500);
      const tasks = apps.flatMap((a: any) => a.tasks);
      expect(tasks).toHaveLength(3000);
      expect(tasks.every((t: any) => t.state === 'TASK_RUNNING')).toBe(true);
      const endpoints = new Set(tasks.map((t: any) => `${t.host}:${t.ports[0]}`));
      expect(endpoints.size).toBe(3000);
      expect(apps[1]).toMatchObject({ tasksRunning: 6, tasksHealthy: 6 });
    } finally {
      await sim.stop();
    }
  });
});
