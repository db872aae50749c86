// Printing variables for a shell, a dotenv file or a JSON reader. Pure.

export type OutputFormat = 'shell' | 'dotenv' | 'json';

export type Variables = Record<string, string>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isVariableName(name: string): boolean {
  return NAME.test(name);
}

/**
 * POSIX single quoting: everything between single quotes is literal (`$`, backslashes, spaces and
 * newlines included); a single quote itself is written `'\''` (close, escaped quote, reopen).
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const DOTENV_BARE = /^[A-Za-z0-9_.,:/@+=\-[\]]*$/;

/**
 * dotenv values: bare when made only of safe characters; else single-quoted (literal in docker
 * compose's `env_file` and in the dotenv libraries, newlines allowed) when the value has no single
 * quote; else double-quoted with `\\`, `\"`, `\n`, `\r` and `\$` escapes.
 */
export function dotenvQuote(value: string): string {
  if (DOTENV_BARE.test(value)) return value;
  if (!value.includes("'")) return `'${value}'`;
  const escaped = value
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r')
    .replaceAll('$', '\\$');
  return `"${escaped}"`;
}

/** The text to print, ending with a newline. Variables keep their insertion order. */
export function formatVariables(vars: Variables, format: OutputFormat): string {
  const names = Object.keys(vars);
  for (const name of names) if (!isVariableName(name)) throw new Error(`not a valid variable name: ${JSON.stringify(name)}`);
  switch (format) {
    case 'shell':
      return names.map((n) => `export ${n}=${shellQuote(vars[n])}\n`).join('');
    case 'dotenv':
      return names.map((n) => `${n}=${dotenvQuote(vars[n])}\n`).join('');
    case 'json':
      return `${JSON.stringify(vars)}\n`;
  }
}
