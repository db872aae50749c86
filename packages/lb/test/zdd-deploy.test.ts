import { describe, expect, it } from 'vitest';
import {
  ZddError,
  drainedTaskIds,
  drainingTaskIds,
  lastTwoDeploys,
  nextScale,
  parseHaproxyStats,
  prepareDeploy,
  readyToDeleteOldApp,
  servicePort,
  validateApp,
  waitingFor,
  type AppJson,
  type DeployOptions,
} from '../src/zdd-deploy.js';

const options = (o: Partial<DeployOptions> = {}): DeployOptions => ({ newInstances: 0, initialInstances: 1, linearIncrease: 0, completeCur: false, completePrev: false, ...o });
const input = (): AppJson => ({
  id: '/web',
  instances: 3,
  portDefinitions: [{ port: 10000 }],
  labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: '10001' },
});
const now = new Date(2026, 0, 2, 3, 4, 5, 678);

describe('prepareDeploy (zdd.py prepare_deploy)', () => {
  it('first deployment: blue on the app\'s own port, target = its instances', () => {
    const { app } = prepareDeploy(options(), [], input(), now);
    expect(app.id).toBe('/web-blue');
    expect(app.instances).toBe(3);
    expect(app.portDefinitions[0].port).toBe(10000);
    expect(app.labels).toEqual({
      HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_DEPLOYMENT_ALT_PORT: '10001', HAPROXY_APP_ID: '/web', HAPROXY_0_PORT: '10000',
      HAPROXY_DEPLOYMENT_NEW_INSTANCES: '0', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3', HAPROXY_DEPLOYMENT_COLOUR: 'blue',
      HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-02T03:04:05.678000',
    });
  });

  it('next deployment: the other colour and port, --initial-instances, target = the running count, new-instances capped', () => {
    const blue = { ...prepareDeploy(options(), [], input(), now).app, instances: 4 };
    const { app, newInstances } = prepareDeploy(options({ initialInstances: 2, newInstances: 9 }), [blue], input(), now);
    expect(app.id).toBe('/web-green');
    expect(app.portDefinitions[0].port).toBe(10001);
    expect(app.labels.HAPROXY_0_PORT).toBe('10000');
    expect(app.instances).toBe(2);
    expect(app.labels.HAPROXY_DEPLOYMENT_TARGET_INSTANCES).toBe('4');
    expect(newInstances).toBe(4);
    const back = prepareDeploy(options(), [app], input(), now).app;
    expect(back.id).toBe('/web-blue');
    expect(back.portDefinitions[0].port).toBe(10000);
  });

  it('service ports from portMappings, portDefinitions or ports; missing labels exit 4', () => {
    expect(servicePort({ container: { docker: { portMappings: [{ servicePort: 9 }] } } })).toBe(9);
    expect(servicePort({ ports: [7] })).toBe(7);
    expect(() => servicePort({})).toThrow(ZddError);
    const noAlt = input();
    delete noAlt.labels.HAPROXY_DEPLOYMENT_ALT_PORT;
    expect(() => validateApp(noAlt)).toThrow(/HAPROXY_DEPLOYMENT_ALT_PORT/);
    try {
      validateApp({ id: '/x' });
    } catch (err) {
      expect((err as ZddError).exitStatus).toBe(4);
    }
  });

  it('the last two deployments by HAPROXY_DEPLOYMENT_STARTED_AT: [new, old]', () => {
    const a = { id: '/a', labels: { HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-01T00:00:00' } };
    const b = { id: '/b', labels: { HAPROXY_DEPLOYMENT_STARTED_AT: '2026-01-02T00:00:00' } };
    expect(lastTwoDeploys([b, a]).map((x) => x.id)).toEqual(['/b', '/a']);
  });
});

describe('nextScale (zdd.py scale_new_app_instances)', () => {
  const newApp = (instances: number, labels: Record<string, string> = {}) => ({ instances, labels: { HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '10', ...labels } });
  it('+50% until it reaches the old count, then the target', () => {
    expect(nextScale(options(), newApp(1), { instances: 10 })).toBe(2);
    expect(nextScale(options(), newApp(2), { instances: 10 })).toBe(3);
    expect(nextScale(options(), newApp(6), { instances: 10 })).toBe(9);
    expect(nextScale(options(), newApp(6), { instances: 8 })).toBe(10);
  });
  it('--linear-increase, capped at the target; hybrid capped at HAPROXY_DEPLOYMENT_NEW_INSTANCES', () => {
    expect(nextScale(options({ linearIncrease: 4 }), newApp(8), { instances: 2 })).toBe(10);
    expect(nextScale(options(), newApp(2, { HAPROXY_DEPLOYMENT_NEW_INSTANCES: '3' }), { instances: 10 })).toBe(3);
  });
});

describe('stats CSV: waiting, drained and draining tasks', () => {
  const header = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,';
  const csv = (rows: string[]) => `${header}\n${rows.join('\n')}\n`;
  const oldApp = {
    id: '/web-blue', instances: 2, labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_0_PORT: '10000' },
    tasks: [{ id: 'a', host: 'agent1', ports: [31001] }, { id: 'b', host: 'agent1', ports: [31002] }],
  };
  const newApp = { id: '/web-green', instances: 1, labels: { HAPROXY_DEPLOYMENT_GROUP: 'web', HAPROXY_0_PORT: '10000', HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '2' } };
  const rows = (aStatus: string, aScur: number) =>
    parseHaproxyStats(csv([
      'web_10000,FRONTEND,,,0,,,0,OPEN,',
      `web_10000,agent1_31001,,,${aScur},,,5,${aStatus},`,
      'web_10000,agent1_31002,,,0,,,5,UP,',
      'web_10000,agent2_31005,,,0,,,5,UP,',
      'web_10000,BACKEND,,,0,,,15,UP,',
      'other_10001,agent1_31001,,,0,,,0,MAINT,',
    ])).filter((r) => r.pxname === 'web_10000' && r.svname !== 'BACKEND' && r.svname !== 'FRONTEND');

  it('a MAINT server with no session is drained; with a session it is only draining', () => {
    expect(waitingFor(newApp, oldApp, rows('MAINT', 0), 1)).toBeUndefined();
    expect(drainedTaskIds(oldApp, rows('MAINT', 0), 1)).toEqual(['a']);
    expect(waitingFor(newApp, oldApp, rows('MAINT', 2), 1)).toMatch(/drained/);
    expect(drainedTaskIds(oldApp, rows('MAINT', 2), 1)).toEqual([]);
    expect(drainingTaskIds(oldApp, rows('MAINT', 2), 1)).toEqual(['a']);
  });

  it('waits for every instance to be listed and for the target to be UP', () => {
    expect(waitingFor({ ...newApp, instances: 2 }, oldApp, rows('MAINT', 0), 1)).toMatch(/3 servers per load balancer, expecting 4/);
    expect(waitingFor({ ...newApp, labels: { ...newApp.labels, HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3' } }, oldApp, rows('MAINT', 0), 1)).toMatch(/2 servers UP/);
  });

  it('the old app goes when the new one has its target and every old task is drained', () => {
    expect(readyToDeleteOldApp(options(), { ...newApp, instances: 2 }, oldApp, ['a', 'b'])).toBe(true);
    expect(readyToDeleteOldApp(options(), { ...newApp, instances: 2 }, oldApp, ['a'])).toBe(false);
  });
});
