import { pino, destination, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * pino JSON logs with a `component` field, to stderr so that a bin's stdout stays usable.
 * Parts of a bin log through `logger.child({ module: '...' })`: pino would repeat a second `component`.
 * The level comes from the argument, else `BATON_LOG_LEVEL`, else `info`.
 */
export function createLogger(component: string, level?: LevelWithSilent | string): Logger {
  const chosen = level ?? process.env.BATON_LOG_LEVEL ?? 'info';
  return pino({ level: chosen, base: { component } }, destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
