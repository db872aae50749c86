import { describe, expect, it } from 'vitest';
import { LOG_LEVELS, UsageError, parseDuration, parseFlags, parseLogLevel, type FlagSpec } from '../src/cli-flags.js';

const SPEC: FlagSpec = {
  marathon: { type: 'string', short: 'm', multiple: true },
  group: { type: 'string' },
  'health-check': { type: 'boolean', short: 'H' },
  config: { type: 'string', singleDash: true },
  version: { type: 'boolean', singleDash: true },
  token: { type: 'string', once: true },
  'haproxy-config': { type: 'string', ignored: 'there is no HAProxy config file' },
  command: { type: 'string', short: 'c', ignored: 'there is no reload command' },
  'skip-validation': { type: 'boolean', ignored: 'nothing to validate' },
};

describe('parseFlags', () => {
  it('reads long, short, --flag=value and repeated flags', () => {
    const { values, ignored, positionals } = parseFlags(SPEC, ['-m', 'http://a', '--marathon=http://b', '--group', 'g1', '--group', 'g2', '-H']);
    expect(values).toEqual({ marathon: ['http://a', 'http://b'], group: 'g2', 'health-check': true });
    expect(ignored).toEqual([]);
    expect(positionals).toEqual([]);
  });

  it('takes a value that starts with a dash, as the bins always did', () => {
    expect(parseFlags(SPEC, ['--group', '-x']).values.group).toBe('-x');
  });

  it("accepts Go's single-dash forms for the flags declaring them, and only those", () => {
    expect(parseFlags(SPEC, ['-config', 'c.json', '-version']).values).toEqual({ config: 'c.json', version: true });
    expect(parseFlags(SPEC, ['-config=x.json']).values.config).toBe('x.json');
    expect(() => parseFlags(SPEC, ['-group', 'g'])).toThrow('unknown flag -group');
  });

  it('names the flag at fault', () => {
    for (const [argv, message] of [
      [['--bogus'], 'unknown flag --bogus'],
      [['--bogus=1'], 'unknown flag --bogus'],
      [['-z'], 'unknown flag -z'],
      [['--group'], '--group needs a value'],
      [['-m'], '-m needs a value'],
      [['--health-check=yes'], '--health-check takes no value'],
      [['--token', 'a', '--token', 'b'], '--token given more than once'],
      [['stray'], 'unexpected argument stray'],
      [['--haproxy-config'], '--haproxy-config needs a value'],
    ] as const) {
      expect(() => parseFlags(SPEC, argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseFlags(SPEC, argv), argv.join(' ')).toThrow(message);
    }
    try {
      parseFlags(SPEC, ['--bogus']);
    } catch (err) {
      expect((err as UsageError).exitCode).toBe(2);
    }
  });

  it('accepts ignored flags (and their values) and says why, as typed, in order', () => {
    const { values, ignored } = parseFlags(SPEC, ['--haproxy-config', '/etc/h.cfg', '--group', 'g', '-c', 'sv reload', '--skip-validation', '--command=x']);
    expect(values).toEqual({ group: 'g' });
    expect(ignored).toEqual([
      '--haproxy-config: there is no HAProxy config file',
      '-c: there is no reload command',
      '--skip-validation: nothing to validate',
      '--command: there is no reload command',
    ]);
  });

  it('keeps positionals and what follows -- when allowed', () => {
    expect(parseFlags(SPEC, ['--group', 'g', 'a', '--', '--bogus', 'b'], { allowPositionals: true }).positionals).toEqual(['a', '--bogus', 'b']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 'ms', 500],
    ['5s', 'ms', 5000],
    ['1m', 's', 60_000],
    ['1h', 's', 3_600_000],
    ['1d', 'ms', 86_400_000],
    ['1500us', 'ms', 2],
    ['1.5s', 'ms', 1500],
    ['30', 'ms', 30],
    ['30', 's', 30_000],
    ['soon', 's', undefined],
    ['-1s', 'ms', undefined],
    ['1e3', 'ms', undefined],
    ['99999999999999999999', 'ms', undefined],
  ] as const)('%s with bare unit %s = %s ms', (text, unit, ms) => expect(parseDuration(text, unit)).toBe(ms));
});

describe('parseLogLevel', () => {
  it("takes pino's levels and marathon-lb's Python names in any case", () => {
    for (const level of LOG_LEVELS) expect(parseLogLevel(level)).toBe(level);
    expect(parseLogLevel('WARNING')).toBe('warn');
    expect(parseLogLevel('CRITICAL')).toBe('fatal');
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(() => parseLogLevel('loud')).toThrow('--log-level: unknown level loud');
  });
});
