// ZkSession against a real ZooKeeper 3.8 on 127.0.0.1: watches that re-arm, nodes that appear and
// vanish, a server restart within the session timeout, and a session that expires while the server
// is down and is replaced by a new one with every watch registered again.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ZkError, ZkSession, watchKafkaBrokers, type KafkaBrokers } from '@baton/zookeeper';
import { waitFor } from '../../../test/helpers/wait.js';
import {
  startZooKeeper,
  writeKafkaBroker,
  zooKeeperAvailable,
  zooKeeperMissingReason,
  type ZooKeeperServer,
} from '../../../test/helpers/zookeeper-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function openSession(zk: ZooKeeperServer, options: ConstructorParameters<typeof ZkSession>[0] extends infer O ? Partial<O> : never = {}) {
  const session = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000, ...options });
  cleanups.push(() => session.close());
  return session;
}

/** Records every value a watch delivers. */
function recorder<T>() {
  const values: T[] = [];
  return { values, last: () => values[values.length - 1], push: (value: T) => void values.push(value) };
}

const text = (data: Buffer | undefined) => data?.toString('utf8');

it('a session to a port where nothing listens rejects with a clear timeout', async () => {
  const started = Date.now();
  const error = await ZkSession.connect('127.0.0.1:1', { connectTimeoutMs: 1_000 }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ZkError);
  expect((error as ZkError).code).toBe('TIMEOUT');
  expect((error as Error).message).toBe('could not connect to ZooKeeper at 127.0.0.1:1 within 1000 ms');
  expect(Date.now() - started).toBeLessThan(15_000);
});

/**
 * Runs a session of `sessionTimeoutMs` against a server that accepts connections and never answers
 * (a ZooKeeper still starting), until `enough(accepted, droppedByClient)` holds within `withinMs`.
 */
async function againstSilentServer(sessionTimeoutMs: number, withinMs: number, enough: (accepted: number, droppedByClient: number) => boolean): Promise<void> {
  const accepted: Socket[] = [];
  let droppedByClient = 0;
  const silent = createServer((socket) => {
    accepted.push(socket);
    socket.resume(); // read (and ignore) the ConnectRequest, to see the client's end
    socket.on('end', () => droppedByClient++);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  const session = new ZkSession({ connectString: `127.0.0.1:${port}`, sessionTimeoutMs, spinDelayMs: 100 }).start();
  try {
    await waitFor(() => enough(accepted.length, droppedByClient), withinMs);
  } finally {
    await session.close();
    for (const socket of accepted) socket.destroy();
    silent.close();
  }
}

it('a server that takes the connection but never answers the handshake is dropped and tried again', async () => {
  await againstSilentServer(2_000, 15_000, (accepted, dropped) => dropped >= 2 && accepted >= 3);
});

it('a handshake left unanswered is tried again well within the session timeout, so a restarted server keeps the session', async () => {
  // With a 12 s session, waiting the whole timeout for the first answer would leave no time to resume
  // the session on a server that was still starting when the handshake was sent.
  await againstSilentServer(12_000, 10_000, (accepted, dropped) => dropped >= 1 && accepted >= 2);
});

it('rejects zk:// URLs and relative paths with a message saying what to do', async () => {
  expect(() => new ZkSession({ connectString: 'zk://127.0.0.1:2181/mesos' })).toThrow(/use parseZkUrl/);
  const session = new ZkSession({ connectString: '127.0.0.1:1' });
  expect(() => session.watchData('mesos', () => undefined)).toThrow(/absolute/);
  await session.close();
});

describe.skipIf(!zooKeeperAvailable())(`ZkSession on a real ZooKeeper ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.destroy();
  });

  it('reads, creates and removes nodes; missing nodes read as undefined', async () => {
    const session = await openSession(zk);
    expect(await session.getData('/ops/missing')).toBeUndefined();
    expect(await session.getChildren('/ops/missing')).toBeUndefined();
    expect(await session.exists('/ops')).toBe(false);
    await session.mkdirp('/ops/a');
    await session.create('/ops/a/x', 'hello');
    const seq = await session.create('/ops/a/n_', '', 'ephemeral_sequential');
    expect(seq).toMatch(/^\/ops\/a\/n_\d{10}$/);
    expect(text(await session.getData('/ops/a/x'))).toBe('hello');
    expect(await session.getChildren('/ops/a')).toEqual([seq.slice('/ops/a/'.length), 'x']);
    await session.setData('/ops/a/x', 'world');
    expect(text(await session.getData('/ops/a/x'))).toBe('world');
    expect(await session.remove('/ops/a/x')).toBe(true);
    expect(await session.remove('/ops/a/x')).toBe(false);
    const error = await session.create('/ops/none/child', 'x').catch((err: unknown) => err);
    expect(error).toMatchObject({ name: 'ZkError', code: 'NO_NODE', message: 'create /ops/none/child: NO_NODE' });
  });

  it('watchData follows a node that does not exist yet, changes, vanishes and comes back', async () => {
    const session = await openSession(zk);
    const writer = await openSession(zk);
    const seen = recorder<string | undefined>();
    const unwatch = session.watchData('/wd/node', (data) => seen.push(text(data)));
    await waitFor(() => seen.values.length === 1);
    expect(seen.values).toEqual([undefined]);

    await writer.mkdirp('/wd');
    await writer.create('/wd/node', 'v1');
    await waitFor(() => seen.last() === 'v1');
    await writer.setData('/wd/node', 'v2');
    await waitFor(() => seen.last() === 'v2');
    await writer.remove('/wd/node');
    await waitFor(() => seen.values.length === 4);
    expect(seen.last()).toBeUndefined();
    await writer.create('/wd/node', 'v3');
    await waitFor(() => seen.last() === 'v3');
    expect(seen.values).toEqual([undefined, 'v1', 'v2', undefined, 'v3']);

    unwatch();
    await writer.setData('/wd/node', 'after-unwatch');
    await writer.setData('/wd/node', 'after-unwatch-2');
    expect(text(await writer.getData('/wd/node'))).toBe('after-unwatch-2');
    expect(seen.values).toHaveLength(5);
  });

  it('watchChildren sees a parent appear and children join and leave', async () => {
    const session = await openSession(zk);
    const writer = await openSession(zk);
    const seen = recorder<string[] | undefined>();
    session.watchChildren('/wc', (children) => seen.push(children));
    await waitFor(() => seen.values.length === 1);
    expect(seen.last()).toBeUndefined();
    await writer.mkdirp('/wc');
    await waitFor(() => Array.isArray(seen.last()));
    expect(seen.last()).toEqual([]);
    await writer.create('/wc/b', '');
    await writer.create('/wc/a', '');
    await waitFor(() => seen.last()?.length === 2);
    expect(seen.last()).toEqual(['a', 'b']);
    await writer.remove('/wc/b');
    await waitFor(() => seen.last()?.length === 1);
    expect(seen.last()).toEqual(['a']);
  });

  it('an ephemeral node goes away with the session that created it', async () => {
    const watcher = await openSession(zk);
    const owner = await ZkSession.connect(zk.connectString, { connectTimeoutMs: 20_000 });
    await owner.mkdirp('/eph');
    await owner.create('/eph/me', 'x', 'ephemeral');
    const seen = recorder<string[] | undefined>();
    watcher.watchChildren('/eph', (children) => seen.push(children));
    await waitFor(() => seen.last()?.length === 1);
    await owner.close();
    await waitFor(() => seen.last()?.length === 0, 10_000);
  });
});

// Separate server: these tests stop and start it.
describe.skipIf(!zooKeeperAvailable())(`ZkSession across server restarts and session expiry ${zooKeeperMissingReason()}`, () => {
  let zk: ZooKeeperServer;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.destroy();
  });
  afterEach(async () => {
    await zk.start(); // in case a test failed while the server was down
  });

  it('a restart within the session timeout keeps the session; watches fire again after it', async () => {
    const session = await openSession(zk, { sessionTimeoutMs: 20_000 });
    const events: string[] = [];
    for (const name of ['disconnected', 'stale', 'expired', 'recovered'] as const) session.on(name, () => events.push(name));
    const sessionId = session.sessionId;
    await session.mkdirp('/restart');
    await session.create('/restart/value', 'before');
    const seen = recorder<string | undefined>();
    session.watchData('/restart/value', (data) => seen.push(text(data)));
    await waitFor(() => seen.last() === 'before');

    await zk.stop();
    await waitFor(() => events.includes('disconnected'), 10_000);
    expect(session.stale).toBe(true);
    await zk.start();
    await waitFor(() => events.includes('recovered'), 20_000);
    expect(session.sessionId).toBe(sessionId);
    expect(session.stale).toBe(false);
    expect(events).toEqual(['disconnected', 'stale', 'recovered']);

    const writer = await openSession(zk);
    await writer.setData('/restart/value', 'after');
    await waitFor(() => seen.last() === 'after', 10_000);
  });

  it('a session lost while the server is down is replaced: watches re-registered, stale then recovered', async () => {
    // The ephemeral registrations belong to other sessions ("brokers"), as in production.
    const broker0 = await writeKafkaBroker(zk.connectString, '/expiry-kafka', 0, { host: 'b0.example', port: 9092 });
    cleanups.push(() => broker0.stop());
    const session = await openSession(zk, { sessionTimeoutMs: 2_000, spinDelayMs: 200 });
    expect(session.sessionTimeoutMs).toBe(2_000);
    const events: string[] = [];
    for (const name of ['disconnected', 'stale', 'expired', 'recovered'] as const) session.on(name, () => events.push(name));
    const sessions: { sessionId: string; newSession: boolean }[] = [];
    session.on('connected', (info) => sessions.push(info));
    const firstSessionId = session.sessionId;

    const seen = recorder<KafkaBrokers>();
    watchKafkaBrokers(session, '/expiry-kafka', seen.push);
    await waitFor(() => seen.last()?.addresses.length === 1);

    await zk.stop();
    // Nothing tells the client the session is gone while no server answers: the session's own timer does.
    await waitFor(() => events.includes('expired'), 15_000);
    expect(events.slice(0, 3)).toEqual(['disconnected', 'stale', 'expired']);
    expect(session.stale).toBe(true);
    expect(session.connected).toBe(false);

    await zk.start();
    await waitFor(() => events.includes('recovered'), 20_000);
    expect(session.stale).toBe(false);
    expect(sessions.at(-1)?.newSession).toBe(true);
    expect(session.sessionId).not.toBe(firstSessionId);

    // The watches live on the new session: a broker joining and one leaving are both seen.
    const broker1 = await writeKafkaBroker(zk.connectString, '/expiry-kafka', 1, { host: 'b1.example', port: 9092 });
    cleanups.push(() => broker1.stop());
    await waitFor(() => seen.last()?.addresses.join() === 'b0.example:9092,b1.example:9092', 10_000);
    await broker0.stop();
    await waitFor(() => seen.last()?.addresses.join() === 'b1.example:9092', 10_000);
    await broker1.update({ host: 'b1-new.example', port: 9093 });
    await waitFor(() => seen.last()?.addresses.join() === 'b1-new.example:9093', 10_000);
  }, 90_000);

  it('operations while the server is down fail with a timeout naming the server', async () => {
    const session = await openSession(zk, { operationTimeoutMs: 1_000 });
    await zk.stop();
    const error = await session.getData('/anything').catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toMatch(new RegExp(`getData /anything: timed out after 1000 ms \\(not connected to ZooKeeper at ${zk.connectString}\\)`));
  });
});
