// The Marathon feed against the simulator over loopback: the state follows the cluster through the
// event stream, heals stalled streams, follows a standby's redirect and keeps the last state when
// every Marathon is down.
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState, MarathonClient, MarathonFeed, silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from './helpers/wait.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startSim(opts: ConstructorParameters<typeof MarathonSimulator>[0] = {}) {
  const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, logger: silentLogger(), ...opts });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

function startFeed(urls: string[], feedOpts: Partial<ConstructorParameters<typeof MarathonFeed>[1]> = {}) {
  const state = new ClusterState({ logger: silentLogger() });
  const client = new MarathonClient({ urls, timeoutMs: 2_000, logger: silentLogger() });
  const feed = new MarathonFeed(state, {
    client,
    heartbeatTimeoutMs: 1_000,
    backoff: { initialMs: 50, maxMs: 300 },
    logger: silentLogger(),
    ...feedOpts,
  });
  feed.start();
  cleanups.push(async () => {
    await feed.stop();
    await client.close();
  });
  return { state, feed, client };
}

const running = (state: ClusterState, appId: string) =>
  state.tasksOf(appId).filter((t) => t.state === 'TASK_RUNNING');

describe('ClusterState fed by the simulator', () => {
  it('follows creates, scales, kills and health changes through the event stream', async () => {
    const sim = await startSim();
    const { state, feed } = startFeed([sim.url], { resyncIntervalMs: 3_600_000 });
    await feed.ready();
    const syncsBefore = feed.status().resyncs;

    await sim.createApp({
      id: '/prod/meter',
      instances: 2,
      cmd: 'sleep 1000',
      labels: { HAPROXY_GROUP: 'external,internal' },
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http' }],
      healthChecks: [{ protocol: 'TCP', portIndex: 0 }],
    });
    await waitFor(() => running(state, '/prod/meter').length === 2);
    const app = state.getApp('/prod/meter')!;
    expect(app.labels.HAPROXY_GROUP).toBe('external,internal');
    expect(app.ports[0].servicePort).toBeGreaterThanOrEqual(10000);
    for (const task of running(state, '/prod/meter')) {
      expect(task.host).toMatch(/^127\.0\.1\.\d+$/);
      expect(task.ports).toHaveLength(1);
    }

    await sim.scaleApp('/prod/meter', 4);
    await waitFor(() => running(state, '/prod/meter').length === 4);

    await sim.scaleApp('/prod/meter', 1);
    await waitFor(() => state.tasksOf('/prod/meter').length === 1);

    const [survivor] = state.tasksOf('/prod/meter');
    await waitFor(() => state.getTask(survivor.id)?.health === 'healthy');
    sim.setTaskHealth(survivor.id, false);
    await waitFor(() => state.getTask(survivor.id)?.health === 'unhealthy');

    sim.killTask(survivor.id, { state: 'TASK_KILLED' });
    await waitFor(() => state.getTask(survivor.id) === undefined);
    // Marathon replaces the killed task to keep one instance.
    await waitFor(() => running(state, '/prod/meter').length === 1);

    await sim.deleteApp('/prod/meter');
    await waitFor(() => state.getApp('/prod/meter') === undefined);
    // All of that came through events, not through periodic resyncs.
    expect(feed.status().resyncs).toBe(syncsBefore);
    expect(feed.status().eventsApplied).toBeGreaterThan(0);
  });

  it('detects a stalled stream, reconnects and resyncs what it missed', async () => {
    const sim = await startSim();
    await sim.createApp({ id: '/web', instances: 1, cmd: 'sleep 1000', portDefinitions: [{ port: 0 }] });
    await sim.waitForRunning('/web', 1);
    const { state, feed } = startFeed([sim.url], { resyncIntervalMs: 3_600_000 });
    await feed.ready();
    const reconnects = feed.status().reconnects;

    sim.stallStreams();
    // Changes made while the stream is silent are not delivered by events...
    await sim.scaleApp('/web', 3);
    // ...but the watchdog notices the missing heartbeats, reconnects and resyncs.
    await waitFor(() => feed.status().reconnects > reconnects, 10_000);
    await waitFor(() => running(state, '/web').length === 3, 10_000);
  });

  it('follows the 302 a standby sends for /v2/events to the leader', async () => {
    const sim = await startSim({ faces: 2 });
    const [leaderUrl, standbyUrl] = sim.urls;
    const { state, feed } = startFeed([standbyUrl]);
    await feed.ready();
    await waitFor(() => feed.status().connected);
    expect(feed.status().leader).toBe(new URL(leaderUrl).host);
    expect(state.leader).toBe(new URL(leaderUrl).host);

    await sim.createApp({ id: '/after-redirect', instances: 1, cmd: 'sleep 1000' });
    await waitFor(() => running(state, '/after-redirect').length === 1);

    // Leadership moves to the other face: open streams close and the feed finds the new leader.
    sim.setLeader(1);
    await waitFor(() => feed.status().connected && state.leader === new URL(standbyUrl).host, 10_000);
    await sim.scaleApp('/after-redirect', 2);
    await waitFor(() => running(state, '/after-redirect').length === 2);
  });

  it('keeps the last state and reports it stale while every Marathon is down', async () => {
    const sim = await startSim();
    await sim.createApp({ id: '/kept', instances: 2, cmd: 'sleep 1000' });
    await sim.waitForRunning('/kept', 2);
    const { state, feed } = startFeed([sim.url]);
    await feed.ready();
    expect(feed.status().stale).toBe(false);

    await sim.stop();
    await waitFor(() => feed.status().stale, 10_000);
    await waitFor(() => feed.status().staleSeconds >= 1, 10_000);
    expect(running(state, '/kept')).toHaveLength(2);
    expect(feed.status().lastError).toBeTruthy();
  });
});
