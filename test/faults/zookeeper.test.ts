// ZooKeeper faults: the server stopped and restarted, and a session expiry. baton-dns (in-process, as its
// CLI wires it) finds the Mesos leader through `zk` and the Marathon leader through `--marathon zk://…`,
// and a Kafka broker watch follows the registry; all recover without restarting anything, keep serving
// the last known records while ZooKeeper is away, and follow leader changes made after it is back.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseDnsConfig } from '@baton/dns';
import { ZkSession, readKafkaBrokers, watchKafkaBrokers, type KafkaBrokers } from '@baton/zookeeper';
import { startBatonDns, type BatonDns } from '../../packages/dns/src/cli.js';
import { waitFor } from '../helpers/wait.js';
import {
  startZooKeeper,
  writeKafkaBroker,
  zooKeeperAvailable,
  zooKeeperMissingReason,
  type KafkaBrokerHandle,
  type ZooKeeperServer,
} from '../helpers/zookeeper-server.js';
import { getJson, lookupA, resolverFor } from './fault-helpers.js';

const SESSION_TIMEOUT_MS = 2_000;

describe.skipIf(!zooKeeperAvailable())(`ZooKeeper faults ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  /** Writes go through a fresh session each time: a test's own session would be one more thing to recover. */
  async function write<T>(fn: (session: ZkSession) => Promise<T>): Promise<T> {
    const session = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000, sessionTimeoutMs: 30_000 });
    try {
      return await fn(session);
    } finally {
      await session.close();
    }
  }
  /** Two clusters' worth of masters: `a` on 127.0.0.1 and `b` on 127.0.0.2, each a Mesos master and a Marathon. */
  const sims: Record<'a' | 'b', MarathonSimulator> = {} as never;
  let dns: BatonDns;
  let kafkaSession: ZkSession;
  let kafka: { current(): KafkaBrokers | undefined; close(): void };
  const brokers: KafkaBrokerHandle[] = [];
  let dnsHttp: string;
  const masterNodes: Partial<Record<'a' | 'b', string>> = {};
  const latchNodes: Partial<Record<'a' | 'b', string>> = {};

  const resolver = () => resolverFor(dns.dns!.udpPort);
  const health = async () =>
    (await getJson<{ stale: boolean; sources: Record<string, { stale: boolean; ready: boolean }> }>(`${dnsHttp}/health`)).body;

  /** Registers a Mesos master as Mesos ≥1.0 does: `/mesos/json.info_<seq>` holding its MasterInfo JSON. */
  async function registerMaster(name: 'a' | 'b') {
    const ip = new URL(sims[name].url).hostname;
    const info = { address: { hostname: ip, ip, port: 5050 }, hostname: ip, id: randomUUID(), pid: `master@${ip}:5050`, port: 5050, version: '1.4.0' };
    // The master's HTTP API is the simulator's face (it serves /master/state).
    info.address.port = Number(new URL(sims[name].url).port);
    masterNodes[name] = await write((zs) => zs.create('/mesos/json.info_', JSON.stringify(info), 'persistent_sequential'));
  }
  async function unregisterMaster(name: 'a' | 'b') {
    await write((zs) => zs.remove(masterNodes[name]!));
  }
  /** Joins Marathon's leader latch (Marathon ≥1.4): `/marathon/leader-curator/_c_<uuid>-latch-<seq>` = host:port. */
  async function joinLatch(name: 'a' | 'b') {
    latchNodes[name] = await write((zs) =>
      zs.create(`/marathon/leader-curator/_c_${randomUUID()}-latch-`, new URL(sims[name].url).host, 'persistent_sequential'),
    );
  }

  /** Marathon `from` loses leadership (its latch node goes, its streams close), `to` leads. */
  async function switchMarathon(from: 'a' | 'b', to: 'a' | 'b') {
    sims[to].setLeader(0);
    await write((zs) => zs.remove(latchNodes[from]!));
    await joinLatchIfMissing(to);
    sims[from].setLeader(null);
  }
  async function joinLatchIfMissing(name: 'a' | 'b') {
    if (latchNodes[name] === undefined || !(await write((zs) => zs.exists(latchNodes[name]!)))) await joinLatch(name);
  }

  const brokerList = () => (kafka.current()?.addresses ?? []).join(',');
  const truth = async () => (await readKafkaBrokers(zk.url('/kafka'), { timeoutMs: 10_000 })).addresses.join(',');

  beforeAll(async () => {
    zk = await startZooKeeper();
    await write(async (zs) => {
      await zs.mkdirp('/mesos');
      await zs.mkdirp('/marathon/leader-curator');
    });
    for (const [name, host] of [['a', '127.0.0.1'], ['b', '127.0.0.2']] as const) {
      sims[name] = new MarathonSimulator({ host, heartbeatMs: 200, logger: silentLogger(), leader: name === 'a' ? 0 : null });
      await sims[name].start();
      // The apps are created through the face, whoever leads: the simulator API works without a leader too.
      await sims[name].createApp({ id: name === 'a' ? '/alpha' : '/beta', instances: 1 });
      await sims[name].waitForRunning(name === 'a' ? '/alpha' : '/beta');
    }
    await registerMaster('a');
    await registerMaster('b');
    await joinLatch('a');

    const parsed = parseDnsConfig({
      zk: zk.url('/mesos'),
      marathon: [zk.url('/marathon')],
      port: 0,
      listener: '127.0.0.1',
      httpport: 0,
      HTTPListener: '127.0.0.1',
      resolvers: ['127.0.0.1'],
      externalon: false,
      refreshSeconds: 60,
      stateTimeoutSeconds: 2,
      zkDetectionTimeout: 20,
    });
    if (!parsed.config) throw new Error(parsed.error);
    dns = await startBatonDns(parsed.config, silentLogger(), {
      zkSessionTimeoutMs: SESSION_TIMEOUT_MS,
      feed: { heartbeatTimeoutMs: 1_500, backoff: { initialMs: 100, maxMs: 1_000 } },
    });
    dnsHttp = `http://${dns.addresses.find((a) => a.startsWith('http '))!.slice(5)}`;

    kafkaSession = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: SESSION_TIMEOUT_MS, spinDelayMs: 200 }).start();
    kafka = watchKafkaBrokers(kafkaSession, '/kafka', () => undefined);
    brokers.push(await writeKafkaBroker(zk.connectString, '/kafka', 0, { host: 'broker-0.test', port: 9092 }));
    await waitFor(() => brokerList() === 'broker-0.test:9092', 20_000, 50);
    await waitFor(async () => (await lookupA(resolver(), 'leader.mesos')).join() === '127.0.0.1', 20_000, 50);
    await waitFor(async () => (await lookupA(resolver(), 'alpha.marathon.mesos')).length === 1, 20_000, 50);
  }, 120_000);

  afterAll(async () => {
    // A broker whose session expired has a dead client whose calls never answer: bound every step.
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
    for (const broker of brokers) await bounded(broker.stop());
    kafka?.close();
    await bounded(kafkaSession?.close());
    await bounded(dns?.close());
    for (const sim of Object.values(sims)) await sim?.stop();
    await zk?.destroy();
  }, 60_000);

  it('the server stopped and restarted: the last records are served meanwhile, and changes made afterwards are followed', async () => {
    await zk.stop();
    // ZooKeeper is away: the last detected leaders are kept.
    await waitFor(async () => (await health()).sources.zookeeper.stale, 20_000, 50);
    expect(await lookupA(resolver(), 'leader.mesos')).toEqual(['127.0.0.1']);
    expect((await lookupA(resolver(), 'alpha.marathon.mesos')).length).toBe(1);
    await zk.start();
    await waitFor(async () => !(await health()).sources.zookeeper.stale, 30_000, 50);

    // Mesos leader a → b, Marathon leader a → b, a second broker: all followed by the same session.
    await unregisterMaster('a');
    await waitFor(async () => (await lookupA(resolver(), 'leader.mesos')).join() === '127.0.0.2', 30_000, 50);
    await switchMarathon('a', 'b');
    await waitFor(async () => (await lookupA(resolver(), 'beta.marathon.mesos')).length === 1, 30_000, 50);
    await waitFor(async () => (await lookupA(resolver(), 'alpha.marathon.mesos')).length === 0, 30_000, 50);
    brokers.push(await writeKafkaBroker(zk.connectString, '/kafka', 1, { host: 'broker-1.test', port: 9092 }));
    await waitFor(async () => brokerList() === (await truth()) && brokerList().includes('broker-1.test:9092'), 30_000, 100);
  }, 120_000);

  it('a session expiry (server away longer than the session timeout): new sessions, watches re-registered, leaders and brokers followed', async () => {
    const expired: string[] = [];
    kafkaSession.on('expired', (reason) => expired.push(String(reason)));
    await zk.stop();
    await waitFor(() => expired.length > 0, 20_000, 50);
    // Well past the session timeout: every session baton holds is gone; answers still come from the last state.
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS * 2));
    expect(await lookupA(resolver(), 'leader.mesos')).toEqual(['127.0.0.2']);
    expect((await lookupA(resolver(), 'beta.marathon.mesos')).length).toBe(1);
    const during = await health();
    expect(during.stale).toBe(true);
    expect(during.sources.zookeeper.stale).toBe(true);
    await zk.start();
    await waitFor(async () => !(await health()).sources.zookeeper.stale, 30_000, 50);

    await registerMaster('a');
    await unregisterMaster('b');
    await waitFor(async () => (await lookupA(resolver(), 'leader.mesos')).join() === '127.0.0.1', 30_000, 50);
    await switchMarathon('b', 'a');
    await waitFor(async () => (await lookupA(resolver(), 'alpha.marathon.mesos')).length === 1, 30_000, 50).catch(async (err) => {
      throw new Error(`${(err as Error).message}; health ${JSON.stringify(await health())}`);
    });
    await waitFor(async () => (await lookupA(resolver(), 'beta.marathon.mesos')).length === 0, 30_000, 50);
    await waitFor(async () => !(await health()).stale, 30_000, 50);
    // Brokers whose own sessions expired are gone; one registering now is seen by the renewed watch.
    brokers.push(await writeKafkaBroker(zk.connectString, '/kafka', 2, { host: 'broker-2.test', port: 9092 }));
    await waitFor(async () => brokerList() === (await truth()) && brokerList().includes('broker-2.test:9092'), 30_000, 100).catch(async (err) => {
      throw new Error(`${(err as Error).message}; watched [${brokerList()}], in ZooKeeper [${await truth()}], session ${kafkaSession.state} stale=${kafkaSession.stale}`);
    });
  }, 120_000);
});
