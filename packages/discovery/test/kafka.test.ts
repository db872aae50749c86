// baton-env kafka as a process: brokers from a real ZooKeeper (registered as Kafka registers them),
// from DNS SRV records, and from a Marathon app.

import { MarathonSimulator } from '@baton/marathon-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/wait.js';
import {
  startZooKeeper,
  writeKafkaBroker,
  zooKeeperAvailable,
  zooKeeperMissingReason,
  type KafkaBrokerHandle,
  type ZooKeeperServer,
} from '../../../test/helpers/zookeeper-server.js';
import { cleanEnv, closedPort, ensureBuilt, evalShell, runEnv } from './helpers/run.js';
import { startSrvServer } from './helpers/srv-server.js';

beforeAll(() => ensureBuilt());

const brokersOf = (stdout: string) => evalShell(stdout, ['KAFKA_BROKERS_LIST']).KAFKA_BROKERS_LIST;

describe.skipIf(!zooKeeperAvailable())(`from ZooKeeper ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  const brokers: KafkaBrokerHandle[] = [];

  beforeAll(async () => {
    zk = await startZooKeeper();
  }, 90_000);
  afterAll(async () => {
    for (const b of brokers) await b.stop();
    await zk?.destroy();
  });

  it('lists the registered brokers by id, from a DC/OS-style chroot', async () => {
    const chroot = '/dcos-service-kafka';
    brokers.push(await writeKafkaBroker(zk.connectString, chroot, 2, { host: '10.0.0.214', port: 9689 }));
    brokers.push(await writeKafkaBroker(zk.connectString, chroot, 0, { host: '10.0.0.211', port: 9843, version: 5 }));
    brokers.push(
      await writeKafkaBroker(zk.connectString, chroot, 1, {
        host: '10.0.0.217',
        port: 10056,
        endpoints: ['INTERNAL://kafka-1.internal:9093', 'PLAINTEXT://10.0.0.217:10056'],
      }),
    );
    const result = await runEnv(['kafka', '--zk', zk.url(chroot)]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(brokersOf(result.stdout)).toBe('10.0.0.211:9843,10.0.0.217:10056,10.0.0.214:9689');

    const internal = await runEnv(['kafka', '--zk', zk.url(chroot), '--listener', 'INTERNAL', '--format', 'json']);
    // Brokers without that listener are skipped; with --min 1 (default) one is enough.
    expect(JSON.parse(internal.stdout)).toEqual({ KAFKA_BROKERS_LIST: 'kafka-1.internal:9093' });

    // A broker that dies (its session closes) disappears.
    await brokers.splice(2, 1)[0].stop();
    const after = await runEnv(['kafka', '--zk', zk.url(chroot), '--var', 'BOOTSTRAP', '--format', 'dotenv']);
    expect(after.stdout).toBe('BOOTSTRAP=10.0.0.211:9843,10.0.0.214:9689\n');
  });

  it('says so when the chroot has no brokers, and waits for brokers to register', async () => {
    const chroot = '/dcos-service-late';
    const empty = await runEnv(['kafka', '--zk', zk.url(chroot)]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('found 0 of at least 1 Kafka brokers');
    expect(empty.stderr).toContain(`${chroot}/brokers/ids does not exist`);

    const run = runEnv(['kafka', '--zk', zk.url(chroot), '--min', '2', '--wait', '60s', '--interval', '200ms']);
    brokers.push(await writeKafkaBroker(zk.connectString, chroot, 7, { host: 'broker-7.kafka.mesos', port: 1025 }));
    brokers.push(await writeKafkaBroker(zk.connectString, chroot, 3, { host: 'broker-3.kafka.mesos', port: 1025 }));
    const result = await run;
    expect(result.stderr).toBe('');
    expect(brokersOf(result.stdout)).toBe('broker-3.kafka.mesos:1025,broker-7.kafka.mesos:1025');
  });

  it('exec gives the command KAFKA_BROKERS_LIST', async () => {
    const result = await runEnv(['exec', 'kafka', '--zk', zk.url('/dcos-service-kafka'), '--', 'sh', '-c', 'echo "$KAFKA_BROKERS_LIST"']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('10.0.0.211:9843,10.0.0.214:9689\n');
  });
});

describe('ZooKeeper down', () => {
  it('exits 1 with a message naming ZooKeeper and the URL', async () => {
    const port = await closedPort();
    const url = `zk://127.0.0.1:${port}/dcos-service-kafka`;
    const result = await runEnv(['kafka', '--zk', url, '--timeout', '1500ms']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`ZooKeeper ${url} is unreachable`);
  });
});

describe('from DNS SRV', () => {
  let dns: Awaited<ReturnType<typeof startSrvServer>>;
  beforeAll(async () => {
    dns = await startSrvServer({
      '_broker._tcp.kafka.mesos': [
        { port: 1025, target: 'kafka-2-broker.kafka.mesos' },
        { port: 1025, target: 'kafka-0-broker.kafka.mesos' },
        { port: 1026, target: 'kafka-1-broker.kafka.mesos' },
      ],
    });
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('lists the SRV targets in a stable order', async () => {
    const result = await runEnv(['kafka', '--srv', '_broker._tcp.kafka.mesos', '--dns-server', dns.address]);
    expect(result.stderr).toBe('');
    expect(brokersOf(result.stdout)).toBe('kafka-0-broker.kafka.mesos:1025,kafka-1-broker.kafka.mesos:1026,kafka-2-broker.kafka.mesos:1025');
  });

  it('a name with no records is "found 0", and waiting ends when they appear', async () => {
    const none = await runEnv(['kafka', '--srv', '_broker._tcp.other.mesos', '--dns-server', dns.address]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('found 0 of at least 1 Kafka brokers at SRV _broker._tcp.other.mesos');

    const run = runEnv(['kafka', '--srv', '_broker._tcp.other.mesos', '--dns-server', dns.address, '--wait', '30s', '--interval', '100ms']);
    dns.set('_broker._tcp.other.mesos', [{ port: 9092, target: 'b0.other.mesos' }]);
    const result = await run;
    expect(brokersOf(result.stdout)).toBe('b0.other.mesos:9092');
  });
});

describe('from a Marathon app', () => {
  let sim: MarathonSimulator;
  beforeAll(async () => {
    sim = new MarathonSimulator({ heartbeatMs: 0 });
    await sim.start();
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('lists the running tasks at the chosen port, oldest first', async () => {
    await sim.createApp({ id: '/kafka', instances: 2, portDefinitions: [{ port: 0, name: 'admin' }, { port: 0, name: 'broker' }] });
    const tasks = await sim.waitForRunning('/kafka');
    await waitFor(() => tasks.every((t) => t.startedAt !== undefined));
    const sorted = [...tasks].sort(
      (a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!) || Date.parse(a.stagedAt) - Date.parse(b.stagedAt) || (a.id < b.id ? -1 : 1),
    );
    const result = await runEnv(['kafka', '--app', '/kafka', '--port-name', 'broker'], { env: cleanEnv({ MARATHON_URL: sim.url }) });
    expect(result.stderr).toBe('');
    expect(brokersOf(result.stdout)).toBe(sorted.map((t) => `${t.host}:${t.ports[1]}`).join(','));
  });
});
