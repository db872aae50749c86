import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '../src/index.js';
import { http, waitFor } from './helpers.js';

describe('REST API', () => {
  let sim: MarathonSimulator;
  beforeAll(async () => {
    sim = new MarathonSimulator({ taskStartDelayMs: 5 });
    await sim.start();
  });
  afterAll(() => sim.stop());
  afterEach(async () => {
    for (const id of [...sim.cluster.apps.keys()]) await sim.deleteApp(id);
    sim.setFault({});
  });

  const getApp = async (id: string) => (await http('GET', `${sim.url}/v2/apps${id}`)).json().app;

  it('creates, lists, updates, scales and deletes apps with counts and deployments', async () => {
    const created = await http('POST', `${sim.url}/v2/apps`, { id: 'web', cmd: 'sleep 100', instances: 2 });
    expect(created.status).toBe(201);
    expect(created.json().id).toBe('/web');
    expect(created.headers.location).toBe(`${sim.url}/v2/apps/web`);
    expect(created.json().deployments).toHaveLength(1);

    const conflict = await http('POST', `${sim.url}/v2/apps`, { id: '/web' });
    expect(conflict.status).toBe(409);

    await waitFor(async () => (await getApp('/web')).tasksRunning === 2, 10_000, 'two running tasks');
    const app = await getApp('/web');
    expect(app).toMatchObject({ tasksStaged: 0, tasksRunning: 2, tasksHealthy: 0, tasksUnhealthy: 0 });
    await waitFor(async () => (await getApp('/web')).deployments.length === 0, 10_000, 'deployment done');

    const list = (await http('GET', `${sim.url}/v2/apps`)).json();
    expect(list.apps).toHaveLength(1);
    expect(list.apps[0]).toHaveProperty('tasksRunning', 2);
    expect(list.apps[0]).toHaveProperty('deployments');
    expect(list.apps[0]).not.toHaveProperty('tasks');
    const embedded = (await http('GET', `${sim.url}/v2/apps?embed=apps.tasks`)).json();
    expect(embedded.apps[0].tasks).toHaveLength(2);

    // Scale up through PUT (a partial update by default).
    const scaled = await http('PUT', `${sim.url}/v2/apps/web`, { instances: 4 });
    expect(scaled.status).toBe(200);
    expect(scaled.json()).toHaveProperty('deploymentId');
    await waitFor(async () => (await getApp('/web')).tasksRunning === 4, 10_000, 'four running tasks');
    const afterScale = await getApp('/web');
    expect(afterScale.cmd).toBe('sleep 100');
    expect(afterScale.versionInfo.lastConfigChangeAt).toBe(app.versionInfo.lastConfigChangeAt);
    expect(afterScale.versionInfo.lastScalingAt).not.toBe(app.versionInfo.lastScalingAt);

    // A config change replaces every task with one of the new version.
    const before = new Set(sim.tasks('/web').map((t) => t.id));
    const patched = await http('PATCH', `${sim.url}/v2/apps/web`, { cmd: 'sleep 200' });
    expect(patched.status).toBe(200);
    await waitFor(() => {
      const tasks = sim.tasks('/web');
      return tasks.length === 4 && tasks.every((t) => !before.has(t.id) && t.state === 'TASK_RUNNING');
    }, 10_000, 'rolling replace');
    const updated = await getApp('/web');
    expect(updated.cmd).toBe('sleep 200');
    expect(updated.tasks.every((t: any) => t.version === updated.version)).toBe(true);

    // Scale down.
    await sim.scaleApp('/web', 1);
    await waitFor(() => sim.tasks('/web').length === 1, 10_000, 'scale down');

    const deleted = await http('DELETE', `${sim.url}/v2/apps/web`);
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toHaveProperty('deploymentId');
    expect((await http('GET', `${sim.url}/v2/apps/web`)).status).toBe(404);
    expect(sim.tasks()).toHaveLength(0);
  });

  it('answers unknown apps with 404 and Marathon\'s message', async () => {
    const res = await http('GET', `${sim.url}/v2/apps/nope/x`);
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ message: "App '/nope/x' does not exist" });
    expect((await http('GET', `${sim.url}/v2/apps/nope/tasks`)).json()).toEqual({ message: "App '/nope' does not exist" });
    expect((await http('DELETE', `${sim.url}/v2/apps/nope`)).status).toBe(404);
  });

  it('rejects invalid definitions with 422 details', async () => {
    const res = await http('POST', `${sim.url}/v2/apps`, { id: '/Bad_Id', instances: -1 });
    expect(res.status).toBe(422);
    expect(res.json().message).toBe('Object is not valid');
    expect(res.json().details.map((d: any) => d.path).sort()).toEqual(['/id', '/instances']);
    expect((await http('POST', `${sim.url}/v2/apps`, '{not json')).status).toBe(400);
  });

  it('kills tasks with and without scale, and through /v2/tasks/delete', async () => {
    await sim.createApp({ id: '/k', instances: 3 });
    const tasks = await sim.waitForRunning('/k');
    // Kill without scale: the instance is replaced.
    const killed = await http('DELETE', `${sim.url}/v2/apps/k/tasks/${tasks[0].id}`);
    expect(killed.status).toBe(200);
    expect(killed.json().task.id).toBe(tasks[0].id);
    await waitFor(() => sim.tasks('/k').filter((t) => t.state === 'TASK_RUNNING').length === 3 && !sim.tasks('/k').some((t) => t.id === tasks[0].id), 10_000, 'replacement');
    // Kill with scale: instances drop.
    const scaled = await http('DELETE', `${sim.url}/v2/apps/k/tasks/${tasks[1].id}?scale=true`);
    expect(scaled.status).toBe(200);
    expect(scaled.json()).toHaveProperty('deploymentId');
    expect(sim.app('/k')!.def.instances).toBe(2);
    expect(sim.tasks('/k')).toHaveLength(2);
    const viaDelete = await http('POST', `${sim.url}/v2/tasks/delete?scale=true`, { ids: [tasks[2].id] });
    expect(viaDelete.status).toBe(200);
    expect(sim.app('/k')!.def.instances).toBe(1);
    expect(sim.tasks('/k').map((t) => t.id)).not.toContain(tasks[2].id);
    expect((await http('DELETE', `${sim.url}/v2/apps/k/tasks/nope.instance-x._app.1`)).status).toBe(404);
  });

  it('serves /v2/tasks with a status filter and /v2/apps/{id}/tasks', async () => {
    const slow = new MarathonSimulator({ taskStartDelayMs: 60_000 });
    await slow.start();
    try {
      await slow.createApp({ id: '/staging', instances: 1 });
      await slow.loadApps([{ id: '/running', instances: 2 }]);
      const all = (await http('GET', `${slow.url}/v2/tasks`)).json().tasks;
      expect(all).toHaveLength(3);
      const running = (await http('GET', `${slow.url}/v2/tasks?status=running`)).json().tasks;
      expect(running.map((t: any) => t.appId)).toEqual(['/running', '/running']);
      const staging = (await http('GET', `${slow.url}/v2/tasks?status[]=staging`)).json().tasks;
      expect(staging.map((t: any) => t.state)).toEqual(['TASK_STAGING']);
      const appTasks = (await http('GET', `${slow.url}/v2/apps/running/tasks`)).json().tasks;
      expect(appTasks).toHaveLength(2);
      expect(appTasks[0].servicePorts).toEqual([expect.any(Number)]);
      const counts = (await http('GET', `${slow.url}/v2/apps/staging`)).json().app;
      expect(counts.tasksStaged).toBe(1);
    } finally {
      await slow.stop();
    }
  });

  it('filters /v2/apps by id, cmd and label, and honours embed', async () => {
    await sim.createApp({ id: '/prod/web', cmd: 'python -m http.server', labels: { HAPROXY_GROUP: 'external', tier: 'front' } });
    await sim.createApp({ id: '/prod/db', cmd: 'mysqld', labels: { tier: 'back' } });
    await sim.createApp({ id: '/dev/web', cmd: 'python app.py' });
    const ids = async (query: string) => (await http('GET', `${sim.url}/v2/apps?${query}`)).json().apps.map((a: any) => a.id).sort();
    expect(await ids('id=web')).toEqual(['/dev/web', '/prod/web']);
    expect(await ids('cmd=python')).toEqual(['/dev/web', '/prod/web']);
    expect(await ids('label=HAPROXY_GROUP')).toEqual(['/prod/web']);
    expect(await ids('label=tier==back')).toEqual(['/prod/db']);
    expect(await ids(`label=${encodeURIComponent('tier in (front, back)')}`)).toEqual(['/prod/db', '/prod/web']);
    await sim.waitForRunning('/prod/db');
    sim.killTask(sim.tasks('/prod/db')[0].id, { state: 'TASK_FAILED' });
    const withFailure = (await http('GET', `${sim.url}/v2/apps?embed=apps.lastTaskFailure&embed=apps.tasks`)).json().apps.find((a: any) => a.id === '/prod/db');
    expect(withFailure.lastTaskFailure).toMatchObject({ appId: '/prod/db', state: 'TASK_FAILED' });
    expect(withFailure.tasks).toBeDefined();
    const group = (await http('GET', `${sim.url}/v2/apps/prod/*`)).json();
    expect(group['*'].map((a: any) => a.id).sort()).toEqual(['/prod/db', '/prod/web']);
  });

  it('normalises legacy input into the 1.5 shape and assigns stable service ports', async () => {
    await sim.createApp({ id: '/legacy-host', ports: [0, 0] });
    await sim.createApp({
      id: '/legacy-bridge',
      container: { type: 'DOCKER', docker: { image: 'nginx', network: 'BRIDGE', portMappings: [{ containerPort: 80, hostPort: 0, servicePort: 0, protocol: 'tcp' }] } },
    });
    await sim.createApp({ id: '/legacy-ip', ipAddress: { networkName: 'dcos', discovery: { ports: [{ number: 8080, name: 'http', protocol: 'tcp' }] } } });
    const host = await getApp('/legacy-host');
    expect(host.networks).toEqual([{ mode: 'host' }]);
    expect(host).not.toHaveProperty('ports');
    expect(host.portDefinitions.map((p: any) => p.port).every((p: number) => p >= 10000 && p <= 20000)).toBe(true);
    expect(new Set(host.portDefinitions.map((p: any) => p.port)).size).toBe(2);
    const bridge = await getApp('/legacy-bridge');
    expect(bridge.networks).toEqual([{ mode: 'container/bridge' }]);
    expect(bridge.container.docker).not.toHaveProperty('network');
    expect(bridge.container.portMappings[0]).toMatchObject({ containerPort: 80, hostPort: 0, protocol: 'tcp' });
    expect(bridge).not.toHaveProperty('portDefinitions');
    const ip = await getApp('/legacy-ip');
    expect(ip.networks).toEqual([{ mode: 'container', name: 'dcos', labels: {} }]);
    expect(ip).not.toHaveProperty('ipAddress');
    expect(ip.container.portMappings[0]).toMatchObject({ containerPort: 8080, name: 'http' });
    expect(ip.container.portMappings[0]).not.toHaveProperty('hostPort');

    const allServicePorts = [host, bridge, ip].flatMap((a: any) => (a.portDefinitions ?? a.container.portMappings).map((p: any) => p.port ?? p.servicePort));
    expect(new Set(allServicePorts).size).toBe(allServicePorts.length);

    // Stable across updates that leave them at 0.
    await sim.updateApp('/legacy-host', { cmd: 'sleep 5', portDefinitions: [{ port: 0 }, { port: 0 }] });
    const after = await getApp('/legacy-host');
    expect(after.portDefinitions.map((p: any) => p.port)).toEqual(host.portDefinitions.map((p: any) => p.port));

    // Task addressing per network mode.
    const [bridgeTask] = await sim.waitForRunning('/legacy-bridge');
    expect(bridgeTask.ipAddresses[0].ipAddress).toMatch(/^172\.17\./);
    expect(bridgeTask.ports[0]).toBeGreaterThanOrEqual(31000);
    expect(bridgeTask.host).toMatch(/^127\.0\.1\.\d+$/);
    const [ipTask] = await sim.waitForRunning('/legacy-ip');
    expect(ipTask.ipAddresses[0].ipAddress).toMatch(/^9\.0\./);
    expect(ipTask.ports).toEqual([]);
  });

  it('uses 1.8 task and instance ids by default and 1.7 on request', async () => {
    await sim.createApp({ id: '/prod/db/mysql' });
    const [task] = await sim.waitForRunning('/prod/db/mysql');
    expect(task.id).toMatch(/^prod_db_mysql\.instance-[0-9a-f-]{36}\._app\.1$/);
    expect(task.instanceId).toBe(task.id.replace(/\._app\.1$/, ''));
    expect(task.agent.id).toMatch(/^[0-9a-f-]{36}-S\d+$/);
    const old = new MarathonSimulator({ idFormat: '1.7' });
    await old.start();
    try {
      await old.createApp({ id: '/prod/db/mysql' });
      const [oldTask] = await old.waitForRunning('/prod/db/mysql');
      expect(oldTask.id).toMatch(/^prod_db_mysql\.[0-9a-f-]{36}$/);
      expect(oldTask.instanceId).toMatch(/^prod_db_mysql\.marathon-[0-9a-f-]{36}$/);
    } finally {
      await old.stop();
    }
  });

  it('relaunches failed tasks as a new incarnation of the same instance', async () => {
    await sim.createApp({ id: '/flaky', backoffSeconds: 0.01 });
    const [task] = await sim.waitForRunning('/flaky');
    const res = await http('POST', `${sim.url}/_sim/tasks/${task.id}/kill`, { state: 'TASK_FAILED' });
    expect(res.status).toBe(200);
    const [next] = await waitFor(() => {
      const tasks = sim.tasks('/flaky').filter((t) => t.state === 'TASK_RUNNING');
      return tasks.length === 1 && tasks[0].id !== task.id ? tasks : undefined;
    }, 10_000, 'relaunch');
    expect(next.instanceId).toBe(task.instanceId);
    expect(next.id).toBe(`${task.instanceId}._app.2`);
    // replace:false leaves the app one instance short (scaled down).
    await http('POST', `${sim.url}/_sim/tasks/${next.id}/kill`, { state: 'TASK_LOST', replace: false });
    expect(sim.app('/flaky')!.def.instances).toBe(0);
    expect(sim.tasks('/flaky')).toHaveLength(0);
  });

  it('answers /ping with content negotiation, and /v2/leader and /v2/info', async () => {
    const plain = await http('GET', `${sim.url}/ping`);
    expect(plain.status).toBe(200);
    expect(plain.text).toBe('pong');
    expect(plain.headers['content-type']).toMatch(/^text\/plain/);
    expect((await http('GET', `${sim.url}/ping`, undefined, { Accept: '*/*' })).text).toBe('pong');
    const json = await http('GET', `${sim.url}/ping`, undefined, { Accept: 'application/json' });
    expect(json.text).toBe('"pong"');
    expect((await http('GET', `${sim.url}/ping`, undefined, { Accept: 'image/png' })).status).toBe(204);
    const leader = await http('GET', `${sim.url}/v2/leader`);
    expect(leader.json()).toEqual({ leader: sim.url.replace('http://', '') });
    expect(leader.headers['x-marathon-leader']).toBe(sim.url);
    const info = (await http('GET', `${sim.url}/v2/info`)).json();
    expect(info).toMatchObject({ name: 'marathon', elected: true, leader: sim.url.replace('http://', ''), frameworkId: sim.cluster.frameworkId });
  });

  it('injects faults on /v2/apps: 500 and truncated JSON, cleared by {}', async () => {
    await sim.createApp({ id: '/f' });
    await http('POST', `${sim.url}/_sim/faults`, { status: 500 });
    const failed = await http('GET', `${sim.url}/v2/apps`);
    expect(failed.status).toBe(500);
    expect((await http('GET', `${sim.url}/ping`)).status).toBe(200);
    await http('POST', `${sim.url}/_sim/faults`, { truncate: true });
    const truncated = await http('GET', `${sim.url}/v2/apps?embed=apps.tasks`);
    expect(truncated.status).toBe(200);
    expect(() => JSON.parse(truncated.text)).toThrow();
    expect(truncated.text.startsWith('{"apps":[')).toBe(true);
    await http('POST', `${sim.url}/_sim/faults`, {});
    expect((await http('GET', `${sim.url}/v2/apps`)).json().apps).toHaveLength(1);
  });
});

describe('auth', () => {
  let sim: MarathonSimulator;
  beforeAll(async () => {
    sim = new MarathonSimulator({ auth: { username: 'ops', password: 's3cret', token: 'tok' } });
    await sim.start();
  });
  afterAll(() => sim.stop());
  const basic = { Authorization: `Basic ${Buffer.from('ops:s3cret').toString('base64')}` };

  it.each(['/ping', '/v2/apps', '/v2/events', '/v2/info', '/v2/leader'])('answers 401 with WWW-Authenticate on %s without credentials', async (path) => {
    const res = await http('GET', `${sim.url}${path}`, undefined, { Accept: 'text/event-stream' });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="Mesosphere"');
    const wrong = await http('GET', `${sim.url}${path}`, undefined, { Authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` });
    expect(wrong.status).toBe(401);
  });

  it('accepts Basic credentials and token= on every path', async () => {
    expect((await http('GET', `${sim.url}/ping`, undefined, basic)).status).toBe(200);
    expect((await http('GET', `${sim.url}/v2/apps`, undefined, { Authorization: 'token=tok' })).status).toBe(200);
    const { openEvents } = await import('./helpers.js');
    const stream = await openEvents(`${sim.url}/v2/events`, { Accept: 'text/event-stream', ...basic });
    try {
      expect(stream.status).toBe(200);
      await waitFor(() => stream.events().length > 0, 10_000, 'attached event');
    } finally {
      stream.close();
    }
  });
});
