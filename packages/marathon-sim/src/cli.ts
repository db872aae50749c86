// baton-sim: run the Marathon simulator from the command line.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLogger } from '@baton/marathon';
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
  --log-level <level>      trace | debug | info | warn | error | silent (default info; logs go to stderr)
  -h, --help               show this help
`;

export interface CliOptions {
  sim: SimulatorOptions;
  appsFile?: string;
  logLevel: string;
  help: boolean;
}

export class UsageError extends Error {}

function integer(flag: string, value: string | undefined, min = 0): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got ${value ?? 'nothing'}`);
  return Number(value);
}

export function parseArgs(argv: string[]): CliOptions {
  const sim: SimulatorOptions = { port: 8080 };
  const out: CliOptions = { sim, logLevel: process.env.BATON_LOG_LEVEL ?? 'info', help: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-h': case '--help': out.help = true; break;
      case '--port': sim.port = integer(arg, value()); break;
      case '--host': sim.host = value(); break;
      case '--faces': sim.faces = integer(arg, value(), 1); break;
      case '--exec': sim.exec = true; break;
      case '--auth': {
        const v = value();
        const colon = v.indexOf(':');
        if (colon <= 0) throw new UsageError(`--auth needs user:pass, got ${v}`);
        sim.auth = { ...sim.auth, username: v.slice(0, colon), password: v.slice(colon + 1) };
        break;
      }
      case '--token': sim.auth = { ...sim.auth, token: value() }; break;
      case '--dcos-login-key': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq <= 0 || eq === v.length - 1) throw new UsageError(`--dcos-login-key needs uid=public-key.pem, got ${v}`);
        let pem: string;
        try {
          pem = readFileSync(v.slice(eq + 1), 'utf8');
          createPublicKey(pem);
        } catch (err) {
          throw new UsageError(`--dcos-login-key ${v}: ${(err as Error).message}`);
        }
        sim.dcosLogin = { ...sim.dcosLogin, accounts: { ...sim.dcosLogin?.accounts, [v.slice(0, eq)]: pem } };
        break;
      }
      case '--dcos-token-ttl-ms': sim.dcosLogin = { accounts: {}, ...sim.dcosLogin, tokenTtlMs: integer(arg, value(), 1) }; break;
      case '--heartbeat-ms': sim.heartbeatMs = integer(arg, value()); break;
      case '--task-start-delay-ms': sim.taskStartDelayMs = integer(arg, value()); break;
      case '--virtual-health': {
        const v = value();
        if (v !== 'healthy' && v !== 'unhealthy' && v !== 'none') throw new UsageError(`--virtual-health must be healthy, unhealthy or none, got ${v}`);
        sim.virtualHealth = v as VirtualHealth;
        break;
      }
      case '--apps': out.appsFile = value(); break;
      case '--agents': sim.agents = integer(arg, value(), 1); break;
      case '--id-format': {
        const v = value();
        if (v !== '1.8' && v !== '1.7') throw new UsageError(`--id-format must be 1.8 or 1.7, got ${v}`);
        sim.idFormat = v;
        break;
      }
      case '--log-level': {
        const v = value();
        if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw new UsageError(`--log-level must be trace, debug, info, warn, error, fatal or silent, got ${v}`);
        out.logLevel = v;
        break;
      }
      default:
        throw new UsageError(`unknown flag: ${argv[i]}`);
    }
  }
  if (sim.dcosLogin && Object.keys(sim.dcosLogin.accounts).length === 0) throw new UsageError('--dcos-token-ttl-ms needs --dcos-login-key');
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
    process.stderr.write(`baton-sim: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
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
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    sim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`baton-sim: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
