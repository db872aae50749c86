// The Marathon app definitions in examples/marathon/ are deployable: Marathon (the simulator, over
// real HTTP) accepts each one, runs its tasks, and keeps what the deployment relies on (constraints,
// fixed ports, labels, health checks); and every baton command line in them is one the bins accept,
// with the variables Marathon sets for the task expanded.
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator, taskEnvironment } from '@baton/marathon-sim';
import { parseDnsConfig } from '@baton/dns';
import { parseArgs as parseLbArgs, usage as lbUsage } from '../packages/lb/src/cli.js';
import { parseArgs as parseDnsArgs, USAGE as DNS_USAGE } from '../packages/dns/src/cli.js';
import { parseArgs as parseEnvArgs } from '../packages/discovery/src/args.js';
import { HELP as ENV_HELP } from '../packages/discovery/src/help.js';
import { waitFor } from './helpers/wait.js';

type Json = Record<string, any>;

const dir = new URL('../examples/marathon/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const definitions: [string, Json][] = files.map((f) => [f, JSON.parse(readFileSync(new URL(f, dir), 'utf8'))]);
const byId = (id: string): Json => definitions.find(([, d]) => d.id === id)![1];

/**
 * The simple commands of a `/bin/sh -c` string, as argv arrays after quote removal and expansion of
 * `$VAR` / `${VAR}` from `env`. Handles '…', "…", \x, `$(…)` (its commands are listed too; the
 * substitution itself becomes a placeholder word), assignments and the separators ; | || & &&. Enough for a
 * Marathon `cmd`; anything it does not know stays part of a word.
 */
function shellCommands(src: string, taskEnv: Record<string, string>): string[][] {
  const commands: string[][] = [];
  const env = { ...taskEnv };
  let i = 0;
  const dollar = (): string => {
    if (src[i + 1] === '(') {
      i += 2;
      list(true);
      return '<command output>';
    }
    const m = /^\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))/.exec(src.slice(i));
    if (!m) {
      i++;
      return '$';
    }
    i += m[0].length;
    const name = m[1] ?? m[2];
    if (env[name] === undefined) throw new Error(`$${name} is neither set by Marathon nor in the app's env`);
    return env[name];
  };
  const list = (nested: boolean): void => {
    let words: string[] = [];
    let word: string | undefined;
    const endWord = () => {
      if (word !== undefined) words.push(word);
      word = undefined;
    };
    const endCommand = () => {
      endWord();
      if (words.length > 0) commands.push(words);
      // A command of assignments only (`x="$(…)"`) sets shell variables for what follows.
      if (words.every((w) => /^[A-Za-z_]\w*=/.test(w))) {
        for (const w of words) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
      }
      words = [];
    };
    while (i < src.length) {
      const c = src[i];
      if (c === ')' && nested) {
        i++;
        endCommand();
        return;
      }
      if (c === ' ' || c === '\t' || c === '\n') {
        endWord();
        i++;
      } else if (c === ';' || c === '|' || c === '&') {
        endCommand();
        while (src[i] === ';' || src[i] === '|' || src[i] === '&') i++;
      } else if (c === "'") {
        const end = src.indexOf("'", i + 1);
        if (end < 0) throw new Error(`unclosed ' in: ${src}`);
        word = (word ?? '') + src.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        word = word ?? '';
        i++;
        while (src[i] !== '"') {
          if (i >= src.length) throw new Error(`unclosed " in: ${src}`);
          if (src[i] === '\\' && '"\\$`'.includes(src[i + 1])) {
            word += src[i + 1];
            i += 2;
          } else if (src[i] === '$') word += dollar();
          else word += src[i++];
        }
        i++;
      } else if (c === '$') {
        word = (word ?? '') + dollar();
      } else if (c === '\\') {
        word = (word ?? '') + src[i + 1];
        i += 2;
      } else {
        word = (word ?? '') + c;
        i++;
      }
    }
    if (nested) throw new Error(`unclosed $( in: ${src}`);
    endCommand();
  };
  list(false);
  return commands;
}

/** The baton invocations among `commands`, without a leading `exec` or variable assignments. */
function batonInvocations(commands: string[][]): { bin: string; args: string[] }[] {
  const out: { bin: string; args: string[] }[] = [];
  for (let words of commands) {
    while (words.length > 0 && (words[0] === 'exec' || /^[A-Za-z_]\w*=/.test(words[0]))) words = words.slice(1);
    if (words.length > 0 && /^baton-/.test(words[0])) out.push({ bin: words[0], args: words.slice(1) });
  }
  return out;
}

/** The flags named on a command line, up to a `--` that starts a command of its own. */
function flagsOf(args: string[]): string[] {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]);
}

/** Checks one invocation as its bin would parse it; returns the parsed options. */
/** `flag` appears in a --help text as a whole flag (not as the start of a longer one). */
function listed(flag: string): RegExp {
  return new RegExp(`(^|[\\s,])${flag}(?=[\\s=,]|$)`, 'm');
}

function validate(bin: string, args: string[]): unknown {
  switch (bin) {
    case 'baton-lb':
      for (const flag of flagsOf(args)) expect(lbUsage(), `baton-lb --help lists ${flag}`).toMatch(listed(flag));
      return parseLbArgs(args);
    case 'baton-dns':
      for (const flag of flagsOf(args)) expect(DNS_USAGE, `baton-dns --help lists ${flag}`).toMatch(listed(flag));
      return parseDnsArgs(args);
    case 'baton-env': {
      const sub = args[0] === 'exec' ? args[1] : args[0];
      for (const flag of flagsOf(args.slice(args[0] === 'exec' ? 2 : 1))) {
        expect(ENV_HELP[sub] ?? '', `baton-env ${sub} --help lists ${flag}`).toMatch(listed(flag));
      }
      return parseEnvArgs(args);
    }
    default:
      throw new Error(`unknown bin ${bin}`);
  }
}

/** Agents of the simulated cluster (the definitions are written for three). */
const AGENTS = 3;
let sim: MarathonSimulator;
beforeAll(async () => {
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, agents: AGENTS, heartbeatMs: 500, logger: silentLogger() });
  await sim.start();
});
afterAll(async () => {
  await sim?.stop();
});

const deployments = new Map<string, Promise<Response>>();
/** POSTs the definition once (later calls reuse the first answer), so each test can run alone. */
function deploy(def: Json): Promise<Response> {
  if (!deployments.has(def.id)) {
    deployments.set(def.id, fetch(`${sim.url}/v2/apps`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(def),
    }));
  }
  return deployments.get(def.id)!.then((res) => res.clone());
}

async function waitForRunning(def: Json): Promise<Json> {
  let app: Json = {};
  await waitFor(async () => {
    app = await getApp(def.id);
    return app.tasks.length === def.instances && app.tasks.every((t: Json) => t.state === 'TASK_RUNNING');
  }, 15_000, 50);
  return app;
}

async function getApp(id: string): Promise<Json> {
  const res = await fetch(`${sim.url}/v2/apps${id}?embed=app.tasks`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { app: Json }).app;
}

/** The environment Marathon gives the app's first task, with Mesos's sandbox path. */
function firstTaskEnv(id: string): Record<string, string> {
  const app = sim.cluster.getApp(id)!;
  const task = [...app.tasks.values()][0];
  return { ...taskEnvironment(app, task), MESOS_SANDBOX: '/mnt/mesos/sandbox' };
}

describe('examples/marathon app definitions', () => {
  it('has the four deployments the README describes', () => {
    expect(definitions.map(([, d]) => d.id).sort()).toEqual(['/baton-dns', '/marathon-lb', '/marathon-lb-internal', '/meter']);
  });

  it.each(definitions)('%s is accepted by Marathon, runs every instance and keeps its definition', async (_file, def) => {
    const res = await deploy(def);
    expect(res.status, await res.clone().text()).toBe(201);
    const app = await waitForRunning(def);

    expect(app.instances).toBe(def.instances);
    expect(app.constraints ?? []).toEqual(def.constraints ?? []);
    expect(app.labels).toEqual(def.labels);
    expect(app.env).toEqual(def.env);
    expect(app.cmd).toBe(def.cmd);
    expect(app.networks).toEqual([{ mode: 'host' }]);
    expect(app.requirePorts).toBe(def.requirePorts ?? false);
    expect(app.container.docker.image).toBe(def.container.docker.image);
    expect(app.acceptedResourceRoles ?? null).toEqual(def.acceptedResourceRoles ?? null);
    const ports = app.portDefinitions.map((p: Json) => ({ name: p.name, protocol: p.protocol }));
    expect(ports).toEqual(def.portDefinitions.map((p: Json) => ({ name: p.name, protocol: p.protocol })));
    def.portDefinitions.forEach((p: Json, i: number) => {
      if (p.port !== 0) expect(app.portDefinitions[i].port).toBe(p.port);
    });
    expect(app.healthChecks.map((h: Json) => [h.protocol, h.path, h.portIndex])).toEqual(
      def.healthChecks.map((h: Json) => [h.protocol, h.path, h.portIndex]),
    );
    if (def.requirePorts) {
      // Fixed host ports: every task listens on exactly the declared ports.
      for (const task of app.tasks) expect(task.ports).toEqual(def.portDefinitions.map((p: Json) => p.port));
    }
  });

  it('baton-dns runs once per agent (hostname UNIQUE) on ports 53 and 8123, health-checked on its HTTP API', async () => {
    const def = byId('/baton-dns');
    expect(def.constraints).toContainEqual(['hostname', 'UNIQUE']);
    await deploy(def);
    const app = await waitForRunning(def);
    expect(def.instances).toBe(AGENTS);
    expect(new Set(app.tasks.map((t: Json) => t.host)).size).toBe(AGENTS);

    const [dns] = batonInvocations(shellCommands(def.cmd, firstTaskEnv('/baton-dns')));
    const options = validate(dns.bin, dns.args) as ReturnType<typeof parseDnsArgs>;
    expect(options.overrides.port).toBe(53);
    const check = def.healthChecks[0];
    expect(check.path).toBe('/health');
    expect(def.portDefinitions[check.portIndex].port).toBe(options.overrides.httpPort);
    expect(def.portDefinitions[0]).toMatchObject({ port: 53, protocol: 'udp,tcp' });

    // The config.json the command writes from $MESOS_DNS_CONFIG: only keys baton-dns knows, valid.
    const parsed = parseDnsConfig(JSON.parse(def.env.MESOS_DNS_CONFIG), options.overrides);
    expect(parsed.error).toBeUndefined();
    expect(parsed.warnings ?? []).toEqual([]);
    expect(parsed.config!.marathon.length).toBeGreaterThan(0);
  });

  it.each(['/marathon-lb', '/marathon-lb-internal'])('%s: valid baton-lb flags, health check on the admin port, not routed itself', async (id) => {
    const def = byId(id);
    await deploy(def);
    await waitForRunning(def);
    expect(Object.keys(def.labels).filter((k) => k.startsWith('HAPROXY_'))).toEqual([]);
    expect(def.env.FRAMEWORK_NAME).toBe(id.slice(1));

    const [lb] = batonInvocations(shellCommands(def.cmd, firstTaskEnv(id)));
    expect(lb.bin).toBe('baton-lb');
    const options = validate(lb.bin, lb.args) as ReturnType<typeof parseLbArgs>;
    expect(options.groups).toEqual([id === '/marathon-lb' ? 'external' : 'internal']);

    const check = def.healthChecks[0];
    expect(check.path).toBe('/_haproxy_health_check');
    expect(def.portDefinitions[check.portIndex].port).toBe(options.adminPort);
    // Every port the LB binds is a declared, required port of its own.
    const bound = [options.adminPort, options.appIdPort, ...(options.dontBindHttpHttps ? [] : [options.httpPort, options.httpsPort])];
    expect(def.portDefinitions.map((p: Json) => p.port).sort()).toEqual(bound.sort());
  });

  it('the external and internal LBs serve different groups', async () => {
    for (const id of ['/marathon-lb', '/marathon-lb-internal']) {
      await deploy(byId(id));
      await waitForRunning(byId(id));
    }
    const groups = (id: string) => (validate('baton-lb', batonInvocations(shellCommands(byId(id).cmd, firstTaskEnv(id)))[0].args) as ReturnType<typeof parseLbArgs>).groups;
    expect(groups('/marathon-lb')).not.toEqual(groups('/marathon-lb-internal'));
  });

  it('meter looks up Kafka brokers and Akka seeds with baton-env flags that exist', async () => {
    const def = byId('/meter');
    await deploy(def);
    await waitForRunning(def);
    const env = firstTaskEnv('/meter');
    const calls = batonInvocations(shellCommands(def.cmd, env));
    expect(calls.map((c) => `${c.bin} ${c.args[0]}`)).toEqual(['baton-env kafka', 'baton-env exec']);
    const requests = calls.map((c) => validate(c.bin, c.args) as ReturnType<typeof parseEnvArgs>);
    expect(requests.map((r) => r.kind)).toEqual(['run', 'run']);
    const akka = requests[1] as Extract<ReturnType<typeof parseEnvArgs>, { subcommand: 'akka' }>;
    expect(akka.subcommand).toBe('akka');
    expect(akka.flags.app).toBe('/meter');
    expect(akka.exec).toEqual(['bin/meter']);
    // The port named for the seeds exists, and Marathon exports it to the task.
    expect(def.portDefinitions.map((p: Json) => p.name)).toContain(akka.flags.portName);
    expect(env[`PORT_${akka.flags.portName!.toUpperCase()}`]).toMatch(/^\d+$/);
    expect(env.MARATHON_URL).toMatch(/^http:\/\//);

    const app = await getApp('/meter');
    expect(app.labels.HAPROXY_GROUP.split(',')).toEqual(['external', 'internal']);
    expect(app.portDefinitions[0].port).toBe(10002);
  });

  it('the shell reader finds commands inside $(…) and expands only known variables', () => {
    expect(shellCommands(`x="$(baton-env kafka --zk 'zk://a:1/k')" && eval "$x" ; exec baton-lb --group "$G"`, { x: 'X', G: 'g' })).toEqual([
      ['baton-env', 'kafka', '--zk', 'zk://a:1/k'],
      ['x=<command output>'],
      ['eval', '<command output>'],
      ['exec', 'baton-lb', '--group', 'g'],
    ]);
    expect(() => shellCommands('baton-lb --group "$NOPE"', {})).toThrow(/\$NOPE/);
    expect(() => validate('baton-lb', ['--group', 'external', '--no-such-flag'])).toThrow();
  });
});
