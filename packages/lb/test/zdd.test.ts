import { ClusterState, normalizeApp, normalizeTask, type App, type Task } from '@baton/marathon';
import { describe, expect, it } from 'vitest';
import { buildRouteTable } from '../src/routes.js';
import { deploymentUnitId, drainCount, mergeDeploymentGroup, type DeploymentMember } from '../src/zdd.js';

describe('drainCount: min(len(old), healthyNew, max(0, healthyNew + oldInstances − target))', () => {
  it.each([
    // oldTasks, healthyNew, oldInstances, target, expected
    [3, 1, 3, 1, 1],
    [3, 0, 3, 1, 0],
    [3, 3, 3, 3, 3],
    [3, 2, 3, 3, 2],
    [3, 1, 3, 4, 0],
    [3, 2, 3, 4, 1],
    [2, 5, 3, 3, 2],
    [0, 3, 3, 3, 0],
  ])('old %i, healthy new %i, old instances %i, target %i → %i', (oldTasks, healthyNew, oldInstances, target, expected) => {
    expect(drainCount(oldTasks, healthyNew, oldInstances, target)).toBe(expected);
  });
});

it('the group id gets a leading slash', () => {
  expect(deploymentUnitId('nginx')).toBe('/nginx');
  expect(deploymentUnitId('/grp/nginx')).toBe('/grp/nginx');
});

function member(id: string, opts: { startedAt?: string; instances: number; tasks: number; healthy?: number; checks?: boolean; target?: number; newInstances?: number }): DeploymentMember {
  const app: App = normalizeApp({
    id,
    instances: opts.instances,
    healthChecks: opts.checks ? [{ protocol: 'HTTP', portIndex: 0 }] : [],
    portDefinitions: [{ port: 10000 }],
  });
  const tasks: Task[] = Array.from({ length: opts.tasks }, (_, i) =>
    normalizeTask(
      {
        id: `${id.slice(1)}.task-${String.fromCharCode(122 - i)}`,
        host: 'h',
        state: 'TASK_RUNNING',
        ports: [31000 + i],
        healthCheckResults: opts.checks ? [{ alive: i < (opts.healthy ?? 0) }] : undefined,
      },
      id,
    ),
  );
  return {
    app,
    tasks,
    deployment: { group: 'web', startedAt: opts.startedAt, targetInstances: opts.target, newInstances: opts.newInstances },
  };
}

describe('mergeDeploymentGroup', () => {
  it('the older STARTED_AT is old whatever the input order; its tasks sorted by id drain first', () => {
    const blue = member('/web-blue', { startedAt: '2024-01-01T00:00:00Z', instances: 4, tasks: 4 });
    const green = member('/web-green', { startedAt: '2024-03-01T00:00:00Z', instances: 2, tasks: 2, checks: true, healthy: 2, target: 4, newInstances: 2 });
    for (const members of [[blue, green], [green, blue]]) {
      const merged = mergeDeploymentGroup('web', members);
      expect(merged.unitId).toBe('/web');
      expect(merged.base.id).toBe('/web-blue');
      expect(merged.memberAppIds).toEqual(['/web-blue', '/web-green']);
      // target 4 (NEW_INSTANCES set): min(4, 2, max(0, 2 + 4 − 4)) = 2
      const draining = merged.tasks.filter((t) => t.draining).map((t) => t.task.id);
      expect(draining).toEqual(['web-blue.task-w', 'web-blue.task-x']);
      expect(merged.tasks.filter((t) => t.task.appId === '/web-green').every((t) => !t.draining)).toBe(true);
      expect(merged.tasks).toHaveLength(6);
    }
  });

  it('without NEW_INSTANCES the target is 1; unhealthy new tasks do not count', () => {
    const old = member('/web-blue', { startedAt: '2024-01-01T00:00:00Z', instances: 3, tasks: 3 });
    const fresh = member('/web-green', { startedAt: '2024-03-01T00:00:00Z', instances: 3, tasks: 3, checks: true, healthy: 1, target: 3 });
    // min(3, 1, max(0, 1 + 3 − 1)) = 1
    expect(mergeDeploymentGroup('web', [old, fresh]).tasks.filter((t) => t.draining)).toHaveLength(1);
  });

  it('a new app without health checks counts its instances as healthy', () => {
    const old = member('/web-blue', { startedAt: '2024-01-01T00:00:00Z', instances: 3, tasks: 3 });
    const fresh = member('/web-green', { startedAt: '2024-03-01T00:00:00Z', instances: 2, tasks: 0, target: 3, newInstances: 2 });
    // min(3, 2, max(0, 2 + 3 − 3)) = 2
    expect(mergeDeploymentGroup('web', [old, fresh]).tasks.filter((t) => t.draining)).toHaveLength(2);
  });

  it('NEW_INSTANCES without a usable TARGET drains nothing and says so', () => {
    const old = member('/web-blue', { startedAt: '2024-01-01T00:00:00Z', instances: 3, tasks: 3 });
    const fresh = member('/web-green', { startedAt: '2024-03-01T00:00:00Z', instances: 3, tasks: 3, newInstances: 1 });
    const merged = mergeDeploymentGroup('web', [old, fresh]);
    expect(merged.tasks.some((t) => t.draining)).toBe(false);
    expect(merged.problems).toMatchObject([{ appId: '/web-green', label: 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES', severity: 'warning' }]);
  });
});

describe('zdd through the route table', () => {
  const app = (id: string, servicePort: number, labels: Record<string, string>, taskPorts: number[]) => ({
    id,
    instances: taskPorts.length,
    labels: { HAPROXY_GROUP: 'external', HAPROXY_DEPLOYMENT_GROUP: 'shop', HAPROXY_0_PORT: '10000', HAPROXY_0_VHOST: 'shop.com', ...labels },
    networks: [{ mode: 'host' }],
    portDefinitions: [{ port: servicePort }],
    tasks: taskPorts.map((port, i) => ({ id: `${id.slice(1)}.t${i}`, host: '10.0.0.1', state: 'TASK_RUNNING', ports: [port] })),
  });

  it('one backend on HAPROXY_0_PORT with the old app’s labels; the alt port is not bound', () => {
    const state = new ClusterState();
    state.replaceAll([
      app('/shop-green', 10001, { HAPROXY_DEPLOYMENT_STARTED_AT: '2024-05-01T00:00:00Z', HAPROXY_DEPLOYMENT_NEW_INSTANCES: '1', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2', HAPROXY_0_VHOST: 'new.shop.com' }, [32000]),
      app('/shop-blue', 10002, { HAPROXY_DEPLOYMENT_STARTED_AT: '2024-04-01T00:00:00Z', HAPROXY_0_BALANCE: 'leastconn' }, [31000, 31001]),
    ]);
    const table = buildRouteTable(state, { groups: ['external'] });
    expect([...table.backends.keys()]).toEqual(['shop_10000']);
    const backend = table.backends.get('shop_10000')!;
    expect(backend).toMatchObject({ appId: '/shop', balance: 'leastconn', vhosts: ['shop.com'], deploymentGroup: 'shop' });
    // min(2 old, 1 healthy new (no checks: instances), max(0, 1 + 2 − 2)) = 1
    expect(backend.servers.map((s) => [s.taskId, s.draining])).toEqual([
      ['shop-blue.t0', true],
      ['shop-blue.t1', false],
      ['shop-green.t0', false],
    ]);
    expect([...table.servicePorts]).toEqual([[10000, 'shop_10000']]);
    expect(table.hostIndex.has('new.shop.com')).toBe(false);
    expect(table.appIdIndex.get('/shop')).toBe('shop_10000');
  });
});
