// baton-sim: run the Marathon simulator from the command line.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError, createLogger, onStopSignal, parseFlags, parseLogLevel, reportUsageError, type FlagSpec } from '@baton/marathon';
import { MarathonSimulator, type SimulatorOptions, type VirtualHealth } from './simulator.js';

export const USAGE = `Usage: baton-sim [options]

A Marathon-API-compatible simulator (REST, /v2/events, Mesos /master/state, /_sim/ control API).

Options:
  --port <n>               port of the first face (default 8080; 0 = ephemeral); face i listens on port+i
  --host <addr>            address to listen on (default 127.0.0.1)
  --faces <n>              number of Marathon instances (HTTP faces); face 0 starts as leader (default 1)
  --exec                   run each app's cmd as a real local process with Marathon's task environment
  --auth <user:pass>       require HTTP Basic credentials on every Marathon path
  --token <token>          accept "Authorization: token=<token>" on every Marathon path
  --dcos-login-key <uid=public.pem>
                           emulate DC/OS's service-account login (POST /acs/api/v1/auth/login, RS256 JWT
                           checked with this public key) and require its token on every Marathon path;
                           repeat for more accounts
  --dcos-token-ttl-ms <n>  lifetime of the tokens the login issues (default 5 days)
  --heartbeat-ms <n>       event stream heartbeat period (default 10000)
  --task-start-delay-ms <n> delay from TASK_STAGING to TASK_RUNNING (default 20)
  --virtual-health <h>     healthy | unhealthy | none: what virtual tasks with health checks report (default healthy)
  --apps <file.json>       create these apps at start (an array of app definitions or {"apps": [...]})
  --agents <n>             number of simulated agents (default 3)
  --id-format <1.8|1.7>    task/instance id format (default 1.8)
  --log-level <level>      trace | debug | info | warn | error | fatal | silent (default info; logs go to stderr)
  -h, --help               show this help
`;

export interface CliOptions {
  sim: SimulatorOptions;
  appsFile?: string;
  logLevel: string;
  help: boolean;
}

export { UsageError };

const SPEC: FlagSpec = {
  help: { type: 'boolean', short: 'h' },
  port: { type: 'string' },
  host: { type: 'string' },
  faces: { type: 'string' },
  exec: { type: 'boolean' },
  auth: { type: 'string' },
  token: { type: 'string' },
  'dcos-login-key': { type: 'string', multiple: true },
  'dcos-token-ttl-ms': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'task-start-delay-ms': { type: 'string' },
  'virtual-health': { type: 'string' },
  apps: { type: 'string' },
  agents: { type: 'string' },
  'id-format': { type: 'string' },
  'log-level': { type: 'string' },
};

function integer(flag: string, value: string, min = 0): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got ${value}`);
  return Number(value);
}

function loginKey(value: string): [uid: string, pem: string] {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new UsageError(`--dcos-login-key needs uid=public-key.pem, got ${value}`);
  try {
    const pem = readFileSync(value.slice(eq + 1), 'utf8');
    createPublicKey(pem);
    return [value.slice(0, eq), pem];
  } catch (err) {
    throw new UsageError(`--dcos-login-key ${value}: ${(err as Error).message}`);
  }
}

export function parseArgs(argv: string[]): CliOptions {
  const v = parseFlags(SPEC, argv).values as Record<string, string | undefined> & { 'dcos-login-key'?: string[] };
  const sim: SimulatorOptions = { port: 8080 };
  const out: CliOptions = { sim, logLevel: process.env.BATON_LOG_LEVEL ?? 'info', help: v.help === (true as unknown) };
  if (v.port !== undefined) sim.port = integer('--port', v.port);
  if (v.host !== undefined) sim.host = v.host;
  if (v.faces !== undefined) sim.faces = integer('--faces', v.faces, 1);
  if (v.exec !== undefined) sim.exec = true;
  if (v.auth !== undefined) {
    const colon = v.auth.indexOf(':');
    if (colon <= 0) throw new UsageError(`--auth needs user:pass, got ${v.auth}`);
    sim.auth = { username: v.auth.slice(0, colon), password: v.auth.slice(colon + 1) };
  }
  if (v.token !== undefined) sim.auth = { ...sim.auth, token: v.token };
  const keys = v['dcos-login-key'];
  const ttl = v['dcos-token-ttl-ms'];
  if (keys !== undefined) sim.dcosLogin = { accounts: Object.fromEntries(keys.map(loginKey)) };
  if (ttl !== undefined) {
    const tokenTtlMs = integer('--dcos-token-ttl-ms', ttl, 1);
    if (sim.dcosLogin === undefined) throw new UsageError('--dcos-token-ttl-ms needs --dcos-login-key');
    sim.dcosLogin.tokenTtlMs = tokenTtlMs;
  }
  if (v['heartbeat-ms'] !== undefined) sim.heartbeatMs = integer('--heartbeat-ms', v['heartbeat-ms']);
  if (v['task-start-delay-ms'] !== undefined) sim.taskStartDelayMs = integer('--task-start-delay-ms', v['task-start-delay-ms']);
  const health = v['virtual-health'];
  if (health !== undefined) {
    if (health !== 'healthy' && health !== 'unhealthy' && health !== 'none') throw new UsageError(`--virtual-health must be healthy, unhealthy or none, got ${health}`);
    sim.virtualHealth = health as VirtualHealth;
  }
  if (v.apps !== undefined) out.appsFile = v.apps;
  if (v.agents !== undefined) sim.agents = integer('--agents', v.agents, 1);
  const idFormat = v['id-format'];
  if (idFormat !== undefined) {
    if (idFormat !== '1.8' && idFormat !== '1.7') throw new UsageError(`--id-format must be 1.8 or 1.7, got ${idFormat}`);
    sim.idFormat = idFormat;
  }
  if (v['log-level'] !== undefined) out.logLevel = parseLogLevel(v['log-level']);
  return out;
}

function loadAppsFile(file: string): unknown[] {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (Array.isArray(parsed)) return parsed;
  if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { apps?: unknown }).apps)) return (parsed as { apps: unknown[] }).apps;
  if (parsed && typeof parsed === 'object' && typeof (parsed as { id?: unknown }).id === 'string') return [parsed];
  throw new Error(`${file}: expected an array of app definitions or {"apps": [...]}`);
}

export async function main(argv: string[]): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    reportUsageError('baton-sim', err);
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = createLogger('marathon-sim', options.logLevel);
  let apps: unknown[] = [];
  try {
    if (options.appsFile) apps = loadAppsFile(options.appsFile);
  } catch (err) {
    process.stderr.write(`baton-sim: cannot read --apps: ${(err as Error).message}\n`);
    process.exitCode = 2; // a flag with a wrong value, like the usage errors
    return;
  }
  const sim = new MarathonSimulator({ ...options.sim, logger });
  try {
    await sim.start();
  } catch (err) {
    process.stderr.write(`baton-sim: cannot listen: ${(err as Error).message}\n`);
    await sim.stop();
    process.exitCode = 1;
    return;
  }
  for (const def of apps) {
    const result = sim.cluster.createApp(def);
    if (!result.ok) logger.error({ app: (def as { id?: unknown })?.id, error: result.error.body }, 'cannot create app from --apps');
  }
  process.stdout.write(`baton-sim listening on ${sim.urls.join(' ')}\n`);
  onStopSignal('baton-sim', logger, () => sim.stop());
}
