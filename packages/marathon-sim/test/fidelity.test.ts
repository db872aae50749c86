// What the simulator emits must have the fields and shapes of real Marathon payloads (shared fixtures).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MarathonSimulator } from '../src/index.js';
import { http, openEvents, waitFor, type SseConnection } from './helpers.js';

const fixturesDir = new URL('../../../fixtures/marathon/', import.meta.url);
const fixture = (name: string): any => JSON.parse(readFileSync(new URL(name, fixturesDir), 'utf8'));

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Paths where `actual` lacks a key of `expected` or has another JSON type (recursing into objects and first array items). */
function shapeMismatches(expected: unknown, actual: unknown, path = '$', ignore: string[] = []): string[] {
  if (ignore.includes(path)) return [];
  if (kind(expected) !== kind(actual)) return [`${path}: expected ${kind(expected)}, got ${kind(actual)}`];
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length > 0) {
    if (actual.length === 0) return [`${path}: expected a non-empty array`];
    return shapeMismatches(expected[0], actual[0], `${path}[]`, ignore);
  }
  // Maps of user data (labels, env) are compared by type only.
  if (kind(expected) === 'object' && !/\.(labels|env)$/.test(path)) {
    const out: string[] = [];
    for (const [key, value] of Object.entries(expected as object)) {
      const sub = `${path}.${key}`;
      if (ignore.includes(sub)) continue;
      if (!(key in (actual as object))) out.push(`${sub}: missing`);
      else out.push(...shapeMismatches(value, (actual as any)[key], sub, ignore));
    }
    return out;
  }
  return [];
}

describe('fidelity to real Marathon payloads', () => {
  let sim: MarathonSimulator;
  let stream: SseConnection;
  beforeAll(async () => {
    sim = new MarathonSimulator({ taskStartDelayMs: 5 });
    await sim.start();
    stream = await openEvents(`${sim.url}/v2/events`);
    await waitFor(() => stream.events().length > 0, 10_000, 'attached');
    // The two real 1.5 apps, posted with only what a user would write.
    await sim.createApp({
      id: '/pywebserver',
      cmd: 'echo "host $HOST and port $PORT" > index.html && python -m http.server 80',
      cpus: 0.1,
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'myvhost.com' },
      container: { type: 'DOCKER', docker: { image: 'python:3', network: 'BRIDGE', portMappings: [{ containerPort: 80, hostPort: 0, name: 'test' }] } },
    });
    await sim.createApp({
      id: '/nginx-green',
      instances: 3,
      mem: 65,
      container: { type: 'DOCKER', docker: { image: 'brndnmtthws/nginx-echo-sleep', forcePullImage: true }, portMappings: [{ containerPort: 8080, hostPort: 0, servicePort: 10000 }] },
      networks: [{ mode: 'container/bridge' }],
      healthChecks: [{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 15, intervalSeconds: 3, timeoutSeconds: 15, maxConsecutiveFailures: 10 }],
    });
    await sim.waitForRunning('/pywebserver');
    await sim.waitForRunning('/nginx-green');
    await waitFor(() => stream.events().filter((e) => e.event === 'deployment_success').length === 2, 10_000, 'deployments done');
  });
  afterAll(async () => {
    stream.close();
    await sim.stop();
  });

  const appsWithTasks = async () => (await http('GET', `${sim.url}/v2/apps?embed=apps.tasks`)).json().apps;

  it.each([
    ['rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json', '/pywebserver'],
    ['rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json', '/nginx-green'],
  ])('/v2/apps?embed=apps.tasks has the app and task shape of %s', async (file, id) => {
    const expected = fixture(file).apps[0];
    const actual = (await appsWithTasks()).find((a: any) => a.id === id);
    // acceptedResourceRoles is only written when the app sets it.
    expect(shapeMismatches(expected, actual, '$', ['$.acceptedResourceRoles'])).toEqual([]);
    expect(actual.tasks).toHaveLength(expected.tasks.length);
    for (const task of actual.tasks) expect(shapeMismatches(expected.tasks[0], task)).toEqual([]);
    // Output is the 1.5 shape only: no legacy fields.
    for (const legacy of ['ports', 'uris', 'ipAddress']) expect(actual).not.toHaveProperty(legacy);
    expect(actual.container.docker).not.toHaveProperty('network');
    expect(actual.container.docker).not.toHaveProperty('portMappings');
  });

  it('healthCheckResults carry instanceId, and only apps with health checks have them', async () => {
    const apps = await appsWithTasks();
    const green = apps.find((a: any) => a.id === '/nginx-green');
    const py = apps.find((a: any) => a.id === '/pywebserver');
    expect(py.tasks[0]).not.toHaveProperty('healthCheckResults');
    const expected = fixture('rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json').apps[0].tasks[0].healthCheckResults[0];
    expect(Object.keys(green.tasks[0].healthCheckResults[0])).toEqual(Object.keys(expected));
    expect(green.tasks[0].healthCheckResults[0].instanceId).toBe(green.tasks[0].id.replace(/\._app\.\d+$/, ''));
  });

  it('/v2/tasks has the task shape of rest-v2-tasks.json', async () => {
    const expected = fixture('rest-v2-tasks.json').tasks[0];
    const tasks = (await http('GET', `${sim.url}/v2/tasks`)).json().tasks;
    expect(tasks.length).toBe(4);
    // region and zone come from agent fault domains, which the simulated agents do not have.
    for (const task of tasks) expect(shapeMismatches(expected, task, '$', ['$.region', '$.zone'])).toEqual([]);
    const appTasks = (await http('GET', `${sim.url}/v2/apps/pywebserver/tasks`)).json();
    expect(shapeMismatches(fixture('rest-v2-apps-id-tasks.json').tasks[0], appTasks.tasks[0], '$', ['$.region', '$.zone'])).toEqual([]);
  });

  it('/v2/info has the shape of rest-v2-info.json', async () => {
    const info = (await http('GET', `${sim.url}/v2/info`)).json();
    expect(shapeMismatches(fixture('rest-v2-info.json'), info)).toEqual([]);
  });

  const first = (type: string, pred: (d: any) => boolean = () => true) => stream.events().find((e) => e.event === type && pred(e.data))!.data;

  it.each([
    ['status_update_event', 'event-real-status_update_event-TASK_KILLED.json'],
    ['instance_changed_event', 'event-real-instance_changed_event-Killed.json'],
    ['event_stream_attached', 'event-real-event_stream_attached.json'],
    ['group_change_success', 'event-real-group_change_success.json'],
  ])('%s has exactly the keys, key order and types of %s', (type, file) => {
    const expected = fixture(file);
    const actual = first(type);
    expect(Object.keys(actual)).toEqual(Object.keys(expected));
    expect(shapeMismatches(expected, actual)).toEqual([]);
  });

  it('status_update_event carries host ports and the container IP on bridge networks', () => {
    const running = first('status_update_event', (d) => d.appId === '/pywebserver' && d.taskStatus === 'TASK_RUNNING');
    const task = sim.tasks('/pywebserver')[0];
    expect(running).toMatchObject({ taskId: task.id, slaveId: task.agent.id, host: task.host, ports: task.ports, message: '' });
    expect(running.ipAddresses).toEqual([{ ipAddress: expect.stringMatching(/^172\.17\./), protocol: 'IPv4' }]);
    const changed = first('instance_changed_event', (d) => d.runSpecId === '/pywebserver' && d.condition === 'Running');
    expect(changed).toMatchObject({ instanceId: task.instanceId, agentId: task.agent.id, host: task.host });
  });

  it('api_post_event carries the full 1.5 app definition', () => {
    const expected = fixture('event-real-api_post_event.json');
    const actual = first('api_post_event', (d) => d.appDefinition.id === '/pywebserver');
    expect(Object.keys(actual)).toEqual(Object.keys(expected));
    expect(actual.uri).toBe('/v2/apps');
    // The real capture is a 1.4-style definition; legacy and null-valued fields are not written by 1.5+,
    // nor are portDefinitions for a bridge-networked app (its ports are container.portMappings).
    const legacyOrNull = ['ports', 'portDefinitions', 'uris', 'ipAddress', 'storeUrls', 'residency', 'args', 'user', 'taskKillGracePeriodSeconds', 'container.docker.network', 'container.docker.portMappings'];
    expect(shapeMismatches(expected.appDefinition, actual.appDefinition, '$', legacyOrNull.map((p) => `$.${p}`))).toEqual([]);
    expect(actual.appDefinition.networks).toEqual([{ mode: 'container/bridge' }]);
  });

  it('deployment events use the 1.8+ light format (not the wrong doc examples)', () => {
    const info = first('deployment_info');
    // Same top-level keys as the docs, but steps[].actions[] of {action, app} (docs: steps[].action, actions[].type).
    expect(Object.keys(info).sort()).toEqual(Object.keys(fixture('event-bus-doc-deployment_info.json')).sort());
    expect(Object.keys(info.plan)).toEqual(['id', 'steps', 'version']);
    expect(info.plan.steps[0].actions[0]).toEqual({ action: 'StartApplication', app: expect.any(String) });
    expect(info.currentStep.actions[0]).toEqual({ action: expect.any(String), app: expect.any(String) });
    const step = first('deployment_step_success');
    expect(Object.keys(step).sort()).toEqual(Object.keys(fixture('event-bus-doc-deployment_step_success.json')).sort());
    const success = first('deployment_success');
    // The docs omit `plan`; the code writes `id, plan, eventType, timestamp`.
    expect(Object.keys(success)).toEqual(['id', 'plan', 'eventType', 'timestamp']);
    expect(success.plan.id).toBe(success.id);
  });

  it('health and termination events have the documented keys', async () => {
    const [task] = sim.tasks('/nginx-green');
    sim.setTaskHealth(task.id, false);
    await sim.deleteApp('/pywebserver');
    await waitFor(() => stream.events().some((e) => e.event === 'app_terminated_event'), 10_000, 'app_terminated_event');
    for (const type of ['instance_health_changed_event', 'health_status_changed_event', 'app_terminated_event']) {
      const expected = fixture(`event-bus-doc-${type}.json`);
      const actual = first(type);
      expect(Object.keys(actual).sort(), type).toEqual(Object.keys(expected).sort());
      expect(shapeMismatches(expected, actual), type).toEqual([]);
    }
    // Marathon 1.8+ ids in the instance events.
    expect(first('instance_health_changed_event').instanceId).toMatch(/^nginx-green\.instance-[0-9a-f-]{36}$/);
  });
});
