import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { http, waitFor } from './helpers.js';
import { parseArgs } from '../src/cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/marathon-sim/bin/baton-sim.js');

describe('baton-sim CLI', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/marathon-sim'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('prints usage for --help', () => {
    const res = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('Usage: baton-sim');
    for (const flag of ['--port', '--host', '--faces', '--exec', '--auth', '--token', '--heartbeat-ms', '--apps', '--agents', '--id-format', '--log-level']) {
      expect(res.stdout).toContain(flag);
    }
  });

  it('rejects an unknown flag, naming it', () => {
    const res = spawnSync(process.execPath, [bin, '--bogus'], { encoding: 'utf8' });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("baton-sim: unknown flag --bogus\nTry 'baton-sim --help'");
  });

  it('parses flag values and reports bad ones', () => {
    expect(parseArgs(['--port', '0', '--faces=2', '--auth', 'a:b:c', '--token', 't', '--id-format', '1.7', '--heartbeat-ms', '100']).sim).toMatchObject({
      port: 0, faces: 2, auth: { username: 'a', password: 'b:c', token: 't' }, idFormat: '1.7', heartbeatMs: 100,
    });
    expect(() => parseArgs(['--faces', '0'])).toThrow(/--faces/);
    expect(() => parseArgs(['--id-format', '2.0'])).toThrow(/--id-format/);
    expect(() => parseArgs(['--port'])).toThrow(/--port needs a value/);
  });

  describe('running', () => {
    let child: ChildProcess;
    let dir: string;
    let out = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'baton-sim-cli-'));
      const apps = join(dir, 'apps.json');
      writeFileSync(apps, JSON.stringify([{ id: '/preloaded', instances: 2 }]));
      child = spawn(process.execPath, [bin, '--port', '0', '--faces', '2', '--apps', apps, '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    });
    afterAll(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    it('prints its URLs, serves preloaded apps and exits cleanly on SIGTERM', async () => {
      const line = await waitFor(() => out.match(/^baton-sim listening on (\S+) (\S+)\n/m), 20_000, 'listening line');
      const [leader, standby] = [line[1], line[2]];
      await waitFor(async () => (await http('GET', `${leader}/v2/apps/preloaded`)).json().app?.tasksRunning === 2, 10_000, 'preloaded app running');
      expect((await http('GET', `${standby}/v2/leader`)).json().leader).toBe(leader.replace('http://', ''));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
});
