// Jittered exponential backoff (pure: the caller owns the timers).

export interface BackoffOptions {
  /** Base of the first delay, in ms (default 500, so the first retry comes in under a second). */
  initialMs?: number;
  /** No delay ever exceeds this, in ms (default 30 000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Source of jitter in [0, 1) (default Math.random); injectable for tests. */
  random?: () => number;
}

export interface Backoff {
  /** The delay before the next attempt, in ms; grows with each call until reset(). */
  next(): number;
  /** Back to the first delay (call after a success). */
  reset(): void;
  /** Attempts counted since the last reset. */
  readonly attempts: number;
}

/**
 * Attempt n (from 0) waits a random time in [base/2, base), base = min(maxMs, initialMs · factorⁿ):
 * "equal jitter", so clients that failed together do not retry together, and no delay is ever 0.
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = positive(options.initialMs, 500, 'initialMs');
  const maxMs = positive(options.maxMs, 30_000, 'maxMs');
  const factor = options.factor ?? 2;
  if (!(factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${factor}`);
  const random = options.random ?? Math.random;
  let attempts = 0;
  return {
    next() {
      const base = Math.min(maxMs, initialMs * factor ** attempts);
      attempts++;
      const jitter = Math.min(Math.max(random(), 0), 1);
      return Math.min(maxMs, Math.floor(base / 2 + (base / 2) * jitter));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`backoff ${name} must be a positive number, got ${value}`);
  return value;
}
