import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { App, AppPort, Task } from '@baton/marathon';
import { taskHash } from '../src/naming.js';
import { hostnamesToResolve, masterRecords, mesosStateRecords, nameserverRecords, parsePortRanges } from '../src/mesos-records.js';
import {
  canonicalIp,
  marathonAppRecords,
  reverseName,
  type DnsRecord,
  type OwnerRecords,
  type RecordOptions,
} from '../src/records.js';

const OPTS: RecordOptions = { domain: 'mesos', enforceRfc952: false, ipSources: ['netinfo', 'mesos', 'host'], ptrOn: true };

function app(over: Partial<App> & { id: string }): App {
  return {
    instances: 1,
    labels: {},
    env: {},
    networkMode: 'host',
    ipPerTask: false,
    ports: [],
    healthChecks: [],
    requirePorts: false,
    ...over,
  };
}

function port(index: number, over: Partial<AppPort> = {}): AppPort {
  return { index, servicePort: 10000 + index, protocol: 'tcp', labels: {}, ...over };
}

function task(over: Partial<Task> & { id: string }): Task {
  return {
    appId: '/x',
    host: '10.0.0.5',
    slaveId: '20150101-0000-S1',
    state: 'TASK_RUNNING',
    ports: [],
    servicePorts: [],
    ipAddresses: [{ ipAddress: '10.0.0.5', protocol: 'IPv4' }],
    health: 'unknown',
    ...over,
  };
}

const line = (r: DnsRecord): string => `${r.type} ${r.name} ${r.value}`;
const all = (owner: OwnerRecords): DnsRecord[] => [...owner.tasks.flatMap((t) => t.records), ...owner.records];
const lines = (owner: OwnerRecords): string[] => [...new Set(all(owner).map(line))].sort();
const valuesOf = (owner: OwnerRecords, type: string, name: string): string[] =>
  [...new Set(all(owner).filter((r) => r.type === type && r.name === name).map((r) => r.value))].sort();

describe('Marathon app records', () => {
  it('generates exactly what Mesos-DNS generates for a host-networked app with one named port', () => {
    const id = 'prod_db_mysql.instance-aaaa._app.1';
    const owner = marathonAppRecords(
      app({ id: '/prod/db/mysql', ports: [port(0, { hostPort: 0, name: 'mysql' })] }),
      [task({ id, appId: '/prod/db/mysql', ports: [31000] })],
      OPTS,
    );
    const h = taskHash(id);
    const c = `mysql-db-prod-${h}-s1.marathon`;
    const raw = `mysql.db.prod-${h}-s1.marathon`;
    expect(owner.framework).toBe('marathon');
    expect(owner.tasks.map((t) => [t.id, t.name])).toEqual([[id, 'mysql.db.prod']]);
    expect(lines(owner)).toEqual(
      [
        // sanitised
        'A mysql-db-prod.marathon.mesos 10.0.0.5',
        `A ${c}.mesos 10.0.0.5`,
        'A mysql-db-prod.marathon.slave.mesos 10.0.0.5',
        `A ${c}.slave.mesos 10.0.0.5`,
        `SRV _mysql-db-prod._tcp.marathon.slave.mesos ${c}.slave.mesos:31000`,
        `SRV _mysql-db-prod._udp.marathon.slave.mesos ${c}.slave.mesos:31000`,
        `SRV _mysql-db-prod._tcp.marathon.mesos ${c}.mesos:31000`,
        `SRV _mysql._mysql-db-prod._tcp.marathon.mesos ${c}.mesos:31000`,
        // legacy raw DiscoveryInfo name
        'A mysql.db.prod.marathon.mesos 10.0.0.5',
        `A ${raw}.mesos 10.0.0.5`,
        'A mysql.db.prod.marathon.slave.mesos 10.0.0.5',
        `A ${raw}.slave.mesos 10.0.0.5`,
        `SRV _mysql.db.prod._tcp.marathon.slave.mesos ${raw}.slave.mesos:31000`,
        `SRV _mysql.db.prod._udp.marathon.slave.mesos ${raw}.slave.mesos:31000`,
        `SRV _mysql.db.prod._tcp.marathon.mesos ${raw}.mesos:31000`,
        `SRV _mysql._mysql.db.prod._tcp.marathon.mesos ${raw}.mesos:31000`,
        // PTR (baton)
        `PTR 5.0.0.10.in-addr.arpa ${c}.mesos`,
        `PTR 5.0.0.10.in-addr.arpa ${c}.slave.mesos`,
      ].sort(),
    );
  });

  it('publishes one SRV per protocol and per named port, with host ports, for two ports', () => {
    const id = 'web.1';
    const owner = marathonAppRecords(
      app({ id: '/web', ports: [port(0, { hostPort: 0, name: 'http' }), port(1, { hostPort: 0, protocol: 'udp,tcp', name: 'stats' })] }),
      [task({ id, ports: [31000, 31001] })],
      OPTS,
    );
    const c = `web-${taskHash(id)}-s1.marathon`;
    expect(valuesOf(owner, 'SRV', '_web._tcp.marathon.mesos')).toEqual([`${c}.mesos:31000`, `${c}.mesos:31001`]);
    expect(valuesOf(owner, 'SRV', '_web._udp.marathon.mesos')).toEqual([`${c}.mesos:31001`]);
    expect(valuesOf(owner, 'SRV', '_http._web._tcp.marathon.mesos')).toEqual([`${c}.mesos:31000`]);
    expect(valuesOf(owner, 'SRV', '_http._web._udp.marathon.mesos')).toEqual([]);
    expect(valuesOf(owner, 'SRV', '_stats._web._udp.marathon.mesos')).toEqual([`${c}.mesos:31001`]);
    expect(valuesOf(owner, 'SRV', '_stats._web._tcp.marathon.mesos')).toEqual([`${c}.mesos:31001`]);
    expect(valuesOf(owner, 'SRV', '_web._udp.marathon.slave.mesos')).toEqual([`${c}.slave.mesos:31000`, `${c}.slave.mesos:31001`]);
  });

  it('bridge networking: container IP by netinfo, host port in SRVs, agent IP with ipSources [host]', () => {
    const a = app({ id: '/bridged', networkMode: 'container/bridge', ports: [port(0, { containerPort: 80, hostPort: 0 })] });
    const t = task({ id: 'bridged.1', ports: [31005], ipAddresses: [{ ipAddress: '172.17.0.2', protocol: 'IPv4' }] });
    const c = `bridged-${taskHash('bridged.1')}-s1.marathon`;
    const netinfo = marathonAppRecords(a, [t], OPTS);
    expect(valuesOf(netinfo, 'A', 'bridged.marathon.mesos')).toEqual(['172.17.0.2']);
    expect(valuesOf(netinfo, 'A', 'bridged.marathon.slave.mesos')).toEqual(['10.0.0.5']);
    expect(valuesOf(netinfo, 'SRV', '_bridged._tcp.marathon.mesos')).toEqual([`${c}.mesos:31005`]);
    expect(valuesOf(netinfo, 'PTR', '2.0.17.172.in-addr.arpa')).toEqual([`${c}.mesos`]);
    expect(valuesOf(netinfo, 'PTR', '5.0.0.10.in-addr.arpa')).toEqual([`${c}.slave.mesos`]);

    expect(valuesOf(marathonAppRecords(a, [t], { ...OPTS, ipSources: ['host'] }), 'A', 'bridged.marathon.mesos')).toEqual(['10.0.0.5']);
    expect(valuesOf(marathonAppRecords(a, [t], { ...OPTS, ipSources: ['mesos', 'host'] }), 'A', 'bridged.marathon.mesos')).toEqual(['172.17.0.2']);
    // for host networking the container sources yield the agent IP only through `host`
    const hostApp = app({ id: '/bridged' });
    const hostTask = task({ id: 'bridged.1', host: '10.0.0.5' });
    expect(valuesOf(marathonAppRecords(hostApp, [hostTask], { ...OPTS, ipSources: ['docker'] }), 'A', 'bridged.marathon.mesos')).toEqual([]);
  });

  it('IP-per-task with IPv4 and IPv6: every container IP, container ports in SRVs, no slave SRVs without host ports', () => {
    const a = app({
      id: '/ipt/api',
      networkMode: 'container',
      ipPerTask: true,
      ports: [port(0, { containerPort: 8080, name: 'http' })],
    });
    const t = task({
      id: 'ipt_api.1',
      ports: [],
      ipAddresses: [
        { ipAddress: '9.0.0.3', protocol: 'IPv4' },
        { ipAddress: 'FD00:0:0::3', protocol: 'IPv6' },
      ],
    });
    const owner = marathonAppRecords(a, [t], OPTS);
    const c = `api-ipt-${taskHash('ipt_api.1')}-s1.marathon`;
    expect(valuesOf(owner, 'A', 'api-ipt.marathon.mesos')).toEqual(['9.0.0.3']);
    expect(valuesOf(owner, 'AAAA', 'api-ipt.marathon.mesos')).toEqual(['fd00::3']);
    expect(valuesOf(owner, 'AAAA', `${c}.mesos`)).toEqual(['fd00::3']);
    expect(valuesOf(owner, 'A', 'api-ipt.marathon.slave.mesos')).toEqual(['10.0.0.5']);
    expect(valuesOf(owner, 'SRV', '_http._api-ipt._tcp.marathon.mesos')).toEqual([`${c}.mesos:8080`]);
    expect(all(owner).some((r) => r.name.endsWith('.slave.mesos') && r.type === 'SRV')).toBe(false);
    expect(valuesOf(owner, 'PTR', '3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa')).toEqual([`${c}.mesos`]);
  });

  it('publishes only TASK_RUNNING tasks, and with healthyOnly only healthy tasks of apps with health checks', () => {
    const checked = app({ id: '/svc', healthChecks: [{ protocol: 'HTTP', gracePeriodSeconds: 1, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3 }] });
    const tasks = [
      task({ id: 'svc.1', health: 'healthy', host: '10.0.0.1' }),
      task({ id: 'svc.2', health: 'unhealthy', host: '10.0.0.2', ipAddresses: [{ ipAddress: '10.0.0.2', protocol: 'IPv4' }] }),
      task({ id: 'svc.3', health: 'unknown', host: '10.0.0.3', ipAddresses: [{ ipAddress: '10.0.0.3', protocol: 'IPv4' }] }),
      task({ id: 'svc.4', state: 'TASK_STAGING', host: '10.0.0.4', ipAddresses: [{ ipAddress: '10.0.0.4', protocol: 'IPv4' }] }),
    ];
    tasks[0].ipAddresses = [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }];
    expect(marathonAppRecords(checked, tasks, OPTS).tasks.map((t) => t.id)).toEqual(['svc.1', 'svc.2', 'svc.3']);
    const healthy = marathonAppRecords(checked, tasks, { ...OPTS, healthyOnly: true });
    expect(healthy.tasks.map((t) => t.id)).toEqual(['svc.1']);
    expect(valuesOf(healthy, 'A', 'svc.marathon.mesos')).toEqual(['10.0.0.1']);
    // apps without health checks are not filtered
    expect(marathonAppRecords(app({ id: '/svc' }), tasks, { ...OPTS, healthyOnly: true }).tasks).toHaveLength(3);
  });

  it('keeps agent hostnames out of address records; host networking uses the reported agent IP', () => {
    const t = task({ id: 'h.1', host: 'agent-7.example.com', ipAddresses: [{ ipAddress: '10.1.2.3', protocol: 'IPv4' }] });
    const hostNet = marathonAppRecords(app({ id: '/h' }), [t], OPTS);
    expect(valuesOf(hostNet, 'A', 'h.marathon.slave.mesos')).toEqual(['10.1.2.3']);
    const bridged = marathonAppRecords(app({ id: '/h', networkMode: 'container/bridge' }), [{ ...t, ipAddresses: [{ ipAddress: '172.17.0.9', protocol: 'IPv4' }] }], OPTS);
    expect(valuesOf(bridged, 'A', 'h.marathon.slave.mesos')).toEqual([]);
    expect(valuesOf(bridged, 'A', 'h.marathon.mesos')).toEqual(['172.17.0.9']);
    expect(all(bridged).some((r) => r.value.includes('example.com'))).toBe(false);
  });

  it('RFC 952 cuts names to 24 characters and strips leading digits; RFC 1123 keeps 63', () => {
    const a = app({ id: '/team/42-very-long-application-name-for-billing' });
    const t = task({ id: 'x.1' });
    const rfc952 = marathonAppRecords(a, [t], { ...OPTS, enforceRfc952: true });
    expect(valuesOf(rfc952, 'A', 'very-long-application-na.marathon.mesos')).toEqual(['10.0.0.5']);
    const rfc1123 = marathonAppRecords(a, [t], OPTS);
    expect(valuesOf(rfc1123, 'A', '42-very-long-application-name-for-billing-team.marathon.mesos')).toEqual(['10.0.0.5']);
  });

  it('generates no duplicates when the raw DiscoveryInfo name is already a valid label', () => {
    const owner = marathonAppRecords(app({ id: '/web', ports: [port(0, { hostPort: 0 })] }), [task({ id: 'web.1', ports: [31000] })], OPTS);
    const records = all(owner).map(line);
    expect(records).toHaveLength(new Set(records).size);
    expect(valuesOf(owner, 'A', 'web.marathon.mesos')).toEqual(['10.0.0.5']);
  });

  it('publishes no PTR records when ptrOn is false', () => {
    const owner = marathonAppRecords(app({ id: '/web' }), [task({ id: 'web.1' })], { ...OPTS, ptrOn: false });
    expect(all(owner).filter((r) => r.type === 'PTR')).toEqual([]);
    expect(all(owner).length).toBeGreaterThan(0);
  });
});

describe('Mesos master state records', () => {
  const state = {
    leader: 'master@10.0.0.1:5050',
    slaves: [
      { id: 'AG-S0', pid: 'slave(1)@10.0.1.1:5051' },
      { id: 'AG-S1', pid: 'slave(1)@10.0.1.2:5051' },
      { id: 'AG-S9', pid: 'not a pid' },
    ],
    frameworks: [
      {
        name: 'My Kafka.v2',
        pid: 'scheduler-1@10.0.2.1:40000',
        tasks: [
          {
            id: 'broker-0__1',
            name: 'broker.0',
            slave_id: 'AG-S0',
            state: 'TASK_RUNNING',
            resources: { ports: '[1025-1026, 9092-9092]' },
            statuses: [
              { state: 'TASK_STARTING', timestamp: 1, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '192.168.0.1' }] }] } },
              { state: 'TASK_RUNNING', timestamp: 3, container_status: { network_infos: [{ ip_address: '192.168.0.9' }] } },
              { state: 'TASK_RUNNING', timestamp: 2, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '192.168.0.2' }] }] } },
            ],
          },
          { id: 'broker-1__1', name: 'broker-1', slave_id: 'AG-S1', state: 'TASK_STAGING' },
          { id: 'broker-2__1', name: 'broker-2', slave_id: 'UNKNOWN-S5', state: 'TASK_RUNNING' },
          {
            id: 'dock__1',
            name: 'dock',
            slave_id: 'AG-S1',
            state: 'TASK_RUNNING',
            statuses: [{ state: 'TASK_RUNNING', timestamp: 5, labels: [{ key: 'Docker.NetworkSettings.IPAddress', value: '172.17.0.4' }] }],
          },
        ],
      },
      { name: 'chronos', hostname: '10.0.3.1', tasks: [] },
      { name: 'marathon', pid: 'scheduler-2@10.0.4.1:8080', tasks: [{ id: 'm.1', name: 'm', slave_id: 'AG-S0', state: 'TASK_RUNNING' }] },
    ],
  };

  it('publishes masters, agents, framework names and tasks without DiscoveryInfo as Mesos-DNS does', () => {
    const { owners, error } = mesosStateRecords(state, { ...OPTS, ipSources: ['netinfo', 'docker', 'host'], masters: ['10.0.0.1:5050', '10.0.0.2:5050'] });
    expect(error).toBeUndefined();
    expect(lines(owners.get('mesos:masters')!)).toEqual(
      [
        'A leader.mesos 10.0.0.1',
        'A master.mesos 10.0.0.1',
        'A master.mesos 10.0.0.2',
        'A master0.mesos 10.0.0.1',
        'A master1.mesos 10.0.0.2',
        'SRV _leader._tcp.mesos leader.mesos:5050',
        'SRV _leader._udp.mesos leader.mesos:5050',
      ].sort(),
    );
    expect(lines(owners.get('mesos:agents')!)).toEqual(['A slave.mesos 10.0.1.1', 'A slave.mesos 10.0.1.2', 'SRV _slave._tcp.mesos slave.mesos:5051']);

    const kafka = owners.get('framework:My Kafka.v2')!;
    expect(kafka.framework).toBe('My Kafka.v2');
    expect(lines({ ...kafka, tasks: [] })).toEqual(['A mykafka.v2.mesos 10.0.2.1', 'SRV _framework._tcp.mykafka.v2.mesos mykafka.v2.mesos:40000']);
    // running tasks on known agents only
    expect(kafka.tasks.map((t) => t.id)).toEqual(['broker-0__1', 'dock__1']);
    const c = `broker-0-${taskHash('broker-0__1')}-s0.mykafka.v2`;
    // latest TASK_RUNNING status by timestamp; the 0.25 `ip_address` fallback
    expect(valuesOf(kafka, 'A', 'broker-0.mykafka.v2.mesos')).toEqual(['192.168.0.9']);
    expect(valuesOf(kafka, 'A', 'broker-0.mykafka.v2.slave.mesos')).toEqual(['10.0.1.1']);
    // without DiscoveryInfo: every resource port, tcp and udp, slave and non-slave, all to C.slave
    const expected = [1025, 1026, 9092].map((p) => `${c}.slave.mesos:${p}`);
    for (const name of ['_broker-0._tcp.mykafka.v2.mesos', '_broker-0._udp.mykafka.v2.mesos', '_broker-0._tcp.mykafka.v2.slave.mesos', '_broker-0._udp.mykafka.v2.slave.mesos']) {
      expect(valuesOf(kafka, 'SRV', name)).toEqual(expected);
    }
    // no legacy duplicate without DiscoveryInfo
    expect(valuesOf(kafka, 'A', 'broker.0.mykafka.v2.mesos')).toEqual([]);
    // docker label source
    expect(valuesOf(kafka, 'A', 'dock.mykafka.v2.mesos')).toEqual(['172.17.0.4']);

    expect(lines(owners.get('framework:chronos')!)).toEqual(['A chronos.mesos 10.0.3.1']);
    expect(owners.get('framework:marathon')!.tasks.map((t) => t.id)).toEqual(['m.1']);
  });

  it('skips the tasks (not the name records) of frameworks served by another source', () => {
    const { owners } = mesosStateRecords(state, { ...OPTS, skipTasksOf: ['marathon'] });
    const marathon = owners.get('framework:marathon')!;
    expect(marathon.tasks).toEqual([]);
    expect(lines(marathon)).toEqual(['A marathon.mesos 10.0.4.1', 'SRV _framework._tcp.marathon.mesos marathon.mesos:8080']);
  });

  it('uses DiscoveryInfo ports, names and protocols when the task has them', () => {
    const withDi = {
      leader: 'master@10.0.0.1:5050',
      slaves: [{ id: 'AG-S2', pid: 'slave(1)@10.0.1.3:5051' }],
      frameworks: [{
        name: 'cassandra',
        tasks: [{
          id: 'node-0',
          name: 'node-0-server',
          slave_id: 'AG-S2',
          state: 'TASK_RUNNING',
          resources: { ports: '[31000-31000]' },
          discovery: { name: 'Node-0', ports: { ports: [{ number: 9042, name: 'native', protocol: 'TCP' }, { number: 7000 }] } },
        }],
      }],
    };
    const owner = mesosStateRecords(withDi, OPTS).owners.get('framework:cassandra')!;
    const c = `node-0-${taskHash('node-0')}-s2.cassandra`;
    expect(valuesOf(owner, 'SRV', '_node-0._tcp.cassandra.mesos')).toEqual([`${c}.mesos:7000`, `${c}.mesos:9042`]);
    expect(valuesOf(owner, 'SRV', '_node-0._udp.cassandra.mesos')).toEqual([`${c}.mesos:7000`]);
    expect(valuesOf(owner, 'SRV', '_native._node-0._tcp.cassandra.mesos')).toEqual([`${c}.mesos:9042`]);
    expect(valuesOf(owner, 'SRV', '_node-0._tcp.cassandra.slave.mesos')).toEqual([`${c}.slave.mesos:31000`]);
    // no IP source gave a task IP but `host`
    expect(valuesOf(owner, 'A', 'node-0.cassandra.mesos')).toEqual(['10.0.1.3']);
  });

  it('reports a state that is not an object', () => {
    expect(mesosStateRecords('nope', OPTS).error).toMatch(/not a JSON object/);
  });
});

describe('master records', () => {
  it.each([
    {
      what: 'leader absent from the list takes the next free N',
      leader: 'master@10.0.0.9:5050',
      masters: ['10.0.0.1:5050', '10.0.0.2:5050'],
      expected: { master0: ['10.0.0.1'], master1: ['10.0.0.2'], master2: ['10.0.0.9'], master: ['10.0.0.1', '10.0.0.2', '10.0.0.9'] },
    },
    {
      what: 'leader second in the list',
      leader: 'master@10.0.0.2:5050',
      masters: ['10.0.0.1:5050', '10.0.0.2:5050', '10.0.0.3:5050'],
      expected: { master0: ['10.0.0.1'], master1: ['10.0.0.2'], master2: ['10.0.0.3'], master3: [], master: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
    },
    {
      what: 'a master with an IP already listed gets no N',
      leader: 'master@10.0.0.1:5050',
      masters: ['10.0.0.3:5050', '10.0.0.3:5051', '10.0.0.1:5050'],
      expected: { master0: ['10.0.0.3'], master1: ['10.0.0.1'], master2: [], master: ['10.0.0.1', '10.0.0.3'] },
    },
    {
      what: 'IPv6 masters give AAAA',
      leader: 'master@[fd00::1]:5050',
      masters: [],
      expected: { master0: ['fd00::1'], leader: ['fd00::1'] },
    },
  ])('$what', ({ leader, masters, expected }) => {
    const records = masterRecords(leader, masters, 'mesos');
    for (const [label, ips] of Object.entries(expected)) {
      const got = records.filter((r) => r.name === `${label}.mesos`).map((r) => r.value).sort();
      expect(got, label).toEqual(ips);
    }
  });

  it('produces nothing for an invalid leader', () => {
    expect(masterRecords('garbage', ['10.0.0.1:5050'], 'mesos')).toEqual([]);
    expect(masterRecords(undefined, [], 'mesos')).toEqual([]);
  });
});

describe('IP helpers', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1', '1.0.0.10.in-addr.arpa'],
    ['2001:DB8::0001', '2001:db8::1', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'],
    ['::ffff:10.1.2.3', '10.1.2.3', '3.2.1.10.in-addr.arpa'],
    ['fe80:0:0:1::', 'fe80:0:0:1::', '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa'],
  ])('%s is %s, reversed %s', (input, canonical, reverse) => {
    expect(canonicalIp(input)?.ip).toBe(canonical);
    expect(reverseName(input)).toBe(reverse);
  });

  it('rejects what is not an IP', () => {
    expect(canonicalIp('agent-1.example.com')).toBeUndefined();
    expect(reverseName('300.1.1.1')).toBeUndefined();
  });

  it('expands Mesos port ranges', () => {
    expect(parsePortRanges('[31000-31002, 31005-31005]')).toEqual([31000, 31001, 31002, 31005]);
    expect(parsePortRanges({ ranges: { range: [{ begin: 1, end: 2 }] } })).toEqual([1, 2]);
    expect(parsePortRanges(undefined)).toEqual([]);
  });

  it('publishes the nameserver name for each listener IP', () => {
    expect(nameserverRecords('NS1.mesos.', ['10.0.0.7', 'fd00::7', 'bogus'])).toEqual([
      { name: 'ns1.mesos', type: 'A', value: '10.0.0.7' },
      { name: 'ns1.mesos', type: 'AAAA', value: 'fd00::7' },
    ]);
  });
});

describe('a wider Mesos state (fixtures/mesos-state-wide.json)', () => {
  const state: unknown = JSON.parse(readFileSync(new URL('./fixtures/mesos-state-wide.json', import.meta.url), 'utf8'));
  const resolved = new Map<string, string[]>([
    ['agent-7.example', ['10.0.7.7', 'fd00::7:7']],
    ['kafka-sched.example', ['10.0.9.1']],
    ['spark-driver.example', ['10.0.9.2']],
  ]);
  const { owners } = mesosStateRecords(state, { ...OPTS, ipSources: ['netinfo', 'mesos', 'docker', 'host'], resolved });
  const kafka = owners.get('framework:kafka')!;

  it('asks for every agent and framework host name that is not an IP literal', () => {
    expect(hostnamesToResolve(state).sort()).toEqual(['agent-7.example', 'agent-9.example', 'kafka-sched.example', 'spark-driver.example']);
  });

  it('publishes an agent whose pid holds a host name, and its tasks, at the resolved addresses', () => {
    expect(lines(owners.get('mesos:agents')!)).toEqual([
      'A slave.mesos 10.0.1.1',
      'A slave.mesos 10.0.7.7',
      'AAAA slave.mesos fd00::7:7',
      'SRV _slave._tcp.mesos slave.mesos:5051',
    ]);
    expect(valuesOf(kafka, 'A', 'broker-0.kafka.mesos')).toEqual(['10.0.7.7']);
    expect(valuesOf(kafka, 'AAAA', 'broker-0.kafka.slave.mesos')).toEqual(['fd00::7:7']);
    expect(valuesOf(kafka, 'SRV', '_broker-0._tcp.kafka.mesos')).toEqual([`broker-0-${taskHash('broker-0.1')}-s7.kafka.slave.mesos:9092`]);
    // an agent whose host name does not resolve has no address: it and its tasks stay out
    expect(kafka.tasks.map((t) => t.id)).not.toContain('broker-1.1');
  });

  it('publishes <framework>.<domain> and _framework._tcp for a framework pid with a host name', () => {
    expect(lines({ ...kafka, tasks: [] })).toEqual(['A kafka.mesos 10.0.9.1', 'SRV _framework._tcp.kafka.mesos kafka.mesos:9000']);
    expect(lines(owners.get('framework:spark')!)).toEqual(['A spark.mesos 10.0.9.2']);
  });

  it('takes the first of two TASK_RUNNING statuses with the same timestamp', () => {
    expect(valuesOf(kafka, 'A', 'tie.kafka.mesos')).toEqual(['192.168.3.1']);
  });

  it('publishes every value of a Mesos or Docker IP label given more than once', () => {
    expect(valuesOf(kafka, 'A', 'mesos-ip.kafka.mesos')).toEqual(['172.18.0.5', '172.18.0.6']);
    expect(valuesOf(kafka, 'AAAA', 'mesos-ip.kafka.mesos')).toEqual(['fd00::18:7']);
    expect(valuesOf(kafka, 'A', 'docker-ip.kafka.mesos')).toEqual(['172.17.0.5', '172.17.0.6']);
  });

  it('answers a discovery name with capitals under its lower-cased raw form too (a documented difference)', () => {
    expect(valuesOf(kafka, 'A', 'my_web.kafka.mesos')).toEqual(['192.168.4.1']);
    expect(valuesOf(kafka, 'A', 'my-web.kafka.mesos')).toEqual(['192.168.4.1']);
  });
});
