// The readers against a real ZooKeeper, with nodes written as Mesos, Marathon and Kafka write them:
// brokers joining and leaving, leaders changing, and the one-shot reads the CLIs use.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  isZkUrl,
  marathonUrlsFromZk,
  packMesosIp,
  readKafkaBrokers,
  readMarathonLeader,
  readMesosMasters,
  watchKafkaBrokers,
  watchMarathonLeader,
  watchMesosMasters,
  ZkSession,
  type KafkaBrokers,
  type MarathonLeader,
  type MesosMasters,
} from '@baton/zookeeper';
import { waitFor } from '../../../test/helpers/wait.js';
import { startZooKeeper, writeKafkaBroker, zooKeeperAvailable, zooKeeperMissingReason, type ZooKeeperServer } from '../../../test/helpers/zookeeper-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function recorder<T>() {
  const values: T[] = [];
  return { values, last: () => values[values.length - 1], push: (value: T) => void values.push(value) };
}

it('one-shot reads against an unreachable ZooKeeper fail with a message naming it', async () => {
  await expect(readKafkaBrokers('zk://127.0.0.1:1/dcos-service-kafka', { timeoutMs: 1_000 })).rejects.toThrow(
    'could not connect to ZooKeeper at 127.0.0.1:1 within 1000 ms',
  );
  await expect(readMesosMasters('http://127.0.0.1:1/mesos')).rejects.toThrow(/must start with zk:\/\//);
  expect(isZkUrl('zk://a:2181/marathon')).toBe(true);
  expect(isZkUrl('http://a:8080')).toBe(false);
});

describe.skipIf(!zooKeeperAvailable())(`readers on a real ZooKeeper ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.destroy();
  });

  async function session(): Promise<ZkSession> {
    const s = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000 });
    cleanups.push(() => s.close());
    return s;
  }

  /** A participant with its own session, so that closing it is the process going away. */
  async function participant(parent: string, prefix: string, data: string) {
    const s = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000 });
    cleanups.push(() => s.close());
    await s.mkdirp(parent);
    const path = await s.create(`${parent}/${prefix}`, data, 'ephemeral_sequential');
    return { path, leave: () => s.close() };
  }

  describe('Kafka brokers', () => {
    it('brokers join, re-register and leave under a DC/OS chroot', async () => {
      const chroot = '/dcos-service-kafka';
      const watcher = await session();
      const seen = recorder<KafkaBrokers>();
      const watch = watchKafkaBrokers(watcher, chroot, seen.push);
      cleanups.push(() => watch.close());
      expect(await watch.ready(10_000)).toEqual({ brokers: [], addresses: [], errors: [], registryFound: false });

      const b0 = await writeKafkaBroker(zk.connectString, chroot, 0, { host: 'kafka-0.example', port: 9092 });
      cleanups.push(() => b0.stop());
      await waitFor(() => seen.last()?.addresses.join() === 'kafka-0.example:9092', 10_000);
      const b2 = await writeKafkaBroker(zk.connectString, chroot, 2, {
        host: 'kafka-2.example',
        port: 9092,
        version: 5,
        endpoints: ['PLAINTEXT://kafka-2.example:9092', 'INTERNAL://10.0.0.2:9093'],
        rack: 'r1',
      });
      cleanups.push(() => b2.stop());
      await waitFor(() => seen.last()?.addresses.length === 2, 10_000);
      expect(seen.last()?.addresses).toEqual(['kafka-0.example:9092', 'kafka-2.example:9092']);
      expect(seen.last()?.brokers[1]).toMatchObject({ id: 2, version: 5, rack: 'r1', listener: 'PLAINTEXT' });

      // A broker rewriting its registration in place (e.g. a listener change).
      await b0.update({ host: 'kafka-0.example', port: 19092 });
      await waitFor(() => seen.last()?.addresses[0] === 'kafka-0.example:19092', 10_000);

      // A broker dying: its session closes and the ephemeral node goes.
      await b0.stop();
      await waitFor(() => seen.last()?.addresses.join() === 'kafka-2.example:9092', 10_000);
      expect(watch.current()?.brokers.map((b) => b.id)).toEqual([2]);
    });

    it('readKafkaBrokers reads once, with a listener of choice', async () => {
      const chroot = '/kafka-oneshot';
      for (const id of [1, 0]) {
        const broker = await writeKafkaBroker(zk.connectString, chroot, id, {
          host: `b${id}.example`,
          port: 9092,
          endpoints: [`PLAINTEXT://b${id}.example:9092`, `INTERNAL://10.0.1.${id}:9093`],
        });
        cleanups.push(() => broker.stop());
      }
      const plain = await readKafkaBrokers(zk.url(chroot));
      expect(plain.addresses).toEqual(['b0.example:9092', 'b1.example:9092']);
      const internal = await readKafkaBrokers(zk.url(chroot), { listener: 'INTERNAL' });
      expect(internal.addresses).toEqual(['10.0.1.0:9093', '10.0.1.1:9093']);
      const ssl = await readKafkaBrokers(zk.url(chroot), { listener: 'SSL' });
      expect(ssl.addresses).toEqual([]);
      expect(ssl.errors.map((e) => e.error)).toEqual(['broker 0: no SSL listener (has PLAINTEXT, INTERNAL)', 'broker 1: no SSL listener (has PLAINTEXT, INTERNAL)']);
      const wrongChroot = await readKafkaBrokers(zk.url('/no-such-kafka'));
      expect(wrongChroot).toMatchObject({ addresses: [], registryFound: false });
    });
  });

  describe('Mesos masters', () => {
    const masterInfo = (ip: string, port: number, hostname: string) =>
      JSON.stringify({
        address: { hostname, ip, port },
        hostname,
        id: randomUUID(),
        ip: packMesosIp(ip),
        pid: `master@${ip}:${port}`,
        port,
        version: '1.11.0',
      });

    it('the lowest sequence leads; when the leader goes the next one leads', async () => {
      const path = '/mesos';
      const watcher = await session();
      const seen = recorder<MesosMasters>();
      const watch = watchMesosMasters(watcher, path, seen.push);
      cleanups.push(() => watch.close());
      expect(await watch.ready(10_000)).toMatchObject({ leader: undefined, masters: [] });

      const m1 = await participant(path, 'json.info_', masterInfo('10.0.0.1', 5050, 'm1'));
      const m2 = await participant(path, 'json.info_', masterInfo('10.0.0.2', 5050, 'm2'));
      // Mesos' replicated log lives beside the masters and is not one.
      const other = await session();
      await other.mkdirp(`${path}/log_replicas`);
      await waitFor(() => seen.last()?.masters.length === 2, 10_000);
      expect(seen.last()).toMatchObject({ leader: '10.0.0.1:5050', masters: ['10.0.0.1:5050', '10.0.0.2:5050'] });
      expect(seen.last()?.infos[0]).toMatchObject({ hostname: 'm1', node: m1.path.slice(path.length + 1) });

      await m1.leave();
      await waitFor(() => seen.last()?.leader === '10.0.0.2:5050', 10_000);
      expect(seen.last()?.masters).toEqual(['10.0.0.2:5050']);
      const m3 = await participant(path, 'json.info_', masterInfo('10.0.0.3', 5051, 'm3'));
      await waitFor(() => seen.last()?.masters.length === 2, 10_000);
      expect(seen.last()).toMatchObject({ leader: '10.0.0.2:5050', masters: ['10.0.0.2:5050', '10.0.0.3:5051'] });

      const once = await readMesosMasters(zk.url(path));
      expect(once).toMatchObject({ leader: '10.0.0.2:5050', masters: ['10.0.0.2:5050', '10.0.0.3:5051'] });
      await m2.leave();
      await m3.leave();
      await waitFor(() => seen.last()?.masters.length === 0, 10_000);
      expect(seen.last()?.leader).toBeUndefined();
    });
  });

  describe('Marathon leader', () => {
    it('Curator latch (Marathon ≥1.4): the leader changes when the lowest latch node goes', async () => {
      const path = '/marathon';
      const latch = `${path}/leader-curator`;
      const watcher = await session();
      const seen = recorder<MarathonLeader>();
      const watch = watchMarathonLeader(watcher, path, seen.push);
      cleanups.push(() => watch.close());
      expect(await watch.ready(10_000)).toEqual({ participants: [], errors: [] });

      const a = await participant(latch, `_c_${randomUUID()}-latch-`, 'marathon-a.example:8080');
      const b = await participant(latch, `_c_${randomUUID()}-latch-`, 'marathon-b.example:8080');
      await waitFor(() => seen.last()?.participants.length === 2, 10_000);
      expect(seen.last()).toMatchObject({ leader: 'marathon-a.example:8080', source: 'leader-curator' });
      expect(await readMarathonLeader(zk.url(path))).toMatchObject({ leader: 'marathon-a.example:8080' });
      expect(await marathonUrlsFromZk(zk.url(path))).toEqual(['http://marathon-a.example:8080']);
      expect(await marathonUrlsFromZk(zk.url(path), { scheme: 'https' })).toEqual(['https://marathon-a.example:8080']);

      await a.leave();
      await waitFor(() => seen.last()?.leader === 'marathon-b.example:8080', 10_000);
      await b.leave();
      await waitFor(() => seen.last()?.participants.length === 0, 10_000);
      expect(seen.last()?.leader).toBeUndefined();
      expect(await marathonUrlsFromZk(zk.url(path))).toEqual([]);
    });

    it('old layout (Marathon ≤1.3) with the 1.4 tombstone', async () => {
      const path = '/old-marathon';
      const members = `${path}/leader`;
      const watcher = await session();
      const seen = recorder<MarathonLeader>();
      const watch = watchMarathonLeader(watcher, path, seen.push);
      cleanups.push(() => watch.close());
      await watch.ready(10_000);

      const old1 = await participant(members, 'member_', '10.0.0.11:8080');
      await participant(members, 'member_', '10.0.0.12:8080');
      await waitFor(() => seen.last()?.participants.length === 2, 10_000);
      expect(seen.last()).toMatchObject({ leader: '10.0.0.11:8080', source: 'leader' });
      await old1.leave();
      await waitFor(() => seen.last()?.leader === '10.0.0.12:8080', 10_000);

      // A 1.4 leader writes an ephemeral tombstone naming itself for the old instances.
      const writer = await session();
      await writer.create(`${members}/member_-00000000`, '10.0.0.14:8080', 'ephemeral');
      await waitFor(() => seen.last()?.leader === '10.0.0.14:8080', 10_000);
      // ... and its Curator latch, which wins over the old layout.
      await participant(`${path}/leader-curator`, `_c_${randomUUID()}-latch-`, '10.0.0.14:8080');
      await waitFor(() => seen.last()?.source === 'leader-curator', 10_000);
      expect(seen.last()?.leader).toBe('10.0.0.14:8080');
    });
  });
});
