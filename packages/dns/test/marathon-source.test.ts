// The Marathon feed as a record source, against the simulator over loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState, silentLogger } from '@baton/marathon';
import { taskHash } from '../src/naming.js';
import { RecordStore } from '../src/record-store.js';
import { MarathonRecordSource } from '../src/marathon-source.js';
import { mesosStateRecords } from '../src/mesos-records.js';
import type { DnsRecord, OwnerRecords } from '../src/records.js';
import { RECORD_CONFIG, startMarathonSource, startSim, waitFor, type Cleanup } from './helpers/sources.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const sorted = <T>(values: readonly T[]): T[] => [...values].sort();

describe('MarathonRecordSource with the simulator', () => {
  it('publishes a grouped app with two named ports and follows scale and kill', async () => {
    const sim = await startSim(cleanups);
    const { store } = await startMarathonSource(cleanups, sim);

    await sim.createApp({
      id: '/prod/db/mysql',
      instances: 2,
      portDefinitions: [
        { port: 0, protocol: 'tcp', name: 'mysql' },
        { port: 0, protocol: 'udp,tcp', name: 'admin' },
      ],
    });
    const tasks = await sim.waitForRunning('/prod/db/mysql');
    await waitFor(() => store.lookup('mysql-db-prod.marathon.mesos')?.a.length === 2);

    expect(sorted(store.lookup('mysql-db-prod.marathon.mesos')!.a)).toEqual(sorted([...new Set(tasks.map((t) => t.host))]));
    const canonical = (t: { id: string; agent: { id: string } }) =>
      `mysql-db-prod-${taskHash(t.id)}-${t.agent.id.split('-').pop()!.toLowerCase()}.marathon.mesos`;
    for (const t of tasks) {
      expect(store.lookup(canonical(t))!.a).toEqual([t.host]);
      expect(store.lookup(canonical(t).replace('.mesos', '.slave.mesos'))!.a).toEqual([t.host]);
    }
    const srv = (name: string) => sorted((store.lookup(name)?.srv ?? []).map((s) => `${s.target}:${s.port}`));
    expect(srv('_mysql._mysql-db-prod._tcp.marathon.mesos')).toEqual(sorted(tasks.map((t) => `${canonical(t)}:${t.ports[0]}`)));
    expect(srv('_admin._mysql-db-prod._udp.marathon.mesos')).toEqual(sorted(tasks.map((t) => `${canonical(t)}:${t.ports[1]}`)));
    expect(srv('_mysql-db-prod._udp.marathon.mesos')).toEqual(sorted(tasks.map((t) => `${canonical(t)}:${t.ports[1]}`)));
    expect(srv('_mysql-db-prod._tcp.marathon.mesos')).toHaveLength(4);
    // the legacy raw-name duplicates
    expect(store.lookup('mysql.db.prod.marathon.mesos')!.a.length).toBeGreaterThan(0);
    expect(srv('_mysql.db.prod._tcp.marathon.mesos')).toHaveLength(4);

    await sim.scaleApp('/prod/db/mysql', 3);
    await waitFor(() => (store.lookup('_mysql._mysql-db-prod._tcp.marathon.mesos')?.srv.length ?? 0) === 3);

    const victim = tasks[0];
    sim.killTask(victim.id, { replace: false });
    await waitFor(() => store.lookup(canonical(victim)) === undefined);
    expect(store.lookup('_mysql._mysql-db-prod._tcp.marathon.mesos')!.srv).toHaveLength(2);

    await sim.deleteApp('/prod/db/mysql');
    await waitFor(() => store.lookup('mysql-db-prod.marathon.mesos') === undefined);
    expect([...store.names()].filter((n) => n.includes('mysql'))).toEqual([]);
  });

  it('bridge and IP-per-task apps: container IPs first, agent IPs under .slave', async () => {
    const sim = await startSim(cleanups);
    const { store } = await startMarathonSource(cleanups, sim);
    await sim.createApp({
      id: '/web/bridged',
      instances: 1,
      container: { type: 'DOCKER', docker: { image: 'nginx' }, portMappings: [{ containerPort: 80, hostPort: 0, name: 'http' }] },
      networks: [{ mode: 'container/bridge' }],
    });
    await sim.createApp({
      id: '/web/ipt',
      instances: 1,
      container: { type: 'MESOS', portMappings: [{ containerPort: 8080, name: 'api' }] },
      networks: [{ mode: 'container', name: 'dcos' }],
    });
    const [bridged] = await sim.waitForRunning('/web/bridged');
    const [ipt] = await sim.waitForRunning('/web/ipt');
    await waitFor(() => store.lookup('bridged-web.marathon.mesos') !== undefined && store.lookup('ipt-web.marathon.mesos') !== undefined);

    expect(store.lookup('bridged-web.marathon.mesos')!.a).toEqual([bridged.ipAddresses[0].ipAddress]);
    expect(bridged.ipAddresses[0].ipAddress).not.toBe(bridged.host);
    expect(store.lookup('bridged-web.marathon.slave.mesos')!.a).toEqual([bridged.host]);
    expect(store.lookup('_http._bridged-web._tcp.marathon.mesos')!.srv.map((s) => s.port)).toEqual([bridged.ports[0]]);

    expect(store.lookup('ipt-web.marathon.mesos')!.a).toEqual([ipt.ipAddresses[0].ipAddress]);
    expect(store.lookup('_api._ipt-web._tcp.marathon.mesos')!.srv.map((s) => s.port)).toEqual([8080]);
    expect(store.lookup('_ipt-web._tcp.marathon.slave.mesos')).toBeUndefined();
    // PTR of the container IP → the task's canonical name
    const reverse = ipt.ipAddresses[0].ipAddress.split('.').reverse().join('.') + '.in-addr.arpa';
    expect(store.lookup(reverse)!.ptr).toEqual([`ipt-web-${taskHash(ipt.id)}-${ipt.agent.id.split('-').pop()!.toLowerCase()}.marathon.mesos`]);
  });

  it('healthyOnly drops unhealthy tasks of apps with health checks and brings them back', async () => {
    const sim = await startSim(cleanups);
    const healthy = await startMarathonSource(cleanups, sim, { healthyOnly: true });
    const all = await startMarathonSource(cleanups, sim);
    await sim.createApp({ id: '/checked', instances: 2, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'TCP', portIndex: 0 }] });
    const tasks = await sim.waitForRunning('/checked');
    await waitFor(() => healthy.store.lookup('_checked._tcp.marathon.mesos')?.srv.length === 2);

    sim.setTaskHealth(tasks[0].id, false);
    await waitFor(() => healthy.store.lookup('_checked._tcp.marathon.mesos')?.srv.length === 1);
    const stillThere = healthy.store.lookup('_checked._tcp.marathon.mesos')!.srv[0];
    expect(stillThere.port).toBe(tasks[1].ports[0]);
    expect(all.store.lookup('_checked._tcp.marathon.mesos')!.srv).toHaveLength(2);

    sim.setTaskHealth(tasks[0].id, true);
    await waitFor(() => healthy.store.lookup('_checked._tcp.marathon.mesos')?.srv.length === 2);
  });

  it('generates the same records from the feed as Mesos-DNS would from the master state', async () => {
    const sim = await startSim(cleanups);
    const { store } = await startMarathonSource(cleanups, sim);
    await sim.createApp({ id: '/prod/db/mysql', instances: 2, portDefinitions: [{ port: 0, name: 'mysql' }, { port: 0, protocol: 'udp,tcp', name: 'admin' }] });
    await sim.createApp({ id: '/web/bridged', instances: 2, container: { type: 'DOCKER', docker: { image: 'x' }, portMappings: [{ containerPort: 80, hostPort: 0, name: 'http' }] }, networks: [{ mode: 'container/bridge' }] });
    await sim.createApp({ id: '/web/ipt', instances: 1, container: { type: 'MESOS', portMappings: [{ containerPort: 8080, name: 'api', protocol: 'tcp' }] }, networks: [{ mode: 'container', name: 'dcos' }] });
    await sim.createApp({ id: '/plain', instances: 1 });
    for (const id of ['/prod/db/mysql', '/web/bridged', '/web/ipt', '/plain']) await sim.waitForRunning(id);
    await waitFor(() => store.stats().tasks === 6);

    const response = await fetch(`${sim.url}/master/state`);
    const mesos = mesosStateRecords(await response.json(), { ...RECORD_CONFIG, ipSources: ['netinfo', 'mesos', 'host'] });
    const lines = (owners: Iterable<OwnerRecords>): string[] =>
      sorted([...new Set([...owners].flatMap((o) => o.tasks.flatMap((t) => t.records)).map((r: DnsRecord) => `${r.type} ${r.name} ${r.value}`))]);
    const fromFeed = lines([...store.ownerKeys()].filter((k) => k.startsWith('app:')).map((k) => store.getOwner(k)!));
    const fromMaster = lines([mesos.owners.get('framework:marathon')!]);
    expect(fromFeed.length).toBeGreaterThan(50);
    expect(fromFeed).toEqual(fromMaster);
  });
});

describe('MarathonRecordSource with a ClusterState', () => {
  const rawApp = (tasks: unknown[]) => ({
    id: '/v6/api',
    instances: tasks.length,
    container: { type: 'MESOS', portMappings: [{ containerPort: 9000, name: 'grpc' }] },
    networks: [{ mode: 'container', name: 'calico' }],
    tasks,
  });
  const rawTask = (n: number, ips: string[], state = 'TASK_RUNNING') => ({
    id: `v6_api.instance-${n}._app.1`,
    appId: '/v6/api',
    host: '10.0.0.5',
    slaveId: 'agent-S4',
    state,
    ports: [],
    ipAddresses: ips.map((ip) => ({ ipAddress: ip, protocol: ip.includes(':') ? 'IPv6' : 'IPv4' })),
  });

  it('applies every change to the store synchronously, in the same tick, and only for the apps named', () => {
    const state = new ClusterState({ logger: silentLogger() });
    state.replaceAll([{ id: '/other', instances: 1, tasks: [{ ...rawTask(9, ['10.0.0.9']), id: 'other.instance-9._app.1', appId: '/other' }] }]);
    const store = new RecordStore({ domain: 'mesos' });
    const source = new MarathonRecordSource(state, store, { config: RECORD_CONFIG, logger: silentLogger() });
    source.start();
    expect(store.lookup('other.marathon.mesos')!.a).toEqual(['10.0.0.9']);

    const changes: string[][] = [];
    store.subscribe((names) => changes.push([...names]));
    state.replaceApp('/v6/api', rawApp([rawTask(1, ['fd00::1:5', '9.0.0.5'])]));
    // no await: the records are there already
    expect(store.lookup('api-v6.marathon.mesos')).toEqual({ a: ['9.0.0.5'], aaaa: ['fd00::1:5'], srv: [], ptr: [] });
    expect(store.lookup('_grpc._api-v6._tcp.marathon.mesos')!.srv[0].port).toBe(9000);
    expect(changes).toHaveLength(1);
    expect(changes[0].every((n) => !n.includes('other'))).toBe(true);

    state.replaceApp('/v6/api', rawApp([rawTask(1, ['fd00::1:5', '9.0.0.5'], 'TASK_KILLING')]));
    expect(store.lookup('api-v6.marathon.mesos')).toBeUndefined();
    state.replaceApp('/v6/api', null);
    expect(changes).toHaveLength(2);
    expect(source.appCount).toBe(1);
    source.stop();
  });

  it('drops apps that vanished while it was stopped, on restart', () => {
    const state = new ClusterState({ logger: silentLogger() });
    state.replaceAll([rawApp([rawTask(1, ['9.0.0.1'])])]);
    const store = new RecordStore({ domain: 'mesos' });
    const source = new MarathonRecordSource(state, store, { config: RECORD_CONFIG });
    source.start();
    source.stop();
    state.replaceAll([]);
    expect(store.lookup('api-v6.marathon.mesos')).toBeDefined();
    source.start();
    expect(store.lookup('api-v6.marathon.mesos')).toBeUndefined();
    expect(source.status()).toMatchObject({ name: 'marathon', ready: true, stale: false });
  });
});
