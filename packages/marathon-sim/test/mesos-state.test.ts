import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '../src/index.js';
import { http } from './helpers.js';

describe('/master/state', () => {
  let sim: MarathonSimulator;
  beforeAll(async () => {
    sim = new MarathonSimulator({ auth: { username: 'u', password: 'p' } });
    await sim.start();
    await sim.createApp({ id: '/prod/db/mysql', instances: 2, portDefinitions: [{ port: 0, name: 'mysql' }, { port: 0, protocol: 'udp,tcp' }] });
    await sim.createApp({
      id: '/web',
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { type: 'MESOS', portMappings: [{ containerPort: 8080, name: 'http' }] },
    });
    await sim.waitForRunning('/prod/db/mysql');
    await sim.waitForRunning('/web');
  });
  afterAll(() => sim.stop());

  it('describes the cluster as a Mesos master, with the fields Mesos-DNS reads', async () => {
    const res = await http('GET', `${sim.url}/master/state`);
    expect(res.status).toBe(200);
    const state = res.json();
    expect(state.leader).toBe('master@127.0.0.1:5050');
    expect(state.pid).toBe(state.leader);
    expect(state.cluster).toEqual(expect.any(String));
    for (const slave of state.slaves) expect(slave.pid).toBe(`slave(1)@${slave.hostname}:5051`);
    const marathon = state.frameworks.find((f: any) => f.name === 'marathon');
    expect(marathon).toMatchObject({ id: sim.cluster.frameworkId, hostname: '127.0.0.1', webui_url: sim.url });
    expect(marathon.pid).toMatch(new RegExp(`^scheduler-[0-9a-f-]+@127\\.0\\.0\\.1:${new URL(sim.url).port}$`));

    const mysql = marathon.tasks.filter((t: any) => t.name === 'mysql.db.prod');
    expect(mysql).toHaveLength(2);
    const simTask = sim.tasks('/prod/db/mysql').find((t) => t.id === mysql[0].id)!;
    expect(mysql[0]).toMatchObject({ framework_id: marathon.id, slave_id: simTask.agent.id, state: 'TASK_RUNNING' });
    expect(state.slaves.map((s: any) => s.id)).toContain(mysql[0].slave_id);
    const sorted = [...simTask.ports].sort((a, b) => a - b);
    const expectedRanges = sorted[1] === sorted[0] + 1 ? `[${sorted[0]}-${sorted[1]}]` : `[${sorted[0]}-${sorted[0]}, ${sorted[1]}-${sorted[1]}]`;
    expect(mysql[0].resources.ports).toBe(expectedRanges);
    const running = mysql[0].statuses.find((s: any) => s.state === 'TASK_RUNNING');
    expect(running.timestamp).toEqual(expect.any(Number));
    expect(running.container_status.network_infos[0].ip_addresses[0].ip_address).toBe(simTask.host);
    expect(mysql[0].discovery).toMatchObject({ visibility: 'FRAMEWORK', name: 'mysql.db.prod' });
    expect(mysql[0].discovery.ports.ports.map((p: any) => [p.number, p.name, p.protocol])).toEqual([
      [simTask.ports[0], 'mysql', 'tcp'],
      [simTask.ports[1], undefined, 'udp'],
      [simTask.ports[1], undefined, 'tcp'],
    ]);

    // IP-per-task: the container IP in NetworkInfo and the container port in DiscoveryInfo.
    const [web] = marathon.tasks.filter((t: any) => t.name === 'web');
    const webTask = sim.tasks('/web')[0];
    expect(web.resources.ports).toBeUndefined();
    expect(web.statuses.at(-1).container_status.network_infos[0].ip_addresses[0].ip_address).toBe(webTask.ipAddresses[0].ipAddress);
    expect(web.discovery.ports.ports).toEqual([expect.objectContaining({ number: 8080, name: 'http', protocol: 'tcp' })]);

    // Also served at the pre-1.8 path, and not behind Marathon's auth.
    expect((await http('GET', `${sim.url}/state.json`)).json().frameworks[0].name).toBe('marathon');
  });

  it('publishes extra frameworks added programmatically or through the control API', async () => {
    const id = sim.addFramework({
      name: 'kafka',
      pid: 'scheduler-kafka@127.0.0.1:9999',
      tasks: [{ name: 'broker-0', host: '127.0.1.9', ports: [1025], discovery: { name: 'broker-0', ports: [{ number: 1025, name: 'broker' }] } }],
    });
    const added = await http('POST', `${sim.url}/_sim/frameworks`, { name: 'chronos', tasks: [{ name: 'job', state: 'TASK_STAGING' }] });
    expect(added.status).toBe(200);
    const state = (await http('GET', `${sim.url}/master/state`)).json();
    const kafka = state.frameworks.find((f: any) => f.name === 'kafka');
    expect(kafka.id).toBe(id);
    expect(kafka.pid).toBe('scheduler-kafka@127.0.0.1:9999');
    expect(kafka.tasks[0]).toMatchObject({ name: 'broker-0', state: 'TASK_RUNNING', framework_id: id, resources: { ports: '[1025-1025]' } });
    const agent = state.slaves.find((s: any) => s.hostname === '127.0.1.9');
    expect(kafka.tasks[0].slave_id).toBe(agent.id);
    expect(kafka.tasks[0].discovery.ports.ports[0]).toEqual({ number: 1025, name: 'broker', protocol: 'tcp' });
    expect(state.frameworks.find((f: any) => f.name === 'chronos').tasks[0].state).toBe('TASK_STAGING');
    expect(sim.removeFramework(id)).toBe(true);
  });
});
