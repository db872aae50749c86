// Shared set-up for the source and HTTP API tests: the simulator, a feed, a state and a store.
import { ClusterState, MarathonClient, MarathonFeed, silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { RecordStore } from '../../src/record-store.js';
import { MarathonRecordSource, type MarathonRecordConfig } from '../../src/marathon-source.js';

export type Cleanup = () => Promise<unknown> | unknown;

/** Polls `predicate` until it holds, or fails after `timeoutMs` naming what was awaited. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${predicate.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const RECORD_CONFIG: MarathonRecordConfig = {
  domain: 'mesos',
  enforceRfc952: false,
  ipSources: ['netinfo', 'mesos', 'host'],
  healthyOnly: false,
  ptrOn: true,
};

export async function startSim(cleanups: Cleanup[], opts: ConstructorParameters<typeof MarathonSimulator>[0] = {}): Promise<MarathonSimulator> {
  const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, taskStartDelayMs: 5, logger: silentLogger(), ...opts });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

/** A feed on `sim` keeping a state, and a store fed from it by a MarathonRecordSource. */
export async function startMarathonSource(
  cleanups: Cleanup[],
  sim: MarathonSimulator,
  config: Partial<MarathonRecordConfig> = {},
): Promise<{ state: ClusterState; feed: MarathonFeed; store: RecordStore; source: MarathonRecordSource }> {
  const state = new ClusterState({ logger: silentLogger() });
  const client = new MarathonClient({ urls: [sim.url], timeoutMs: 5_000, logger: silentLogger() });
  const feed = new MarathonFeed(state, { client, heartbeatTimeoutMs: 5_000, backoff: { initialMs: 50, maxMs: 300 }, logger: silentLogger() });
  const store = new RecordStore({ domain: 'mesos' });
  const source = new MarathonRecordSource(state, store, { config: { ...RECORD_CONFIG, ...config }, feed, logger: silentLogger() });
  source.start();
  feed.start();
  cleanups.push(async () => {
    source.stop();
    await feed.stop();
    await client.close();
  });
  await feed.ready();
  return { state, feed, store, source };
}
