// The state file: a ClusterState saved to disk and loaded back gives the same apps and tasks, is written
// atomically, and a file that cannot be used is refused naming it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClusterState,
  StateFileWriter,
  appToMarathon,
  loadStateFile,
  parseStateSnapshot,
  saveStateFile,
  snapshotOf,
  snapshotText,
  stateFileMetricsText,
  statusWithStateFile,
  tryNormalizeApp,
  type FeedStatus,
} from '@baton/marathon';
import { waitFor } from '../../../test/helpers/wait.js';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/marathon');
const dir = mkdtempSync(join(tmpdir(), 'baton-state-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fixtureApps(name: string): unknown[] {
  return (JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as { apps: unknown[] }).apps;
}

const APP_FIXTURES = [
  'rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json',
  'rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json',
  'rest-v2-apps-embed-tasks-pre1.4-legacy-docker-portMappings-real.json',
  'rest-v2-apps-list-old-format.json',
];

function stateOf(apps: unknown[]): ClusterState {
  const state = new ClusterState();
  state.replaceAll(apps);
  return state;
}

function contents(state: ClusterState) {
  return [...state.apps()].map((app) => ({ app, tasks: state.tasksOf(app.id) }));
}

const synthetic = [
  {
    id: '/ip-per-task',
    networks: [{ mode: 'container', name: 'dcos' }],
    container: { type: 'MESOS', portMappings: [{ containerPort: 8080, name: 'http', labels: { VIP_0: '/x:80' } }] },
    healthChecks: [{ protocol: 'MESOS_HTTP', path: '/ping', portIndex: 0 }, { protocol: 'COMMAND', command: { value: 'true' } }],
    labels: { HAPROXY_GROUP: 'external' },
    tasks: [
      { id: 'ip-per-task.instance-1._app.1', host: '10.0.0.1', state: 'TASK_RUNNING', ipAddresses: [{ ipAddress: '9.0.0.1', protocol: 'IPv4' }], healthCheckResults: [{ alive: false }] },
      { id: 'ip-per-task.instance-2._app.1', host: 'agent-2', state: 'TASK_STAGING', ipAddresses: [{ ipAddress: 'fd00::2' }] },
    ],
  },
  { id: '/legacy/discovery', ipAddress: { networkName: 'weave', discovery: { ports: [{ number: 53, name: 'dns', protocol: 'udp,tcp' }] } }, tasks: [] },
  { id: '/required', requirePorts: true, portDefinitions: [{ port: 10001, protocol: 'tcp' }], cmd: 'serve', env: { A: 'b', S: { secret: 'x' } }, instances: 0 },
  { id: '/no-tasks-embedded', portDefinitions: [] },
];

describe('appToMarathon', () => {
  it.each([...APP_FIXTURES, 'synthetic'])('normalises back to the same app and tasks: %s', (name) => {
    const state = stateOf(name === 'synthetic' ? synthetic : fixtureApps(name));
    expect(state.appCount).toBeGreaterThan(0);
    for (const { app, tasks } of contents(state)) {
      const back = tryNormalizeApp(JSON.parse(JSON.stringify(appToMarathon(app, tasks))));
      expect(back.app).toEqual(app);
      expect(back.tasks).toEqual(tasks);
    }
  });
});

describe('save and load', () => {
  it('a saved state loads into an empty one with the same apps, tasks and leader', async () => {
    const state = stateOf([...fixtureApps(APP_FIXTURES[0]), ...synthetic]);
    state.setLeader('marathon-2:8080');
    const path = join(dir, 'state.json');
    await saveStateFile(path, state, Date.now() - 5_000);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);

    const loaded = new ClusterState();
    const result = await loadStateFile(path, loaded);
    expect(result).toMatchObject({ status: 'loaded', path, apps: state.appCount, tasks: state.taskCount, skipped: [] });
    if (result.status !== 'loaded') throw new Error('not loaded');
    expect(result.savedAt - result.syncedAt).toBeGreaterThanOrEqual(4_000);
    expect(contents(loaded)).toEqual(contents(state));
    expect(loaded.leader).toBe('marathon-2:8080');
  });

  it('a missing file is reported as missing, the state untouched', async () => {
    const state = stateOf(synthetic);
    expect(await loadStateFile(join(dir, 'nope.json'), state)).toEqual({ status: 'missing', path: join(dir, 'nope.json') });
    expect(state.appCount).toBe(synthetic.length);
  });

  it.each([
    ['truncated JSON', (text: string) => text.slice(0, text.length / 2), /is unusable: not valid JSON/],
    ['another format', () => JSON.stringify({ apps: [] }), /is unusable: not a baton state file/],
    ['a newer version', (text: string) => text.replace('"version":1', '"version":99'), /format version 99 is not supported \(this baton reads version 1\)/],
    ['apps not an array', (text: string) => text.replace(/"apps":\[.*\]/, '"apps":{}'), /"apps" is not an array/],
  ])('%s is refused with a message naming the file; the state is untouched', async (_name, corrupt, message) => {
    const path = join(dir, `corrupt-${Math.random()}.json`);
    const text = JSON.stringify(snapshotOf(stateOf(synthetic)));
    expect(parseStateSnapshot(text).snapshot).toBeDefined();
    writeFileSync(path, corrupt(text));
    const state = stateOf(fixtureApps(APP_FIXTURES[1]));
    const before = contents(state);
    const result = await loadStateFile(path, state);
    expect(result.status).toBe('invalid');
    expect(result.status === 'invalid' && result.error).toContain(`state file ${path}`);
    expect(result.status === 'invalid' && result.error).toMatch(message);
    expect(contents(state)).toEqual(before);
  });
});

describe('StateFileWriter', () => {
  it('writes after changes and on stop; the file always parses', async () => {
    const path = join(dir, 'writer.json');
    const state = new ClusterState();
    const writer = new StateFileWriter(state, { path, intervalMs: 50 }).start();
    state.replaceAll(synthetic);
    await waitFor(() => writer.writes >= 1, 5_000);
    for (let i = 0; i < 20; i++) state.replaceApp('/required', { id: '/required', instances: i, portDefinitions: [] });
    await writer.stop();
    const loaded = new ClusterState();
    await loadStateFile(path, loaded);
    expect(loaded.getApp('/required')?.instances).toBe(19);
    expect(writer.writes).toBeLessThan(21);
    expect(writer.failures).toBe(0);
  });

  it('a write that fails is counted and reported, never thrown', async () => {
    const state = new ClusterState();
    const writer = new StateFileWriter(state, { path: join(dir, 'no-such-dir', 'state.json'), intervalMs: 10 }).start();
    state.replaceAll(synthetic);
    await waitFor(() => writer.failures >= 1, 5_000);
    expect(writer.lastError).toContain(join(dir, 'no-such-dir', 'state.json'));
    await writer.stop();
  });
});

describe('state file safety', () => {
  it('the text built app by app is the snapshot', async () => {
    const state = stateOf([...fixtureApps(APP_FIXTURES[0]), ...synthetic]);
    state.setLeader('m1:8080');
    const { pieces, apps } = await snapshotText(state, 1_000_000, 900_000);
    expect(apps).toBe(state.appCount);
    expect(JSON.parse(pieces.join(''))).toEqual(JSON.parse(JSON.stringify(snapshotOf(state, 1_000_000, 900_000))));
  });

  it('never writes through a symlink planted where a temporary file could be created', async () => {
    const sub = join(dir, 'planted');
    mkdirSync(sub);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    // The temporary name used to be `.<name>.<pid>.<Date.now()>.tmp`: plant every one of the next seconds.
    const start = Date.now();
    for (let t = start; t < start + 3_000; t++) symlinkSync(victim, join(sub, `.state.json.${process.pid}.${t}.tmp`));
    await saveStateFile(join(sub, 'state.json'), stateOf(synthetic));
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(parseStateSnapshot(readFileSync(join(sub, 'state.json'), 'utf8')).snapshot?.apps.length).toBe(synthetic.length);
  });
});

describe('StateFileWriter at a graceful stop', () => {
  it('rewrites a state file removed or truncated while running', async () => {
    const path = join(dir, 'restored.json');
    const state = new ClusterState();
    const writer = new StateFileWriter(state, { path, intervalMs: 10 }).start();
    state.replaceAll(synthetic);
    await waitFor(() => writer.writes >= 1, 5_000);
    unlinkSync(path);
    await writer.stop();
    expect(existsSync(path)).toBe(true);
    expect(parseStateSnapshot(readFileSync(path, 'utf8')).snapshot?.apps.length).toBe(synthetic.length);
  });

  it('does not write an empty state that never held anything', async () => {
    const path = join(dir, 'never.json');
    await new StateFileWriter(new ClusterState(), { path }).start().stop();
    expect(existsSync(path)).toBe(false);
  });

  it('reports failed writes in status() and as metrics', async () => {
    const path = join(dir, 'missing-dir', 'state.json');
    const state = new ClusterState();
    const writer = new StateFileWriter(state, { path, intervalMs: 10 }).start();
    state.replaceAll(synthetic);
    await waitFor(() => writer.failures >= 1, 5_000);
    await writer.stop();
    const status = writer.status();
    expect(status).toMatchObject({ path, writes: 0 });
    expect(status.errors).toBeGreaterThanOrEqual(1);
    expect(status.lastError).toMatch(/cannot write state file .*missing-dir.*ENOENT/);
    const text = stateFileMetricsText('baton_x', status);
    expect(text).toMatch(new RegExp(`^baton_x_state_file_errors_total ${status.errors}$`, 'm'));
    expect(text).toMatch(/^baton_x_state_file_failing 1$/m);
    expect(text).toMatch(/^baton_x_state_file_last_error_timestamp_seconds [1-9]/m);
  });
});

describe('statusWithStateFile', () => {
  const base: FeedStatus = { connected: false, stale: true, staleSeconds: 2, eventsApplied: 0, resyncs: 0, reconnects: 0 };

  it('until the first sync: stale, aged from when the saved state was in sync', () => {
    const syncedAt = Date.now() - 90_000;
    const status = statusWithStateFile({ status: () => base }, {
      status: 'loaded', path: '/var/lib/baton/state.json', savedAt: syncedAt, syncedAt, apps: 1, tasks: 1, skipped: [],
    })();
    expect(status.stale).toBe(true);
    expect(status.staleSeconds).toBeGreaterThanOrEqual(90);
    expect(status.lastSyncAt).toBe(syncedAt);
    expect(status.lastError).toContain('/var/lib/baton/state.json');
  });

  it('after the first sync (or without a loaded file): the feed status as it is', () => {
    const synced = { ...base, stale: false, staleSeconds: 0, lastSyncAt: Date.now() };
    const load = { status: 'loaded' as const, path: 'p', savedAt: 0, syncedAt: 0, apps: 0, tasks: 0, skipped: [] };
    expect(statusWithStateFile({ status: () => synced }, load)()).toBe(synced);
    expect(statusWithStateFile({ status: () => base }, { status: 'missing', path: 'p' })()).toBe(base);
  });
});
