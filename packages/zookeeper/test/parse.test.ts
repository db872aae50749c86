// Pure parsing: zk:// URLs and the ZooKeeper layouts of Mesos, Marathon and Kafka, with the real
// payloads in fixtures/marathon/zk-*.json.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  kafkaBrokerIdsPath,
  kafkaBrokersFromNodes,
  marathonLeaderFromNodes,
  mesosMastersFromNodes,
  packMesosIp,
  parseKafkaBrokerRegistration,
  parseMesosMasterInfo,
  parseZkUrl,
  unpackMesosIp,
  ZkUrlError,
} from '@baton/zookeeper';

const FIXTURES = new URL('../../../fixtures/marathon/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));

describe('parseZkUrl', () => {
  it.each([
    ['zk://127.0.0.1:2181/mesos', '127.0.0.1:2181', '/mesos'],
    ['zk://zk1:2181,zk2:2182,zk3:2183/marathon', 'zk1:2181,zk2:2182,zk3:2183', '/marathon'],
    ['zk://master.mesos:2181/dcos-service-kafka', 'master.mesos:2181', '/dcos-service-kafka'],
    ['zk://zk1,zk2/a/b/', 'zk1:2181,zk2:2181', '/a/b'],
    ['zk://zk1:2181', 'zk1:2181', ''],
    ['zk://zk1:2181/', 'zk1:2181', ''],
    ['ZK://[::1]:2181/x', '[::1]:2181', '/x'],
  ])('%s', (url, connectString, chroot) => {
    expect(parseZkUrl(url)).toMatchObject({ connectString, chroot });
  });

  it.each([
    ['', /empty/],
    ['http://zk1:2181/marathon', /must start with zk:\/\/, got http:\/\//],
    ['zk1:2181/mesos', /not a ZooKeeper URL/],
    ['zk:///mesos', /names no host/],
    ['zk://zk1:99999/mesos', /bad port "99999"/],
    ['zk://zk1:abc/mesos', /bad port "abc"/],
    ['zk://zk1:2181,,zk2/mesos', /empty host/],
    ['zk://user:pw@zk1/mesos', /credentials/],
    ['zk://zk1/a//b', /empty segment/],
    ['zk://::1:2181/x', /must be in brackets/],
  ])('rejects %j', (url, message) => {
    expect(() => parseZkUrl(url)).toThrow(ZkUrlError);
    expect(() => parseZkUrl(url)).toThrow(message);
  });

  it('kafkaBrokerIdsPath joins chroots', () => {
    expect(kafkaBrokerIdsPath('')).toBe('/brokers/ids');
    expect(kafkaBrokerIdsPath('/')).toBe('/brokers/ids');
    expect(kafkaBrokerIdsPath('/dcos-service-kafka/')).toBe('/dcos-service-kafka/brokers/ids');
  });
});

describe('Mesos master registrations', () => {
  it('packs and unpacks the little-endian ip of MasterInfo', () => {
    expect(unpackMesosIp(16777343)).toBe('127.0.0.1');
    expect(unpackMesosIp(3892422848)).toBe('192.168.1.232');
    expect(packMesosIp('127.0.0.1')).toBe(16777343);
    expect(packMesosIp('192.168.1.232')).toBe(3892422848);
    expect(unpackMesosIp(-1)).toBeUndefined();
    expect(unpackMesosIp(2 ** 32)).toBeUndefined();
  });

  it('parses the Mesos 1.4.0 fixture', () => {
    const parsed = parseMesosMasterInfo('json.info_0000000017', fixture('zk-mesos-json.info_0000000017-mesos1.4.0.json'));
    expect(parsed).toEqual({
      ok: true,
      value: {
        node: 'json.info_0000000017',
        sequence: 17,
        address: '127.0.0.1:5050',
        ip: '127.0.0.1',
        port: 5050,
        hostname: 'localhost',
        id: '685fe32d-e30c-4df7-b891-3d96b06fee88',
        pid: 'master@127.0.0.1:5050',
        version: '1.4.0',
      },
    });
  });

  it('parses the Mesos 1.0.1 fixture', () => {
    const parsed = parseMesosMasterInfo('json.info_0000000000', fixture('zk-mesos-json.info_0000000000-mesos1.0.1.json'));
    expect(parsed.ok && parsed.value).toMatchObject({ sequence: 0, address: '192.168.1.232:5050', hostname: '192.168.1.232', version: '1.0.1' });
  });

  it('prefers address over the packed ip, and falls back to the packed ip, then pid', () => {
    const both = { address: { ip: '10.0.0.2', port: 5051, hostname: 'm2' }, ip: 16777343, port: 5050 };
    expect(parseMesosMasterInfo('json.info_1', JSON.stringify(both))).toMatchObject({ ok: true, value: { address: '10.0.0.2:5051', hostname: 'm2' } });
    const packedOnly = { ip: 3892422848, port: 5050, hostname: 'old-master' };
    expect(parseMesosMasterInfo('json.info_2', JSON.stringify(packedOnly))).toMatchObject({ ok: true, value: { address: '192.168.1.232:5050', hostname: 'old-master' } });
    const pidOnly = { pid: 'master@10.1.2.3:5050' };
    expect(parseMesosMasterInfo('json.info_3', JSON.stringify(pidOnly))).toMatchObject({ ok: true, value: { address: '10.1.2.3:5050' } });
  });

  it('names what is wrong with a bad registration', () => {
    expect(parseMesosMasterInfo('json.info_4', '{"hostname":"x"}')).toEqual({ ok: false, error: expect.stringMatching(/json.info_4: no address/) });
    expect(parseMesosMasterInfo('json.info_5', '\x08\x01binary')).toEqual({ ok: false, error: expect.stringMatching(/json.info_5: not JSON/) });
    expect(parseMesosMasterInfo('log_replicas', '{}')).toEqual({ ok: false, error: expect.stringMatching(/not a json.info_<sequence> node/) });
  });

  it('the lowest sequence leads; log_replicas and binary info_ nodes are ignored', () => {
    const masters = mesosMastersFromNodes([
      { name: 'json.info_0000000017', data: fixture('zk-mesos-json.info_0000000017-mesos1.4.0.json') },
      { name: 'log_replicas', data: '' },
      { name: 'info_0000000003', data: '\x08binary' },
      { name: 'json.info_0000000005', data: fixture('zk-mesos-json.info_0000000000-mesos1.0.1.json') },
    ]);
    expect(masters.leader).toBe('192.168.1.232:5050');
    expect(masters.masters).toEqual(['192.168.1.232:5050', '127.0.0.1:5050']);
    expect(masters.errors).toEqual([]);
  });

  it('an unreadable lowest registration leaves the leader unknown rather than naming the next one', () => {
    const masters = mesosMastersFromNodes([
      { name: 'json.info_0000000001', data: 'garbage' },
      { name: 'json.info_0000000002', data: fixture('zk-mesos-json.info_0000000017-mesos1.4.0.json') },
    ]);
    expect(masters.leader).toBeUndefined();
    expect(masters.masters).toEqual(['127.0.0.1:5050']);
    expect(masters.errors).toEqual([{ node: 'json.info_0000000001', error: expect.stringMatching(/not JSON/) }]);
  });

  it('no registrations: no leader', () => {
    expect(mesosMastersFromNodes([])).toEqual({ leader: undefined, masters: [], infos: [], errors: [] });
  });
});

describe('Marathon leader', () => {
  const latch = (uuid: string, seq: string, data: string) => ({ name: `_c_${uuid}-latch-${seq}`, data });

  it('Curator latch: lowest sequence leads, whatever the uuid order', () => {
    const leader = marathonLeaderFromNodes(
      [
        latch('ffffffff-1111-4222-8333-444444444444', '0000000002', 'm1.example.com:8080'),
        latch('00000000-1111-4222-8333-444444444444', '0000000007', 'm2.example.com:8080'),
        latch('aaaaaaaa-1111-4222-8333-444444444444', '0000000004', 'm3.example.com:8443'),
      ],
      undefined,
    );
    expect(leader.leader).toBe('m1.example.com:8080');
    expect(leader.source).toBe('leader-curator');
    expect(leader.participants.map((p) => p.address)).toEqual(['m1.example.com:8080', 'm3.example.com:8443', 'm2.example.com:8080']);
  });

  it('falls back to the ≤1.3 layout when leader-curator is empty or missing', () => {
    const legacy = [
      { name: 'member_0000000012', data: '10.0.0.2:8080' },
      { name: 'member_0000000010', data: '10.0.0.1:8080' },
    ];
    expect(marathonLeaderFromNodes(undefined, legacy)).toMatchObject({ leader: '10.0.0.1:8080', source: 'leader' });
    expect(marathonLeaderFromNodes([], legacy)).toMatchObject({ leader: '10.0.0.1:8080', source: 'leader' });
  });

  it('the 1.4 tombstone member_-00000000 names the leader in the old layout', () => {
    const legacy = [
      { name: 'member_0000000003', data: '10.0.0.3:8080' },
      { name: 'member_-00000000', data: '10.0.0.9:8080' },
    ];
    expect(marathonLeaderFromNodes(undefined, legacy).leader).toBe('10.0.0.9:8080');
  });

  it('the Curator layout wins over the old one', () => {
    const leader = marathonLeaderFromNodes(
      [latch('0b2f8e8c-6a1c-4d1f-9a53-6d1b2f4c7a10', '0000000000', 'new:8080')],
      [{ name: 'member_-00000000', data: 'new:8080' }, { name: 'member_0000000001', data: 'old:8080' }],
    );
    expect(leader).toMatchObject({ leader: 'new:8080', source: 'leader-curator' });
  });

  it('bad participant data is reported, and an unreadable lowest node means no known leader', () => {
    const leader = marathonLeaderFromNodes(
      [latch('0b2f8e8c-6a1c-4d1f-9a53-6d1b2f4c7a10', '0000000001', 'http://m1:8080'), latch('1b2f8e8c-6a1c-4d1f-9a53-6d1b2f4c7a10', '0000000002', 'm2:8080')],
      undefined,
    );
    expect(leader.leader).toBeUndefined();
    expect(leader.errors).toEqual([{ node: expect.stringContaining('latch-0000000001'), error: expect.stringMatching(/expected "host:port", got "http:\/\/m1:8080"/) }]);
  });

  it('nothing registered: no leader', () => {
    expect(marathonLeaderFromNodes(undefined, undefined)).toEqual({ participants: [], errors: [] });
  });
});

describe('Kafka broker registrations', () => {
  it('v4 fixture', () => {
    expect(parseKafkaBrokerRegistration('0', fixture('zk-kafka-brokers-ids-0-v4.json'))).toEqual({
      ok: true,
      value: {
        id: 0,
        host: 'kafka-0.kafka-hs.kafka.svc.cluster.local',
        port: 9093,
        address: 'kafka-0.kafka-hs.kafka.svc.cluster.local:9093',
        listener: 'PLAINTEXT',
        endpoints: [{ listener: 'PLAINTEXT', host: 'kafka-0.kafka-hs.kafka.svc.cluster.local', port: 9093, securityProtocol: 'PLAINTEXT' }],
        version: 4,
        timestamp: 1611591513363,
      },
    });
  });

  it('v4 with two listeners: PLAINTEXT by default, or the listener asked for', () => {
    const data = fixture('zk-kafka-brokers-ids-0-v4-two-listeners.json');
    expect(parseKafkaBrokerRegistration('0', data)).toMatchObject({ ok: true, value: { address: 'kafka:443', listener: 'PLAINTEXT' } });
    expect(parseKafkaBrokerRegistration('0', data, { listener: 'INTERNAL' })).toMatchObject({
      ok: true,
      value: { address: 'localhost:9093', listener: 'INTERNAL', endpoints: [{ listener: 'PLAINTEXT' }, { listener: 'INTERNAL', securityProtocol: 'PLAINTEXT' }] },
    });
    expect(parseKafkaBrokerRegistration('0', data, { listener: 'SSL' })).toEqual({ ok: false, error: 'broker 0: no SSL listener (has PLAINTEXT, INTERNAL)' });
  });

  it('endpoints are preferred over host/port; without a PLAINTEXT listener host is null and port -1', () => {
    const v5 = {
      features: {},
      listener_security_protocol_map: { SSL: 'SSL', REPLICATION: 'PLAINTEXT' },
      endpoints: ['SSL://b1.example.com:9093', 'REPLICATION://10.0.0.1:9094'],
      rack: 'rack-a',
      jmx_port: 9999,
      host: null,
      timestamp: '1700000000000',
      port: -1,
      version: 5,
    };
    expect(parseKafkaBrokerRegistration('1', JSON.stringify(v5))).toMatchObject({
      ok: true,
      value: {
        id: 1,
        address: 'b1.example.com:9093',
        listener: 'SSL',
        endpoints: [{ listener: 'SSL', securityProtocol: 'SSL' }, { listener: 'REPLICATION', securityProtocol: 'PLAINTEXT' }],
        rack: 'rack-a',
        jmxPort: 9999,
        version: 5,
      },
    });
  });

  it('v2 (Kafka 0.9) and v1 (host/port only) registrations', () => {
    const v2 = { jmx_port: -1, timestamp: '1450000000000', endpoints: ['PLAINTEXT://old-broker:9092'], host: 'old-broker', version: 2, port: 9092 };
    expect(parseKafkaBrokerRegistration('7', JSON.stringify(v2))).toMatchObject({ ok: true, value: { address: 'old-broker:9092', version: 2 } });
    const v1 = { jmx_port: -1, timestamp: '1400000000000', host: 'ancient', version: 1, port: 9092 };
    expect(parseKafkaBrokerRegistration('8', JSON.stringify(v1))).toMatchObject({ ok: true, value: { address: 'ancient:9092', listener: 'PLAINTEXT' } });
  });

  it('IPv6 endpoints are bracketed in the address', () => {
    const reg = { endpoints: ['PLAINTEXT://[fd00::1]:9092'], host: 'fd00::1', port: 9092, version: 4 };
    expect(parseKafkaBrokerRegistration('2', JSON.stringify(reg))).toMatchObject({ ok: true, value: { host: 'fd00::1', address: '[fd00::1]:9092' } });
  });

  it('names what is wrong', () => {
    expect(parseKafkaBrokerRegistration('x', '{}')).toEqual({ ok: false, error: 'broker x: broker id is not a number' });
    expect(parseKafkaBrokerRegistration('3', '{')).toMatchObject({ ok: false, error: expect.stringMatching(/^broker 3: not JSON/) });
    expect(parseKafkaBrokerRegistration('3', '{"endpoints":["PLAINTEXT://:9092"],"host":null,"port":-1}')).toEqual({
      ok: false,
      error: 'broker 3: no usable address (endpoint "PLAINTEXT://:9092" has no host (a bind-all listener is not advertisable))',
    });
    // The controller node is not a broker registration.
    expect(parseKafkaBrokerRegistration('4', fixture('zk-kafka-controller.json'))).toMatchObject({ ok: false, error: expect.stringMatching(/no usable address/) });
  });

  it('a registry: brokers by id, bad ones reported but not fatal', () => {
    const brokers = kafkaBrokersFromNodes([
      { name: '2', data: JSON.stringify({ endpoints: ['PLAINTEXT://b2:9092'], version: 4 }) },
      { name: '0', data: fixture('zk-kafka-brokers-ids-0-v4-two-listeners.json') },
      { name: '1', data: 'not json' },
    ]);
    expect(brokers.addresses).toEqual(['kafka:443', 'b2:9092']);
    expect(brokers.errors).toEqual([{ node: '1', error: expect.stringMatching(/^broker 1: not JSON/) }]);
    expect(brokers.registryFound).toBe(true);
    expect(kafkaBrokersFromNodes(undefined)).toEqual({ brokers: [], addresses: [], errors: [], registryFound: false });
  });
});

it('every zk-* fixture is covered above', () => {
  const names = readdirSync(FIXTURES).filter((name) => name.startsWith('zk-'));
  expect(names.sort()).toEqual([
    'zk-kafka-brokers-ids-0-v4-two-listeners.json',
    'zk-kafka-brokers-ids-0-v4.json',
    'zk-kafka-controller.json',
    'zk-mesos-json.info_0000000000-mesos1.0.1.json',
    'zk-mesos-json.info_0000000017-mesos1.4.0.json',
  ]);
});
