// baton-env. Start-up time is paid on every container start, so the static imports here are small
// local modules only; the lookup code (and ZooKeeper / DNS, only when asked for) is loaded on demand.

import { parseArgs, type Request } from './args.js';
import { marathonAuth } from './config.js';
import { formatVariables, type Variables } from './format.js';
import { HELP } from './help.js';

type RunRequest = Extract<Request, { kind: 'run' }>;

function fail(message: string, code: number): never {
  process.stderr.write(`baton-env: ${message}\n`);
  process.exit(code);
}

async function lookup(request: RunRequest, env: NodeJS.ProcessEnv): Promise<Variables> {
  const { akkaSeedNodes, serviceAddresses, kafkaBrokers } = await import('./discover.js');
  const f = request.flags;
  let auth;
  try {
    auth = marathonAuth({ token: f.token, credentials: f.credentials, dcosCredentials: f.dcosCredentials }, env);
    if (auth && 'dcosCredentials' in auth) {
      const { serviceAccountLogin } = await import('./marathon-rest.js');
      await serviceAccountLogin(auth.dcosCredentials);
    }
  } catch (err) {
    fail((err as Error).message, 2);
  }
  const base = {
    marathon: f.marathon,
    auth,
    timeoutMs: f.timeoutMs,
    env,
    waitMs: f.waitMs,
    min: f.min,
    intervalMs: f.intervalMs,
    portIndex: f.portIndex,
    portName: f.portName,
    healthyOnly: f.healthyOnly,
  };
  switch (request.subcommand) {
    case 'akka': {
      const { form, system, protocol } = request.flags;
      const result = await akkaSeedNodes({ ...base, app: f.app as string, form, system, protocol });
      return {
        [f.variable ?? 'AKKA_SEED_NODES']: result.seeds.join(','),
        AKKA_CLUSTER_FOUNDER: String(result.founder),
      };
    }
    case 'service': {
      const result = await serviceAddresses({ ...base, app: f.app as string, form: request.flags.form });
      const prefix = f.variable as string;
      return {
        [`${prefix}_HOSTS`]: result.addresses.join(','),
        [`${prefix}_HOST`]: result.host ?? '',
        [`${prefix}_PORT`]: result.port === undefined ? '' : String(result.port),
      };
    }
    case 'kafka': {
      const { zk, srv, dnsServer, listener } = request.flags;
      const brokers = await kafkaBrokers({ ...base, app: f.app, zk, srv, dnsServer, listener });
      return { [f.variable ?? 'KAFKA_BROKERS_LIST']: brokers.join(',') };
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  let request: Request;
  try {
    request = parseArgs(argv);
  } catch (err) {
    fail((err as Error).message, (err as { exitCode?: number }).exitCode ?? 2);
  }
  if (request.kind === 'help') {
    process.stdout.write(`${HELP[request.topic ?? 'main']}\n`);
    process.exit(0);
  }
  let vars: Variables;
  try {
    vars = await lookup(request, process.env);
  } catch (err) {
    fail((err as Error).message, (err as { exitCode?: number }).exitCode ?? 1);
  }
  if (request.exec) {
    const { execWith } = await import('./exec.js');
    execWith(request.exec, { ...process.env, ...vars });
    return;
  }
  process.stdout.write(formatVariables(vars, request.flags.format));
  process.exit(0);
}
