import { afterEach, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MarathonClient } from '../src/client.js';
import { MarathonFeed, type MarathonFeedOptions } from '../src/feed.js';
import { AppListScanner } from '../src/normalize.js';
import { ClusterState } from '../src/state.js';
import type { MarathonEvent } from '../src/types.js';

type RawApp = { id: string; instances: number; tasks: Record<string, unknown>[]; [key: string]: unknown };

const rawTask = (appId: string, n: number) => ({
  id: `${appId.slice(1).replace(/\//g, '_')}.0000000${n}-aaaa-11e8-9638-0242ac12001f`,
  appId,
  host: `10.0.0.${n}`,
  slaveId: 'agent-1',
  state: 'TASK_RUNNING',
  ports: [31000 + n],
  ipAddresses: [{ ipAddress: `172.17.0.${n}`, protocol: 'IPv4' }],
});
const rawApp = (id: string, tasks: number[]): RawApp => ({
  id,
  instances: tasks.length,
  portDefinitions: [{ port: 10000, protocol: 'tcp', name: 'http', labels: {} }],
  tasks: tasks.map((n) => rawTask(id, n)),
});

/** A small in-memory Marathon: /v2/apps, /v2/apps/{id}, /v2/leader and a CRLF SSE /v2/events. */
class FakeMarathon {
  readonly apps = new Map<string, RawApp>();
  readonly requests: string[] = [];
  private readonly streams = new Map<ServerResponse, { muted: boolean }>();
  private readonly server: Server;
  private readonly heartbeat: NodeJS.Timeout;
  port = 0;
  failApps = false;
  readonly failApp = new Set<string>();
  sendAttached = true;
  /** When set, GET /v2/apps waits for it before answering. */
  appsGate?: Promise<void>;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.heartbeat = setInterval(() => {
      for (const [res, s] of this.streams) if (!s.muted) res.write('\r\n');
    }, 50);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  async up(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and drops every connection: the URL now refuses connections. */
  async down(): Promise<void> {
    this.streams.clear();
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeAllConnections();
    await closed;
  }

  async destroy(): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.server.listening) await this.down();
  }

  /** Existing streams stay open but go silent: no heartbeat, no event (a half-dead TCP connection). */
  muteStreams(): void {
    for (const s of this.streams.values()) s.muted = true;
  }

  send(event: MarathonEvent): void {
    const frame = `event: ${event.eventType}\r\ndata: ${JSON.stringify(event)}\r\n\r\n`;
    for (const [res, s] of this.streams) if (!s.muted) res.write(frame);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    this.requests.push(`${url.pathname}${url.search}`);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-marathon-leader': this.url });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/v2/events') {
      if (req.headers.accept !== 'text/event-stream') return json(405, { message: 'not supported' });
      res.writeHead(200, { 'content-type': 'text/event-stream;charset=UTF-8', 'x-marathon-leader': this.url });
      res.flushHeaders();
      this.streams.set(res, { muted: false });
      res.on('close', () => this.streams.delete(res));
      if (this.sendAttached) this.send({ eventType: 'event_stream_attached', remoteAddress: '127.0.0.1' });
      return;
    }
    if (url.pathname === '/v2/leader') return json(200, { leader: `127.0.0.1:${this.port}` });
    if (url.pathname === '/v2/apps') {
      await this.appsGate;
      if (this.failApps) return json(503, { message: 'Could not determine the current leader' });
      const filter = url.searchParams.get('id');
      const withTasks = url.searchParams.getAll('embed').includes('apps.tasks');
      const apps = [...this.apps.values()]
        .filter((a) => filter === null || a.id.includes(filter))
        .map((a) => (withTasks ? a : { ...a, tasks: undefined }));
      return json(200, { apps });
    }
    if (url.pathname.startsWith('/v2/apps/')) {
      const id = url.pathname.slice('/v2/apps'.length);
      if (this.failApp.has(id)) return json(500, { message: 'boom' });
      const app = this.apps.get(id);
      return app ? json(200, { app }) : json(404, { message: `App '${id}' does not exist` });
    }
    json(404, { message: 'not found' });
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeMarathon(apps: RawApp[] = []): Promise<FakeMarathon> {
  const fake = await new FakeMarathon().up();
  for (const app of apps) fake.apps.set(app.id, app);
  cleanups.push(() => fake.destroy());
  return fake;
}

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

function startFeed(urls: string[], options: Partial<MarathonFeedOptions> = {}) {
  const state = new ClusterState();
  const client = new MarathonClient({ urls, timeoutMs: 2000 });
  const feed = new MarathonFeed(state, {
    client,
    heartbeatTimeoutMs: 1000,
    backoff: { initialMs: 50, maxMs: 200 },
    ...options,
  });
  const errors: Error[] = [];
  feed.on('error', (err) => errors.push(err));
  cleanups.push(async () => {
    await feed.stop();
    await client.close();
  });
  feed.start();
  return { state, client, feed, errors };
}

const statusUpdate = (task: Record<string, unknown>, taskStatus = 'TASK_RUNNING'): MarathonEvent => ({
  slaveId: task.slaveId,
  taskId: task.id,
  taskStatus,
  message: '',
  appId: task.appId,
  host: task.host,
  ipAddresses: task.ipAddresses,
  ports: task.ports,
  version: '2024-01-01T00:00:00.000Z',
  eventType: 'status_update_event',
  timestamp: new Date().toISOString(),
});

const taskIds = (state: ClusterState, appId: string) => state.tasksOf(appId).map((t) => t.id).sort();

describe('MarathonFeed', () => {
  it('syncs fully, then applies events and refetches what they invalidate', async () => {
    const fake = await fakeMarathon([rawApp('/web', [1]), rawApp('/prod/x', [2]), rawApp('/prodigal', [3])]);
    const { state, feed } = startFeed([fake.url]);
    await feed.ready();
    expect(taskIds(state, '/web')).toEqual([rawTask('/web', 1).id]);
    expect(fake.requests).toContain('/v2/apps?embed=apps.tasks');
    expect(state.leader).toBe(`127.0.0.1:${fake.port}`);
    expect(feed.status()).toMatchObject({ connected: true, url: fake.url, stale: false, staleSeconds: 0, resyncs: 1, reconnects: 0 });

    // A status update adds a task without any request.
    fake.send(statusUpdate(rawTask('/web', 4)));
    await waitFor(() => state.tasksOf('/web').length === 2);

    // An api_post_event only says "the app changed": the feed refetches it.
    fake.apps.set('/api', rawApp('/api', [5]));
    fake.send({ eventType: 'api_post_event', clientIp: '10.0.0.9', uri: '/v2/apps/api', appDefinition: { id: '/api' } });
    // The posted definition shows the app at once; its tasks come with the refetch.
    await waitFor(() => state.tasksOf('/api').length > 0);
    expect(taskIds(state, '/api')).toEqual([rawTask('/api', 5).id]);
    expect(fake.requests).toContain('/v2/apps/api?embed=app.tasks');

    // A group change refetches the group; Marathon's id filter is a substring match, /prodigal stays.
    fake.apps.delete('/prod/x');
    fake.apps.delete('/prodigal');
    fake.send({ eventType: 'group_change_success', groupId: '/prod', version: 'v2', timestamp: 'now' });
    await waitFor(() => state.getApp('/prod/x') === undefined);
    expect(state.getApp('/prodigal')).toBeDefined();
    expect(feed.status().eventsApplied).toBeGreaterThanOrEqual(3);
    expect(feed.status().lastEventAt).toBeGreaterThan(0);
  });

  it('a group change fetches only the apps of the group that differ, with their tasks', async () => {
    const v1 = '2024-01-01T00:00:00.000Z';
    const v2 = '2024-01-02T00:00:00.000Z';
    const fake = await fakeMarathon([
      { ...rawApp('/g/a', [1]), version: v1 },
      { ...rawApp('/g/b', [2]), version: v1 },
      { ...rawApp('/g/c', [3]), version: v1 },
      { ...rawApp('/other', [4]), version: v1 },
    ]);
    const { state, feed } = startFeed([fake.url], { groupCheckDelayMs: 300 });
    await feed.ready();
    fake.requests.length = 0;
    const walks = vi.spyOn(state, 'apps');

    fake.apps.set('/g/b', { ...rawApp('/g/b', [2, 9]), version: v2 }); // scaled: a new version
    fake.apps.set('/g/new', { ...rawApp('/g/new', [5]), version: v1 });
    fake.apps.delete('/g/c');
    // Marathon sends one per change; the feed checks the group once for all of them.
    for (let i = 0; i < 3; i++) fake.send({ eventType: 'group_change_success', groupId: '/g', version: v2, timestamp: 'now' });

    await waitFor(() => state.tasksOf('/g/b').length === 2 && state.getApp('/g/new') !== undefined && state.getApp('/g/c') === undefined);
    expect(state.getApp('/g/b')?.version).toBe(v2);
    expect(taskIds(state, '/g/new')).toEqual([rawTask('/g/new', 5).id]);
    expect(taskIds(state, '/g/a')).toEqual([rawTask('/g/a', 1).id]);
    expect(state.getApp('/other')).toBeDefined();

    const listings = fake.requests.filter((r) => r.startsWith('/v2/apps?'));
    expect(listings).toEqual(['/v2/apps?id=%2Fg']); // one check, without tasks
    const appFetches = fake.requests.filter((r) => r.startsWith('/v2/apps/')).sort();
    expect(appFetches).toEqual(['/v2/apps/g/b?embed=app.tasks', '/v2/apps/g/c?embed=app.tasks', '/v2/apps/g/new?embed=app.tasks']);

    // A second check reads the apps of the group from an index: no walk of every app per check.
    fake.apps.delete('/g/a');
    fake.send({ eventType: 'group_change_success', groupId: '/g', version: v2, timestamp: 'now' });
    await waitFor(() => state.getApp('/g/a') === undefined);
    expect(walks.mock.calls.length).toBeLessThanOrEqual(1);
  });

  it('buffers events that arrive during the resync and applies them after it', async () => {
    const fake = await fakeMarathon([rawApp('/web', [1])]);
    fake.sendAttached = false;
    let release!: () => void;
    fake.appsGate = new Promise((resolve) => (release = resolve));
    const { state, feed } = startFeed([fake.url]);
    await waitFor(() => fake.requests.includes('/v2/apps?embed=apps.tasks') && fake.streamCount === 1);
    // Marathon's answer is already computed without task 2; the event about task 2 arrives meanwhile.
    fake.send(statusUpdate(rawTask('/web', 2)));
    await waitFor(() => feed.status().lastEventAt !== undefined);
    expect(state.tasksOf('/web')).toHaveLength(0);
    release();
    await feed.ready();
    expect(taskIds(state, '/web')).toEqual([rawTask('/web', 1).id, rawTask('/web', 2).id].sort());
  });

  it('detects a stalled stream, reconnects and resyncs', async () => {
    const fake = await fakeMarathon([rawApp('/web', [1])]);
    const { state, feed } = startFeed([fake.url], { heartbeatTimeoutMs: 400 });
    await feed.ready();
    fake.muteStreams();
    // What happens while the stream is silent is only recovered by the resync after the reconnect.
    fake.apps.set('/web', rawApp('/web', [1, 2]));
    await waitFor(() => feed.status().reconnects >= 1 && feed.status().resyncs >= 2);
    await waitFor(() => state.tasksOf('/web').length === 2);
    expect(feed.status().connected).toBe(true);
    expect(feed.status().lastError).toMatch(/stalled/);
  });

  it('keeps the state while every URL is down, reports growing staleness, then recovers', async () => {
    const dead = await deadUrl();
    const fake = await fakeMarathon([rawApp('/web', [1])]);
    const { state, feed } = startFeed([dead, fake.url]);
    await feed.ready();
    expect(feed.status().url).toBe(fake.url);

    await fake.down();
    await waitFor(() => feed.status().connected === false);
    expect(feed.status().stale).toBe(true);
    await waitFor(() => feed.status().staleSeconds >= 1);
    await waitFor(() => feed.status().staleSeconds >= 2);
    expect(taskIds(state, '/web')).toEqual([rawTask('/web', 1).id]);
    expect(feed.status().lastError).toMatch(/connection refused/);

    fake.apps.set('/web', rawApp('/web', [1, 2]));
    await fake.up();
    await waitFor(() => feed.status().connected && !feed.status().stale, 15_000);
    expect(feed.status().staleSeconds).toBe(0);
    expect(taskIds(state, '/web')).toHaveLength(2);
    expect(feed.status().reconnects).toBeGreaterThanOrEqual(1);
  });

  it('a failing refetch keeps the app, marks the state stale and retries', async () => {
    const fake = await fakeMarathon([rawApp('/web', [1])]);
    const { state, feed, errors } = startFeed([fake.url]);
    await feed.ready();
    fake.failApp.add('/web');
    fake.apps.set('/web', { ...rawApp('/web', [1, 2]), instances: 2 });
    fake.send({ eventType: 'api_post_event', appDefinition: { id: '/web' } });
    await waitFor(() => feed.status().stale);
    expect(feed.status().lastError).toMatch(/refetch of app \/web failed/);
    expect(errors.some((e) => /refetch/.test(e.message))).toBe(true);
    expect(taskIds(state, '/web')).toEqual([rawTask('/web', 1).id]);

    fake.failApp.delete('/web');
    await waitFor(() => !feed.status().stale);
    expect(state.getApp('/web')?.instances).toBe(2);
    expect(state.tasksOf('/web')).toHaveLength(2);
  });

  it('a failing periodic resync keeps the state and heals when Marathon answers again', async () => {
    const fake = await fakeMarathon([rawApp('/web', [1])]);
    const { state, feed } = startFeed([fake.url], { resyncIntervalMs: 200 });
    await feed.ready();
    fake.failApps = true;
    await waitFor(() => feed.status().stale);
    expect(feed.status().connected).toBe(true);
    expect(feed.status().lastError).toMatch(/resync failed.*503/);
    expect(taskIds(state, '/web')).toEqual([rawTask('/web', 1).id]);

    const before = feed.status().resyncs;
    fake.apps.set('/new', rawApp('/new', [7]));
    fake.failApps = false;
    await waitFor(() => !feed.status().stale && feed.status().resyncs > before);
    expect(state.getApp('/new')).toBeDefined();
  });

  it('stop() is idempotent, ends the loop and rejects ready() if no sync happened', async () => {
    const { feed } = startFeed([await deadUrl()]);
    const ready = feed.ready().catch((e: Error) => e);
    await waitFor(() => feed.status().lastError !== undefined);
    await Promise.all([feed.stop(), feed.stop()]);
    expect(((await ready) as Error).message).toMatch(/stopped before the first sync/);
    expect(feed.status()).toMatchObject({ connected: false, stale: true, resyncs: 0 });
  });
});

describe('MarathonFeed.resyncNow', () => {
  it('coalesces concurrent calls: 50 calls during a resync cost at most two fetches', async () => {
    const m = await fakeMarathon([rawApp('/web', [1])]);
    const { feed } = startFeed([m.url]);
    await feed.ready();
    await waitFor(() => feed.status().resyncs >= 1);
    let open!: () => void;
    m.appsGate = new Promise<void>((resolve) => (open = resolve));
    const before = m.requests.filter((r) => r.startsWith('/v2/apps?')).length;
    const calls = Array.from({ length: 50 }, () => feed.resyncNow());
    await new Promise((resolve) => setTimeout(resolve, 100));
    m.appsGate = undefined;
    open();
    await Promise.all(calls);
    const fetches = m.requests.filter((r) => r.startsWith('/v2/apps?')).length - before;
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(2);
  });
});

describe('AppListScanner (normalize.ts)', () => {
  const scanAll = (text: string, slice: number) => {
    const scanner = new AppListScanner(text);
    const apps: [string, string | undefined][] = [];
    let parseError: string | undefined;
    const onApp = (appText: string) => {
      try {
        const { id, version } = JSON.parse(appText) as { id: string; version?: string };
        apps.push([id, version]);
      } catch (err) {
        parseError ??= `not valid JSON: ${(err as Error).message}`;
      }
    };
    while (scanner.scan(slice, onApp));
    return { apps, error: parseError ?? scanner.error };
  };

  it('reads every app id and version of a listing, whatever the slice size', () => {
    const listing = {
      other: ['apps', { apps: [{ id: '/not/this' }] }],
      apps: [
        { id: '/a', version: 'v1', labels: { id: '/fake', note: 'a "quoted" } ] { [ value\\' }, deployments: [{ id: 'uuid' }] },
        { id: '/b', env: { X: '\\"' }, portDefinitions: [{ port: 1 }] },
        null,
        { id: '/c/d', version: 'v3', tasks: [] },
      ],
    };
    const text = JSON.stringify(listing, null, 1);
    const expected = [['/a', 'v1'], ['/b', undefined], ['/c/d', 'v3']];
    for (const slice of [1, 7, 64, text.length]) expect(scanAll(text, slice)).toEqual({ apps: expected, error: undefined });
    expect(scanAll('{"apps":[]}', 3)).toEqual({ apps: [], error: undefined });
  });

  it('reports malformed listings', () => {
    expect(scanAll('{"apps":[{"id":"/a"', 4).error).toMatch(/truncated/);
    expect(scanAll('{"apps":[{"id":"/a",}]}', 4).error).toMatch(/not valid JSON/);
    expect(scanAll('{"items":[]}', 4).error).toMatch(/no "apps" array/);
    expect(scanAll('{"apps":[{"id":"/a}]}', 100).error).toMatch(/unterminated string/);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`waitFor timed out: ${predicate.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
