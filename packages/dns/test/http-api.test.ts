// The Mesos-DNS-compatible HTTP API over real HTTP, fed by the simulator.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { defaultDnsConfig, type DnsConfig } from '../src/config.js';
import { createHttpApi, type HttpApiOptions } from '../src/http-api.js';
import { taskHash } from '../src/naming.js';
import { RecordStore, type SourceStatus } from '../src/record-store.js';
import { MesosMasterSource } from '../src/master-source.js';
import { startMarathonSource, startSim, waitFor, type Cleanup } from './helpers/sources.js';

const cleanups: Cleanup[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function serve(opts: Partial<HttpApiOptions> & { view: RecordStore; config?: DnsConfig }): Promise<string> {
  const server: Server = createHttpApi({ version: '0.1.0', logger: silentLogger(), config: defaultDnsConfig(), ...opts });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(base: string, path: string): Promise<{ status: number; body: any; text: string; type: string | null }> {
  const response = await fetch(base + path);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, type: response.headers.get('content-type') };
}

describe('HTTP API', () => {
  it('answers /v1/hosts, /v1/services and /v1/hosts/{host}/ports for simulator apps', async () => {
    const sim = await startSim(cleanups);
    const { store } = await startMarathonSource(cleanups, sim);
    await sim.createApp({ id: '/prod/db/mysql', instances: 2, portDefinitions: [{ port: 0, name: 'mysql' }, { port: 0, protocol: 'udp', name: 'admin' }] });
    const tasks = await sim.waitForRunning('/prod/db/mysql');
    await waitFor(() => store.lookup('_mysql._mysql-db-prod._tcp.marathon.mesos')?.srv.length === 2);
    // an IPv6-only and a dual-stack name, published directly
    store.replaceOwner('test:v6', { tasks: [], records: [
      { name: 'dual.mesos', type: 'AAAA', value: 'fd00::7' },
      { name: 'dual.mesos', type: 'A', value: '10.7.7.7' },
      { name: '_dual._tcp.mesos', type: 'SRV', value: 'dual.mesos:80' },
    ] });
    const base = await serve({ view: store });
    const canonical = (t: (typeof tasks)[number]) => `mysql-db-prod-${taskHash(t.id)}-${t.agent.id.split('-').pop()!.toLowerCase()}.marathon.mesos.`;

    const hosts = await get(base, '/v1/hosts/MySQL-DB-Prod.marathon.MESOS.');
    expect(hosts.status).toBe(200);
    expect(hosts.type).toBe('application/json');
    expect(hosts.body.map((r: { ip: string }) => r.ip).sort()).toEqual([...new Set(tasks.map((t) => t.host))].sort());
    expect(hosts.body.every((r: { host: string }) => r.host === 'mysql-db-prod.marathon.mesos.')).toBe(true);
    expect((await get(base, '/v1/hosts/dual.mesos')).body).toEqual([{ host: 'dual.mesos.', ip: '10.7.7.7' }, { host: 'dual.mesos.', ip: 'fd00::7' }]);
    expect((await get(base, '/v1/hosts/mysql-db-prod.*.marathon.mesos')).body).toEqual(hosts.body);
    expect((await get(base, '/v1/hosts/nope.mesos')).body).toEqual([{ host: '', ip: '' }]);

    const services = await get(base, '/v1/services/_mysql._mysql-db-prod._tcp.marathon.mesos.');
    expect(services.body.map((r: object) => r).sort((x: any, y: any) => x.port.localeCompare(y.port))).toEqual(
      tasks.map((t) => ({ service: '_mysql._mysql-db-prod._tcp.marathon.mesos.', host: canonical(t), ip: t.host, port: String(t.ports[0]) }))
        .sort((x, y) => x.port.localeCompare(y.port)),
    );
    expect((await get(base, '/v1/services/_dual._tcp.mesos')).body).toEqual([
      { service: '_dual._tcp.mesos', host: 'dual.mesos.', ip: '10.7.7.7', port: '80' },
      { service: '_dual._tcp.mesos', host: 'dual.mesos.', ip: 'fd00::7', port: '80' },
    ]);
    expect((await get(base, '/v1/services/_nope._tcp.mesos')).body).toEqual([{ service: '', host: '', ip: '', port: '' }]);

    const ports = (await get(base, '/v1/hosts/mysql-db-prod.marathon.mesos/ports')).body as { service: string; protocol: string; name: string; host: string; ip: string; port: string }[];
    const admin = ports.filter((r) => r.name === 'admin');
    expect(admin.map((r) => [r.service, r.protocol, r.port, r.ip]).sort()).toEqual(
      tasks.map((t) => ['_admin._mysql-db-prod._udp.marathon.mesos.', 'udp', String(t.ports[1]), t.host]).sort(),
    );
    expect(ports.filter((r) => r.name === 'mysql' && r.protocol === 'tcp')).toHaveLength(2);
    expect(ports.filter((r) => r.name === '' && r.service === '_mysql-db-prod._tcp.marathon.mesos.')).toHaveLength(2);
    expect((await get(base, '/v1/hosts/mysql-db-prod.marathon.slave.mesos/ports')).body.every((r: { host: string }) => r.host.endsWith('.slave.mesos.'))).toBe(true);
    expect((await get(base, '/v1/hosts/nope.mesos/ports')).body).toEqual([{ service: '', protocol: '', name: '', host: '', ip: '', port: '' }]);
  });

  it('enumerates frameworks and zone contents, and hides both when enumeration is off', async () => {
    const sim = await startSim(cleanups);
    await sim.createApp({ id: '/web', instances: 1, portDefinitions: [{ port: 0 }] });
    const [task] = await sim.waitForRunning('/web');
    sim.addFramework({ name: 'kafka', pid: 'scheduler@127.0.0.1:7000', tasks: [] });
    const { store } = await startMarathonSource(cleanups, sim);
    const config = { ...defaultDnsConfig(), masters: [new URL(sim.url).host], marathon: [sim.url] };
    const mesos = new MesosMasterSource(store, { config, marathonFeedOn: true, logger: silentLogger() });
    expect(await mesos.refresh()).toBe(true);
    const base = await serve({ view: store, config });

    const enumerate = (await get(base, '/v1/enumerate')).body;
    expect(enumerate.frameworks.map((f: { name: string }) => f.name)).toEqual(['marathon', 'kafka']);
    const [webTask] = enumerate.frameworks[0].tasks;
    expect(webTask).toMatchObject({ name: 'web', id: task.id });
    expect(webTask.records).toContainEqual({ name: 'web.marathon.mesos.', host: task.host, rtype: 'A' });
    expect(webTask.records).toContainEqual({ name: '_web._tcp.marathon.mesos.', host: `web-${taskHash(task.id)}-${task.agent.id.split('-').pop()!.toLowerCase()}.marathon.mesos.:${task.ports[0]}`, rtype: 'SRV' });
    expect(webTask.records.every((r: { rtype: string }) => r.rtype !== 'PTR')).toBe(true);
    expect(enumerate.frameworks[1]).toEqual({ name: 'kafka', tasks: [] });

    const axfr = (await get(base, '/v1/axfr')).body;
    expect(axfr).toMatchObject({ TTL: 60, Serial: store.serial, RefreshSeconds: 60, Mname: 'ns1.mesos.', Rname: 'root.ns1.mesos.', Domain: 'mesos' });
    expect(axfr.Records.As['web.marathon.mesos.']).toEqual([task.host]);
    expect(axfr.Records.As['leader.mesos.']).toEqual(['127.0.0.1']);
    expect(axfr.Records.SRVs['_leader._tcp.mesos.']).toEqual(['leader.mesos.:5050']);
    expect(axfr.Records.AAAAs).toEqual({});
    expect(Object.keys(axfr.Records.As).some((n) => n.endsWith('.arpa.'))).toBe(false);

    const off = await serve({ view: store, config: { ...config, enumerationOn: false } });
    expect((await get(off, '/v1/enumerate')).status).toBe(404);
    expect((await get(off, '/v1/axfr')).status).toBe(404);
  });

  it('serves /v1/version and /v1/config with Go field names and no secrets', async () => {
    const config: DnsConfig = {
      ...defaultDnsConfig(),
      zk: 'zk://user:pw@10.0.0.1:2181/mesos',
      marathon: ['http://baton:s3cret@127.0.0.1:8080'],
      mesosAuthentication: 'basic',
      mesosCredentials: { principal: 'dns', secret: 'hunter2' },
      file: '/etc/mesos-dns/config.json',
    };
    const store = new RecordStore({ domain: 'mesos', serial: 42 });
    const base = await serve({ view: store, config, version: '1.2.3', url: 'https://example.invalid/baton' });
    expect((await get(base, '/v1/version')).body).toEqual({ Service: 'baton-dns', Version: '1.2.3', URL: 'https://example.invalid/baton' });
    const got = await get(base, '/v1/config');
    expect(got.text).not.toContain('hunter2');
    expect(got.text).not.toContain('s3cret');
    expect(got.body).toMatchObject({
      RefreshSeconds: 60, Port: 53, Timeout: 5, StateTimeoutSeconds: 300, ZkDetectionTimeout: 30, HttpPort: 8123, TTL: 60,
      SRVRecordDefaultWeight: 1, SOASerial: 42, SOARefresh: 60, SOARetry: 600, SOAExpire: 86400, SOAMinttl: 60,
      SOAMname: 'ns1.mesos.', SOARname: 'root.ns1.mesos.', Masters: [], ZoneResolvers: {}, IPSources: ['netinfo', 'mesos', 'host'],
      Zk: 'zk://<redacted>@10.0.0.1:2181/mesos', Domain: 'mesos', File: '/etc/mesos-dns/config.json', Listener: '0.0.0.0',
      HTTPListener: '0.0.0.0', RecurseOn: true, DnsOn: true, HttpOn: true, ExternalOn: true, EnforceRFC952: false,
      SetTruncateBit: true, EnumerationOn: true, MesosHTTPSOn: false, CACertFile: '', CertFile: '', KeyFile: '',
      MesosCredentials: { Principal: 'dns', Secret: '<redacted>' }, MesosAuthentication: 'basic',
      Marathon: ['http://<redacted>@127.0.0.1:8080'],
      HostnameResolvers: [], MinimalAny: true, RrlResponsesPerSecond: 0, RrlSlip: 2, RrlIpv4PrefixLength: 24, RrlIpv6PrefixLength: 56,
    });
  });

  it('reports /health and /metrics from the sources and the server counters', async () => {
    const store = new RecordStore({ domain: 'mesos' });
    let marathon: SourceStatus = { name: 'marathon', ready: false, stale: true, staleSeconds: 3 };
    const base = await serve({
      view: store,
      health: () => [marathon],
      metricsText: () => 'baton_dns_queries_total{qtype="A",rcode="NOERROR"} 7',
    });
    const before = await get(base, '/health');
    expect(before.status).toBe(503);
    expect(before.body).toMatchObject({ ok: false, stale: true, staleSeconds: 3, records: 0, sources: { marathon: { ready: false } } });

    store.replaceOwner('x', { tasks: [], records: [{ name: 'a.mesos', type: 'A', value: '1.2.3.4' }, { name: '_a._tcp.mesos', type: 'SRV', value: 'a.mesos:1' }] });
    marathon = { name: 'marathon', ready: true, stale: false, staleSeconds: 0, lastUpdateAt: Date.now() - 2000 };
    const after = await get(base, '/health');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ ok: true, stale: false, staleSeconds: 0, records: 2, names: 2, serial: store.serial });

    const metrics = await get(base, '/metrics');
    expect(metrics.type).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('baton_dns_records{type="A"} 1\n');
    expect(metrics.text).toContain('baton_dns_records{type="SRV"} 1\n');
    expect(metrics.text).toContain('baton_dns_names 2\n');
    expect(metrics.text).toContain('baton_dns_source_stale{source="marathon"} 0\n');
    expect(metrics.text).toMatch(/baton_dns_source_last_update_age_seconds\{source="marathon"\} (2|3)(\.\d+)?\n/);
    expect(metrics.text).toContain('# TYPE baton_dns_serial gauge');
    expect(metrics.text.endsWith('baton_dns_queries_total{qtype="A",rcode="NOERROR"} 7\n')).toBe(true);
  });

  it('refuses other methods and unknown routes', async () => {
    const base = await serve({ view: new RecordStore({ domain: 'mesos' }) });
    const post = await fetch(base + '/v1/hosts/x.mesos', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.arrayBuffer();
    expect((await get(base, '/v2/nothing')).status).toBe(404);
  });
});
