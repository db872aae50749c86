// baton-zdd: marathon-lb's zdd.py (blue/green deployment through HAPROXY_DEPLOYMENT_* labels), same
// flags and exit statuses, against Marathon and baton-lb (or marathon-lb: it reads the same stats CSV).
// The decisions are in zdd-deploy.ts; this is the I/O around them.

import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { request, type Dispatcher } from 'undici';
import { DcosLogin, MarathonClient, UsageError, createLogger, parseDuration, parseFlags, parseLogLevel, reportUsageError, type FlagSpec, describeNetworkError, parseDcosCredentials, type Logger, type MarathonAuth } from '@baton/marathon';
import {
  EXIT,
  ZddError,
  appListeners,
  cleanupJson,
  deploymentGroup,
  drainedTaskIds,
  drainingTaskIds,
  isHybridDeployment,
  lastTwoDeploys,
  needsScaling,
  nextScale,
  parseHaproxyStats,
  prepareDeploy,
  readyToDeleteOldApp,
  sortDeploys,
  validateApp,
  waitingFor,
  type AppJson,
  type DeployOptions,
  type Listener,
} from './zdd-deploy.js';

export const USAGE = `Usage: baton-zdd -m MARATHON -l MARATHON_LB -j APP.json [options]

Zero-downtime (blue/green) deployment of a Marathon app behind baton-lb or marathon-lb, as marathon-lb's
zdd.py does it: the app (with labels HAPROXY_DEPLOYMENT_GROUP and HAPROXY_DEPLOYMENT_ALT_PORT) is
started as <id>-blue or <id>-green beside the current one, scaled up step by step while the load
balancer drains the old tasks (MAINT in /haproxy?stats;csv), and the old app is deleted.

  -m, --marathon URL            Marathon endpoint, e.g. http://marathon1:8080 (required)
  -l, --marathon-lb URL         baton-lb / marathon-lb admin endpoint, e.g. http://marathon-lb.marathon.mesos:9090
                                (required; every IPv4 address of its host name is asked)
  -j, --json FILE               App JSON (required)
  -d, --dry-run                 Print the new app definition and stop
  -f, --force                   Do not ask before deploying, killing tasks or deleting the old app
  -s, --step-delay SECONDS      Delay between deployment steps (default 5)
  -i, --initial-instances N     Instances the new app starts with (default 1; at most the current count)
      --linear-increase N       Scale the new app by N per step instead of +50% (default 0: +50%)
  -r, --resume                  Resume a deployment that was interrupted
  -w, --max-wait SECONDS        Longest wait for the load balancer to drain a step's tasks (default 300)
  -n, --new-instances N         Hybrid deployment: keep N new and the rest old instances (default 0)
  -c, --complete-cur            Hybrid deployment: move every instance to the current (new) app
  -p, --complete-prev           Hybrid deployment: move every instance back to the previous (old) app
      --pre-kill-hook PATH      Run PATH OLD_APP_JSON TASK_IDS_JSON NEW_APP_JSON before each kill; a
                                non-zero exit stops the deployment
Marathon credentials:
      --auth-credentials USER:PASS
      --marathon-auth-credential-file FILE
      --dcos-token TOKEN        (also env DCOS_AUTH_TOKEN)
      --dcos-auth-credentials JSON
                                DC/OS service account (also env DCOS_SERVICE_ACCOUNT_CREDENTIAL)
      --marathon-ca-cert FILE   CA certificate for https Marathon URLs
Other:
      --log-level LEVEL         trace, debug, info (default), warn, error, silent (logs go to stderr)
      --syslog-socket, --log-format   accepted for compatibility, ignored
      --longhelp, -h, --help    This help

Exit status (zdd.py's): 0 done; 1 not confirmed; 2 unexpected error; 3 invalid arguments; 4 missing
field in the app JSON; 5 load balancer unreachable; 6 Marathon unreachable; 7 app not created; 8 app
not deleted; 9 app not scaled.
`;

export interface ZddOptions extends DeployOptions {
  marathon?: string;
  marathonLb?: string;
  json?: string;
  dryRun: boolean;
  force: boolean;
  stepDelayMs: number;
  resume: boolean;
  maxWaitMs: number;
  preKillHook?: string;
  authCredentials?: string;
  credentialFile?: string;
  dcosToken?: string;
  dcosAuthCredentials?: string;
  marathonCaCert?: string;
  logLevel?: string;
  help: boolean;
}

/** zdd.py's flags; its --syslog-socket and --log-format steer Python's logging, which is not here. */
const SPEC: FlagSpec = {
  marathon: { type: 'string', short: 'm' },
  'marathon-lb': { type: 'string', short: 'l' },
  json: { type: 'string', short: 'j' },
  'dry-run': { type: 'boolean', short: 'd' },
  force: { type: 'boolean', short: 'f' },
  'step-delay': { type: 'string', short: 's' },
  'initial-instances': { type: 'string', short: 'i' },
  'linear-increase': { type: 'string' },
  resume: { type: 'boolean', short: 'r' },
  'max-wait': { type: 'string', short: 'w' },
  'new-instances': { type: 'string', short: 'n' },
  'complete-cur': { type: 'boolean', short: 'c' },
  'complete-prev': { type: 'boolean', short: 'p' },
  'pre-kill-hook': { type: 'string' },
  'auth-credentials': { type: 'string', short: 'a' },
  'marathon-auth-credential-file': { type: 'string' },
  'dcos-token': { type: 'string' },
  'dcos-auth-credentials': { type: 'string' },
  'marathon-ca-cert': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  longhelp: { type: 'boolean' },
  'syslog-socket': { type: 'string', ignored: 'logs go to stderr' },
  'log-format': { type: 'string', ignored: 'logs are JSON lines' },
};

export { UsageError };

export function parseArgs(argv: string[]): ZddOptions {
  const v = parseFlags(SPEC, argv).values as Record<string, string | undefined>;
  const flag = (name: string): boolean => v[name] === (true as unknown);
  const given = (name: string): string => `--${name}${SPEC[name].short === undefined ? '' : `/-${SPEC[name].short}`}`;
  const int = (name: string, fallback: number): number => {
    const text = v[name];
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text)) throw new UsageError(`--${name}: not a non-negative integer: ${text}`);
    return Number(text);
  };
  // zdd.py's delays are seconds (a bare number; decimals allowed).
  const seconds = (name: string, fallback: number): number => {
    const text = v[name];
    if (text === undefined) return fallback;
    const ms = /^\d+(\.\d+)?$/.test(text) ? parseDuration(text, 's') : undefined;
    if (ms === undefined) throw new UsageError(`--${name}: not a non-negative number of seconds: ${text}`);
    return ms;
  };
  const out: ZddOptions = {
    marathon: v.marathon,
    marathonLb: v['marathon-lb'],
    json: v.json,
    dryRun: flag('dry-run'),
    force: flag('force'),
    stepDelayMs: seconds('step-delay', 5_000),
    initialInstances: int('initial-instances', 1),
    linearIncrease: int('linear-increase', 0),
    resume: flag('resume'),
    maxWaitMs: seconds('max-wait', 300_000),
    newInstances: int('new-instances', 0),
    completeCur: flag('complete-cur'),
    completePrev: flag('complete-prev'),
    preKillHook: v['pre-kill-hook'],
    authCredentials: v['auth-credentials'],
    credentialFile: v['marathon-auth-credential-file'],
    dcosToken: v['dcos-token'],
    dcosAuthCredentials: v['dcos-auth-credentials'],
    marathonCaCert: v['marathon-ca-cert'],
    logLevel: v['log-level'] === undefined ? undefined : parseLogLevel(v['log-level']),
    help: flag('help') || flag('longhelp'),
  };
  for (const key of Object.keys(out) as (keyof ZddOptions)[]) if (out[key] === undefined) delete out[key];
  if (out.help) return out;
  for (const name of ['marathon', 'marathon-lb', 'json']) {
    if (v[name] === undefined) throw new UsageError(`argument ${given(name)} is required`);
  }
  for (const [name, url] of [['--marathon', out.marathon!], ['--marathon-lb', out.marathonLb!]] as const) {
    if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`${name}: not an http(s) URL: ${url}`);
  }
  if (out.completeCur && out.completePrev) throw new UsageError('--complete-cur and --complete-prev: give one');
  return out;
}

/** Marathon's writes (the client does the reads); same URL, dispatcher, credentials and login. */
class MarathonCalls {
  constructor(
    readonly client: MarathonClient,
    private readonly logger: Logger,
  ) {}

  async listApps(): Promise<AppJson[]> {
    try {
      return cleanupJson(await this.client.getApps({ embedTasks: false }));
    } catch (err) {
      throw new ZddError(`Error while querying marathon: ${(err as Error).message}`, EXIT.marathonEndpoint);
    }
  }

  async fetchApp(id: string): Promise<AppJson> {
    let app: unknown;
    try {
      app = await this.client.getApp(id);
    } catch (err) {
      throw new ZddError(`Error while querying marathon: ${(err as Error).message}`, EXIT.marathonEndpoint);
    }
    if (app === null) throw new ZddError(`Error while querying marathon: app ${id} does not exist`, EXIT.marathonEndpoint);
    return cleanupJson(app);
  }

  /** One write; a 401 after a DC/OS login is retried once with a new token. Non-2xx → ZddError(exit). */
  async send(method: Dispatcher.HttpMethod, path: string, body: unknown, what: string, exit: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.client.ensureLogin().catch((err: Error) => {
        throw new ZddError(`${what}: ${err.message}`, exit);
      });
      const headers: Record<string, string> = { ...this.client.requestHeaders(), accept: 'application/json' };
      const payload = body === undefined ? undefined : JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const url = this.client.currentUrl + path;
      let status: number;
      let text: string;
      try {
        const res = await request(url, { method, headers, body: payload, dispatcher: this.client.dispatcher });
        status = res.statusCode;
        text = await res.body.text();
      } catch (err) {
        throw new ZddError(`${what}: ${method} ${url}: ${describeNetworkError(err, this.client.timeoutMs)}`, exit);
      }
      if (status === 401 && attempt === 0) {
        this.client.loginRejected(headers.authorization);
        continue;
      }
      if (status < 200 || status >= 300) throw new ZddError(`${what}: ${method} ${url} answered HTTP ${status}: ${text.slice(0, 300)}`, exit);
      this.logger.debug({ method, url, status }, 'marathon write');
      return;
    }
  }
}

/** `--marathon-lb` once per IPv4 address of its host (zdd.py asks every marathon-lb behind the name). */
async function marathonLbUrls(base: string): Promise<string[]> {
  const url = new URL(base);
  let addresses: string[];
  try {
    addresses = (await lookup(url.hostname, { all: true, family: 4 })).map((a) => a.address);
  } catch (err) {
    throw new ZddError(`Error while querying Marathon-LB: cannot resolve ${url.hostname}: ${(err as Error).message}`, EXIT.marathonLbEndpoint);
  }
  return addresses.map((address) => {
    const copy = new URL(base);
    copy.hostname = address;
    return copy.toString().replace(/\/+$/, '');
  });
}

const LB_TIMEOUT_MS = 10_000;
const MAX_STATS_BYTES = 64 * 1024 * 1024;

async function getText(url: string): Promise<string> {
  const res = await request(url, { headersTimeout: LB_TIMEOUT_MS, bodyTimeout: LB_TIMEOUT_MS });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_STATS_BYTES) {
      res.body.destroy();
      throw new Error(`${url}: answer larger than ${MAX_STATS_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  if (res.statusCode !== 200) throw new Error(`${url} answered HTTP ${res.statusCode}`);
  return Buffer.concat(chunks).toString('utf8');
}

/** True while a load balancer reports more than two processes (an HAProxy reload), or cannot say. */
async function anyReloading(urls: string[], logger: Logger): Promise<boolean> {
  for (const url of urls) {
    try {
      const pids = (await getText(`${url}/_haproxy_getpids`)).split(/\s+/).filter(Boolean);
      if (pids.length > 2) {
        logger.info(`Waiting for ${pids.length} pids on ${url}`);
        return true;
      }
    } catch {
      return true;
    }
  }
  return false;
}

async function combinedStats(urls: string[]): Promise<Listener[]> {
  const texts = await Promise.all(urls.map((url) => getText(`${url}/haproxy?stats;csv`)));
  return parseHaproxyStats(texts.join(''));
}

/** JSON with sorted keys and two-space indent (Python's `json.dumps(sort_keys=True, indent=2)`). */
function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(value), null, 2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ZddContext {
  options: ZddOptions;
  marathon: MarathonCalls;
  logger: Logger;
  out: NodeJS.WritableStream;
  /** Asks the operator (not called with --force). */
  confirm(question: string): Promise<boolean>;
}

async function findTasksToKill(ctx: ZddContext, newApp: AppJson, oldApp: AppJson, startedAt: number): Promise<string[]> {
  const { options, logger } = ctx;
  const urls = await marathonLbUrls(options.marathonLb!);
  const count = urls.length;
  let listeners: Listener[];
  try {
    listeners = appListeners(newApp, await combinedStats(urls));
  } catch (err) {
    throw new ZddError(`Error while querying Marathon-LB ${urls.join(', ')}: ${(err as Error).message}`, EXIT.marathonLbEndpoint);
  }
  while (Date.now() - startedAt < options.maxWaitMs) {
    await sleep(options.stepDelayMs);
    logger.info(`Existing app running ${oldApp.instances} instances, new app running ${newApp.instances} instances`);
    if (await anyReloading(urls, logger)) continue;
    try {
      listeners = appListeners(newApp, await combinedStats(urls));
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot read the load balancer stats; retrying');
      continue;
    }
    logger.info(`Found ${listeners.length} app listeners across ${count} HAProxy instances`);
    const waiting = waitingFor(newApp, oldApp, listeners, count);
    if (waiting !== undefined) {
      logger.info(`Waiting for ${waiting}`);
      continue;
    }
    return drainedTaskIds(oldApp, listeners, count);
  }
  logger.info('Timed out waiting for tasks to fully drain, find any draining tasks and continue with deployment...');
  return drainingTaskIds(oldApp, listeners, count);
}

function runPreKillHook(hook: string, oldApp: AppJson, taskIds: string[], newApp: AppJson): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(hook, [JSON.stringify(oldApp), JSON.stringify(taskIds), JSON.stringify(newApp)], (err) => {
      if (!err) return resolve();
      const code = (err as { code?: unknown }).code;
      reject(new ZddError(`pre-kill hook ${hook} ${typeof code === 'number' ? `exited with status ${code}` : `failed: ${err.message}`}; the deployment stops here`, EXIT.unknown));
    });
    child.stdout?.pipe(process.stderr);
    child.stderr?.pipe(process.stderr);
  });
}

/** zdd.py's swap_zdd_apps: steps until the old app is deleted (true) or the operator says no (false). */
async function swapApps(ctx: ZddContext, newId: string, oldId: string): Promise<boolean> {
  const { options, marathon, logger } = ctx;
  let deployingSince: number | undefined;
  for (;;) {
    const oldApp = await marathon.fetchApp(oldId);
    const newApp = await marathon.fetchApp(newId);
    if ((newApp.deployments ?? []).length > 0) {
      // zdd.py waits for Marathon's deployment without end; a deployment that never finishes (tasks
      // that never get healthy) stops here after --max-wait instead.
      deployingSince ??= Date.now();
      if (Date.now() - deployingSince > options.maxWaitMs) {
        throw new ZddError(`${newId} is still being deployed by Marathon after ${options.maxWaitMs / 1000} s (--max-wait); resume with --resume`, EXIT.unknown);
      }
      await sleep(options.stepDelayMs);
      continue;
    }
    deployingSince = undefined;
    const toKill = await findTasksToKill(ctx, newApp, oldApp, Date.now());
    if (readyToDeleteOldApp(options, newApp, oldApp, toKill)) {
      if (isHybridDeployment(options, newApp)) {
        logger.info('Not deleting old app, as its hybrid configuration');
        return true;
      }
      logger.info(`About to delete old app ${oldApp.id}`);
      if (!(options.force || (await ctx.confirm('Continue?')))) return false;
      await marathon.send('DELETE', `/v2/apps${oldApp.id}`, undefined, 'Error while deleting the app', EXIT.appDelete);
      return true;
    }
    if (toKill.length > 0) {
      if (options.preKillHook !== undefined) {
        logger.info(`Calling pre-kill hook '${options.preKillHook}'`);
        await runPreKillHook(options.preKillHook, oldApp, toKill, newApp);
      }
      logger.info(`There are ${toKill.length} draining listeners, about to kill the following tasks:\n  - ${toKill.join('\n  - ')}`);
      if (!(options.force || (await ctx.confirm('Continue?')))) return false;
      logger.info(`Scaling down old app by ${toKill.length} instances`);
      await marathon.send('POST', '/v2/tasks/delete?scale=true', { ids: toKill }, 'Error while scaling the app', EXIT.appScale);
    }
    if (needsScaling(options, newApp)) {
      const instances = nextScale(options, newApp, oldApp);
      logger.info(`Scaling new app up to ${instances} instances`);
      await marathon.send('PUT', `/v2/apps${newApp.id}`, { instances }, 'Error while scaling the app', EXIT.appScale);
    }
  }
}

async function resume(ctx: ZddContext, previous: AppJson[]): Promise<boolean> {
  const { options, logger } = ctx;
  const colour = (app: AppJson) => app.labels?.HAPROXY_DEPLOYMENT_COLOUR;
  const [latest, before] = lastTwoDeploys(previous);
  if (options.completeCur || options.completePrev) {
    const [newApp, oldApp] = options.completeCur ? [latest, before] : [before, latest];
    logger.info(options.completeCur ? 'Converting all instances to current config' : 'Converting all instances to previous config');
    logger.info(`Considering ${colour(oldApp)} color as existing app and ${colour(newApp)} color as new app`);
    return swapApps(ctx, newApp.id, oldApp.id);
  }
  if (options.resume) {
    logger.info('Found previous deployment, resuming');
    return swapApps(ctx, latest.id, before.id);
  }
  throw new ZddError('There appears to be an existing deployment in progress (use --resume, --complete-cur or --complete-prev)', EXIT.unknown);
}

/** zdd.py's do_zdd. */
export async function runZdd(ctx: ZddContext): Promise<boolean> {
  const { options, marathon, logger } = ctx;
  let app: AppJson;
  try {
    app = cleanupJson(JSON.parse(readFileSync(options.json!, 'utf8')));
  } catch (err) {
    throw new ZddError(`--json ${options.json}: ${(err as Error).message}`, EXIT.invalidArg);
  }
  if (app === null || typeof app !== 'object' || Array.isArray(app)) throw new ZddError(`--json ${options.json}: not an app definition object`, EXIT.invalidArg);
  validateApp(app);
  const previous = (await marathon.listApps()).filter((a) => deploymentGroup(a) === deploymentGroup(app));
  if (previous.length > 1) return resume(ctx, previous);
  if (options.completeCur || options.completePrev) {
    throw new ZddError('Cannot use --complete-cur, --complete-prev flags when config is not hybrid', EXIT.invalidArg);
  }
  const prepared = prepareDeploy(options, previous, app, new Date());
  options.newInstances = prepared.newInstances;
  logger.info('Final app definition:');
  ctx.out.write(`${sortedJson(prepared.app)}\n`);
  if (options.dryRun) return true;
  if (!(options.force || (await ctx.confirm('Continue with deployment?')))) return false;
  await marathon.send('POST', '/v2/apps', prepared.app, 'Error while creating the app', EXIT.appCreate);
  if (previous.length === 0) return true;
  return swapApps(ctx, prepared.app.id, sortDeploys(previous)[previous.length - 1].id);
}

function confirmOnStdin(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answered = false;
    const ask = () =>
      rl.question(`${question} [Y/n] `, (answer) => {
        const a = answer.trim().toLowerCase();
        if (a === '' || a === 'y' || a === 'ye' || a === 'yes') finish(true);
        else if (a === 'n' || a === 'no') finish(false);
        else {
          process.stderr.write("Please respond with 'yes' or 'no' (or 'y' or 'n').\n");
          ask();
        }
      });
    const finish = (yes: boolean) => {
      answered = true;
      rl.close();
      resolve(yes);
    };
    rl.once('close', () => {
      if (!answered) resolve(false); // end of input: no
    });
    ask();
  });
}

function marathonAuth(options: ZddOptions): MarathonAuth | undefined {
  let credentials = options.authCredentials;
  if (options.credentialFile !== undefined) {
    try {
      credentials = readFileSync(options.credentialFile, 'utf8').split(/\r?\n/)[0] || credentials;
    } catch (err) {
      throw new ZddError(`--marathon-auth-credential-file: ${(err as Error).message}`, EXIT.invalidArg);
    }
  }
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    if (colon < 0) throw new ZddError('Please provide marathon credentials in user:pass format', EXIT.invalidArg);
    return { username: credentials.slice(0, colon), password: credentials.slice(colon + 1) };
  }
  const token = options.dcosToken ?? process.env.DCOS_AUTH_TOKEN;
  return token ? { token } : undefined;
}

export async function main(argv: string[]): Promise<void> {
  let options: ZddOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    reportUsageError('baton-zdd', err);
    return;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = createLogger('zdd', options.logLevel);
  let client: MarathonClient | undefined;
  try {
    const ca = options.marathonCaCert === undefined ? undefined : readFileSync(options.marathonCaCert, 'utf8');
    const auth = marathonAuth(options);
    const dcosCredentials = options.dcosAuthCredentials ?? process.env.DCOS_SERVICE_ACCOUNT_CREDENTIAL;
    let login: DcosLogin | undefined;
    if (auth === undefined && dcosCredentials) {
      try {
        login = new DcosLogin({ account: parseDcosCredentials(dcosCredentials), ca });
      } catch (err) {
        throw new ZddError(`--dcos-auth-credentials: ${(err as Error).message}`, EXIT.invalidArg);
      }
    }
    client = new MarathonClient({ urls: [options.marathon!], auth, login, ca, logger: logger.child({ module: 'marathon' }) });
    const ok = await runZdd({ options, marathon: new MarathonCalls(client, logger), logger, out: process.stdout, confirm: confirmOnStdin });
    process.exitCode = ok ? 0 : EXIT.notConfirmed;
  } catch (err) {
    const status = err instanceof ZddError ? err.exitStatus : EXIT.unknown;
    logger.error({ exitStatus: status }, (err as Error).message);
    process.stderr.write(`baton-zdd: ${(err as Error).message}\n`);
    process.exitCode = status;
  } finally {
    await client?.close();
    logger.flush();
  }
}
