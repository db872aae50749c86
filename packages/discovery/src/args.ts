// baton-env's command line → a typed request. Pure: errors are UsageError values naming the flag.

import { parseFlags, type FlagSpec } from '@baton/marathon/cli-flags';
import { parseDuration } from './config.js';
import { UsageError } from './errors.js';
import { isVariableName, type OutputFormat } from './format.js';
import type { AkkaProtocol, SeedForm } from './seeds.js';

export type Subcommand = 'akka' | 'kafka' | 'service';
const SUBCOMMANDS: readonly Subcommand[] = ['akka', 'kafka', 'service'];

export interface CommonFlags {
  marathon: string[];
  credentials?: string;
  token?: string;
  dcosCredentials?: string;
  timeoutMs?: number;
  waitMs?: number;
  min?: number;
  intervalMs?: number;
  format: OutputFormat;
  app?: string;
  portIndex?: number;
  portName?: string;
  healthyOnly: boolean;
  /** Variable name (akka / kafka) or prefix (service). */
  variable?: string;
}

export interface AkkaFlags extends CommonFlags {
  form?: SeedForm;
  system?: string;
  protocol?: AkkaProtocol;
}

export interface ServiceFlags extends CommonFlags {
  form?: 'host:port' | 'hosts';
}

export interface KafkaFlags extends CommonFlags {
  zk?: string;
  srv?: string;
  dnsServer?: string;
  listener?: string;
}

export type Request =
  | { kind: 'help'; topic?: Subcommand | 'exec' }
  | { kind: 'run'; subcommand: 'akka'; flags: AkkaFlags; exec?: string[] }
  | { kind: 'run'; subcommand: 'service'; flags: ServiceFlags; exec?: string[] }
  | { kind: 'run'; subcommand: 'kafka'; flags: KafkaFlags; exec?: string[] };

const COMMON: FlagSpec = {
  marathon: { type: 'string', multiple: true },
  'auth-credentials': { type: 'string', once: true },
  token: { type: 'string', once: true },
  'dcos-auth-credentials': { type: 'string', once: true },
  timeout: { type: 'string', once: true },
  wait: { type: 'string', once: true },
  min: { type: 'string', once: true },
  interval: { type: 'string', once: true },
  format: { type: 'string', once: true },
  var: { type: 'string', once: true },
  help: { type: 'boolean', short: 'h' },
};
const APP: FlagSpec = {
  app: { type: 'string', once: true },
  'port-index': { type: 'string', once: true },
  'port-name': { type: 'string', once: true },
  'healthy-only': { type: 'boolean', once: true },
};
const FLAGS: Record<Subcommand, FlagSpec> = {
  akka: { ...COMMON, ...APP, form: { type: 'string', once: true }, system: { type: 'string', once: true }, protocol: { type: 'string', once: true } },
  service: { ...COMMON, ...APP, form: { type: 'string', once: true } },
  kafka: {
    ...COMMON,
    ...APP,
    zk: { type: 'string', once: true },
    srv: { type: 'string', once: true },
    'dns-server': { type: 'string', once: true },
    listener: { type: 'string', once: true },
  },
};

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function count(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} must be a whole number >= ${min} (got ${JSON.stringify(value)})`);
  return Number(value);
}

function duration(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 60s, 500ms or 2m (got ${JSON.stringify(value)})`);
  return ms;
}

/** Reads the subcommand's flags (`--flag value` / `--flag=value`); `-h` anywhere asks for its help. */
function readFlags(subcommand: Subcommand, args: string[]): { values: Map<string, string[]>; help: boolean } {
  let parsed;
  try {
    parsed = parseFlags(FLAGS[subcommand], args);
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith('unknown flag ')) throw new UsageError(`${message} for baton-env ${subcommand} (see baton-env ${subcommand} --help)`);
    const stray = /^unexpected argument (.*)$/s.exec(message);
    if (stray) throw new UsageError(`unexpected argument ${JSON.stringify(stray[1])} for baton-env ${subcommand}`);
    throw new UsageError(message);
  }
  const values = new Map<string, string[]>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (name !== 'help' && value !== undefined) values.set(`--${name}`, Array.isArray(value) ? value : [String(value)]);
  }
  return { values, help: parsed.values.help === true };
}

function common(values: Map<string, string[]>): CommonFlags {
  const get = (flag: string) => values.get(flag)?.[0];
  const flags: CommonFlags = {
    marathon: values.get('--marathon') ?? [],
    format: oneOf('--format', get('--format') ?? 'shell', ['shell', 'dotenv', 'json'] as const),
    healthyOnly: values.has('--healthy-only'),
  };
  for (const url of flags.marathon.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')) {
    if (!/^https?:\/\/[^/\s]/.test(url)) throw new UsageError(`--marathon must be an http(s) URL (got ${JSON.stringify(url)})`);
  }
  const credentials = get('--auth-credentials');
  if (credentials !== undefined) {
    if (!credentials.includes(':')) throw new UsageError('--auth-credentials must be user:password');
    flags.credentials = credentials;
  }
  const token = get('--token');
  if (token !== undefined) flags.token = token;
  const dcosCredentials = get('--dcos-auth-credentials');
  if (dcosCredentials !== undefined) flags.dcosCredentials = dcosCredentials;
  const timeout = get('--timeout');
  if (timeout !== undefined) {
    flags.timeoutMs = duration('--timeout', timeout);
    if (flags.timeoutMs <= 0) throw new UsageError(`--timeout must be above zero (got ${JSON.stringify(timeout)})`);
  }
  const wait = get('--wait');
  if (wait !== undefined) flags.waitMs = duration('--wait', wait);
  const interval = get('--interval');
  if (interval !== undefined) flags.intervalMs = duration('--interval', interval);
  const min = get('--min');
  if (min !== undefined) flags.min = count('--min', min, 0);
  const app = get('--app');
  if (app !== undefined) {
    if (!/^\/?[a-z0-9.\-/]+$/.test(app)) throw new UsageError(`--app must be a Marathon app id like /meter (got ${JSON.stringify(app)})`);
    flags.app = app;
  }
  const portIndex = get('--port-index');
  const portName = get('--port-name');
  if (portIndex !== undefined && portName !== undefined) throw new UsageError('--port-index and --port-name cannot be used together');
  if (portIndex !== undefined) flags.portIndex = count('--port-index', portIndex, 0);
  if (portName !== undefined) {
    if (portName === '') throw new UsageError('--port-name must not be empty');
    flags.portName = portName;
  }
  const variable = get('--var');
  if (variable !== undefined) {
    if (!isVariableName(variable)) throw new UsageError(`--var must be a variable name like METER (got ${JSON.stringify(variable)})`);
    flags.variable = variable;
  }
  return flags;
}

function parseSubcommand(subcommand: Subcommand, args: string[], exec?: string[]): Request {
  const { values, help } = readFlags(subcommand, args);
  if (help) return { kind: 'help', topic: exec ? 'exec' : subcommand };
  const flags = common(values);
  const get = (flag: string) => values.get(flag)?.[0];
  const withExec = <T extends object>(request: T) => (exec ? { ...request, exec } : request);
  switch (subcommand) {
    case 'akka': {
      if (flags.app === undefined) throw new UsageError('baton-env akka needs --app ID');
      const akka: AkkaFlags = { ...flags };
      const form = get('--form');
      if (form !== undefined) akka.form = oneOf('--form', form, ['hosts', 'host:port', 'uri'] as const);
      const system = get('--system');
      if (system !== undefined) {
        if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(system)) throw new UsageError(`--system must be an actor system name (got ${JSON.stringify(system)})`);
        akka.system = system;
      }
      const protocol = get('--protocol');
      if (protocol !== undefined) akka.protocol = oneOf('--protocol', protocol, ['akka', 'akka.tcp'] as const);
      if (akka.form === 'uri' && akka.system === undefined) throw new UsageError('--form uri needs --system NAME');
      if (akka.protocol !== undefined && akka.system === undefined) throw new UsageError('--protocol needs --system NAME');
      if (akka.system !== undefined && akka.form !== undefined && akka.form !== 'uri') {
        throw new UsageError(`--system only applies to --form uri (got --form ${akka.form})`);
      }
      return withExec({ kind: 'run' as const, subcommand: 'akka' as const, flags: akka });
    }
    case 'service': {
      if (flags.app === undefined) throw new UsageError('baton-env service needs --app ID');
      if (flags.variable === undefined) throw new UsageError('baton-env service needs --var NAME (the variable prefix, e.g. METER)');
      const service: ServiceFlags = { ...flags };
      const form = get('--form');
      if (form !== undefined) service.form = oneOf('--form', form, ['hosts', 'host:port'] as const);
      return withExec({ kind: 'run' as const, subcommand: 'service' as const, flags: service });
    }
    case 'kafka': {
      const kafka: KafkaFlags = { ...flags };
      const zk = get('--zk');
      if (zk !== undefined) {
        if (!zk.startsWith('zk://')) throw new UsageError(`--zk must be a zk://host:port[,host:port]/chroot URL (got ${JSON.stringify(zk)})`);
        kafka.zk = zk;
      }
      const srv = get('--srv');
      if (srv !== undefined) kafka.srv = srv;
      const dnsServer = get('--dns-server');
      if (dnsServer !== undefined) {
        if (srv === undefined) throw new UsageError('--dns-server only applies with --srv');
        kafka.dnsServer = dnsServer;
      }
      const listener = get('--listener');
      if (listener !== undefined) {
        if (zk === undefined) throw new UsageError('--listener only applies with --zk');
        kafka.listener = listener;
      }
      const sources = [kafka.zk, kafka.app, kafka.srv].filter((s) => s !== undefined).length;
      if (sources !== 1) throw new UsageError('baton-env kafka needs exactly one of --zk, --app or --srv');
      if (kafka.app === undefined && (kafka.portIndex !== undefined || kafka.portName !== undefined || kafka.healthyOnly)) {
        throw new UsageError('--port-index, --port-name and --healthy-only only apply with --app');
      }
      return withExec({ kind: 'run' as const, subcommand: 'kafka' as const, flags: kafka });
    }
  }
}

function isSubcommand(value: string | undefined): value is Subcommand {
  return value !== undefined && (SUBCOMMANDS as readonly string[]).includes(value);
}

export function parseArgs(argv: readonly string[]): Request {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    return isSubcommand(rest[0]) ? { kind: 'help', topic: rest[0] } : rest[0] === 'exec' ? { kind: 'help', topic: 'exec' } : { kind: 'help' };
  }
  if (first === 'exec') {
    const [sub, ...afterSub] = rest;
    if (sub === undefined || sub === '-h' || sub === '--help') return { kind: 'help', topic: 'exec' };
    if (!isSubcommand(sub)) throw new UsageError(`baton-env exec needs a subcommand (akka, kafka or service), got ${JSON.stringify(sub)}`);
    const separator = afterSub.indexOf('--');
    const flagArgs = separator < 0 ? afterSub : afterSub.slice(0, separator);
    if (flagArgs.includes('-h') || flagArgs.includes('--help')) return { kind: 'help', topic: 'exec' };
    if (separator < 0) throw new UsageError('baton-env exec needs -- followed by the command to run');
    const command = afterSub.slice(separator + 1);
    if (command.length === 0) throw new UsageError('baton-env exec needs a command after --');
    return parseSubcommand(sub, flagArgs, command);
  }
  if (!isSubcommand(first)) {
    throw new UsageError(
      first.startsWith('-')
        ? `unknown flag ${first} (usage: baton-env <akka|kafka|service|exec> ...; see baton-env --help)`
        : `unknown subcommand ${JSON.stringify(first)} (expected akka, kafka, service or exec)`,
    );
  }
  return parseSubcommand(first, rest);
}
