import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { silentLogger, startMarathonSource } from '../src/index.js';

let sim: MarathonSimulator;
let dir: string;

beforeAll(async () => {
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, auth: { username: 'u', password: 'p:w' }, logger: silentLogger() });
  await sim.start();
  await sim.createApp({ id: '/web', instances: 1, cmd: 'sleep 1000' });
  await sim.waitForRunning('/web', 1);
  dir = mkdtempSync(join(tmpdir(), 'baton-source-'));
});

afterAll(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('startMarathonSource', () => {
  it('logs in with the credentials of the URL (which leaves it), syncs, and keeps the state file', async () => {
    const withCredentials = sim.url.replace('http://', 'http://u:p%3Aw@');
    const stateFile = join(dir, 'state.json');
    const source = await startMarathonSource({ urls: [withCredentials], stateFile }, silentLogger());
    try {
      expect(source.urls).toEqual([sim.url]);
      expect(source.stateFile).toMatchObject({ status: 'missing' });
      source.start();
      await source.feed.ready();
      expect(source.state.getApp('/web')).toBeDefined();
      expect(source.feedStatus().stale).toBe(false);
    } finally {
      await source.stop();
    }
    expect(existsSync(stateFile)).toBe(true);
    const again = await startMarathonSource({ urls: ['http://127.0.0.1:1'], stateFile }, silentLogger());
    expect(again.stateFile).toMatchObject({ status: 'loaded', apps: 1 });
    expect(again.state.getApp('/web')).toBeDefined();
    await again.stop();
  });

  it('refuses a zk:// URL without a ZooKeeper resolver', async () => {
    await expect(startMarathonSource({ urls: ['zk://127.0.0.1:1/marathon'] }, silentLogger())).rejects.toThrow(/zk:\/\/ Marathon URL needs a ZooKeeper resolver/);
  });
});
