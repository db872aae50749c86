// baton-env as a process against the Marathon simulator.

import { MarathonSimulator } from '@baton/marathon-sim';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/wait.js';
import { BIN, cleanEnv, closedPort, countingProxy, ensureBuilt, evalShell, runEnv } from './helpers/run.js';

let sim: MarathonSimulator;

beforeAll(async () => {
  ensureBuilt();
  sim = new MarathonSimulator({ heartbeatMs: 0 });
  await sim.start();
});
afterAll(async () => {
  await sim?.stop();
});

const SEEDS = ['AKKA_SEED_NODES', 'AKKA_CLUSTER_FOUNDER'];

type SimTask = Awaited<ReturnType<MarathonSimulator['waitForRunning']>>[number];
const address = (t: SimTask, index = 0) => `${t.host}:${t.ports[index]}`;
const byStart = (a: SimTask, b: SimTask) =>
  Date.parse(a.startedAt!) - Date.parse(b.startedAt!) || Date.parse(a.stagedAt) - Date.parse(b.stagedAt) || (a.id < b.id ? -1 : 1);

function akka(app: string, extra: string[] = [], env: Record<string, string> = {}) {
  return runEnv(['akka', '--app', app, '--marathon', sim.url, ...extra], { env: cleanEnv(env) });
}

async function seedsOf(app: string, extra: string[] = [], env: Record<string, string> = {}) {
  const result = await akka(app, extra, env);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return evalShell(result.stdout, SEEDS);
}

describe('baton-env akka', () => {
  it('the first node alone finds only itself, is first and founds the cluster', async () => {
    await sim.createApp({ id: '/lone', instances: 1, portDefinitions: [{ port: 0 }] });
    const [task] = await sim.waitForRunning('/lone');
    const vars = await seedsOf('/lone', [], { MESOS_TASK_ID: task.id });
    expect(vars).toEqual({ AKKA_SEED_NODES: address(task), AKKA_CLUSTER_FOUNDER: 'true' });
  });

  it('three nodes starting at once all print the same list; only the oldest founds', async () => {
    await sim.createApp({ id: '/trio', instances: 3, portDefinitions: [{ port: 0 }] });
    const tasks = await sim.waitForRunning('/trio');
    const results = await Promise.all(tasks.map((t) => akka('/trio', [], { MESOS_TASK_ID: t.id })));
    const outputs = results.map((r) => {
      expect(r.code).toBe(0);
      return evalShell(r.stdout, SEEDS);
    });
    const expected = [...tasks].sort(byStart).map((t) => address(t)).join(',');
    for (const out of outputs) expect(out.AKKA_SEED_NODES).toBe(expected);
    const founders = tasks.filter((_, i) => outputs[i].AKKA_CLUSTER_FOUNDER === 'true');
    expect(founders.map((t) => t.id)).toEqual([[...tasks].sort(byStart)[0].id]);
  });

  it('also finds the node from HOST and PORT0 when MESOS_TASK_ID is not set', async () => {
    const tasks = (await sim.waitForRunning('/trio')).sort(byStart);
    const oldest = await seedsOf('/trio', [], { HOST: tasks[0].host, PORT0: String(tasks[0].ports[0]) });
    const youngest = await seedsOf('/trio', [], { HOST: tasks[2].host, PORT0: String(tasks[2].ports[0]) });
    expect(oldest.AKKA_CLUSTER_FOUNDER).toBe('true');
    expect(youngest.AKKA_CLUSTER_FOUNDER).toBe('false');
    expect(youngest.AKKA_SEED_NODES).toBe(oldest.AKKA_SEED_NODES);
  });

  it('a restarting node (its task replaced) is youngest: listed last, never first', async () => {
    await sim.createApp({ id: '/phoenix', instances: 3, portDefinitions: [{ port: 0 }] });
    const before = (await sim.waitForRunning('/phoenix')).sort(byStart);
    const oldest = before[0];
    sim.killTask(oldest.id, { state: 'TASK_FAILED' });
    await waitFor(() => sim.tasks('/phoenix').filter((t) => t.state === 'TASK_RUNNING' && t.id !== oldest.id).length === 3, 15_000);
    const replacement = sim.tasks('/phoenix').find((t) => !before.some((b) => b.id === t.id))!;
    const vars = await seedsOf('/phoenix', [], { MESOS_TASK_ID: replacement.id });
    const list = vars.AKKA_SEED_NODES.split(',');
    expect(list).toEqual([address(before[1]), address(before[2]), address(replacement)]);
    expect(vars.AKKA_CLUSTER_FOUNDER).toBe('false');
  });

  it('--healthy-only leaves out unhealthy tasks (but keeps the oldest, the only possible founder)', async () => {
    await sim.createApp({ id: '/health', instances: 3, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'HTTP' }] });
    const tasks = (await sim.waitForRunning('/health')).sort(byStart);
    sim.setTaskHealth(tasks[1].id, false);
    const all = await seedsOf('/health');
    expect(all.AKKA_SEED_NODES).toBe(tasks.map((t) => address(t)).join(','));
    const healthy = await seedsOf('/health', ['--healthy-only']);
    expect(healthy.AKKA_SEED_NODES).toBe([tasks[0], tasks[2]].map((t) => address(t)).join(','));

    sim.setTaskHealth(tasks[0].id, false);
    const oldestUnhealthy = await seedsOf('/health', ['--healthy-only'], { MESOS_TASK_ID: tasks[1].id });
    // The unhealthy oldest stays first; this (unhealthy, starting) node stays listed, in its place.
    expect(oldestUnhealthy.AKKA_SEED_NODES).toBe(tasks.map((t) => address(t)).join(','));
    expect(oldestUnhealthy.AKKA_CLUSTER_FOUNDER).toBe('false');
  });

  it('formats Akka URIs, picks a port by name, renames the variable', async () => {
    await sim.createApp({ id: '/named', instances: 2, portDefinitions: [{ port: 0, name: 'http' }, { port: 0, name: 'remoting' }] });
    const tasks = (await sim.waitForRunning('/named')).sort(byStart);
    const vars = await seedsOf('/named', ['--port-name', 'remoting', '--system', 'meter']);
    expect(vars.AKKA_SEED_NODES).toBe(tasks.map((t) => `akka.tcp://meter@${address(t, 1)}`).join(','));
    const artery = await seedsOf('/named', ['--port-index', '1', '--system', 'meter', '--protocol', 'akka']);
    expect(artery.AKKA_SEED_NODES).toBe(tasks.map((t) => `akka://meter@${address(t, 1)}`).join(','));
    const hosts = await akka('/named', ['--form', 'hosts', '--var', 'SEEDS']);
    expect(evalShell(hosts.stdout, ['SEEDS']).SEEDS).toBe(tasks.map((t) => t.host).join(','));
    const badName = await akka('/named', ['--port-name', 'grpc']);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('app /named has no port named "grpc" (its ports: http, remoting)');
  });

  it('prints every output format', async () => {
    const [task] = await sim.waitForRunning('/lone');
    const env = { MESOS_TASK_ID: task.id };
    const shell = await akka('/lone', ['--format', 'shell'], env);
    expect(shell.stdout).toBe(`export AKKA_SEED_NODES='${address(task)}'\nexport AKKA_CLUSTER_FOUNDER='true'\n`);
    const dotenv = await akka('/lone', ['--format', 'dotenv'], env);
    expect(dotenv.stdout).toBe(`AKKA_SEED_NODES=${address(task)}\nAKKA_CLUSTER_FOUNDER=true\n`);
    const json = await akka('/lone', ['--format=json'], env);
    expect(JSON.parse(json.stdout)).toEqual({ AKKA_SEED_NODES: address(task), AKKA_CLUSTER_FOUNDER: 'true' });
  });
});

describe('baton-env service', () => {
  it('prints <VAR>_HOSTS of every task and <VAR>_HOST/<VAR>_PORT of the oldest', async () => {
    await sim.createApp({ id: '/prod/meter', instances: 3, portDefinitions: [{ port: 0 }, { port: 0 }] });
    const tasks = (await sim.waitForRunning('/prod/meter')).sort(byStart);
    const result = await runEnv(['service', '--app', '/prod/meter', '--port-index', '1', '--var', 'METER', '--marathon', sim.url]);
    expect(result.code).toBe(0);
    expect(evalShell(result.stdout, ['METER_HOSTS', 'METER_HOST', 'METER_PORT'])).toEqual({
      METER_HOSTS: tasks.map((t) => address(t, 1)).join(','),
      METER_HOST: tasks[0].host,
      METER_PORT: String(tasks[0].ports[1]),
    });
  });
});

describe('errors', () => {
  it('a missing app exits 1 saying so', async () => {
    const result = await akka('/does/not/exist');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('baton-env: app /does/not/exist does not exist\n');
  });

  it('Marathon down exits 1 naming every URL tried', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const result = await runEnv(['akka', '--app', '/lone'], {
      env: cleanEnv({ MARATHON_URL: `http://127.0.0.1:${a},http://127.0.0.1:${b}` }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`http://127.0.0.1:${a} (connection refused)`);
    expect(result.stderr).toContain(`http://127.0.0.1:${b} (connection refused)`);
  });

  it('tries the next Marathon when the first is down', async () => {
    const dead = await closedPort();
    const ordered = await runEnv(['akka', '--app', '/lone', '--marathon', `http://127.0.0.1:${dead}`, '--marathon', sim.url]);
    expect(ordered.code).toBe(0);
    expect(ordered.stdout).toContain('AKKA_SEED_NODES=');
  });

  it('bad flags exit 2 naming the flag; --help exits 0 for every subcommand', async () => {
    const bad = await runEnv(['akka', '--app', '/lone', '--port-idx', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--port-idx');
    const badValue = await runEnv(['akka', '--app', '/lone', '--wait', 'forever']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toContain('--wait');
    const noMarathon = await runEnv(['akka', '--app', '/lone']);
    expect(noMarathon.code).toBe(2);
    expect(noMarathon.stderr).toContain('MARATHON_URL');
    for (const args of [['--help'], ['akka', '--help'], ['kafka', '--help'], ['service', '--help'], ['exec', '--help']]) {
      const help = await runEnv(args);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(args[0] === '--help' ? 'Usage:' : `baton-env ${args[0]}`);
    }
  });

  it('uses credentials from flags or the environment', async () => {
    const secured = new MarathonSimulator({ heartbeatMs: 0, auth: { username: 'ops', password: "s3cret'$", token: 'tok' } });
    await secured.start();
    try {
      await secured.createApp({ id: '/sec', instances: 1, portDefinitions: [{ port: 0 }] });
      await secured.waitForRunning('/sec');
      const denied = await runEnv(['akka', '--app', '/sec', '--marathon', secured.url]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain('credentials rejected');
      const byFlag = await runEnv(['akka', '--app', '/sec', '--marathon', secured.url, '--auth-credentials', "ops:s3cret'$"]);
      expect(byFlag.code).toBe(0);
      const byToken = await runEnv(['akka', '--app', '/sec', '--marathon', secured.url, '--token', 'tok']);
      expect(byToken.code).toBe(0);
      const byEnv = await runEnv(['akka', '--app', '/sec'], {
        env: cleanEnv({ MARATHON_URL: secured.url, MARATHON_USER: 'ops', MARATHON_PASSWORD: "s3cret'$" }),
      });
      expect(byEnv.code).toBe(0);
      const byEnvToken = await runEnv(['akka', '--app', '/sec'], { env: cleanEnv({ MARATHON_URL: secured.url, DCOS_AUTH_TOKEN: 'tok' }) });
      expect(byEnvToken.code).toBe(0);
    } finally {
      await secured.stop();
    }
  });
});

describe('--wait and --min', () => {
  it('times out with a non-zero exit and says what was found', async () => {
    const [task] = await sim.waitForRunning('/lone');
    const result = await akka('/lone', ['--min', '3', '--wait', '1500ms', '--interval', '200ms']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`found 1 of at least 3 running tasks of /lone after waiting 1500ms: ${address(task)}`);
  });

  it('without --wait, too few is an immediate error', async () => {
    const result = await akka('/lone', ['--min', '2']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('found 1 of at least 2 running tasks of /lone');
  });

  it('succeeds when tasks arrive during the wait (even an app created during the wait)', async () => {
    const proxy = await countingProxy(sim.url);
    try {
      const run = runEnv(['akka', '--app', '/late', '--marathon', proxy.url, '--min', '2', '--wait', '30s', '--interval', '200ms']);
      await waitFor(() => proxy.requests() >= 1, 15_000); // it has asked once: the app does not exist yet
      await sim.createApp({ id: '/late', instances: 1, portDefinitions: [{ port: 0 }] });
      await sim.waitForRunning('/late');
      const polled = proxy.requests();
      await waitFor(() => proxy.requests() > polled, 15_000); // it has seen one task: still waiting
      await sim.scaleApp('/late', 2);
      const tasks = (await sim.waitForRunning('/late', 2)).sort(byStart);
      const result = await run;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(evalShell(result.stdout, SEEDS).AKKA_SEED_NODES).toBe(tasks.map((t) => address(t)).join(','));
    } finally {
      await proxy.close();
    }
  });

  it('waits for a missing app and then reports it missing', async () => {
    const result = await akka('/never', ['--wait', '600ms', '--interval', '200ms']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('app /never does not exist (still after waiting 600ms)');
  });
});

describe('baton-env exec', () => {
  it('runs the command with the variables set and exits with its code', async () => {
    const [task] = await sim.waitForRunning('/lone');
    const result = await runEnv(
      ['exec', 'akka', '--app', '/lone', '--marathon', sim.url, '--', 'sh', '-c', 'printf "%s|%s|%s" "$AKKA_SEED_NODES" "$AKKA_CLUSTER_FOUNDER" "$KEPT"; exit 7'],
      { env: cleanEnv({ MESOS_TASK_ID: task.id, KEPT: 'inherited' }) },
    );
    expect(result.code).toBe(7);
    expect(result.stdout).toBe(`${address(task)}|true|inherited`);
  });

  it('ends with the signal that ended the command', async () => {
    const result = await runEnv(['exec', 'akka', '--app', '/lone', '--marathon', sim.url, '--', 'sh', '-c', 'kill -TERM $$']);
    expect(result.signal).toBe('SIGTERM');
  });

  it('forwards SIGTERM to the command', async () => {
    const run = runEnv([
      'exec', 'service', '--app', '/lone', '--var', 'LONE', '--marathon', sim.url, '--',
      'sh', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.05; done',
    ]);
    // The command prints "ready" once it runs; then signal baton-env (not the command).
    await waitFor(() => run.output() === 'ready\n', 15_000);
    const pid = run.pid!;
    process.kill(pid, 'SIGTERM');
    const result = await run;
    expect(result.stdout).toBe('ready\ngot-term\n');
    expect(result.code).toBe(3);
  });

  it('does not run the command when the lookup fails', async () => {
    const result = await runEnv(['exec', 'akka', '--app', '/nope', '--marathon', sim.url, '--', 'sh', '-c', 'echo ran']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('app /nope does not exist');
  });

  it('exits 127 when the command cannot be started', async () => {
    const result = await runEnv(['exec', 'akka', '--app', '/lone', '--marathon', sim.url, '--', '/no/such/command']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('/no/such/command');
  });
});

describe('start-up weight', () => {
  it('akka and service load only node built-ins, baton-env\'s own modules, @baton/marathon/basic-auth and the bins\' flag module (no ZooKeeper, pino, undici)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-env-trace-'));
    try {
      const hooks = join(dir, 'hooks.mjs');
      writeFileSync(hooks, `export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }\n`);
      const register = join(dir, 'register.mjs');
      writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
      for (const args of [
        ['akka', '--app', '/lone', '--marathon', sim.url],
        ['service', '--app', '/lone', '--var', 'LONE', '--marathon', sim.url],
      ]) {
        const result = await runEnv(args, { command: [process.execPath, '--import', register, BIN] });
        expect(result.code).toBe(0);
        const loaded = result.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
        expect(loaded.length).toBeGreaterThan(3);
        // @baton/marathon/basic-auth (only node:crypto) and /cli-flags (only node:util): light modules every bin shares.
        const light = (url: string) =>
          url.startsWith('node:') || url.includes('/packages/discovery/') || url.endsWith('/packages/marathon/dist/basic-auth.js') || url.endsWith('/packages/marathon/dist/cli-flags.js');
        const foreign = loaded.filter((url) => !light(url));
        expect(foreign).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
