// The Mesos master source against the simulator's /master/state and small stand-in masters on loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { defaultDnsConfig } from '../src/config.js';
import { taskHash } from '../src/naming.js';
import { RecordStore } from '../src/record-store.js';
import { MesosMasterSource, type LeaderSource, type MasterSourceOptions } from '../src/master-source.js';
import { startMarathonSource, startSim, waitFor, type Cleanup } from './helpers/sources.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function source(store: RecordStore, masters: string[], extra: Partial<MasterSourceOptions> = {}, config: Partial<MasterSourceOptions['config']> = {}) {
  const src = new MesosMasterSource(store, {
    config: { ...defaultDnsConfig(), masters, refreshSeconds: 3600, stateTimeoutSeconds: 5, ...config },
    logger: silentLogger(),
    ...extra,
  });
  cleanups.push(() => src.stop());
  return src;
}

/** A stand-in Mesos master serving whatever `handler` says for /master/state. */
async function fakeMaster(host: string, handler: () => { status: number; body?: unknown; location?: string }): Promise<{ address: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.authorization ?? ''}`.trim());
    const { status, body, location } = handler();
    res.writeHead(status, { 'Content-Type': 'application/json', ...(location ? { Location: location } : {}) });
    res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { address: `${host}:${(server.address() as AddressInfo).port}`, requests, server };
}

const minimalState = (leader: string, ip: string) => ({
  leader: `master@${leader}`,
  slaves: [{ id: 'AG-S0', pid: `slave(1)@${ip}:5051` }],
  frameworks: [{ name: 'chronos', pid: `scheduler@${ip}:4400`, tasks: [] }],
});

describe('MesosMasterSource', () => {
  it('publishes masters, agents, Marathon and other frameworks from the simulator', async () => {
    const sim = await startSim(cleanups);
    await sim.createApp({ id: '/prod/web', instances: 2, portDefinitions: [{ port: 0, name: 'http' }] });
    const webTasks = await sim.waitForRunning('/prod/web');
    sim.addFramework({ name: 'kafka', pid: 'scheduler-k@127.0.0.1:7000', tasks: [{ name: 'broker-0', host: '127.0.1.9', ports: [1025, 1026] }] });
    const store = new RecordStore({ domain: 'mesos' });
    const src = source(store, [new URL(sim.url).host]);
    src.start();
    await src.ready();

    expect(store.lookup('leader.mesos')!.a).toEqual(['127.0.0.1']);
    expect(store.lookup('_leader._tcp.mesos')!.srv).toEqual([{ target: 'leader.mesos', port: 5050 }]);
    expect(store.lookup('master0.mesos')!.a).toEqual(['127.0.0.1']);
    expect(store.lookup('slave.mesos')!.a).toContain('127.0.1.9');
    expect(store.lookup('_slave._tcp.mesos')!.srv[0]).toEqual({ target: 'slave.mesos', port: 5051 });
    expect(store.lookup('kafka.mesos')!.a).toEqual(['127.0.0.1']);
    expect(store.lookup('_framework._tcp.kafka.mesos')!.srv).toEqual([{ target: 'kafka.mesos', port: 7000 }]);
    expect(store.lookup('marathon.mesos')!.a).toEqual(['127.0.0.1']);

    const brokerSrv = store.lookup('_broker-0._tcp.kafka.mesos')!.srv;
    expect(brokerSrv.map((s) => s.port).sort()).toEqual([1025, 1026]);
    expect(brokerSrv[0].target).toMatch(/^broker-0-[a-z0-9]{5}-s\d+\.kafka\.slave\.mesos$/);
    expect(store.lookup('broker-0.kafka.mesos')!.a).toEqual(['127.0.1.9']);

    expect([...store.lookup('web-prod.marathon.mesos')!.a].sort()).toEqual([...new Set(webTasks.map((t) => t.host))].sort());
    expect(store.enumerate().frameworks.map((f) => [f.name, f.tasks.length])).toEqual([['marathon', 2], ['kafka', 1]]);
    expect(src.status()).toMatchObject({ name: 'mesos', ready: true, stale: false, master: new URL(sim.url).host });

    // a later poll picks up changes and drops what went away
    await sim.scaleApp('/prod/web', 1);
    await sim.waitForRunning('/prod/web');
    await waitFor(() => sim.masterState() !== undefined && (sim.masterState() as { frameworks: { tasks: unknown[] }[] }).frameworks[0].tasks.length === 1);
    expect(await src.refresh()).toBe(true);
    expect(store.lookup('_http._web-prod._tcp.marathon.mesos')!.srv).toHaveLength(1);
  });

  it('with the Marathon feed on, leaves Marathon tasks to the feed and keeps the framework records', async () => {
    const sim = await startSim(cleanups);
    await sim.createApp({ id: '/api', instances: 1, portDefinitions: [{ port: 0 }] });
    const [task] = await sim.waitForRunning('/api');
    const { store } = await startMarathonSource(cleanups, sim);
    const src = source(store, [new URL(sim.url).host], { marathonFeedOn: true });
    await src.refresh();
    const canonical = `api-${taskHash(task.id)}-${task.agent.id.split('-').pop()!.toLowerCase()}.marathon.mesos`;
    expect(store.lookup(canonical)!.a).toEqual([task.host]);
    expect(store.lookup('marathon.mesos')!.a).toEqual(['127.0.0.1']);
    const marathon = store.enumerate().frameworks.find((f) => f.name === 'marathon')!;
    expect(marathon.tasks.map((t) => t.id)).toEqual([task.id]);
    expect(store.getOwner('framework:marathon')!.tasks).toEqual([]);

    // the feed removes the task; the master source does not bring it back
    sim.killTask(task.id, { replace: false });
    await waitFor(() => store.lookup(canonical) === undefined);
    await src.refresh();
    expect(store.lookup(canonical)).toBeUndefined();
  });

  it('tries the masters in order, follows the leader the state names, and sends basic credentials', async () => {
    const leader = await fakeMaster('127.0.0.2', () => ({ status: 200, body: minimalState('127.0.0.2:5050', '10.0.0.2') }));
    const follower = await fakeMaster('127.0.0.1', () => ({ status: 200, body: { ...minimalState(leader.address, '10.0.0.1'), frameworks: [] } }));
    const store = new RecordStore({ domain: 'mesos' });
    const src = source(store, ['127.0.0.1:1', follower.address], {}, { mesosAuthentication: 'basic', mesosCredentials: { principal: 'dns', secret: 'pw' } });
    expect(await src.refresh()).toBe(true);
    expect(follower.requests).toEqual([`/master/state Basic ${Buffer.from('dns:pw').toString('base64')}`]);
    expect(leader.requests).toHaveLength(1);
    expect(store.lookup('chronos.mesos')!.a).toEqual(['10.0.0.2']);
    expect(src.status().master).toBe(leader.address);
  });

  it('follows a redirect from a standby master', async () => {
    const leader = await fakeMaster('127.0.0.1', () => ({ status: 200, body: minimalState('127.0.0.1:5050', '10.0.0.3') }));
    const standby = await fakeMaster('127.0.0.1', () => ({ status: 307, location: `http://${leader.address}/master/state` }));
    const store = new RecordStore({ domain: 'mesos' });
    expect(await source(store, [standby.address]).refresh()).toBe(true);
    expect(store.lookup('slave.mesos')!.a).toEqual(['10.0.0.3']);
  });

  it('keeps the last good records when every master fails, and says so', async () => {
    let healthy = true;
    const master = await fakeMaster('127.0.0.1', () => (healthy ? { status: 200, body: minimalState('127.0.0.1:5050', '10.0.0.4') } : { status: 503, body: 'down' }));
    const store = new RecordStore({ domain: 'mesos' });
    const src = source(store, [master.address]);
    expect(await src.refresh()).toBe(true);
    const serial = store.serial;

    healthy = false;
    expect(await src.refresh()).toBe(false);
    expect(store.lookup('slave.mesos')!.a).toEqual(['10.0.0.4']);
    expect(store.serial).toBe(serial);
    expect(src.status()).toMatchObject({ ready: true, stale: true, lastError: `every master failed: ${master.address}: HTTP 503` });

    healthy = true;
    expect(await src.refresh()).toBe(true);
    expect(src.status()).toMatchObject({ stale: false, staleSeconds: 0 });
    expect(src.status().lastError).toBeUndefined();
  });

  it('reports invalid JSON and an empty masters list as errors', async () => {
    const master = await fakeMaster('127.0.0.1', () => ({ status: 200, body: '{"leader": ' }));
    const store = new RecordStore({ domain: 'mesos' });
    const src = source(store, [master.address]);
    expect(await src.refresh()).toBe(false);
    expect(src.status().lastError).toMatch(/invalid JSON/);
    const none = source(store, []);
    expect(await none.refresh()).toBe(false);
    expect(none.status().lastError).toMatch(/no Mesos master known/);
  });

  it('asks a leader source first and polls again when it reports a change', async () => {
    const a = await fakeMaster('127.0.0.1', () => ({ status: 200, body: minimalState('127.0.0.1:5050', '10.0.0.5') }));
    const b = await fakeMaster('127.0.0.1', () => ({ status: 200, body: minimalState('127.0.0.1:5051', '10.0.0.6') }));
    let detection = { leader: a.address, masters: [a.address, b.address] };
    const listeners = new Set<() => void>();
    const leaderSource: LeaderSource = {
      current: () => detection,
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const store = new RecordStore({ domain: 'mesos' });
    const src = source(store, ['127.0.0.1:1'], { leaderSource });
    src.start();
    await src.ready();
    expect(store.lookup('slave.mesos')!.a).toEqual(['10.0.0.5']);
    expect(b.requests).toHaveLength(0);

    detection = { leader: b.address, masters: [a.address, b.address] };
    for (const listener of listeners) listener();
    await waitFor(() => store.lookup('slave.mesos')?.a[0] === '10.0.0.6');
    expect(store.lookup('leader.mesos')!.a).toEqual(['127.0.0.1']);
  });
});
