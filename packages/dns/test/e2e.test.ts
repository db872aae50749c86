// baton-dns end to end, in-process: the Marathon simulator → MarathonFeed → ClusterState →
// MarathonRecordSource → RecordStore → the DNS server, queried with node:dns and dig.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { ClusterState, MarathonClient, MarathonFeed, silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { defaultDnsConfig, type DnsConfig } from '../src/config.js';
import { RecordStore, publishNameserver } from '../src/record-store.js';
import { MarathonRecordSource } from '../src/marathon-source.js';
import { canonicalTaskLabel } from '../src/naming.js';
import { startDnsServer, type DnsServer } from '../src/server.js';
import { QTYPE, encodeQuery } from '../src/wire.js';
import { decode, udpExchange } from './helpers/map-view.js';
import { waitFor } from '../../../test/helpers/wait.js';

const run = promisify(execFile);
const hasDig = spawnSync('dig', ['-v']).status === 0;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
let sim: MarathonSimulator;
let state: ClusterState;

async function startDns(overrides: Partial<DnsConfig> = {}): Promise<{ server: DnsServer; store: RecordStore; resolver: Resolver }> {
  const config: DnsConfig = { ...defaultDnsConfig(), listener: '127.0.0.1', port: 0, externalOn: false, ...overrides };
  const store = new RecordStore({ domain: config.domain });
  publishNameserver(store, config.soaMname, ['127.0.0.53', 'fd00::53']);
  const source = new MarathonRecordSource(state, store, { config });
  source.start();
  const server = await startDnsServer({ config, view: store });
  cleanups.push(() => server.close(), () => source.stop());
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  resolver.setServers([`127.0.0.1:${server.udpPort}`]);
  return { server, store, resolver };
}

let dns: { server: DnsServer; store: RecordStore; resolver: Resolver };

beforeAll(async () => {
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, logger: silentLogger() });
  await sim.start();
  cleanups.push(() => sim.stop());
  state = new ClusterState({ logger: silentLogger() });
  const client = new MarathonClient({ urls: [sim.url], timeoutMs: 3000, logger: silentLogger() });
  const feed = new MarathonFeed(state, { client, backoff: { initialMs: 50, maxMs: 300 }, logger: silentLogger() });
  feed.start();
  cleanups.push(async () => {
    await feed.stop();
    await client.close();
  });
  await feed.ready();
  dns = await startDns();
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const running = (appId: string) => state.tasksOf(appId).filter((t) => t.state === 'TASK_RUNNING');

describe('names of Marathon apps, served over DNS', () => {
  it('serves a grouped app (/prod/db/mysql) under its reversed, sanitised name: A, SRV, named port, .slave', async () => {
    await sim.createApp({
      id: '/prod/db/mysql',
      instances: 2,
      cmd: 'sleep 1000',
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'mysql' }],
    });
    await waitFor(() => running('/prod/db/mysql').length === 2, 10_000);
    const tasks = running('/prod/db/mysql');
    const { resolver } = dns;
    await waitFor(async () => (await resolver.resolve4('mysql-db-prod.marathon.mesos').catch(() => [])).length === 2, 10_000);
    const agents = tasks.map((t) => t.host).sort();
    expect((await resolver.resolve4('mysql-db-prod.marathon.mesos')).sort()).toEqual(agents);
    expect((await resolver.resolve4('mysql-db-prod.marathon.slave.mesos')).sort()).toEqual(agents);
    expect((await resolver.resolve4('MySQL-DB-Prod.Marathon.Mesos')).sort()).toEqual(agents); // case-insensitive

    const expectedSrv = tasks
      .map((t) => `${canonicalTaskLabel('mysql-db-prod', t.id, t.slaveId)}.marathon.mesos:${t.ports[0]}`)
      .sort();
    const srv = (await resolver.resolveSrv('_mysql-db-prod._tcp.marathon.mesos')).map((r) => `${r.name}:${r.port}`).sort();
    expect(srv).toEqual(expectedSrv);
    const named = (await resolver.resolveSrv('_mysql._mysql-db-prod._tcp.marathon.mesos')).map((r) => `${r.name}:${r.port}`).sort();
    expect(named).toEqual(expectedSrv);
    const slaveSrv = await resolver.resolveSrv('_mysql-db-prod._tcp.marathon.slave.mesos');
    expect(slaveSrv.map((r) => r.name).every((n) => n.endsWith('.marathon.slave.mesos'))).toBe(true);
    // The canonical name of each task resolves to its own address.
    const canonical = `${canonicalTaskLabel('mysql-db-prod', tasks[0].id, tasks[0].slaveId)}.marathon.mesos`;
    expect(await resolver.resolve4(canonical)).toEqual([tasks[0].host]);
  });

  it('serves every port of a multi-port app: SRV per protocol and per named port', async () => {
    await sim.createApp({
      id: '/multi',
      instances: 1,
      cmd: 'sleep 1000',
      portDefinitions: [
        { port: 0, protocol: 'tcp', name: 'http' },
        { port: 0, protocol: 'tcp', name: 'admin' },
        { port: 0, protocol: 'udp', name: 'stats' },
      ],
    });
    await waitFor(() => running('/multi').length === 1, 10_000);
    const [task] = running('/multi');
    const { resolver } = dns;
    await waitFor(async () => (await resolver.resolveSrv('_multi._tcp.marathon.mesos').catch(() => [])).length === 2, 10_000);
    expect((await resolver.resolveSrv('_multi._tcp.marathon.mesos')).map((r) => r.port).sort()).toEqual([task.ports[0], task.ports[1]].sort());
    expect((await resolver.resolveSrv('_multi._udp.marathon.mesos')).map((r) => r.port)).toEqual([task.ports[2]]);
    expect((await resolver.resolveSrv('_http._multi._tcp.marathon.mesos')).map((r) => r.port)).toEqual([task.ports[0]]);
    expect((await resolver.resolveSrv('_admin._multi._tcp.marathon.mesos')).map((r) => r.port)).toEqual([task.ports[1]]);
    expect((await resolver.resolveSrv('_stats._multi._udp.marathon.mesos')).map((r) => r.port)).toEqual([task.ports[2]]);
    await expect(resolver.resolveSrv('_stats._multi._tcp.marathon.mesos')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('sanitises names: dots in app ids, long names cut to 63, RFC 952 vs RFC 1123', async () => {
    const long = `/${'a'.repeat(40)}-${'b'.repeat(40)}`;
    await sim.createApp({ id: '/api.v2/9lives', instances: 1, cmd: 'sleep 1000', networks: [{ mode: 'container', name: 'dcos' }] });
    await sim.createApp({ id: long, instances: 1, cmd: 'sleep 1000' });
    await waitFor(() => running('/api.v2/9lives').length === 1 && running(long).length === 1, 10_000);
    const { resolver } = dns;
    const [lives] = running('/api.v2/9lives');
    await waitFor(async () => (await resolver.resolve4('9lives-api-v2.marathon.mesos').catch(() => [])).length === 1, 10_000);
    expect(await resolver.resolve4('9lives-api-v2.marathon.mesos')).toEqual([lives.ipAddresses[0].ipAddress]);
    const cut = `${'a'.repeat(40)}-${'b'.repeat(22)}`;
    expect(await resolver.resolve4(`${cut}.marathon.mesos`)).toHaveLength(1);

    const rfc952 = await startDns({ enforceRfc952: true });
    // RFC 952: leading digits dropped, 24 characters at most.
    expect(await rfc952.resolver.resolve4('lives-api-v2.marathon.mesos')).toEqual([lives.ipAddresses[0].ipAddress]);
    await expect(rfc952.resolver.resolve4('9lives-api-v2.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(await rfc952.resolver.resolve4(`${'a'.repeat(24)}.marathon.mesos`)).toHaveLength(1);
  });

  it('answers NXDOMAIN for unknown names, NODATA when the name has other records, IPv6 as AAAA', async () => {
    const { resolver } = dns;
    await expect(resolver.resolve4('nothing-here.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('mysql-db-prod.marathon.mesos')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(await resolver.resolve6('ns1.mesos')).toEqual(['fd00::53']);
    expect(await resolver.resolve4('ns1.mesos')).toEqual(['127.0.0.53']);
    // ANY as Mesos-DNS answers it (minimalAny off); the default, RFC 8482's HINFO, is in protocol-hygiene.test.ts
    const full = await startDns({ minimalAny: false });
    const any = await full.resolver.resolveAny('ns1.mesos');
    expect(any.map((r) => r.type).sort()).toEqual(['A', 'AAAA']);
  });

  it('answers PTR for task IPs', async () => {
    const { resolver } = dns;
    const [lives] = running('/api.v2/9lives');
    const expected = `${canonicalTaskLabel('9lives-api-v2', lives.id, lives.slaveId)}.marathon.mesos`;
    expect(await resolver.reverse(lives.ipAddresses[0].ipAddress)).toEqual([expected]);
  });

  it('follows scale-ups and kills within moments of the simulator change', async () => {
    await sim.createApp({ id: '/fresh', instances: 1, cmd: 'sleep 1000', networks: [{ mode: 'container', name: 'dcos' }] });
    const { resolver } = dns;
    const ips = async () => (await resolver.resolve4('fresh.marathon.mesos').catch(() => [] as string[])).sort();
    await waitFor(async () => (await ips()).length === 1, 10_000);
    await sim.scaleApp('/fresh', 3);
    await waitFor(async () => (await ips()).length === 3, 10_000);
    const victim = running('/fresh')[0];
    sim.killTask(victim.id, { replace: false });
    await waitFor(async () => !(await ips()).includes(victim.ipAddresses[0].ipAddress) && (await ips()).length === 2, 10_000);
    await sim.deleteApp('/fresh');
    await waitFor(async () => (await ips()).length === 0, 10_000);
    await expect(resolver.resolve4('fresh.marathon.mesos')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('with healthyOnly, drops a task from DNS when it turns unhealthy and brings it back when healthy', async () => {
    await sim.createApp({
      id: '/checked',
      instances: 2,
      cmd: 'sleep 1000',
      networks: [{ mode: 'container', name: 'dcos' }],
      healthChecks: [{ protocol: 'MESOS_TCP', portIndex: 0 }],
      container: { type: 'DOCKER', docker: { image: 'x' }, portMappings: [{ containerPort: 80 }] },
    });
    await waitFor(() => running('/checked').filter((t) => t.health === 'healthy').length === 2, 10_000);
    const healthy = await startDns({ healthyOnly: true });
    const ips = async () => (await healthy.resolver.resolve4('checked.marathon.mesos').catch(() => [] as string[])).sort();
    await waitFor(async () => (await ips()).length === 2, 10_000);
    const [sick] = running('/checked');
    sim.setTaskHealth(sick.id, false);
    await waitFor(async () => (await ips()).length === 1, 10_000);
    expect(await ips()).not.toContain(sick.ipAddresses[0].ipAddress);
    // Without healthyOnly the unhealthy task is still published, as Mesos-DNS does.
    expect(await dns.resolver.resolve4('checked.marathon.mesos')).toHaveLength(2);
    sim.setTaskHealth(sick.id, true);
    await waitFor(async () => (await ips()).length === 2, 10_000);
  });

  it('truncates a large SRV answer over UDP without EDNS, answers it in full over TCP and with EDNS0 4096', async () => {
    await sim.createApp({ id: '/big', instances: 30, cmd: 'sleep 1000', portDefinitions: [{ port: 0, name: 'http' }] });
    await waitFor(() => running('/big').length === 30, 15_000);
    const { resolver, server } = dns;
    await waitFor(async () => (await resolver.resolveSrv('_big._tcp.marathon.mesos').catch(() => [])).length === 30, 10_000);
    const plain = (await udpExchange(server.udpPort, encodeQuery(1, '_big._tcp.marathon.mesos', QTYPE.SRV)))!;
    expect(plain.length).toBeLessThanOrEqual(512);
    expect(decode(plain).header.tc).toBe(1);
    const edns = decode((await udpExchange(server.udpPort, encodeQuery(2, '_big._tcp.marathon.mesos', QTYPE.SRV, { ednsUdpSize: 4096 })))!);
    expect(edns.header).toMatchObject({ tc: 0, ancount: 30 });
  });
});

describe.skipIf(!hasDig)(`dig against the simulator-fed server${hasDig ? '' : ' (skipped: dig is not installed)'}`, () => {
  const dig = async (...args: string[]) =>
    (await run('dig', ['@127.0.0.1', '-p', String(dns.server.udpPort), '+time=3', '+tries=1', ...args])).stdout;

  it('gets full answers over TCP and with +bufsize=4096, TC without EDNS', async () => {
    await waitFor(() => running('/big').length === 30, 15_000);
    expect(await dig('+tcp', '+short', '_big._tcp.marathon.mesos', 'SRV')).toMatch(/^(0 1 \d+ big-\w+-s\d+\.marathon\.mesos\.\n){30}$/);
    expect(await dig('+noedns', '+ignore', '_big._tcp.marathon.mesos', 'SRV')).toMatch(/flags: qr aa tc rd ra;/);
    const large = await dig('+bufsize=4096', '_big._tcp.marathon.mesos', 'SRV');
    expect(large).toMatch(/ANSWER: 30,/);
    expect(large).not.toMatch(/flags: [a-z ]*tc/);
  });

  it('shows the SOA of the domain with +norec', async () => {
    const out = await dig('+norec', 'mesos', 'SOA');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/flags: qr aa ra;/);
    expect(out).toMatch(/mesos\.\s+60\s+IN\s+SOA\s+ns1\.mesos\. root\.ns1\.mesos\./);
  });
});
