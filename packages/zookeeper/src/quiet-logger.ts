import type { Logger } from '@baton/marathon';

const noop = () => undefined;

/**
 * Drops everything, like `silentLogger()` of `@baton/marathon`, without loading that package (pino,
 * undici) at run time: the one-shot readers run in entrypoint helpers where start-up time counts.
 */
export function quietLogger(): Logger {
  const logger = { level: 'silent', trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, silent: noop };
  return Object.assign(logger, { child: () => logger }) as unknown as Logger;
}
