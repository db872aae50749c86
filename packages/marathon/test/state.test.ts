import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ClusterState } from '../src/state.js';
import type { MarathonEvent, StateChange } from '../src/types.js';

const UUID_A = '11111111-b042-11e8-9638-0242ac12001f';
const UUID_B = '22222222-b042-11e8-9638-0242ac12001f';

function rawTask(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    host: 'agent1',
    slaveId: 'S1',
    state: 'TASK_RUNNING',
    ports: [31000],
    ipAddresses: [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }],
    stagedAt: '2020-01-01T00:00:00.000Z',
    startedAt: '2020-01-01T00:00:01.000Z',
    version: 'v1',
    ...overrides,
  };
}

function rawApp(id: string, tasks: unknown[] | undefined, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const app: Record<string, unknown> = { id, instances: tasks?.length ?? 1, portDefinitions: [{ port: 10000 }], ...overrides };
  if (tasks) app.tasks = tasks;
  return app;
}

const healthChecks = [{ protocol: 'HTTP', path: '/' }];
const alive = (alive: boolean) => [{ alive }];

function status(taskId: string, taskStatus: string, extra: Record<string, unknown> = {}): MarathonEvent {
  return {
    eventType: 'status_update_event',
    slaveId: 'S2',
    taskId,
    taskStatus,
    message: '',
    appId: '/web',
    host: 'agent2',
    ipAddresses: [{ ipAddress: '10.0.0.9', protocol: 'IPv4' }],
    ports: [31555],
    version: 'v2',
    timestamp: '2021-01-01T00:00:00.000Z',
    ...extra,
  };
}

/** A state with /web (two tasks, health checks) and /db (one task). */
function seeded(): ClusterState {
  const state = new ClusterState();
  state.replaceAll([
    rawApp('/web', [rawTask(`web.${UUID_A}`, { healthCheckResults: alive(true) }), rawTask(`web.${UUID_B}`, { healthCheckResults: alive(false) })], { healthChecks }),
    rawApp('/db', [rawTask('db.t1')]),
  ]);
  return state;
}

function recorder(state: ClusterState): StateChange[] {
  const changes: StateChange[] = [];
  state.subscribe((change) => changes.push(change));
  return changes;
}

describe('ClusterState: resyncs', () => {
  it('replaceAll loads apps and tasks', () => {
    const state = new ClusterState();
    const changes = recorder(state);
    const change = state.replaceAll([rawApp('/a', [rawTask('a.1'), rawTask('a.2')]), rawApp('/b', [])]);
    expect(change).toEqual({ version: 1, appIds: ['/a', '/b'], full: true, reason: 'resync' });
    expect(changes).toEqual([change]);
    expect(state.version).toBe(1);
    expect(state.appCount).toBe(2);
    expect(state.taskCount).toBe(2);
    expect([...state.apps()].map((a) => a.id)).toEqual(['/a', '/b']);
    expect(state.tasksOf('/a').map((t) => t.id)).toEqual(['a.1', 'a.2']);
    expect(state.getTask('a.2')?.servicePorts).toEqual([10000]);
    expect(state.tasksOf('/nope')).toEqual([]);
  });

  it('an unchanged resync produces no change and keeps identities', () => {
    const state = seeded();
    const before = state.tasksOf('/web');
    const changes = recorder(state);
    const payload = [
      rawApp('/db', [rawTask('db.t1')]),
      // Same content, other order: still no change.
      rawApp('/web', [rawTask(`web.${UUID_B}`, { healthCheckResults: alive(false) }), rawTask(`web.${UUID_A}`, { healthCheckResults: alive(true) })], { healthChecks }),
    ];
    expect(state.replaceAll(payload)).toBeUndefined();
    expect(changes).toEqual([]);
    expect(state.version).toBe(1);
    expect(state.tasksOf('/web')).toBe(before);
  });

  it('appIds names exactly the apps that differ', () => {
    const state = seeded();
    const change = state.replaceAll([
      rawApp('/web', [rawTask(`web.${UUID_A}`, { healthCheckResults: alive(true) }), rawTask(`web.${UUID_B}`, { healthCheckResults: alive(false) })], { healthChecks }),
      rawApp('/db', [rawTask('db.t1', { host: 'agent9' })]),
      rawApp('/new', []),
    ]);
    expect(change?.appIds.sort()).toEqual(['/db', '/new']);
    expect(state.getTask('db.t1')?.host).toBe('agent9');
    // an app-only difference (labels) counts too
    expect(state.replaceApp('/new', rawApp('/new', [], { labels: { HAPROXY_GROUP: 'external' } }))?.appIds).toEqual(['/new']);
  });

  it('removes apps and tasks that are gone', () => {
    const state = seeded();
    const change = state.replaceAll([rawApp('/web', [rawTask(`web.${UUID_A}`, { healthCheckResults: alive(true) })], { healthChecks })]);
    expect(change?.appIds.sort()).toEqual(['/db', '/web']);
    expect(state.getApp('/db')).toBeUndefined();
    expect(state.getTask('db.t1')).toBeUndefined();
    expect(state.getTask(`web.${UUID_B}`)).toBeUndefined();
    expect(state.taskCount).toBe(1);
    expect(state.appCount).toBe(1);
  });

  it('an empty array is a valid "no apps" answer', () => {
    const state = seeded();
    const change = state.replaceAll([]);
    expect(change?.appIds.sort()).toEqual(['/db', '/web']);
    expect(state.appCount).toBe(0);
    expect(state.taskCount).toBe(0);
  });

  it('skips bad apps instead of wiping the state, and reports them', () => {
    const state = seeded();
    const change = state.replaceAll([
      null,
      { id: 42 },
      rawApp('/web', [rawTask(`web.${UUID_A}`, { healthCheckResults: alive(true) }), rawTask(`web.${UUID_B}`, { healthCheckResults: alive(false) }), { id: 9 }], { healthChecks, instances: 2 }),
      rawApp('/db', [rawTask('db.t1')]),
    ]);
    expect(change).toBeUndefined();
    expect(state.appCount).toBe(2);
    expect(state.taskCount).toBe(3);
    expect(state.lastSyncReport).toEqual({
      apps: 2,
      tasks: 2 + 1,
      skipped: ['app is not an object (got null)', 'app has no string id', 'app /web: task has no string id'],
    });
  });

  it('replaceAllFromJson: the response text, parsed app by app', () => {
    const state = seeded();
    const text = JSON.stringify({ apps: [rawApp('/db', [rawTask('db.t1'), rawTask('db.t2')]), { id: 7 }] });
    const result = state.replaceAllFromJson(text);
    expect(result.change).toMatchObject({ appIds: ['/db', '/web'], full: true, reason: 'resync' });
    expect(result.error).toBeUndefined();
    expect(state.tasksOf('/db').map((t) => t.id)).toEqual(['db.t1', 'db.t2']);
    expect(state.getApp('/web')).toBeUndefined();
    expect(state.lastSyncReport?.skipped).toEqual(['app has no string id']);
    expect(state.replaceAllFromJson(text)).toEqual({});
  });

  it.each(['', 'not json', '{"apps":[{"id":"/a"},{"id":]}', '{"apps":[{"id":"/a"}', '{"message":"Unauthorized"}'])(
    'replaceAllFromJson(%j) is an error and keeps the state',
    (text) => {
      const state = seeded();
      const result = state.replaceAllFromJson(text);
      expect(result.error).toMatch(/^apps response/);
      expect(result.change).toBeUndefined();
      expect(state.appCount).toBe(2);
      expect(state.version).toBe(1);
    },
  );

  it('replaceAllFromJsonSliced: the same state as replaceAllFromJson, in many event-loop turns, each app whole', async () => {
    const apps = Array.from({ length: 2_000 }, (_, i) =>
      rawApp(`/g${i % 7}/app${i}`, Array.from({ length: 5 }, (_, t) => rawTask(`app${i}.t${t}`, { host: `agent${t}` }))),
    );
    const text = JSON.stringify({ apps: [...apps, { id: 7 }] });
    const reference = new ClusterState();
    reference.replaceAllFromJson(text);

    const state = seeded(); // /web and /db are not listed: removed at the end
    const changes: StateChange[] = [];
    const partial: string[] = [];
    state.subscribe((change) => {
      changes.push(change);
      for (const id of change.appIds) {
        const tasks = state.tasksOf(id);
        if (state.getApp(id) && tasks.length !== 5) partial.push(id); // an app seen without all its tasks
      }
    });
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const result = await state.replaceAllFromJsonSliced(text, { sliceMs: 1 });
    clearInterval(ticker);
    expect(result).toEqual({ appsChanged: 2_002 });
    expect(partial).toEqual([]);
    expect(changes.length).toBeGreaterThan(2);
    expect(turns).toBeGreaterThan(0); // timers ran while the resync was under way
    expect(changes.at(-1)).toMatchObject({ appIds: ['/web', '/db'], full: true, reason: 'resync' });
    expect([...state.apps()]).toEqual([...reference.apps()]);
    for (const app of reference.apps()) expect(state.tasksOf(app.id)).toEqual(reference.tasksOf(app.id));
    expect(state.lastSyncReport).toEqual(reference.lastSyncReport);
    const version = state.version;
    expect(await state.replaceAllFromJsonSliced(text)).toEqual({ appsChanged: 0 });
    expect(state.version).toBe(version);
  });

  it.each(['', 'not json', '{"apps":[{"id":"/a"},{"id":]}', '{"apps":[{"id":"/a"}', '{"message":"Unauthorized"}'])(
    'replaceAllFromJsonSliced(%j) is an error found before anything is applied',
    async (text) => {
      const state = seeded();
      const result = await state.replaceAllFromJsonSliced(text);
      expect(result.error).toMatch(/^apps response/);
      expect(state.appCount).toBe(2);
      expect(state.version).toBe(1);
    },
  );

  it('refuses a payload that is not an array', () => {
    const state = seeded();
    expect(state.replaceAll({ apps: [] } as unknown as unknown[])).toBeUndefined();
    expect(state.appCount).toBe(2);
  });

  it('an app without embedded tasks keeps its known tasks', () => {
    const state = seeded();
    const change = state.replaceApp('/db', rawApp('/db', undefined, { instances: 3 }));
    expect(change?.appIds).toEqual(['/db']);
    expect(state.getApp('/db')?.instances).toBe(3);
    expect(state.tasksOf('/db').map((t) => t.id)).toEqual(['db.t1']);
  });

  it('replaceApp: update, gone (null), malformed', () => {
    const state = seeded();
    const changes = recorder(state);
    expect(state.replaceApp('/db', rawApp('/db', [rawTask('db.t1'), rawTask('db.t2')]))).toMatchObject({ appIds: ['/db'], full: false, reason: 'refetch' });
    expect(state.tasksOf('/db').map((t) => t.id)).toEqual(['db.t1', 'db.t2']);
    expect(state.replaceApp('/db', rawApp('/db', [rawTask('db.t1'), rawTask('db.t2')]))).toBeUndefined();
    expect(state.replaceApp('/db', { nope: 1 })).toBeUndefined();
    expect(state.appCount).toBe(2);
    expect(state.replaceApp('/db', null)?.appIds).toEqual(['/db']);
    expect(state.getApp('/db')).toBeUndefined();
    expect(state.getTask('db.t2')).toBeUndefined();
    expect(state.replaceApp('/db', null)).toBeUndefined();
    expect(changes.map((c) => c.version)).toEqual([2, 3]);
  });

  it('replaceGroup replaces only the subtree', () => {
    const state = new ClusterState();
    state.replaceAll([rawApp('/g/a', []), rawApp('/g/b', []), rawApp('/g/sub/c', []), rawApp('/gx/d', []), rawApp('/other', [])]);
    const change = state.replaceGroup('/g', [rawApp('/g/a', []), rawApp('/g/new', []), rawApp('/elsewhere', [])]);
    expect(change?.appIds.sort()).toEqual(['/g/b', '/g/new', '/g/sub/c']);
    expect(change?.reason).toBe('refetch');
    expect([...state.apps()].map((a) => a.id).sort()).toEqual(['/g/a', '/g/new', '/gx/d', '/other']);
    expect(state.replaceGroup('/', [])?.appIds.length).toBe(4);
    expect(state.appCount).toBe(0);
  });
});

describe('ClusterState: health memory across leader failover', () => {
  it('keeps known health when a resync reports no results for an app with health checks', () => {
    const state = seeded();
    const afterElection = rawApp(
      '/web',
      [rawTask(`web.${UUID_A}`, { healthCheckResults: [] }), rawTask(`web.${UUID_B}`), rawTask('web.new1')],
      { healthChecks },
    );
    const change = state.replaceAll([afterElection, rawApp('/db', [rawTask('db.t1')])]);
    expect(change?.appIds).toEqual(['/web']); // only because of the new task
    expect(state.getTask(`web.${UUID_A}`)?.health).toBe('healthy');
    expect(state.getTask(`web.${UUID_B}`)?.health).toBe('unhealthy');
    expect(state.getTask('web.new1')?.health).toBe('unknown');
  });

  it('the same holds for a refetch of one app', () => {
    const state = seeded();
    expect(state.replaceApp('/web', rawApp('/web', [rawTask(`web.${UUID_A}`), rawTask(`web.${UUID_B}`)], { healthChecks }))).toBeUndefined();
    expect(state.getTask(`web.${UUID_A}`)?.health).toBe('healthy');
  });

  it('fresh results do replace the remembered health', () => {
    const state = seeded();
    state.replaceApp('/web', rawApp('/web', [rawTask(`web.${UUID_A}`, { healthCheckResults: alive(false) }), rawTask(`web.${UUID_B}`)], { healthChecks }));
    expect(state.getTask(`web.${UUID_A}`)?.health).toBe('unhealthy');
  });

  it('an app without health checks does not remember', () => {
    const state = seeded();
    state.replaceApp('/web', rawApp('/web', [rawTask(`web.${UUID_A}`), rawTask(`web.${UUID_B}`)]));
    expect(state.getTask(`web.${UUID_A}`)?.health).toBe('unknown');
  });
});

describe('ClusterState: status_update_event', () => {
  it.each(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE'])(
    '%s updates an existing task, keeping stagedAt/startedAt/servicePorts/health',
    (taskStatus) => {
      const state = seeded();
      const id = `web.${UUID_A}`;
      const result = state.applyEvent(status(id, taskStatus));
      expect(result).toEqual({ change: { version: 2, appIds: ['/web'], full: false, reason: 'status_update_event' }, refetch: [], refetchGroups: [] });
      expect(state.getTask(id)).toEqual({
        id,
        appId: '/web',
        host: 'agent2',
        slaveId: 'S2',
        state: taskStatus,
        ports: [31555],
        servicePorts: [10000],
        ipAddresses: [{ ipAddress: '10.0.0.9', protocol: 'IPv4' }],
        stagedAt: '2020-01-01T00:00:00.000Z',
        startedAt: '2020-01-01T00:00:01.000Z',
        version: 'v2',
        health: 'healthy',
      });
      expect(state.tasksOf('/web').map((t) => t.id)).toEqual([id, `web.${UUID_B}`]);
    },
  );

  it('adds a new task: stagedAt = timestamp, startedAt only once RUNNING, servicePorts from the app', () => {
    const state = seeded();
    state.applyEvent(status('web.new1', 'TASK_STAGING', { timestamp: 't1' }));
    expect(state.getTask('web.new1')).toMatchObject({ stagedAt: 't1', servicePorts: [10000], health: 'unknown', state: 'TASK_STAGING' });
    expect(state.getTask('web.new1')?.startedAt).toBeUndefined();
    state.applyEvent(status('web.new1', 'TASK_RUNNING', { timestamp: 't2' }));
    expect(state.getTask('web.new1')).toMatchObject({ stagedAt: 't1', startedAt: 't2', state: 'TASK_RUNNING' });
    expect(state.tasksOf('/web').map((t) => t.id)).toEqual([`web.${UUID_A}`, `web.${UUID_B}`, 'web.new1']);
    expect(state.taskCount).toBe(4);
  });

  it('an identical update changes nothing', () => {
    const state = seeded();
    state.applyEvent(status('web.new1', 'TASK_RUNNING'));
    const version = state.version;
    expect(state.applyEvent(status('web.new1', 'TASK_RUNNING'))).toEqual({ refetch: [], refetchGroups: [] });
    expect(state.version).toBe(version);
  });

  it('empty ipAddresses and host "unknown" keep what is known', () => {
    const state = seeded();
    state.applyEvent(status(`web.${UUID_A}`, 'TASK_KILLING', { ipAddresses: [], host: 'unknown' }));
    expect(state.getTask(`web.${UUID_A}`)).toMatchObject({ host: 'agent1', ipAddresses: [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }] });
  });

  it.each(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'])(
    '%s removes the task',
    (taskStatus) => {
      const state = seeded();
      const before = state.tasksOf('/web');
      const result = state.applyEvent(status(`web.${UUID_A}`, taskStatus));
      expect(result.change?.appIds).toEqual(['/web']);
      expect(state.getTask(`web.${UUID_A}`)).toBeUndefined();
      expect(state.tasksOf('/web').map((t) => t.id)).toEqual([`web.${UUID_B}`]);
      expect(before.length).toBe(2); // earlier snapshots are not mutated
      expect(state.taskCount).toBe(2);
      // a second kill of the same task is a no-op
      expect(state.applyEvent(status(`web.${UUID_A}`, taskStatus)).change).toBeUndefined();
    },
  );

  it('a late, older TASK_RUNNING after TASK_KILLED does not bring the task back', () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    state.applyEvent(status(id, 'TASK_KILLED', { timestamp: '2021-01-01T00:00:05.000Z' }));
    const version = state.version;
    expect(state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2021-01-01T00:00:04.000Z' }))).toEqual({ refetch: [], refetchGroups: [] });
    expect(state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2021-01-01T00:00:05.000Z' })).change).toBeUndefined();
    expect(state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: undefined })).change).toBeUndefined();
    expect(state.getTask(id)).toBeUndefined();
    expect(state.tasksOf('/web').map((t) => t.id)).toEqual([`web.${UUID_B}`]);
    expect(state.version).toBe(version);
  });

  it('a listing fetched before a kill does not bring the killed task back (resync, group and app refetch)', () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    const listing = [
      rawApp('/web', [rawTask(id, { healthCheckResults: alive(true) }), rawTask(`web.${UUID_B}`, { healthCheckResults: alive(false) })], { healthChecks }),
      rawApp('/db', [rawTask('db.t1')]),
    ];
    state.applyEvent(status(id, 'TASK_KILLED', { timestamp: '2021-01-01T00:00:05.000Z' }));
    state.replaceAll(listing);
    expect(state.getTask(id)).toBeUndefined();
    state.replaceAllFromJson(JSON.stringify({ apps: listing }));
    expect(state.getTask(id)).toBeUndefined();
    state.replaceGroup('/', listing);
    state.replaceApp('/web', listing[0]);
    expect(state.getTask(id)).toBeUndefined();
    expect(state.tasksOf('/web').map((t) => t.id)).toEqual([`web.${UUID_B}`]);
    // A task that came back with a strictly newer live status is listed again.
    state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2021-01-01T00:00:09.000Z' }));
    state.replaceAll(listing);
    expect(state.getTask(id)?.state).toBe('TASK_RUNNING');
  });

  it('a listing that still shows a killed task two minutes later is believed', () => {
    vi.useFakeTimers({ now: new Date('2021-01-01T00:00:05.000Z'), toFake: ['Date'] });
    try {
      const state = seeded();
      const id = `web.${UUID_A}`;
      state.applyEvent(status(id, 'TASK_LOST', { timestamp: '2021-01-01T00:00:05.000Z' }));
      vi.setSystemTime(new Date('2021-01-01T00:01:59.000Z'));
      state.replaceAll([rawApp('/web', [rawTask(id), rawTask(`web.${UUID_B}`)], { healthChecks }), rawApp('/db', [rawTask('db.t1')])]);
      expect(state.getTask(id)).toBeUndefined();
      vi.setSystemTime(new Date('2021-01-01T00:02:06.000Z'));
      state.replaceAll([rawApp('/web', [rawTask(id), rawTask(`web.${UUID_B}`)], { healthChecks }), rawApp('/db', [rawTask('db.t1')])]);
      expect(state.getTask(id)?.state).toBe('TASK_RUNNING');
    } finally {
      vi.useRealTimers();
    }
  });

  it('a sliced resync fetched before a kill does not bring the killed task back', async () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    const text = JSON.stringify({ apps: [rawApp('/web', [rawTask(id), rawTask(`web.${UUID_B}`)], { healthChecks }), rawApp('/db', [rawTask('db.t1')])] });
    state.applyEvent(status(id, 'TASK_KILLED', { timestamp: '2021-01-01T00:00:05.000Z' }));
    await state.replaceAllFromJsonSliced(text);
    expect(state.getTask(id)).toBeUndefined();
  });

  it('a terminal update without a timestamp is final', () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    state.applyEvent(status(id, 'TASK_LOST', { timestamp: undefined }));
    state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2030-01-01T00:00:00.000Z' }));
    expect(state.getTask(id)).toBeUndefined();
  });

  it('a strictly newer live update after a terminal one applies (an agent that came back)', () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    state.applyEvent(status(id, 'TASK_LOST', { timestamp: '2021-01-01T00:00:05.000Z' }));
    state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2021-01-01T00:00:09.000Z' }));
    expect(state.getTask(id)?.state).toBe('TASK_RUNNING');
  });

  it('a live update older than the last one applied is ignored', () => {
    const state = seeded();
    const id = `web.${UUID_A}`;
    state.applyEvent(status(id, 'TASK_KILLING', { timestamp: '2021-01-01T00:00:05.000Z' }));
    expect(state.applyEvent(status(id, 'TASK_RUNNING', { timestamp: '2021-01-01T00:00:03.000Z' })).change).toBeUndefined();
    expect(state.getTask(id)?.state).toBe('TASK_KILLING');
  });

  it('an event for an unknown app records the task and asks to refetch the app', () => {
    const state = seeded();
    const result = state.applyEvent(status('ghost.1', 'TASK_RUNNING', { appId: '/ghost' }));
    expect(result.refetch).toEqual(['/ghost']);
    expect(result.change?.appIds).toEqual(['/ghost']);
    expect(state.getTask('ghost.1')?.appId).toBe('/ghost');
    expect(state.tasksOf('/ghost').length).toBe(1);
    expect(state.getApp('/ghost')).toBeUndefined();
    expect(state.appCount).toBe(2);
    // the refetch brings the app (with its tasks)
    state.replaceApp('/ghost', rawApp('/ghost', [rawTask('ghost.1')]));
    expect(state.appCount).toBe(3);
    expect(state.taskCount).toBe(4);
  });

  it('derives the app id from the task id when the event has none', () => {
    const state = seeded();
    state.applyEvent(status(`web.instance-${UUID_A}._app.1`, 'TASK_RUNNING', { appId: undefined }));
    expect(state.getTask(`web.instance-${UUID_A}._app.1`)?.appId).toBe('/web');
  });

  it('ignores pod tasks', () => {
    const state = seeded();
    expect(state.applyEvent(status(`pod.instance-${UUID_A}.sleep1`, 'TASK_RUNNING', { appId: '/pod' }))).toEqual({ refetch: [], refetchGroups: [] });
    expect(state.taskCount).toBe(3);
  });
});

describe('ClusterState: health events', () => {
  function withInstances(): ClusterState {
    const state = new ClusterState();
    state.replaceAll([
      rawApp('/web', [rawTask(`web.${UUID_A}`), rawTask(`web.instance-${UUID_B}._app.1`)], { healthChecks }),
    ]);
    return state;
  }

  it.each<[string, Record<string, unknown>, string, string]>([
    ['health_status_changed_event by ≤1.7 instance id', { eventType: 'health_status_changed_event', appId: '/web', instanceId: `web.marathon-${UUID_A}`, alive: true }, `web.${UUID_A}`, 'healthy'],
    ['health_status_changed_event by 1.8 instance id', { eventType: 'health_status_changed_event', appId: '/web', instanceId: `web.instance-${UUID_B}`, alive: false }, `web.instance-${UUID_B}._app.1`, 'unhealthy'],
    ['health_status_changed_event by ≤1.3 task id', { eventType: 'health_status_changed_event', appId: '/web', taskId: `web.${UUID_A}`, alive: false }, `web.${UUID_A}`, 'unhealthy'],
    ['health_status_changed_event without appId', { eventType: 'health_status_changed_event', instanceId: `web.marathon-${UUID_A}`, alive: true }, `web.${UUID_A}`, 'healthy'],
    ['instance_health_changed_event true', { eventType: 'instance_health_changed_event', runSpecId: '/web', instanceId: `web.instance-${UUID_B}`, healthy: true }, `web.instance-${UUID_B}._app.1`, 'healthy'],
    ['instance_health_changed_event false', { eventType: 'instance_health_changed_event', runSpecId: '/web', instanceId: `web.marathon-${UUID_A}`, healthy: false }, `web.${UUID_A}`, 'unhealthy'],
  ])('%s', (_name, event, taskId, health) => {
    const state = withInstances();
    const result = state.applyEvent(event as MarathonEvent);
    expect(result.change).toMatchObject({ appIds: ['/web'], reason: event.eventType });
    expect(state.getTask(taskId)?.health).toBe(health);
    // the other task is untouched
    const other = state.tasksOf('/web').find((t) => t.id !== taskId);
    expect(other?.health).toBe('unknown');
    // the same again changes nothing
    expect(state.applyEvent(event as MarathonEvent).change).toBeUndefined();
  });

  it('instance_health_changed_event null makes health unknown', () => {
    const state = withInstances();
    state.applyEvent({ eventType: 'instance_health_changed_event', runSpecId: '/web', instanceId: `web.marathon-${UUID_A}`, healthy: true });
    state.applyEvent({ eventType: 'instance_health_changed_event', runSpecId: '/web', instanceId: `web.marathon-${UUID_A}`, healthy: null });
    expect(state.getTask(`web.${UUID_A}`)?.health).toBe('unknown');
  });

  it('a health event for an unknown instance changes nothing', () => {
    const state = withInstances();
    const result = state.applyEvent({ eventType: 'health_status_changed_event', appId: '/web', instanceId: 'web.marathon-nope', alive: true });
    expect(result).toEqual({ refetch: [], refetchGroups: [] });
  });

  it.each(['failed_health_check_event', 'unhealthy_task_kill_event', 'unhealthy_instance_kill_event'])('%s changes nothing', (eventType) => {
    const state = withInstances();
    const result = state.applyEvent({ eventType, appId: '/web', taskId: `web.marathon-${UUID_A}`, instanceId: `web.marathon-${UUID_A}` });
    expect(result).toEqual({ refetch: [], refetchGroups: [] });
    expect(state.version).toBe(1);
  });
});

describe('ClusterState: instance_changed_event', () => {
  it.each(['Killed', 'Finished', 'Failed', 'Error', 'Gone', 'Dropped', 'Unknown'])('%s removes the instance tasks', (condition) => {
    const state = seeded();
    const result = state.applyEvent({ eventType: 'instance_changed_event', instanceId: `web.marathon-${UUID_A}`, condition, runSpecId: '/web' });
    expect(result.change?.appIds).toEqual(['/web']);
    expect(state.tasksOf('/web').map((t) => t.id)).toEqual([`web.${UUID_B}`]);
  });

  it.each(['Running', 'Staging', 'Killing', 'Unreachable', 'Created'])('%s changes nothing', (condition) => {
    const state = seeded();
    expect(state.applyEvent({ eventType: 'instance_changed_event', instanceId: `web.marathon-${UUID_A}`, condition, runSpecId: '/web' })).toEqual({ refetch: [], refetchGroups: [] });
    expect(state.taskCount).toBe(3);
  });
});

describe('ClusterState: refetching events', () => {
  const plan = (steps: unknown[]) => ({ id: 'p', steps, version: 'v' });
  it.each<[string, Record<string, unknown>, string[], string[]]>([
    ['app_terminated_event', { eventType: 'app_terminated_event', appId: '/db' }, ['/db'], []],
    ['group_change_success', { eventType: 'group_change_success', groupId: '/prod' }, [], ['/prod']],
    [
      'deployment_info (1.8 light)',
      {
        eventType: 'deployment_info',
        plan: plan([{ actions: [{ action: 'StartApplication', app: '/a' }, { action: 'StartPod', pod: '/p' }] }, { actions: [{ action: 'ScaleApplication', app: '/b' }] }]),
        currentStep: { actions: [{ action: 'ScaleApplication', app: '/b' }] },
      },
      ['/a', '/b'],
      [],
    ],
    ['deployment_success', { eventType: 'deployment_success', id: 'p', plan: plan([{ actions: [{ action: 'StopApplication', app: '/gone' }] }]) }, ['/gone'], []],
    ['deployment_failed', { eventType: 'deployment_failed', id: 'p', plan: plan([{ actions: [{ action: 'RestartApplication', app: '/r' }] }]), reason: 'x' }, ['/r'], []],
    ['deployment_step_success (legacy type/action)', { eventType: 'deployment_step_success', plan: plan([{ action: 'ScaleApplication', app: '/l' }]), currentStep: { actions: [{ type: 'ScaleApplication', app: '/m' }] } }, ['/l', '/m'], []],
    ['deployment_step_failure', { eventType: 'deployment_step_failure', currentStep: { actions: [{ action: 'ScaleApplication', app: '/f' }] } }, ['/f'], []],
    ['deployment_success without plan (docs)', { eventType: 'deployment_success', id: 'p' }, [], []],
    ['pods only', { eventType: 'deployment_info', plan: plan([{ actions: [{ action: 'StartPod', pod: '/p' }] }]) }, [], []],
  ])('%s', (_name, event, refetch, refetchGroups) => {
    const state = seeded();
    const result = state.applyEvent(event as MarathonEvent);
    expect(result).toEqual({ refetch, refetchGroups });
    expect(state.version).toBe(1);
  });

  it('api_post_event applies the posted definition at once, keeps the tasks and still refetches', () => {
    const state = seeded();
    const before = state.tasksOf('/web');
    expect(before.length).toBeGreaterThan(0);
    const listener = vi.fn();
    state.subscribe(listener);
    const result = state.applyEvent({
      eventType: 'api_post_event',
      appDefinition: { id: '/web', instances: 5, labels: { HAPROXY_GROUP: 'external' }, portDefinitions: [{ port: 10500, name: 'http' }] },
    });
    expect(result.refetch).toEqual(['/web']);
    expect(result.change?.appIds).toEqual(['/web']);
    expect(result.change?.reason).toBe('api_post_event');
    expect(listener).toHaveBeenCalledTimes(1);
    expect(state.getApp('/web')).toMatchObject({ instances: 5, labels: { HAPROXY_GROUP: 'external' }, ports: [{ servicePort: 10500, name: 'http' }] });
    expect(state.tasksOf('/web')).toEqual(before);
  });

  it('api_post_event for a new app adds it before the refetch', () => {
    const state = seeded();
    const result = state.applyEvent({ eventType: 'api_post_event', appDefinition: { id: '/brand-new', ports: [10600] } });
    expect(result.refetch).toEqual(['/brand-new']);
    expect(state.getApp('/brand-new')?.ports[0].servicePort).toBe(10600);
    expect(state.tasksOf('/brand-new')).toEqual([]);
  });

  it.each(['event_stream_attached', 'event_stream_detached', 'pod_created_event', 'pod_updated_event', 'pod_deleted_event', 'subscribe_event', 'framework_message_event', 'something_new'])(
    '%s does nothing',
    (eventType) => {
      const state = seeded();
      expect(state.applyEvent({ eventType, remoteAddress: '1.2.3.4' })).toEqual({ refetch: [], refetchGroups: [] });
      expect(state.version).toBe(1);
    },
  );
});

describe('ClusterState: malformed events', () => {
  it.each<[unknown, string]>([
    [null, 'event is not an object'],
    [[], 'event is not an object'],
    [{}, 'event has no string eventType'],
    [{ eventType: 7 }, 'event has no string eventType'],
    [{ eventType: 'status_update_event', taskStatus: 'TASK_RUNNING' }, 'status_update_event has no string taskId'],
    [{ eventType: 'status_update_event', taskId: 'web.1' }, 'status_update_event for web.1 has no string taskStatus'],
    [{ eventType: 'status_update_event', taskId: 'nodots', taskStatus: 'TASK_RUNNING' }, 'status_update_event for nodots has no appId'],
    [{ eventType: 'status_update_event', taskId: 'web.1', appId: '/web', taskStatus: 'TASK_BOGUS' }, 'status_update_event for web.1 has unknown taskStatus TASK_BOGUS'],
    [{ eventType: 'health_status_changed_event', appId: '/web', alive: true }, 'health_status_changed_event has no string instanceId or taskId'],
    [{ eventType: 'health_status_changed_event', instanceId: 'web.marathon-1', alive: 'yes' }, 'health_status_changed_event for web.marathon-1 has no boolean alive'],
    [{ eventType: 'instance_health_changed_event', healthy: true }, 'instance_health_changed_event has no string instanceId'],
    [{ eventType: 'instance_health_changed_event', instanceId: 'web.marathon-1' }, 'instance_health_changed_event for web.marathon-1 has no healthy true/false/null'],
    [{ eventType: 'instance_changed_event', condition: 'Killed' }, 'instance_changed_event has no string instanceId'],
    [{ eventType: 'instance_changed_event', instanceId: 'web.marathon-1' }, 'instance_changed_event for web.marathon-1 has no string condition'],
    [{ eventType: 'api_post_event', appDefinition: {} }, 'api_post_event has no string appDefinition.id'],
    [{ eventType: 'app_terminated_event' }, 'app_terminated_event has no string appId'],
    [{ eventType: 'group_change_success', groupId: 1 }, 'group_change_success has no string groupId'],
  ])('%j -> %s', (event, error) => {
    const state = seeded();
    const listener = vi.fn();
    state.subscribe(listener);
    expect(state.applyEvent(event as MarathonEvent)).toEqual({ refetch: [], refetchGroups: [], error });
    expect(state.version).toBe(1);
    expect(state.taskCount).toBe(3);
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('ClusterState: leader and subscribers', () => {
  it('setLeader emits a leader change only when it differs', () => {
    const state = new ClusterState();
    const changes = recorder(state);
    expect(state.leader).toBeUndefined();
    expect(state.setLeader('m1:8080')).toEqual({ version: 1, appIds: [], full: false, reason: 'leader' });
    expect(state.leader).toBe('m1:8080');
    expect(state.setLeader('m1:8080')).toBeUndefined();
    expect(state.setLeader(undefined)?.version).toBe(2);
    expect(changes.length).toBe(2);
  });

  it('a throwing listener is logged and does not stop the others; unsubscribe works', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const state = new ClusterState({ logger });
    const seen: number[] = [];
    state.subscribe(() => {
      throw new Error('boom');
    });
    const unsubscribe = state.subscribe((change, s) => seen.push(change.version, s.version));
    state.setLeader('a');
    expect(seen).toEqual([1, 1]);
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0]).err.message).toBe('boom');
    unsubscribe();
    state.setLeader('b');
    expect(seen).toEqual([1, 1]);
  });

  it('listeners run synchronously and see the new state', () => {
    const state = seeded();
    let seenTask: string | undefined;
    state.subscribe((_change, s) => {
      seenTask = s.getTask('web.new')?.state;
    });
    state.applyEvent(status('web.new', 'TASK_STARTING'));
    expect(seenTask).toBe('TASK_STARTING');
  });
});
