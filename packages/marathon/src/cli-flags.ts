// The bins' command-line layer: flag specs read with node:util's parseArgs, durations, log levels, the
// usage-error convention and the stop-signal path. Imports node built-ins only: baton-env loads it on
// every container start (exported as `@baton/marathon/cli-flags`, apart from the pino/undici modules).

import { parseArgs } from 'node:util';

/** A bad command line: the message names the flag at fault; the bin exits 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

export interface FlagDef {
  type: 'boolean' | 'string';
  /** One-letter form, e.g. `m` for `-m`. */
  short?: string;
  /** Repeatable: every value is kept, in order. Otherwise the last one given wins (see `once`). */
  multiple?: boolean;
  /** Given twice is an error (`--x given more than once`) instead of the last one winning. */
  once?: boolean;
  /** Also accepted with one dash, Go's flag style (`-config x`, `-config=x`), as Mesos-DNS takes it. */
  singleDash?: boolean;
  /** Accepted for compatibility and otherwise ignored; this says why (reported as `--flag: why`). */
  ignored?: string;
}

/** Long flag name (without `--`) → its definition. */
export type FlagSpec = Record<string, FlagDef>;

export interface ParsedFlags {
  /** By long name: `true` for booleans, the string (or every string, for `multiple`) for the others. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** `--flag: why` for each ignored flag given, in command-line order (as typed: `-c` or `--command`). */
  ignored: string[];
  /** Arguments that are not flags, and everything after `--` (only with `allowPositionals`). */
  positionals: string[];
}

/**
 * Reads `argv` against `spec`: `--flag value`, `--flag=value`, `-f value`, and `-flag` for `singleDash`
 * flags. Throws UsageError naming the flag: unknown flag, missing value, value on a boolean flag.
 */
export function parseFlags(spec: FlagSpec, argv: readonly string[], options: { allowPositionals?: boolean } = {}): ParsedFlags {
  const args = withSingleDashForms(spec, argv);
  const nodeOptions: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
  for (const [name, def] of Object.entries(spec)) nodeOptions[name] = def.short === undefined ? { type: def.type } : { type: def.type, short: def.short };
  // strict: false so that a value may start with a dash (as the hand-written parsers allowed) and so
  // that the errors below name the flag in the bins' own words.
  const { tokens } = parseArgs({ args, options: nodeOptions, strict: false, allowPositionals: true, tokens: true });
  const out: ParsedFlags = { values: {}, ignored: [], positionals: [] };
  for (const token of tokens) {
    if (token.kind === 'option-terminator') {
      if (!options.allowPositionals) throw new UsageError('unexpected argument --');
      continue;
    }
    if (token.kind === 'positional') {
      if (!options.allowPositionals) throw new UsageError(`unexpected argument ${token.value}`);
      out.positionals.push(token.value);
      continue;
    }
    const def = Object.hasOwn(spec, token.name) ? spec[token.name] : undefined;
    // As typed: `-xyz` is reported whole, not as parseArgs' `-x`.
    if (def === undefined) throw new UsageError(`unknown flag ${args[token.index].split('=')[0]}`);
    const flag = token.rawName;
    if (def.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${flag} takes no value`);
    } else if (token.value === undefined) {
      throw new UsageError(`${flag} needs a value`);
    }
    if (def.ignored !== undefined) {
      out.ignored.push(`${flag}: ${def.ignored}`);
      continue;
    }
    const value = def.type === 'boolean' ? true : (token.value as string);
    const previous = out.values[token.name];
    if (def.multiple) out.values[token.name] = [...((previous as string[] | undefined) ?? []), value as string];
    else if (def.once && previous !== undefined) throw new UsageError(`${flag} given more than once`);
    else out.values[token.name] = value;
  }
  return out;
}

/** `-config` → `--config` (and `-config=x` → `--config=x`) for the flags declared `singleDash`. */
function withSingleDashForms(spec: FlagSpec, argv: readonly string[]): string[] {
  const singleDash = new Set(Object.entries(spec).filter(([, def]) => def.singleDash).map(([name]) => name));
  if (singleDash.size === 0) return [...argv];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/s.exec(arg);
    out.push(m !== null && singleDash.has(m[1]) ? `-${arg}` : arg);
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `500ms`, `5s`, `1m`, `1h`, `1d`, `100us`, or a bare number in `bareUnit` → whole milliseconds;
 * undefined when malformed. The bare unit is each flag's own: HAProxy's timeouts (baton-lb) count
 * milliseconds, baton-env's waits count seconds.
 */
export function parseDuration(value: string, bareUnit: 'ms' | 's'): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? bareUnit]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The log levels every bin takes (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** marathon-lb's (Python logging's) names, in any case: DEBUG, INFO, WARNING, ERROR, CRITICAL. */
const PYTHON_LEVELS: Record<string, LogLevel> = { warning: 'warn', critical: 'fatal' };

/** A `--log-level` value → a pino level; throws UsageError naming `flag` when unknown. */
export function parseLogLevel(value: string, flag = '--log-level'): LogLevel {
  const lower = value.toLowerCase();
  const level = PYTHON_LEVELS[lower] ?? lower;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`${flag}: unknown level ${value} (one of ${LOG_LEVELS.join(', ')})`);
  return level as LogLevel;
}

/**
 * The bins' answer to a bad command line: `<bin>: <message>` and a pointer to --help on stderr, exit
 * status 2 (the usage itself goes to stdout, with status 0, only when asked for with --help).
 */
export function reportUsageError(bin: string, err: unknown, redact: (text: string) => string = (t) => t): void {
  process.stderr.write(`${bin}: ${redact((err as Error).message)}\nTry '${bin} --help'.\n`);
  process.exitCode = (err as { exitCode?: number }).exitCode ?? 2;
}

/** The part of a logger the stop path needs (pino's). */
export interface FlushingLogger {
  info(obj: object, msg: string): void;
  flush(cb?: (err?: Error) => void): void;
}

/**
 * SIGTERM and SIGINT: log, run `stop` once, flush the logs, exit 0 (1 when `stop` failed, saying why
 * on stderr). A second signal while stopping is ignored; the exit does not wait for a stuck flush.
 */
export function onStopSignal(bin: string, logger: FlushingLogger, stop: (signal: string) => Promise<unknown>, message = 'stopping'): void {
  let stopping = false;
  const handle = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, message);
    void Promise.resolve()
      .then(() => stop(signal))
      .then(
        () => 0,
        (err: unknown) => {
          process.stderr.write(`${bin}: error while stopping: ${(err as Error).message}\n`);
          return 1;
        },
      )
      .then((code) => {
        logger.flush(() => process.exit(code));
        setTimeout(() => process.exit(code), 500).unref();
      });
  };
  process.once('SIGINT', () => handle('SIGINT'));
  process.once('SIGTERM', () => handle('SIGTERM'));
}
