// `--marathon zk://…/marathon`: MarathonClient (and the feed on top of it) finds the leader through
// the Curator latch Marathon writes in ZooKeeper, and follows it when the leader changes.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterState, MarathonClient, MarathonFeed, MarathonUnavailableError, silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { marathonUrlResolver, ZkSession } from '@baton/zookeeper';
import { waitFor } from '../../../test/helpers/wait.js';
import { startZooKeeper, zooKeeperAvailable, zooKeeperMissingReason, type ZooKeeperServer } from '../../../test/helpers/zookeeper-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('a zk:// URL without a resolver is refused with the URL named', () => {
  expect(() => new MarathonClient({ urls: ['zk://127.0.0.1:2181/marathon'] })).toThrow(
    'Marathon URL must be http or https: "zk://127.0.0.1:2181/marathon"',
  );
});

it('when ZooKeeper cannot be reached, requests fail saying so, and are retried on the next call', async () => {
  const client = new MarathonClient({
    urls: ['zk://127.0.0.1:1/marathon'],
    resolveUrls: marathonUrlResolver({ timeoutMs: 500 }),
    logger: silentLogger(),
  });
  cleanups.push(() => client.close());
  const error = await client.getApps().catch((err: unknown) => err);
  expect(error).toBeInstanceOf(MarathonUnavailableError);
  expect((error as Error).message).toBe(
    'Marathon unavailable: zk://127.0.0.1:1/marathon: cannot resolve: could not connect to ZooKeeper at 127.0.0.1:1 within 500 ms',
  );
  await expect(client.getApps()).rejects.toThrow(/could not connect to ZooKeeper/);
});

describe.skipIf(!zooKeeperAvailable())(`MarathonClient with zk:// URLs ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.destroy();
  });

  async function startSim(appId: string) {
    const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, logger: silentLogger() });
    await sim.start();
    cleanups.push(() => sim.stop());
    await sim.createApp({ id: appId, instances: 1 });
    await sim.waitForRunning(appId);
    return sim;
  }

  /** Joins the leader latch as Marathon ≥1.4 does; `leave()` is the process going away. */
  async function joinLatch(path: string, sim: MarathonSimulator) {
    const session = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000 });
    cleanups.push(() => session.close());
    await session.mkdirp(`${path}/leader-curator`);
    await session.create(`${path}/leader-curator/_c_${randomUUID()}-latch-`, new URL(sim.url).host, 'ephemeral_sequential');
    return { leave: () => session.close() };
  }

  function zkClient(path: string) {
    const client = new MarathonClient({
      urls: [zk.url(path)],
      resolveUrls: marathonUrlResolver({ logger: silentLogger() }),
      timeoutMs: 2_000,
      logger: silentLogger(),
    });
    cleanups.push(() => client.close());
    return client;
  }

  const appIds = (apps: unknown[]) => apps.map((app) => (app as { id: string }).id);

  it('requests go to the leader named in ZooKeeper, and to the new one after a change', async () => {
    const path = '/marathon-client';
    const a = await startSim('/on-a');
    const b = await startSim('/on-b');
    const latchA = await joinLatch(path, a);
    await joinLatch(path, b);

    const client = zkClient(path);
    expect(client.urls).toEqual([]); // nothing resolved before the first request
    expect(appIds(await client.getApps())).toEqual(['/on-a']);
    expect(client.urls).toEqual([a.url]);

    await latchA.leave();
    await waitFor(() => client.urls[0] === b.url, 10_000);
    expect(appIds(await client.getApps())).toEqual(['/on-b']);
  });

  it('no leader registered yet: unavailable, then found once a Marathon joins', async () => {
    const path = '/marathon-late';
    const client = zkClient(path);
    await expect(client.getApps()).rejects.toThrow(`Marathon unavailable: ${zk.url(path)}: no Marathon leader registered`);
    const sim = await startSim('/late');
    await joinLatch(path, sim);
    await waitFor(() => client.urls.length === 1, 10_000);
    expect(appIds(await client.getApps())).toEqual(['/late']);
  });

  it('a feed on a zk:// client follows a leader change', async () => {
    const path = '/marathon-feed';
    const a = await startSim('/first');
    const b = await startSim('/second');
    const latchA = await joinLatch(path, a);
    await joinLatch(path, b);
    const client = zkClient(path);
    const state = new ClusterState({ logger: silentLogger() });
    const feed = new MarathonFeed(state, { client, heartbeatTimeoutMs: 1_000, backoff: { initialMs: 50, maxMs: 300 }, logger: silentLogger() });
    feed.start();
    cleanups.push(() => feed.stop());
    await feed.ready();
    expect(state.tasksOf('/first')).toHaveLength(1);
    expect(feed.status().url).toBe(a.url);

    // The leader dies: its event stream ends and its latch node goes; the feed reconnects to the next one.
    await a.stop();
    await latchA.leave();
    await waitFor(() => state.tasksOf('/second').length === 1, 15_000);
    expect(feed.status().url).toBe(b.url);
    expect(state.tasksOf('/first')).toHaveLength(0);
  });
});
