import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { dotenvQuote, formatVariables, shellQuote } from '../src/format.js';

const NASTY = [
  '',
  'plain',
  'with space',
  "it's",
  "''",
  'dollar $HOME and $(id) and `id`',
  'back\\slash',
  'double "quoted"',
  'new\nline\n',
  'tab\there',
  '*glob?[a]',
  'semi;colon && true || false',
  'ünïcödé ✓',
];

describe('shell output', () => {
  it.each(NASTY)('round-trips %j through a real sh', (value) => {
    const text = formatVariables({ V: value }, 'shell');
    const result = spawnSync('sh', ['-c', `${text}printf '%s' "$V"`], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(value);
  });

  it('quotes every value, even simple ones, and exports each variable on its own line', () => {
    expect(formatVariables({ A: '1', B: 'x y' }, 'shell')).toBe("export A='1'\nexport B='x y'\n");
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
});

describe('dotenv output', () => {
  it('leaves safe values bare', () => {
    expect(formatVariables({ L: 'h1:1,h2:2', U: 'akka.tcp://s@h:1' }, 'dotenv')).toBe('L=h1:1,h2:2\nU=akka.tcp://s@h:1\n');
  });

  it.each([
    ['with space', "'with space'"],
    ['$HOME', "'$HOME'"],
    ['multi\nline', "'multi\nline'"],
    [`it's "x" $y\\z\n`, `"it's \\"x\\" \\$y\\\\z\\n"`],
  ])('quotes %j as %s', (value, quoted) => {
    expect(dotenvQuote(value)).toBe(quoted);
  });

  it('is read back by sh when sourced (values without single quotes)', () => {
    for (const value of NASTY.filter((v) => !v.includes("'"))) {
      const text = formatVariables({ V: value }, 'dotenv');
      const result = spawnSync('sh', ['-c', `${text}printf '%s' "$V"`], { encoding: 'utf8' });
      expect(result.stdout).toBe(value);
    }
  });
});

describe('json output', () => {
  it('is one JSON object per run, parsed back unchanged', () => {
    const vars = Object.fromEntries(NASTY.map((v, i) => [`V${i}`, v]));
    const text = formatVariables(vars, 'json');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trim().includes('\n')).toBe(false);
    expect(JSON.parse(text)).toEqual(vars);
  });
});

it('refuses invalid variable names', () => {
  expect(() => formatVariables({ 'BAD-NAME': 'x' }, 'shell')).toThrow(/BAD-NAME/);
});
